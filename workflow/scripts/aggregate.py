"""Snakemake glue: all metric stores -> summary store + tidy CSV."""

from massengine import campaign

sm = snakemake  # noqa: F821 (injected by Snakemake)
campaign.run_logged(sm.log[0], campaign.aggregate, list(sm.input.metrics), sm.output.zarr, sm.output.csv,
                    round_files=list(sm.input.rounds))
