"""Snakemake glue: all metric stores -> summary store + tidy CSV."""

import sys

with open(snakemake.log[0], "w") as log_file:  # noqa: F821 (snakemake is injected)
    sys.stderr = log_file
    from massengine import campaign

    campaign.aggregate(
        list(snakemake.input),  # noqa: F821
        snakemake.output.zarr,  # noqa: F821
        snakemake.output.csv,  # noqa: F821
        log=lambda m: print(m, file=log_file, flush=True),
    )
