"""Snakemake glue: simulate one (coupling, chunk of k) and write its zarr store."""

import sys

with open(snakemake.log[0], "w") as log_file:  # noqa: F821 (snakemake is injected)
    sys.stderr = log_file

    def log(message):
        print(message, file=log_file, flush=True)

    from massengine import campaign

    campaign.enable_compilation_cache(snakemake.params.jax_cache)  # noqa: F821
    campaign.simulate_chunk(
        snakemake.params.config,  # noqa: F821
        snakemake.wildcards.coupling,  # noqa: F821
        snakemake.params.ks,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        log=log,
    )
