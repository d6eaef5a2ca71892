"""The compiled core: one ``lax.scan`` over time, batched with ``vmap``.

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

from . import history
from .couplings import get_coupling
from .integrators import STEPPERS


@dataclass(frozen=True)
class TermSpec:
    coupling: str
    signal: str  # the coupled variable or observable
    target: int  # row of the state that receives the current
    horizon: int
    static_params: tuple  # ((name, value), ...) of parameters that select code
    sparse: bool  # sum over the nonzero edges (E reads) instead of the dense (N, N) read


@dataclass(frozen=True)
class RunSpec:
    model: type
    terms: tuple[TermSpec, ...]
    n_transient: int  # steps before the first sample period
    period: int  # steps per sample
    n_samples: int
    integrator: str
    record: tuple[str, ...]
    monitor: str  # "sample": the state at the sample step; "mean": average over the period
    noise: bool


@dataclass(frozen=True)
class _Term:
    """One coupling term bound to its numbers for a run: kind, parameters, prepared sum."""

    spec: TermSpec
    kind: object
    p: dict
    prepared: tuple

    @classmethod
    def bind(cls, spec: TermSpec, numbers: dict) -> _Term:
        kind = get_coupling(spec.coupling)
        p = {**numbers, **dict(spec.static_params)}
        return cls(spec, kind, p, kind.prepare(numbers["weights"], p))

    def buffered(self, model, state, node_p):
        """The source-transformed coupled signal (N,) of ``state``."""
        return self.kind.source(model.signal(state, self.spec.signal, node_p), self.p)


def _coupling_current(model, terms, node_p, state, rings, n):
    """(n_vars, N) coupling input of all terms at step ``n`` (state ``x_n``)."""
    total = jnp.zeros_like(state)
    for term, ring in zip(terms, rings, strict=True):
        reads = history.read(ring, n, term.p["lags"], term.p.get("sources"))
        x_self = model.signal(state, term.spec.signal, node_p)
        if term.spec.sparse:
            current = term.kind.current_edges(reads, x_self, term.prepared, term.p["targets"],
                                              term.p["sources"], term.p)
        else:
            current = term.kind.current(reads, x_self, term.prepared, term.p)
        total = total.at[term.spec.target].add(current)
    return total


def initial_carry(spec: RunSpec, params, x0, history_rows):
    """The state of a run at t = 0: ``(x0, rings, step 0, not diverged)``."""
    node_p = params["node"]
    terms = _bind_terms(spec, params)
    rings = tuple(
        history.init_ring(term.kind.source(rows, term.p), term.buffered(spec.model, x0, node_p))
        for term, rows in zip(terms, history_rows, strict=True)
    )
    return (x0, rings, jnp.asarray(0, jnp.int32), jnp.asarray(-1, jnp.int32))


def _bind_terms(spec: RunSpec, params) -> list[_Term]:
    return [_Term.bind(t, tp) for t, tp in zip(spec.terms, params["terms"], strict=True)]


def advance(spec: RunSpec, params, carry, key):
    """Run ``spec.n_transient`` unrecorded steps, then ``spec.n_samples`` sample periods.

    Returns ``(carry, samples (n_samples, n_record, N))``. The carry holds the state, the
    delay rings, the global step count (which also keys the noise, so a run cut into
    segments gives the same numbers as one call) and the divergence step (-1 if none).
    """
    model, dt, node_p = spec.model, params["dt"], params["node"]
    step_fn = STEPPERS[spec.integrator]
    terms = _bind_terms(spec, params)

    def step(carry, _):
        state, rings, n, diverged_at = carry
        coupling = _coupling_current(model, terms, node_p, state, rings, n)
        noise = 0.0
        if spec.noise:
            z = jax.random.normal(jax.random.fold_in(key, n), state.shape, state.dtype)
            noise = params["sigma"] * jnp.sqrt(dt) * z
        new = step_fn(lambda x: model.dfun(x, coupling, node_p), state, dt, noise)
        # A non-finite state flags the run from this step on; NaN keeps its later samples NaN.
        bad = ~jnp.all(jnp.isfinite(new))
        diverged_at = jnp.where((diverged_at < 0) & bad, n + 1, diverged_at)
        new = jnp.where(diverged_at >= 0, jnp.nan, new)
        rings = tuple(
            history.write(ring, n + 1, term.buffered(model, new, node_p))
            for term, ring in zip(terms, rings, strict=True)
        )
        return (new, rings, n + 1, diverged_at), None

    def recorded(state):
        return jnp.stack([model.signal(state, name, node_p) for name in spec.record])

    def sample(carry, _):
        if spec.monitor == "mean":
            def accumulate(c, _):
                c, _ = step(c, None)
                return c, recorded(c[0])
            carry, block = jax.lax.scan(accumulate, carry, None, length=spec.period)
            return carry, jnp.mean(block, axis=0)
        carry, _ = jax.lax.scan(step, carry, None, length=spec.period)
        return carry, recorded(carry[0])

    if spec.n_transient:
        carry, _ = jax.lax.scan(step, carry, None, length=spec.n_transient)
    return jax.lax.scan(sample, carry, None, length=spec.n_samples)


def with_k(params, k):
    """``params`` with the coupling strength of every term set to ``k``."""
    terms = tuple({**tp, "k": k} for tp in params["terms"])
    return {**params, "terms": terms}


initial_carry_jit = jax.jit(initial_carry, static_argnums=0)
advance_jit = jax.jit(advance, static_argnums=0)


# The step count is shared by the batch: left unbatched, the ring index stays one scalar per
# step; batched, every read becomes a batched gather (5x slower on XLA:CPU, benchmarks/).
_CARRY_AXES = (0, 0, None, 0)


@partial(jax.jit, static_argnums=0)
def advance_batch(spec: RunSpec, params, carries, ks, keys):
    """``advance`` for a batch of runs: ``carries`` batched on axis 0, ``ks`` (B,) coupling
    strengths, ``keys`` (B,) PRNG keys; one vmapped program (no loop, no recompilation per k)."""
    one = lambda carry, k, key: advance(spec, with_k(params, k), carry, key)  # noqa: E731
    return jax.vmap(one, in_axes=(_CARRY_AXES, 0, 0), out_axes=(_CARRY_AXES, 0))(carries, ks, keys)


def batch_carry(carry, size: int):
    """The same initial carry for ``size`` runs (the t = 0 state does not depend on k)."""
    state, rings, n, diverged = carry
    tile = lambda a: jnp.broadcast_to(a, (size,) + a.shape)  # noqa: E731
    return (tile(state), jax.tree_util.tree_map(tile, rings), n, tile(diverged))
