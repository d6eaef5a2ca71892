"""One GPU per job: concurrent campaign jobs on a multi-GPU host each claim a free GPU.

Snakemake's local executor hands no GPU to a job, and JAX in every job would otherwise start
on every GPU of the host, preallocating 75 % of each. So before JAX starts, a job that runs
the engine claims one GPU through a lock file (``flock``: the kernel releases it when the job
ends, crashed or not), and sets ``CUDA_VISIBLE_DEVICES`` to it: JAX then sees that one GPU,
and its preallocation takes memory only there, where no other job runs. A job that finds
every GPU claimed waits for one. Under SLURM the GPUs the scheduler assigned are respected
as they are (a job sees only its own, often numbered from 0 on every job of a node, so
node-local lock files would wrongly serialise them).

Which GPUs: ``MASSENGINE_GPUS`` (a comma-separated list of ids: a choice, or a stand-in list
for tests), else ``CUDA_VISIBLE_DEVICES``, else the host's ``/dev/nvidia<N>`` device nodes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

GPUS_ENV = "MASSENGINE_GPUS"
LOCKS_ENV = "MASSENGINE_GPU_LOCKS"  # where the lock files live (default: a per-user folder in the temp dir)
VISIBLE = "CUDA_VISIBLE_DEVICES"
# Seconds between two looks for a free GPU while every GPU is claimed.
POLL_S = 1.0


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def host_gpus() -> list[str]:
    """The ids of the GPUs jobs on this host may claim (see the module docstring):
    ``MASSENGINE_GPUS`` if set; else ``[]`` when JAX is kept off the GPU (``JAX_PLATFORMS``
    without cuda) or there is no NVIDIA driver."""
    if os.environ.get(GPUS_ENV, "").strip():
        return _ids(os.environ[GPUS_ENV])
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms and not any(p in platforms for p in ("cuda", "gpu")):
        return []
    if not (Path("/dev/nvidiactl").exists() or Path("/dev/nvidia0").exists()):
        return []  # no NVIDIA driver here, whatever CUDA_VISIBLE_DEVICES says
    visible = os.environ.get(VISIBLE)
    if visible is not None:
        return [] if visible.strip() in ("", "-1") else _ids(visible)
    return sorted((p.name[6:] for p in Path("/dev").glob("nvidia[0-9]*") if p.name[6:].isdigit()), key=int)


def scheduler_assigned() -> bool:
    """Whether a cluster scheduler (SLURM) chose this job's GPUs."""
    return "SLURM_JOB_ID" in os.environ and os.environ.get(VISIBLE) is not None


def lock_dir() -> Path:
    return Path(os.environ.get(LOCKS_ENV) or Path(tempfile.gettempdir()) / f"massengine-gpus-{os.getuid()}")


def _lock_path(gpu: str) -> Path:
    return lock_dir() / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', gpu)}.lock"


def _try_lock(gpu: str):
    """An open file holding ``gpu``'s lock, or ``None`` if another job holds it."""
    path = _lock_path(gpu)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 (held open for as long as the claim lasts)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        handle.close()
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.uname().nodename} {os.getpid()}\n")  # who holds it, for a curious user
    handle.flush()
    return handle


@contextlib.contextmanager
def claimed(log=logger.info, poll_s: float = POLL_S):
    """Hold one free GPU of :func:`host_gpus` for the block, with ``CUDA_VISIBLE_DEVICES``
    naming it (restored afterwards); yields its id, or ``None`` when there is nothing to
    claim (no GPU, or the scheduler assigned them). Enter it before JAX starts."""
    gpus = host_gpus()
    if not gpus or scheduler_assigned():
        if gpus:
            log(f"GPU(s) {','.join(gpus)} assigned by the scheduler ({VISIBLE})")
        yield None
        return
    waited, handle = False, None
    while handle is None:
        for gpu in gpus:
            handle = _try_lock(gpu)
            if handle is not None:
                break
        else:
            if not waited:
                log(f"all {len(gpus)} GPU(s) of this host are claimed by other jobs; waiting for one")
                waited = True
            time.sleep(poll_s)
    before = os.environ.get(VISIBLE)
    os.environ[VISIBLE] = gpu
    log(f"claimed GPU {gpu} of {len(gpus)} ({VISIBLE}={gpu}) at {time.time():.3f}")
    try:
        yield gpu
    finally:
        if before is None:
            os.environ.pop(VISIBLE, None)
        else:
            os.environ[VISIBLE] = before
        handle.close()  # closing the file releases the lock
        log(f"released GPU {gpu} at {time.time():.3f}")
