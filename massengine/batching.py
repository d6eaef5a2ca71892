"""Sweeps sized to memory: how many runs go into one compiled call, and how many samples
into one time segment, so that any sweep fits the device it runs on.

A run's memory on the device is a fixed part (state, delay rings, the per-step delayed
reads of its coupling sum) plus its recorded samples, which grow with the segment length.
:func:`plan` cuts a sweep into batches of runs (and its time into segments) whose estimate
fits a fraction of the device's free memory; results do not depend on the cut (the engine
gives every batch size the same numbers, and segments carry their state whole).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import memory

# Share of the free memory a batch may plan for: XLA's temporaries, the copies of a segment
# on its way out and other processes need the rest.
SAFETY = 0.5
# Runs per call on a GPU: throughput flattens by 8 192 runs on an H100 (issue 12), and one
# call of 16 384 runs failed to instantiate its CUDA graph.
GPU_MAX_BATCH = 8192
# Bytes of samples per time segment of an in-memory sweep on an accelerator: segments let
# one copy to the host overlap the next segment's computation.
DEVICE_SEGMENT_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Footprint:
    """Estimated device bytes of one run: ``fixed`` whatever the segment length, plus
    ``per_sample`` for each recorded sample held in a segment."""

    fixed: int
    per_sample: int

    def bytes(self, runs: int, samples: int) -> int:
        return runs * (self.fixed + self.per_sample * samples)


def footprint(spec, params, n_regions: int, itemsize: int) -> Footprint:
    """The :class:`Footprint` of one run of ``spec`` (an ``engine.RunSpec``) on ``n_regions``."""
    n_vars = len(spec.model.state_vars)
    # Rings with the margin of a block (massengine/history.py); reads for a whole block.
    rings = sum(term.horizon + spec.block - 1 for term in spec.terms) * n_regions
    reads = spec.block * sum(int(np.prod(p["lags"].shape)) for p in params["terms"])  # N*N, E or N*K per term
    block = spec.period * len(spec.record) * n_regions if spec.monitor == "mean" else 0
    hemo = 4 * n_regions if spec.monitor == "bold" else 0  # the Balloon-Windkessel state
    # Rings twice (the carry in and out of the loop), reads three times (the read, the
    # edge function, the weighted values), the state ten times (integrator stages, noise,
    # coupling current).
    # A block also holds its noise, each term's sums and written rows (massengine/engine.py).
    in_block = spec.block * (n_vars + 2 * len(spec.terms)) * n_regions
    fixed = itemsize * (2 * rings + 3 * reads + 10 * n_vars * n_regions + block + 3 * hemo + in_block) + 64
    # Each sample three times: the engine's output, its copy in the caller's layout, and the
    # next segment's output while this one is copied out (the prefetch).
    return Footprint(fixed, 3 * itemsize * len(spec.record) * n_regions)


def free_bytes(device) -> int:
    """Free memory of ``device``: the accelerator's own counters, else the host's."""
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    return memory.available_bytes()


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def plan(n_runs: int, n_samples: int, fp: Footprint, budget: int, *, chunk_samples: int | None = None,
         batch_size: int | None = None, max_batch: int | None = None,
         max_chunk: int | None = None) -> tuple[int, int]:
    """``(runs per call, samples per segment)`` for ``n_runs`` runs of ``n_samples``
    samples within ``budget`` bytes.

    ``chunk_samples`` / ``batch_size`` fix one or both (the caller's choice is kept);
    otherwise batches are as large as fit (at most ``max_batch``), and a segment holds a
    whole run's samples (at most ``max_chunk``, a preference) unless that would cut the
    batch, in which case segments shrink first. A single run that fits in no segment
    raises ``MemoryError`` with what it needs.
    """
    want = min(n_runs, max_batch or n_runs)
    if batch_size is not None:
        want = min(n_runs, batch_size)
    chunk = min(chunk_samples or max_chunk or n_samples, n_samples)
    if chunk_samples is None and fp.bytes(want, chunk) > budget:
        # Shorter segments before smaller batches: a batch's throughput is what matters.
        room = budget // want - fp.fixed
        chunk = int(min(n_samples, max(1, room // fp.per_sample if fp.per_sample else n_samples)))
    fits = budget // max(fp.bytes(1, chunk), 1)
    if fits < 1:
        raise MemoryError(
            f"one run needs about {_gib(fp.bytes(1, chunk))} of device memory ({_gib(fp.fixed)} for its "
            f"state and delay rings, {_gib(fp.per_sample * chunk)} for {chunk} samples) and "
            f"{_gib(budget)} is available to it: use fewer regions, a coarser dt (shorter rings), "
            "fewer recorded variables, or a device with more memory."
        )
    batch = want if batch_size is not None else int(min(want, fits))
    return batch, chunk


def batch_ranges(shape: tuple[int, ...], batch: int) -> list[tuple[int, int]]:
    """Run ranges ``[start, stop)`` of at most ``batch`` runs over a run grid of ``shape``
    (runs in C order, e.g. (k, speed, seed)), each a rectangle of the grid, so that each
    range is one region of a store: whole rows of the first axis when a batch holds at
    least one (the block of all later axes), else the same cut inside each row."""
    shape = tuple(shape)
    n = math.prod(shape)
    block = math.prod(shape[1:])
    if batch >= block:
        rows = batch // block * block
        return [(a, min(a + rows, n)) for a in range(0, n, rows)]
    inner = batch_ranges(shape[1:], batch)
    return [(i * block + a, i * block + b) for i in range(shape[0]) for a, b in inner]


def grid_region(start: int, stop: int, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """The region (one slice per axis of ``shape``) of the runs ``[start, stop)`` of
    :func:`batch_ranges`."""
    shape = tuple(shape)
    block = math.prod(shape[1:])
    if start % block == 0 and (stop - start) % block == 0:
        return (slice(start // block, stop // block),) + tuple(slice(None) for _ in shape[1:])
    row = start // block
    return (slice(row, row + 1),) + grid_region(start - row * block, stop - row * block, shape[1:])
