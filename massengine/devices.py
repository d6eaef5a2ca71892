"""Every device of the machine: a batch of runs spread over several devices in one call.

The runs of a batch never interact (the batch is the last axis of every array the engine
carries), so a batch splits across devices with no communication: each device advances its
own share with the program one device would run on that share (``jax.shard_map`` over a
one-axis mesh), and each run gives the numbers it gives alone, bit for bit, because the
engine gives every batch size of two or more the same numbers (a share of one is padded to
two, as a batch of one is).

Which devices: ``devices=None`` (or ``"all"``) takes every device of the platform the next
computation runs on (all GPUs of the host; on a CPU the host devices JAX was started with:
one, unless :func:`use_cpu_cores` or ``MASSENGINE_CPU_DEVICES`` asked for more), but splits
a batch only while each device gets at least :data:`MIN_RUNS_PER_DEVICE` runs; an int ``n``
takes the first ``n`` and a list names them, and both split whatever the batch size.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import partial

import jax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from . import engine
from .job_size import usable_cores

# The mesh axis the runs are split along.
AXIS = "runs"
# The fewest runs per device that a default split gives each device: below it the split's
# fixed cost (one more program, the shares' padding) outweighs what a second device adds
# (benchmarks/README.md, "Several devices").
MIN_RUNS_PER_DEVICE = 8
# Host devices a CPU is split into when ``MASSENGINE_CPU_DEVICES`` is set (an int or "all").
CPU_DEVICES_ENV = "MASSENGINE_CPU_DEVICES"


def use_cpu_cores(n: int | str = "all") -> int:
    """Make the CPU ``n`` JAX host devices (``"all"``: one per usable core), so that a sweep
    on the CPU keeps that many cores busy (one XLA:CPU program of the engine's shape keeps
    about one core busy). It must run before JAX starts its CPU backend (before the first
    computation); returns the device count. Setting ``MASSENGINE_CPU_DEVICES`` does the same
    when massengine is imported."""
    count = usable_cores() if n == "all" else n
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"use_cpu_cores takes an integer >= 1 or 'all', got {n!r}.")
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # JAX refuses once its backends run
        have = len(jax.devices("cpu"))
        if have != count:
            raise RuntimeError(f"JAX's CPU backend already runs with {have} device(s); call use_cpu_cores({n!r}) "
                               f"(or set {CPU_DEVICES_ENV}) before the first JAX computation of the "
                               "process.") from None
    return count


def cpu_cores_from_environment() -> None:
    """Honour ``MASSENGINE_CPU_DEVICES`` (an int or "all"), if set, at import."""
    value = os.environ.get(CPU_DEVICES_ENV, "").strip()
    if not value:
        return
    try:
        use_cpu_cores("all" if value == "all" else int(value))
    except ValueError as err:
        raise ValueError(f"{CPU_DEVICES_ENV}={value!r}: {err}") from None


def available() -> tuple:
    """Every device of the platform the next computation runs on; only the chosen one inside
    a ``jax.default_device(device)`` context (the CPU fallback of a busy GPU uses one)."""
    chosen = jax.config.jax_default_device
    if chosen is not None and not isinstance(chosen, str):
        return (chosen,)
    return tuple(jax.devices(chosen))


def resolve(devices=None) -> tuple:
    """``devices`` as a tuple of JAX devices (see the module docstring); refused with the
    count that exists when it asks for more or names devices of different platforms."""
    if devices is None or devices == "all":
        return available()
    have = available()
    if isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(have):
            raise ValueError(f"devices={devices}: this process has {len(have)} {have[0].platform} device(s); "
                             f"ask for 1 to {len(have)}, or 'all'"
                             + (" (more CPU devices: massengine.use_cpu_cores)." if have[0].platform == "cpu"
                                else "."))
        return have[:devices]
    try:
        chosen = tuple(devices)
    except TypeError:
        chosen = ()
    if not chosen or not all(isinstance(d, jax.Device) for d in chosen):
        raise ValueError(f"devices must be None, 'all', an integer or a list of JAX devices, got {devices!r}.")
    if len({d.platform for d in chosen}) > 1 or len(set(chosen)) < len(chosen):
        raise ValueError(f"devices must be distinct devices of one platform, got {list(chosen)}.")
    return chosen


@dataclass(frozen=True)
class Spread:
    """A batch of runs split evenly over ``devices``: :meth:`padded` runs in all, each device
    advancing its share; with one device, exactly the engine's own calls."""

    devices: tuple

    @classmethod
    def of(cls, devices, n_runs: int) -> Spread:
        """The spread of ``n_runs`` runs: over every device asked for by name or count, and
        by default over as many as give each device :data:`MIN_RUNS_PER_DEVICE` runs."""
        chosen = resolve(devices)
        if devices is None or devices == "all":
            chosen = chosen[: max(1, min(len(chosen), n_runs // MIN_RUNS_PER_DEVICE))]
        return cls(chosen)

    @property
    def size(self) -> int:
        return len(self.devices)

    def padded(self, n_runs: int) -> int:
        """Runs the batch is padded to: equal shares of at least two (a share of one would
        compile to different summation orders, see the module docstring)."""
        return max(2, math.ceil(n_runs / self.size)) * self.size

    def describe(self) -> str:
        first = self.devices[0]
        return f"{first.platform}:{first.id}" if self.size == 1 else f"{self.size} {first.platform} devices"

    @property
    def mesh(self) -> Mesh:
        return Mesh(self.devices, (AXIS,))

    def start(self, spec, params, x0, rows, seeds, runs):
        """:func:`massengine.engine.start` with its outputs split over the devices."""
        if self.size == 1:
            with jax.default_device(self.devices[0]):
                return engine.start(spec, params, x0, rows, seeds, runs)
        return _start(spec, self.mesh, params, x0, rows, seeds, runs)

    def advance(self, spec, params, carry, runs, keys):
        """:func:`massengine.engine.advance_runs`, each device advancing its share."""
        if self.size == 1:
            with jax.default_device(self.devices[0]):
                return engine.advance_runs(spec, params, carry, runs, keys)
        return _advance(spec, self.mesh, params, carry, runs, keys)


def _split(tree):
    """Partition specs splitting every array of ``tree`` along its last (batch) axis; a
    scalar (the step count the batch shares) is kept whole on every device."""
    return jax.tree.map(lambda a: P(*(None,) * (a.ndim - 1), AXIS) if a.ndim else P(), tree)


def _rows_spec(rows):
    """History rows: (H, N) shared by every run, or (H, N, B) one per run."""
    return tuple(P(None, None, AXIS) if r.ndim == 3 else P() for r in rows)


@partial(jax.jit, static_argnums=(0, 1))
def _start(spec, mesh, params, x0, rows, seeds, runs):
    start = partial(engine.start, spec)
    out = jax.eval_shape(start, params, x0, rows, seeds, runs)
    split = jax.shard_map(start, mesh=mesh, in_specs=(P(), P(), _rows_spec(rows), P(AXIS), _split(runs)),
                          out_specs=_split(out), check_vma=False)
    return split(params, x0, rows, seeds, runs)


@partial(jax.jit, static_argnums=(0, 1))
def _advance(spec, mesh, params, carry, runs, keys):
    advance = partial(engine.advance_runs, spec)
    split = jax.shard_map(advance, mesh=mesh, in_specs=(P(), _split(carry), _split(runs), P(AXIS)),
                          out_specs=(_split(carry), P(None, AXIS)), check_vma=False)
    return split(params, carry, runs, keys)
