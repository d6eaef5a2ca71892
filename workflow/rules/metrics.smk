rule metrics:
    """FC, FCD, synchrony, metastability, spectra of one trajectory store (dask)."""
    input:
        lambda wc: sim_store(wc.coupling, wc.chunk),
    output:
        directory(f"{OUT}/metrics/{{coupling}}/{{chunk}}.zarr"),
    params:
        # The data files it reads are hashed in: one overwritten in place reruns the metrics.
        config=mecfg.with_input_digests(mecfg.stage_config(config, "metrics"), config),
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
