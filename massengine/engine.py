"""The compiled core: one ``lax.scan`` over time for a batch of runs, batch axis innermost.

Every array of a run carries the batch as its *last* axis: state (n_vars, N, B), delay
rings (H, N, B), samples (n_samples, n_record, N, B). A delayed read then gathers whole
rows of B contiguous values per edge, and the coupling sum adds rows; with the batch
outermost (``vmap``'s natural layout) each read was a scalar gather, 2x slower on XLA:CPU
(benchmarks/README.md). Parameters stay unbatched except ``k`` (B,), which broadcasts
against the trailing axis; per-region (N,) parameters get a trailing unit axis.

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
from .couplings import get_coupling
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
    bound: float = float("inf")  # |state| beyond it counts as diverged (NaN and inf always do)


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


def _coupling_current(model, terms, node_p, state, rings, n):
    """(n_vars, N) coupling input of all terms at step ``n`` (state ``x_n``)."""
    total = jnp.zeros_like(state)
    for term, ring in zip(terms, rings, strict=True):
        reads = history.read(ring, n, term.p["lags"], term.p.get("sources"), term.per_run_lags)
        x_self = model.signal(state, term.spec.signal, node_p)
        if term.spec.layout == "sparse":
            current = term.kind.current_edges(reads, x_self, *term.prepared, term.p["targets"], term.p)
        else:
            current = term.kind.current(reads, x_self, term.prepared, term.p)
        total = total.at[term.spec.target].add(current)
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
    rings = tuple(_initial_ring(term, rows, spec.model, x0, node_p)
                  for term, rows in zip(terms, history_rows, strict=True))
    hemo = hemodynamics.rest_state(x0.shape[1:], x0.dtype) if spec.monitor == "bold" else ()
    return (x0, rings, jnp.asarray(0, jnp.int32), jnp.full((1,), -1, jnp.int32), hemo)


def _initial_ring(term: _Term, rows, model, x0, node_p):
    """A term's ring at t = 0: its history rows and the coupled signal of ``x0``, as wide as
    the wider of the two (per run when a source or node parameter varies per run)."""
    signal0 = term.buffered(model, x0, node_p)
    source = _source_rows(term, rows)
    width = max(source.shape[-1], signal0.shape[-1])
    return history.init_ring(jnp.broadcast_to(source, source.shape[:-1] + (width,)), signal0)


def _source_rows(term: _Term, rows):
    """The source transform of the history ``rows``, (H, N) or per run (H, N, B): (H, N, 1)
    or (H, N, B) (rows flattened to (H * N, 1 or B) so they broadcast like a signal)."""
    h, n = rows.shape[:2]
    return term.kind.source(rows.reshape(h * n, -1), term.p).reshape(h, n, -1)


def _bind_terms(spec: RunSpec, params, k=None, per_run=None) -> list[_Term]:
    per_run = per_run or ({},) * len(spec.terms)
    return [_Term.bind(t, tp, k, pr) for t, tp, pr in zip(spec.terms, params["terms"], per_run, strict=True)]


def _noise(keys, n, shape, dtype):
    """Standard normals (n_vars, N, B): run b draws from ``fold_in(keys[b], n)``, exactly
    what it would draw alone, so a run's noise does not depend on its batch."""
    draw = lambda key: jax.random.normal(jax.random.fold_in(key, n), shape[:-1], dtype)  # noqa: E731
    return jnp.moveaxis(jax.vmap(draw)(keys), 0, -1)


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

    def step(carry, _):
        state, rings, n, diverged_at, hemo = carry
        coupling = _coupling_current(model, terms, node_p, state, rings, n)
        noise = 0.0
        if spec.noise:
            z = _noise(keys, n, state.shape, state.dtype)
            noise = sigma * jnp.sqrt(dt) * z
        new = step_fn(lambda x: model.dfun(x, coupling, node_p), state, dt, noise)
        rings = tuple(
            history.write(ring, n + 1, term.buffered(model, new, node_p))
            for term, ring in zip(terms, rings, strict=True)
        )
        if spec.monitor == "bold":
            hemo = hemodynamics.balloon_step(hemo, model.signal(new, spec.record[0], node_p), dt_s, hemo_p)
        return (new, rings, n + 1, diverged_at, hemo), None

    def steps(carry, count):
        """``count`` steps, then the divergence check. Checking once per sample period
        rather than per step costs nothing in resolution that the samples could show (a
        non-finite state stays non-finite) and saves 15 % of the step (benchmarks/)."""
        if count:
            carry, _ = jax.lax.scan(step, carry, None, length=count, unroll=min(spec.unroll, count))
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
            def accumulate(c, _):
                c, _ = step(c, None)
                return c, recorded(c[0])
            carry, block = jax.lax.scan(accumulate, carry, None, length=spec.period)
            carry = steps(carry, 0)
            mean = jnp.mean(block, axis=0)
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
    return jax.lax.scan(sample, carry, None, length=spec.n_samples)


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
    return carry, jax.vmap(jax.random.key)(seeds)


def batch_carry(carry, size: int):
    """The initial carry (a batch of one) repeated for ``size`` runs, batch axis last."""
    state, rings, n, diverged, hemo = carry
    tile = lambda a: jnp.broadcast_to(a, a.shape[:-1] + (size,))  # noqa: E731
    return (tile(state), tuple(tile(r) for r in rings), n, tile(diverged), jax.tree.map(tile, hemo))
