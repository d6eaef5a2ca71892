"""Snakemake glue: every metric of one trajectory store."""

from massengine import campaign

sm = snakemake  # noqa: F821 (injected by Snakemake)
# params.config is this job's slice of the config; the store's provenance records the whole.
campaign.run_logged(sm.log[0], campaign.metrics_chunk, sm.params.config, sm.input[0], sm.output[0],
                    threads=sm.threads, campaign_config=sm.config)
