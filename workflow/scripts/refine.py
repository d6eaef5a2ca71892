"""Snakemake glue: one refinement round of one coupling -> the new k values (JSON)."""

from massengine import campaign

sm = snakemake  # noqa: F821 (injected by Snakemake)
campaign.run_logged(sm.log[0], campaign.refine_round, list(sm.input), sm.params.refine, sm.output[0],
                    round_index=int(sm.wildcards.round))
