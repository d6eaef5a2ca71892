"""Snakemake glue: rank the couplings by fit, refine k of the best by gradient descent."""

from massengine import campaign

sm = snakemake  # noqa: F821 (injected by Snakemake)
campaign.run_logged(sm.log[0], campaign.fit_stage, sm.params.config, sm.input.summary, sm.output[0])
