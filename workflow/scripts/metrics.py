"""Snakemake glue: every metric of one trajectory store."""

from massengine import campaign

sm = snakemake  # noqa: F821 (injected by Snakemake)
campaign.run_logged(sm.log[0], campaign.metrics_chunk, sm.params.config, sm.input[0], sm.output[0],
                    threads=sm.threads)
