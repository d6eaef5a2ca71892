rule simulate:
    """Every (k, grid point, seed) of one chunk of one coupling, in one vmapped JAX call -> zarr store."""
    output:
        directory(f"{OUT}/simulations/{{coupling}}/{{chunk}}.zarr"),
    params:
        # Only what a simulation reads: other settings (metrics, report) never rerun it.
        config=lambda wc: mecfg.stage_config(config, "simulate", wc.coupling),
        ks=chunk_ks,
        chunk_key=lambda wc: SLICE_KEYS[wc.coupling],
        jax_cache=JAX_CACHE,
    log:
        f"{OUT}/logs/simulate/{{coupling}}_{{chunk}}.log",
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=sim_runtime_min,
    conda:
        "../envs/massengine.yaml"
    script:
        "../scripts/simulate.py"
