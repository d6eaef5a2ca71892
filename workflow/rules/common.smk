# Targets and chunking: one simulate job per (coupling, chunk of k_per_job k values).
import json
import os
import sys

import massengine.config as mecfg
import massengine.outdir

OUT = config["output_dir"].rstrip("/")
COUPLINGS = list(config["couplings"])
CHUNKS = mecfg.k_chunks(config)
# Jobs (local subprocesses, cluster jobs: they inherit this environment) cut the k grid as
# this Snakemake did, whatever host they run on.
os.environ.setdefault(mecfg.K_PER_JOB_ENV, str(mecfg.k_per_job(config, mecfg.k_values(config).size)))
CHUNK_IDS = [f"{i:04d}" for i in range(len(CHUNKS))]
RESOLVED = mecfg.jsonable(config)
# What the report receives: the whole config, keys sorted (a reordered YAML file reruns nothing).
REPORT_CONFIG = json.loads(json.dumps(RESOLVED, sort_keys=True))
# Empirical data configured: a fit stage (ranking, gradient refinement) feeds the report.
FITTING = mecfg.has_empirical(config)
FIT_OUTPUTS = [f"{OUT}/fit.json"] if FITTING else []
# What the fit stage reads: everything a simulation reads, the metrics (windows, variable), fit.
FIT_CONFIG = json.loads(json.dumps({key: RESOLVED[key] for key in ("connectome", "node", "couplings", "seeds",
                                    "noise", "simulation", "metrics", "fit") if key in RESOLVED}, sort_keys=True))
# JAX's persistent compilation cache, shared by every job of the campaign.
JAX_CACHE = f"{OUT}/.cache/jax"

# In the Snakemake that schedules the jobs (not in a job, not on a cluster node): claim the
# output directory (refused while another campaign writes into it), clear the lock a killed
# Snakemake of this campaign left, and move aside stores that fail verification so that they
# are redone (massengine/outdir.py). A dry run only reports.
if not workflow.remote_exec and not workflow.subprocess_exec:
    massengine.outdir.start(OUT, mecfg.config_hash(RESOLVED), sys.argv[1:],
                            log=lambda message: print(message, file=sys.stderr))


onsuccess:
    massengine.outdir.release(OUT)


onerror:
    massengine.outdir.release(OUT)


wildcard_constraints:
    coupling="|".join(COUPLINGS),
    chunk=r"\d{4}",


def chunk_ks(wildcards):
    return CHUNKS[int(wildcards.chunk)].tolist()


def sim_store(coupling, chunk):
    return f"{OUT}/simulations/{coupling}/chunk{chunk}.zarr"


def metric_store(coupling, chunk):
    return f"{OUT}/metrics/{coupling}/chunk{chunk}.zarr"


def all_metric_stores():
    return [metric_store(c, i) for c in COUPLINGS for i in CHUNK_IDS]


def sim_stores_by_coupling():
    """Every trajectory store, per coupling: the report shows each coupling's best k."""
    return {c: [sim_store(c, i) for i in CHUNK_IDS] for c in COUPLINGS}


def sim_runtime_min(wildcards, attempt):
    """Walltime for SLURM: grows with the runs per job and the simulated time."""
    sim = config["simulation"]
    runs = len(chunk_ks(wildcards)) * len(config["seeds"])
    steps = sim["duration"] / sim["dt"]
    return int(5 + attempt * runs * steps * 1e-6)
