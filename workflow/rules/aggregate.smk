localrules:
    aggregate,
    refine,


checkpoint refine:
    """Refinement round r of one coupling: new k values where the metric (averaged over
    seeds) crosses the threshold or changes fastest, from the metrics of rounds 0 .. r-1.
    A checkpoint: the DAG grows by the new chunks once it has run."""
    input:
        lambda wc: [metric_store(wc.coupling, i) for i in chunks_until(wc.coupling, int(wc.round))],
    output:
        f"{OUT}/refine/{{coupling}}/round{{round}}.json",
    params:
        refine=REFINE_PARAMS,
    log:
        f"{OUT}/logs/refine/{{coupling}}_round{{round}}.log",
    conda:
        "../envs/massengine.yaml"
    script:
        "../scripts/refine.py"


rule aggregate:
    """All metric stores -> one summary store (coupling, k, [grid axes,] seed, ...) and a
    tidy CSV; the refinement rounds' files mark which points each round added."""
    input:
        metrics=all_metric_stores,
        rounds=round_files,
    output:
        zarr=directory(f"{OUT}/summary.zarr"),
        csv=report(f"{OUT}/summary.csv", caption="../report/summary.rst", category="Summary"),
    log:
        f"{OUT}/logs/aggregate.log",
    conda:
        "../envs/massengine.yaml"
    script:
        "../scripts/aggregate.py"
