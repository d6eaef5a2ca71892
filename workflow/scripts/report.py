"""Snakemake glue: the HTML comparison report."""

import sys

with open(snakemake.log[0], "w") as log_file:  # noqa: F821 (snakemake is injected)
    sys.stderr = log_file
    from massengine import campaign

    campaign.make_report(
        snakemake.params.config,  # noqa: F821
        snakemake.input.summary,  # noqa: F821
        snakemake.params.stores,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        log=lambda m: print(m, file=log_file, flush=True),
    )
