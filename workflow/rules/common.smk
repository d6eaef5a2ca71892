# Targets and chunking: one simulate job per (coupling, chunk of at most k_per_job k values),
# each named by what determines its output (massengine/chunks.py), so that a finished chunk
# is reused when the k grid is extended or refined.
import json
import os
import sys

import massengine.chunks as mechunks
import massengine.config as mecfg
import massengine.outdir

# Home folder expanded, trailing slash dropped, unsafe folders and files refused (massengine/config.py).
OUT = mecfg.output_dir(config)
COUPLINGS = list(config["couplings"])
# Jobs (local subprocesses, cluster jobs: they inherit this environment) cut the k grid as
# this Snakemake did, whatever host they run on.
os.environ.setdefault(mecfg.K_PER_JOB_ENV, str(mecfg.k_per_job(config, mecfg.k_values(config).size)))
K_PER_JOB = mecfg.k_per_job(config, mecfg.k_values(config).size)
if K_PER_JOB < 1:
    raise mecfg.ConfigError(f"config key 'k_per_job': must be >= 1, got {K_PER_JOB}.")
REFINE = mecfg.refine_settings(config)
ROUNDS = REFINE["rounds"]
# What a refinement round reads of the settings: not `rounds` (adding a round reruns none).
REFINE_PARAMS = {key: value for key, value in REFINE.items() if key != "rounds"}
RESOLVED = mecfg.jsonable(config)
# What the report receives: the whole config, keys sorted (a reordered YAML file reruns nothing).
# With a hash of every data file's contents (a file overwritten in place reruns what reads it).
REPORT_CONFIG = json.loads(json.dumps(mecfg.with_input_digests(RESOLVED, RESOLVED), sort_keys=True))
# Empirical data configured: a fit stage (ranking, gradient refinement) feeds the report.
FITTING = mecfg.has_empirical(config)
FIT_OUTPUTS = [f"{OUT}/fit.json"] if FITTING else []
# What the fit stage reads: everything a simulation reads, the metrics (windows, variable), fit.
FIT_CONFIG = json.loads(json.dumps(mecfg.with_input_digests(
    {key: RESOLVED[key] for key in ("connectome", "node", "couplings", "seeds", "noise", "simulation", "metrics", "fit")
     if key in RESOLVED}, RESOLVED), sort_keys=True))
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
    chunk=r"[0-9a-f]{16}",
    round=r"[1-9]\d*",


def sim_slice(coupling):
    """What a simulate job of ``coupling`` reads of the config (its Snakemake params)."""
    return mecfg.stage_config(config, "simulate", coupling)


# A chunk's settings: its config slice and the connectome's contents (a file may change).
CONNECTOME_DIGEST = mechunks.connectome_digest(mecfg.load_connectome(config))
SLICE_KEYS = {c: mechunks.slice_key(sim_slice(c), CONNECTOME_DIGEST) for c in COUPLINGS}
# The Snakemake that plans the campaign, not a job re-reading this file (on a cluster node),
# nor a dry run (which writes nothing).
IS_HEAD = not workflow.remote_exec and not workflow.subprocess_exec and not massengine.outdir.inspect_only(sys.argv[1:])
# Finished stores, read once per process (each one's zarr.json holds the whole config).
FOUND = {c: mechunks.finished(f"{OUT}/simulations/{c}") for c in COUPLINGS}


def chunk_registry(coupling):
    """Where the planner records each chunk's k values (massengine/chunks.py)."""
    return f"{OUT}/.chunks/{coupling}"


def planned(coupling, ks):
    """The chunks of ``ks``: finished stores first (reused), then the rest cut in chunks of
    K_PER_JOB; the head records them for its jobs."""
    chunks = mechunks.plan(ks, K_PER_JOB, SLICE_KEYS[coupling], f"{OUT}/simulations/{coupling}", FOUND[coupling])
    if IS_HEAD:
        mechunks.register(chunk_registry(coupling), chunks)
    return chunks


COARSE = {c: planned(c, mecfg.k_values(config)) for c in COUPLINGS}


def round_file(coupling, r):
    return f"{OUT}/refine/{coupling}/round{r}.json"


def round_plan(coupling, r, wait=True):
    """The chunks of refinement round ``r`` of ``coupling`` (round 0: the coarse grid). With
    ``wait`` the round's checkpoint must have run (Snakemake re-evaluates after it); without,
    a round not run yet has no chunks."""
    if r == 0:
        return COARSE[coupling]
    if wait:
        path = checkpoints.refine.get(coupling=coupling, round=r).output[0]
    else:
        path = round_file(coupling, r)
        if not os.path.exists(path):
            return []
    with open(path) as fh:
        ks = json.load(fh)["new_k"]
    return planned(coupling, ks) if ks else []


def chunk_ks(wildcards):
    """The k values of the chunk a job runs, as the head recorded them when it planned the
    chunk (else from the coarse plan or a round already refined)."""
    ks = mechunks.registered(chunk_registry(wildcards.coupling), wildcards.chunk)
    if ks is not None:
        return ks
    for r in range(ROUNDS + 1):
        for name, ks in round_plan(wildcards.coupling, r, wait=False):
            if name == wildcards.chunk:
                return ks
    raise ValueError(f"chunk {wildcards.chunk} of {wildcards.coupling} is in no plan of this campaign "
                     "(its k grid or simulation settings changed since it was scheduled).")


def sim_store(coupling, chunk):
    return f"{OUT}/simulations/{coupling}/{chunk}.zarr"


def metric_store(coupling, chunk):
    return f"{OUT}/metrics/{coupling}/{chunk}.zarr"


def chunks_until(coupling, rounds):
    """Every chunk of rounds ``0 .. rounds - 1`` of ``coupling``."""
    return [name for r in range(rounds) for name, _ in round_plan(coupling, r)]


def all_metric_stores(wildcards=None):
    return [metric_store(c, i) for c in COUPLINGS for i in chunks_until(c, ROUNDS + 1)]


def all_sim_stores(wildcards=None):
    """Every trajectory store of the campaign, refined rounds included."""
    return [sim_store(c, i) for c in COUPLINGS for i in chunks_until(c, ROUNDS + 1)]


def round_files(wildcards=None):
    return [round_file(c, r) for c in COUPLINGS for r in range(1, ROUNDS + 1)]


def sim_runtime_min(wildcards, attempt):
    """Walltime for SLURM: grows with the runs per job and the simulated time."""
    sim = config["simulation"]
    runs = len(chunk_ks(wildcards)) * len(config["seeds"]) * mecfg.grid_points(config)
    steps = sim["duration"] / sim["dt"]
    return int(5 + attempt * runs * steps * 1e-6)
