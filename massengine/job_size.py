"""``k_per_job: auto`` on a CPU: the chunk of k values per simulate job that a cost model of
the campaign says finishes soonest on the cores that run its jobs.

The model, measured by ``benchmarks/bench_job_size.py`` (benchmarks/README.md, "Job size"):
a job of ``B`` runs of ``S`` steps on a network of ``E`` elements (regions + edges) costs

    START_S + S * (STEP_S + STEP_ELEMENT_S * E + B * (RUN_S + RUN_ELEMENT_S * E))

seconds on one core: a start-up (a process, imports, the cached compilation), a cost per step
whatever the batch (the loop's iteration, its kernels' launches, and what a kernel costs
before it is wide enough to use the core) and the runs' work. The fit is within 35 % of the
measured step times up to 128 runs of either network and 512 of TVB 76's (1.6x and 2.3x too
low at 256 and 512 runs of 8 regions, where the runs' work outgrows the caches).
Bigger jobs pay the fixed costs for more runs at once; but a campaign of ``J`` jobs on ``C``
cores takes ``ceil(J / C)`` rounds of its longest job, so fewer jobs than cores leave cores
idle. The chunk minimising ``rounds x job`` wins, the bigger one on ties; a job is kept under
:data:`MAX_JOB_S` where a smaller chunk allows, so that progress shows and an interrupted
campaign loses little. Exact for nothing (node models differ in cost, metrics jobs and
refinement rounds are left out): a choice of speed only, the numbers do not depend on it.
"""

from __future__ import annotations

import math
import os

# Least squares (relative) through TVB 76's and the 8-region example's step times, 1 to 512
# runs, Hopf, 2-core VM (benchmarks/results_job_size.json).
START_S = 2.0  # measured 2.01 s (1.93-2.44), Snakemake's own launch of the job not included
STEP_S = 0.148e-6
STEP_ELEMENT_S = 1.43e-9
RUN_S = 0.066e-6
RUN_ELEMENT_S = 0.093e-9
# A job's modelled time that a smaller chunk is chosen to stay under.
MAX_JOB_S = 600.0


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def job_seconds(runs: int, steps: int, elements: int) -> float:
    """Modelled wall time of one simulate job of ``runs`` runs on one core."""
    return START_S + steps * (STEP_S + STEP_ELEMENT_S * elements + runs * (RUN_S + RUN_ELEMENT_S * elements))


def campaign_seconds(chunk: int, n_k: int, n_couplings: int, runs_per_k: int, steps: int, elements: int,
                     cores: int) -> float:
    """Modelled wall time of the simulate jobs of a campaign cut into chunks of ``chunk`` k."""
    jobs = n_couplings * math.ceil(n_k / chunk)
    return math.ceil(jobs / max(cores, 1)) * job_seconds(chunk * runs_per_k, steps, elements)


def cpu_k_per_job(n_k: int, n_couplings: int, runs_per_k: int, steps: int, elements: int, cores: int) -> int:
    """The k values per job that :func:`campaign_seconds` says is fastest (module docstring).
    Only balanced chunks are candidates: ``ceil(n_k / c)`` for ``c`` chunks per coupling."""
    if n_k < 1:
        return 1
    sizes = sorted({math.ceil(n_k / chunks) for chunks in range(1, n_k + 1)}, reverse=True)
    short = [s for s in sizes if job_seconds(s * runs_per_k, steps, elements) <= MAX_JOB_S] or sizes[-1:]
    return min(short, key=lambda s: (campaign_seconds(s, n_k, n_couplings, runs_per_k, steps, elements, cores), -s))
