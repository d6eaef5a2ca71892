"""Snakemake glue: every metric of one trajectory store."""

import sys

with open(snakemake.log[0], "w") as log_file:  # noqa: F821 (snakemake is injected)
    sys.stderr = log_file
    from massengine import campaign

    campaign.metrics_chunk(
        snakemake.params.config,  # noqa: F821
        snakemake.input[0],  # noqa: F821
        snakemake.output[0],  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
        log=lambda m: print(m, file=log_file, flush=True),
    )
