"""The compiled core: one ``lax.scan`` over time for a batch of runs, batch axis innermost.

Every array of a run carries the batch as its *last* axis: state (n_vars, N, B), delay
rings (H + M, N, B), samples (n_samples, n_record, N, B). A delayed read then gathers
whole rows of B contiguous values per edge, and the coupling sum adds rows; with the batch
outermost (``vmap``'s natural layout) each read was a scalar gather, 2x slower on XLA:CPU
(benchmarks/README.md). Parameters stay unbatched except ``k`` (B,), which broadcasts
against the trailing axis; per-region (N,) parameters get a trailing unit axis.

Time advances in blocks of ``RunSpec.block`` steps (:func:`block_size`): a block's delayed
reads all lie in the rings when it starts, so they are gathered (one window of U steps per
edge, from the ring and its margin of M = U - 1 rows) and summed at once, and only the node
update runs once per step; the per-step launches of the gather and the scatter-add were most
of a small batch's cost (benchmarks/README.md).

Everything here is pure JAX. ``RunSpec`` holds what selects code (hashable, static under
``jit``); ``params`` holds every number as a pytree (traced, so ``jax.grad`` reaches ``k``,
coupling and node parameters, and a batch of k values reuses one compiled program).
Labels, units and files live elsewhere (``simulate.py``, ``io.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

from . import hemodynamics, history
from .couplings import get_coupling, weighted_sum
from .integrators import STEPPERS

# How a term's weighted sum reads the delayed sources (same numbers, different cost):
# - "dense": every (target, source) pair, an (N, N, B) read reduced over sources;
# - "sparse": the E nonzero edges, (E, B) reads added per target by ``segment_sum`` (a
#   scatter-add: the cheapest on a CPU, atomics on a GPU);
# - "ell": padded in-neighbour lists, each target's K = max in-degree sources read as
#   (N, K, B) and reduced over K: sparse work without a scatter (for GPUs). Padding slots
#   read the target itself with weight 0.
LAYOUTS = ("dense", "sparse", "ell")


@dataclass(frozen=True)
class TermSpec:
    coupling: str
    signal: str  # the coupled variable or observable
    target: int  # row of the state that receives the current
    horizon: int
    static_params: tuple  # ((name, value), ...) of parameters that select code
    layout: str = "dense"  # how the coupling sum reads its sources: one of LAYOUTS


@dataclass(frozen=True)
class RunSpec:
    model: type
    terms: tuple[TermSpec, ...]
    n_transient: int  # steps before the first sample period
    period: int  # steps per sample
    n_samples: int
    integrator: str
    record: tuple[str, ...]
    monitor: str  # "sample": the state at the sample step; "mean": average over the period;
    # "bold": the BOLD signal of the Balloon–Windkessel state driven by record[0] (period = tr / dt)
    noise: bool
    unroll: int = 1  # steps per iteration of the inner time loop (fewer launches on a GPU)
    block: int = 1  # steps whose delayed reads are gathered and summed at once (block_size)
    bound: float = float("inf")  # |state| beyond it counts as diverged (NaN and inf always do)


# The longest block: a block's U steps are unrolled in the compiled loop body, so U bounds
# its size and compile time; past ~10 steps the per-step cost hardly falls (benchmarks/README.md).
BLOCK_CAP = 16


def block_size(shortest_lag: int, horizon: int, period: int, cap: int = BLOCK_CAP) -> int:
    """Steps per block of the time loop. Step ``n + u`` of a block reads the rings at
    ``n + u - lag``, which the block's start state already holds when ``u <= lag``: a block
    of at most ``shortest_lag + 1`` steps can gather all its delayed reads (and weight and
    sum them) at once, from the rings alone, then advance the nodes step by step; exact, not
    an approximation. Within that bound, as few blocks per sample period as possible, of
    equal size (so the period splits without a remainder when it can): a period of 10 steps
    with a shortest lag of 5 runs as two blocks of 5. A zero lag (no delays, self-loops)
    gives 1, the plain step-by-step loop. ``horizon``, the shortest ring, bounds it too (a
    block writes each of its steps to its own row); it matters only for a term with no
    edges, whose ring may be one row."""
    longest = max(1, min(shortest_lag + 1, horizon, cap, period))
    blocks = -(-period // longest)
    return -(-period // blocks)


# Term entries that describe the network's wiring, not per-region values.
_STRUCTURE = ("weights", "lags", "sources", "targets", "slots", "laplacian")


def per_region(value):
    """An (N,) parameter as (N, 1), so that it broadcasts against (N, B) batched values."""
    return value[:, None] if getattr(value, "ndim", 0) == 1 else value


def _batched_node_params(node_p, per_run=None):
    """Node parameters against (N, B) state rows: (N,) ones as (N, 1), per-run (B,) ones
    (a grid over a node parameter) as (1, B)."""
    batched = {n: per_region(v) for n, v in node_p.items()}
    batched.update({n: v[None, :] for n, v in (per_run or {}).items()})
    return batched


def _runs(runs) -> dict:
    """The per-run values of a batch as a dict: ``None`` (none), an array (B,) of ``k``
    (the common case), or ``{"k": (B,), "node": {name: (B,)}, "terms": ({name: (B,) or
    "lags": (..., B)}, ...), "noise": (B,)}`` with any of these keys (``noise`` scales each
    run's noise amplitude ``params["sigma"]``)."""
    if runs is None:
        return {}
    return runs if isinstance(runs, dict) else {"k": runs}


@dataclass(frozen=True)
class _Term:
    """One coupling term bound to its numbers for a run: kind, parameters, prepared sum."""

    spec: TermSpec
    kind: object
    p: dict
    prepared: tuple  # (A, d) of Coupling.prepare; A as (E, 1) edge weights on the edge list, (N, K) on "ell"

    @classmethod
    def bind(cls, spec: TermSpec, numbers: dict, k=None, per_run=None) -> _Term:
        """``numbers``: the term's entry of ``params``; ``k`` (B,) and ``per_run`` (this
        term's per-run values: shape parameters (B,), ``lags`` with a trailing B axis) vary
        across the batch."""
        kind = get_coupling(spec.coupling)
        p = {**numbers, **dict(spec.static_params)}
        a, d = kind.prepare(numbers["weights"], p)
        if spec.layout == "sparse":  # gathered once here, not at every step
            a = a[numbers["targets"], numbers["sources"]][:, None]
        elif spec.layout == "ell":  # (N, K): target i's in-neighbour weights, 0 in padding slots
            targets = jnp.arange(a.shape[0])[:, None]
            a = jnp.where(numbers["slots"], a[targets, numbers["sources"]], 0)
        p = {n: v if n in _STRUCTURE else per_region(v) for n, v in p.items()}
        # (1, B): one value per run, against (N, B) sums; per-run lags keep their shape.
        p.update({n: v if n == "lags" else v[None, :] for n, v in (per_run or {}).items()})
        if k is not None:
            p["k"] = k[None, :]
        return cls(spec, kind, p, (a, None if d is None else per_region(d)))

    @property
    def per_run_lags(self) -> bool:
        """Whether each run of the batch has its own delays (a conduction-speed grid): the
        lags then have a batch axis beyond the layout's (E,) or (N, N) / (N, K)."""
        return self.p["lags"].ndim == (1 if self.spec.layout == "sparse" else 2) + 1

    def buffered(self, model, state, node_p):
        """The source-transformed coupled signal (N,) of ``state``."""
        return self.kind.source(model.signal(state, self.spec.signal, node_p), self.p)

    def block_input(self, ring, n, size):
        """What steps ``n .. n+size-1`` take from the ring, gathered at once: the reads
        (..., size, B) for couplings whose edge function needs the target's present value
        (Kuramoto), otherwise already weighted and summed, (N, size, B)."""
        reads = history.read(ring, n, size, self.spec.horizon, self.p["lags"], self.p.get("sources"), self.per_run_lags)
        if self.kind.has_edge:
            return reads
        return weighted_sum(reads, self.prepared[0], self.p.get("targets"), ring.shape[1])

    def current(self, model, node_p, state, block, u):
        """The (N, B) coupling current of the block's step ``u`` (state ``state``), from
        :meth:`block_input`'s ``block``."""
        x_self = model.signal(state, self.spec.signal, node_p)
        a, d = self.prepared
        if not self.kind.has_edge:
            return self.kind.finish(block[:, u], x_self, d, self.p)
        reads = block[..., u, :]
        if self.spec.layout == "sparse":
            return self.kind.current_edges(reads, x_self, a, d, self.p["targets"], self.p)
        return self.kind.current(reads, x_self, self.prepared, self.p)


# The reads a block gathers (U x reads x B values) are written and read again within the block:
# beyond the cache they cost more than the launches they save. TVB 76, E = 1494 edges, blocks
# of 5: 1.5x faster at 1 run (12 KB of reads per step), 0.9x at 32 (190 KB), 0.6x at 512
# (benchmarks/README.md, bench_block.py). So blocks shrink until they hold this much.
BLOCK_READS_BYTES = 256 * 1024


def _cached_block(spec: RunSpec, n_reads: int, runs: int, itemsize: int) -> int:
    """The block length for a batch of ``runs`` making ``n_reads`` delayed reads per step:
    ``spec.block`` shortened (by :func:`block_size`'s rule) until a block's reads fit in
    :data:`BLOCK_READS_BYTES`. Any length up to ``spec.block`` is exact, so this is a choice
    of speed only."""
    per_step = runs * itemsize * n_reads
    fits = max(1, BLOCK_READS_BYTES // max(per_step, 1))
    return spec.block if fits >= spec.block else block_size(fits - 1, fits, spec.period)


def _coupling_current(model, terms, node_p, state, blocks, u):
    """(n_vars, N, B) coupling input of all terms at step ``u`` of a block."""
    total = jnp.zeros_like(state)
    for term, block in zip(terms, blocks, strict=True):
        total = total.at[term.spec.target].add(term.current(model, node_p, state, block, u))
    return total


def initial_carry(spec: RunSpec, params, x0, history_rows, runs=None):
    """The state of a run at t = 0 as a batch of one: ``(x0, rings, step 0, not
    diverged, hemodynamic state)``; :func:`batch_carry` widens it (the t = 0 state does
    not depend on k). The hemodynamic state (4, N, 1) is the Balloon rest state with
    ``monitor="bold"`` and ``()`` otherwise. With per-run parameters (``runs``, see
    :func:`_runs`) the rings are per run already: a source transform or an observable may
    depend on them."""
    runs = _runs(runs)
    node_p = _batched_node_params(params["node"], runs.get("node"))
    terms = _bind_terms(spec, params, None, runs.get("terms"))
    x0 = x0[..., None]
    rings = tuple(_initial_ring(term, rows, spec.model, x0, node_p, spec.block - 1)
                  for term, rows in zip(terms, history_rows, strict=True))
    hemo = hemodynamics.rest_state(x0.shape[1:], x0.dtype) if spec.monitor == "bold" else ()
    return (x0, rings, jnp.asarray(0, jnp.int32), jnp.full((1,), -1, jnp.int32), hemo)


def _initial_ring(term: _Term, rows, model, x0, node_p, margin):
    """A term's ring at t = 0: its history rows and the coupled signal of ``x0``, as wide as
    the wider of the two (per run when a source or node parameter varies per run), with the
    ``margin`` rows of :mod:`massengine.history`."""
    signal0 = term.buffered(model, x0, node_p)
    source = _source_rows(term, rows)
    width = max(source.shape[-1], signal0.shape[-1])
    return history.init_ring(jnp.broadcast_to(source, source.shape[:-1] + (width,)), signal0, margin)


def _source_rows(term: _Term, rows):
    """The source transform of the history ``rows``, (H, N) or per run (H, N, B): (H, N, 1)
    or (H, N, B) (rows flattened to (H * N, 1 or B) so they broadcast like a signal)."""
    h, n = rows.shape[:2]
    return term.kind.source(rows.reshape(h * n, -1), term.p).reshape(h, n, -1)


def _bind_terms(spec: RunSpec, params, k=None, per_run=None) -> list[_Term]:
    per_run = per_run or ({},) * len(spec.terms)
    return [_Term.bind(t, tp, k, pr) for t, tp, pr in zip(spec.terms, params["terms"], per_run, strict=True)]


def _noise(keys, n, size, shape, dtype):
    """Standard normals (size, n_vars, N, B) for steps ``n .. n+size-1``: run b draws step
    m's from ``fold_in(keys[b], m)``, exactly what it would draw alone, so a run's noise
    depends neither on its batch nor on the blocking of its steps."""
    draw = lambda key, m: jax.random.normal(jax.random.fold_in(key, m), shape[:-1], dtype)  # noqa: E731
    per_step = jax.vmap(jax.vmap(draw, in_axes=(0, None)), in_axes=(None, 0))  # (size, B, ...)
    return jnp.moveaxis(per_step(keys, n + jnp.arange(size)), 1, -1)


def advance(spec: RunSpec, params, carry, runs, keys):
    """Run ``spec.n_transient`` unrecorded steps, then ``spec.n_samples`` sample periods,
    for a batch of B runs that differ by coupling strength and noise key.

    ``carry`` is batched on its last axes (:func:`batch_carry`), ``runs`` the per-run
    values (:func:`_runs`): ``k`` (B,) sets every term's ``k`` (``None``: keep the one in
    ``params``, e.g. a traced scalar under ``jax.grad``), and node parameters, coupling
    parameters, delays (lags) and noise amplitudes may vary per run too, all in the same
    compiled program; ``keys`` (B,) PRNG keys. Returns ``(carry, samples (n_samples, n_record,
    N, B))``. The carry holds the state, the delay rings, the global step count (shared by
    the batch; it keys the noise, so a run cut into segments gives the same numbers as one
    call), per run the step of the first divergence check (one per sample period) that
    found a non-finite state (-1 if none), and with ``monitor="bold"`` the Balloon–Windkessel
    state (4, N, B), advanced every step by the recorded signal of the new state
    (:func:`massengine.hemodynamics.balloon_step`); a sample is then its BOLD signal.
    """
    model, dt = spec.model, params["dt"]
    runs = _runs(runs)
    node_p = _batched_node_params(params["node"], runs.get("node"))
    step_fn = STEPPERS[spec.integrator]
    terms = _bind_terms(spec, params, runs.get("k"), runs.get("terms"))
    sigma = params["sigma"][..., None] if spec.noise else None
    if spec.noise and "noise" in runs:
        sigma = sigma * runs["noise"][None, None, :]
    if spec.monitor == "bold":
        hemo_p = {n: per_region(v) for n, v in params["bold"].items()}
        dt_s = dt / 1000.0  # the hemodynamic equations are in seconds

    block_len = _cached_block(spec, sum(int(t.p["lags"].size) for t in terms), carry[0].shape[-1],
                              carry[0].dtype.itemsize)
    # The rings need block_len - 1 mirror rows (single steps none, their writes plain
    # updates); :func:`start` makes them so. A carry with another margin gets it for the call
    # and back at the end, so a carry keeps its shape from call to call.
    margin_in = carry[1][0].shape[0] - terms[0].spec.horizon if terms else 0
    carry = _with_margin(carry, terms, block_len - 1)

    def block(carry, size, keep):
        """``size`` (<= ``spec.block``) steps: their delayed reads gathered and summed at
        once, then the node advanced step by step; with ``keep`` also the recorded signals
        of every new state, (size, n_record, N, B)."""
        state, rings, n, diverged_at, hemo = carry
        inputs = [term.block_input(ring, n, size) for term, ring in zip(terms, rings, strict=True)]
        z = _noise(keys, n, size, state.shape, state.dtype) if spec.noise else None
        written, records = [[] for _ in terms], []
        for u in range(size):
            coupling = _coupling_current(model, terms, node_p, state, inputs, u)
            noise = sigma * jnp.sqrt(dt) * z[u] if spec.noise else 0.0
            state = step_fn(lambda x, c=coupling: model.dfun(x, c, node_p), state, dt, noise)
            for rows, term in zip(written, terms, strict=True):
                rows.append(term.buffered(model, state, node_p))
            if spec.monitor == "bold":
                hemo = hemodynamics.balloon_step(hemo, model.signal(state, spec.record[0], node_p), dt_s, hemo_p)
            if keep:
                records.append(recorded(state))
        rings = tuple(history.write(ring, n + 1, jnp.stack(rows), term.spec.horizon)
                      for ring, rows, term in zip(rings, written, terms, strict=True))
        return (state, rings, n + size, diverged_at, hemo), (jnp.stack(records) if keep else None)

    def run(carry, count, keep=False):
        """``count`` steps: blocks of ``block_len``, then one shorter block for the rest;
        with ``keep`` also every step's recorded signals, (count, n_record, N, B)."""
        full, rest = divmod(count, block_len)
        kept = []
        if full:
            unroll = min(max(1, spec.unroll // block_len), full)  # spec.unroll counts steps
            carry, out = jax.lax.scan(lambda c, _: block(c, block_len, keep), carry, None,
                                      length=full, unroll=unroll)
            if keep:
                kept.append(out.reshape((full * block_len,) + out.shape[2:]))
        if rest:
            carry, out = block(carry, rest, keep)
            kept.append(out)
        return carry, (jnp.concatenate(kept) if keep else None)

    def steps(carry, count):
        """``count`` steps, then the divergence check. Checking once per sample period
        rather than per step costs nothing in resolution that the samples could show (a
        non-finite state stays non-finite) and saves 15 % of the step (benchmarks/)."""
        return checked(run(carry, count)[0])

    def checked(carry):
        state, rings, n, diverged_at, hemo = carry
        bad = ~jnp.all(jnp.abs(state) <= spec.bound, axis=(0, 1))  # False for NaN too
        if spec.monitor == "bold":  # a hemodynamic state gone non-finite flags the run too
            bad = bad | ~jnp.all(jnp.isfinite(hemo), axis=(0, 1))
        diverged_at = jnp.where((diverged_at < 0) & bad, n, diverged_at)
        # NaN from the flag on: the run's later samples are NaN, its batch siblings untouched.
        if spec.monitor == "bold":
            hemo = jnp.where(diverged_at >= 0, jnp.nan, hemo)
        return (jnp.where(diverged_at >= 0, jnp.nan, state), rings, n, diverged_at, hemo)

    def recorded(state):
        return jnp.stack([model.signal(state, name, node_p) for name in spec.record])

    def sample(carry, _):
        if spec.monitor == "mean":
            carry, period = run(carry, spec.period, keep=True)
            carry = checked(carry)
            mean = jnp.mean(period, axis=0)
            return carry, jnp.where(carry[3] >= 0, jnp.nan, mean)
        carry = steps(carry, spec.period)
        if spec.monitor == "bold":
            return carry, hemodynamics.observe(carry[4], hemo_p)[None]
        return carry, recorded(carry[0])

    # The transient in sample-period blocks too, so its divergence time has the same resolution.
    blocks, rest = divmod(spec.n_transient, spec.period)
    if blocks:
        carry, _ = jax.lax.scan(lambda c, _: (steps(c, spec.period), None), carry, None, length=blocks)
    if rest:
        carry = steps(carry, rest)
    carry, samples = jax.lax.scan(sample, carry, None, length=spec.n_samples)
    return _with_margin(carry, terms, margin_in), samples


def _with_margin(carry, terms, margin: int):
    state, rings, *rest = carry
    rings = tuple(history.with_margin(ring, term.spec.horizon, margin) for ring, term in zip(rings, terms, strict=True))
    return (state, rings, *rest)


advance_jit = jax.jit(advance, static_argnums=0)


@partial(jax.jit, static_argnums=0)
def advance_runs(spec: RunSpec, params, carry, runs, keys):
    """:func:`advance` with the samples in the layout sweeps store, (n_record, B,
    n_samples, N): one signal of one run is then contiguous, and the transpose happens on
    the device, before the copy to the host, rather than on the host after it."""
    carry, samples = advance(spec, params, carry, runs, keys)
    return carry, jnp.transpose(samples, (1, 3, 0, 2))


@partial(jax.jit, static_argnums=0)
def start(spec: RunSpec, params, x0, history_rows, seeds, runs=None):
    """The batched initial carry and PRNG keys of runs seeded by ``seeds`` (B,) with
    per-run values ``runs`` (:func:`_runs`): one compiled program rather than a handful of
    eager ones."""
    carry = batch_carry(initial_carry(spec, params, x0, history_rows, runs), seeds.shape[0])
    # Rings with the margin of the blocks this batch runs (:func:`advance`), none for single steps.
    n_reads = sum(int(p["lags"].size) for p in params["terms"])
    block = _cached_block(spec, n_reads, seeds.shape[0], carry[0].dtype.itemsize)
    carry = _with_margin(carry, _bind_terms(spec, params), block - 1)
    return carry, jax.vmap(jax.random.key)(seeds)


def batch_carry(carry, size: int):
    """The initial carry (a batch of one) repeated for ``size`` runs, batch axis last."""
    state, rings, n, diverged, hemo = carry
    tile = lambda a: jnp.broadcast_to(a, a.shape[:-1] + (size,))  # noqa: E731
    return (tile(state), tuple(tile(r) for r in rings), n, tile(diverged), jax.tree.map(tile, hemo))
