"""Snakemake glue: simulate one (coupling, chunk of k) and write its zarr store."""

from massengine import campaign

sm = snakemake  # noqa: F821 (injected by Snakemake)
campaign.enable_compilation_cache(sm.params.jax_cache)
# params.config is this job's slice of the config; the store's provenance records the whole.
campaign.run_logged(sm.log[0], campaign.simulate_chunk, sm.params.config, sm.wildcards.coupling,
                    sm.params.ks, sm.output[0], campaign_config=sm.config,
                    chunk_key=sm.params.chunk_key)
