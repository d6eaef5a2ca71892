localrules:
    aggregate,


rule aggregate:
    """All metric stores -> one summary store (coupling, k, seed, ...) and a tidy CSV."""
    input:
        all_metric_stores(),
    output:
        zarr=directory(f"{OUT}/summary.zarr"),
        csv=report(f"{OUT}/summary.csv", caption="../report/summary.rst", category="Summary"),
    log:
        f"{OUT}/logs/aggregate.log",
    conda:
        "../envs/massengine.yaml"
    script:
        "../scripts/aggregate.py"
