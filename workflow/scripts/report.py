"""Snakemake glue: the HTML comparison report."""

from massengine import campaign

sm = snakemake  # noqa: F821 (injected by Snakemake)
campaign.run_logged(sm.log[0], campaign.make_report, sm.params.config, sm.input.summary,
                    campaign.stores_by_coupling(sm.input.trajectories), sm.output[0],
                    fit_path=sm.params.fit)
