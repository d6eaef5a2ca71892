"""Snakemake glue: all metric stores -> summary store + tidy CSV."""

from massengine import campaign

sm = snakemake  # noqa: F821 (injected by Snakemake)
campaign.run_logged(sm.log[0], campaign.aggregate, list(sm.input), sm.output.zarr, sm.output.csv)
