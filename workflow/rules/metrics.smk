rule metrics:
    """FC, FCD, synchrony, metastability, spectra of one trajectory store (dask)."""
    input:
        lambda wc: sim_store(wc.coupling, wc.chunk),
    output:
        directory(f"{OUT}/metrics/{{coupling}}/{{chunk}}.zarr"),
    params:
        config=mecfg.stage_config(config, "metrics"),
    log:
        f"{OUT}/logs/metrics/{{coupling}}_{{chunk}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/massengine.yaml"
    script:
        "../scripts/metrics.py"
