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


def _coupling_current(spec: RunSpec, params, state, rings, n, prepared):
    """(n_vars, N) coupling input of all terms at step ``n`` (state ``x_n``)."""
    total = jnp.zeros_like(state)
    columns = jnp.arange(state.shape[1])
    for term, tp, ring, prep in zip(spec.terms, params["terms"], rings, prepared):
        coupling = get_coupling(term.coupling)
        p = {**tp, **dict(term.static_params)}
        reads = history.read(ring, n, tp["lags"], columns)
        x_self = spec.model.signal(state, term.signal, params["node"])
        current = coupling.current(reads, x_self, prep, p)
        total = total.at[term.target].add(current)
    return total


def _buffered(spec: RunSpec, params, state):
    """The source-transformed coupled signals of ``state``, one (N,) per term."""
    out = []
    for term, tp in zip(spec.terms, params["terms"]):
        coupling = get_coupling(term.coupling)
        value = spec.model.signal(state, term.signal, params["node"])
        out.append(coupling.source(value, {**tp, **dict(term.static_params)}))
    return out


def run(spec: RunSpec, params, x0, history_rows, key):
    """Integrate one run. Returns ``(samples (n_samples, n_record, N), divergence_step)``.

    ``divergence_step`` is the first step whose state is non-finite (-1 if none); from there
    on the state is NaN, so later samples are NaN and nothing else is affected.
    """
    model, dt = spec.model, params["dt"]
    node_p = params["node"]
    step_fn = STEPPERS[spec.integrator]
    prepared = [
        get_coupling(t.coupling).prepare(tp["weights"], {**tp, **dict(t.static_params)})
        for t, tp in zip(spec.terms, params["terms"])
    ]
    first = _buffered(spec, params, x0)
    rings = tuple(
        history.init_ring(
            get_coupling(t.coupling).source(rows, {**tp, **dict(t.static_params)}), v0
        )
        for t, tp, rows, v0 in zip(spec.terms, params["terms"], history_rows, first)
    )

    def step(carry, _):
        state, rings, n, diverged_at = carry
        coupling = _coupling_current(spec, params, state, rings, n, prepared)
        noise = 0.0
        if spec.noise:
            z = jax.random.normal(jax.random.fold_in(key, n), state.shape, state.dtype)
            noise = params["sigma"] * jnp.sqrt(dt) * z
        new = step_fn(lambda x: model.dfun(x, coupling, node_p), state, dt, noise)
        bad = ~jnp.all(jnp.isfinite(new))
        diverged_at = jnp.where((diverged_at < 0) & bad, n + 1, diverged_at)
        new = jnp.where(diverged_at >= 0, jnp.nan, new)
        values = _buffered(spec, params, new)
        rings = tuple(history.write(r, n + 1, v) for r, v in zip(rings, values))
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

    carry = (x0, rings, jnp.asarray(0, jnp.int32), jnp.asarray(-1, jnp.int32))
    if spec.n_transient:
        carry, _ = jax.lax.scan(step, carry, None, length=spec.n_transient)
    carry, samples = jax.lax.scan(sample, carry, None, length=spec.n_samples)
    return samples, carry[3]


def with_k(params, k):
    """``params`` with the coupling strength of every term set to ``k``."""
    terms = tuple({**tp, "k": k} for tp in params["terms"])
    return {**params, "terms": terms}


run_jit = jax.jit(run, static_argnums=0)


@partial(jax.jit, static_argnums=0)
def run_batch(spec: RunSpec, params, x0, history_rows, ks, keys):
    """``run`` for a batch: ``ks`` (B,) coupling strengths and ``keys`` (B,) PRNG keys, one
    vmapped program (no Python loop, no recompilation per k)."""
    one = lambda k, key: run(spec, with_k(params, k), x0, history_rows, key)  # noqa: E731
    return jax.vmap(one)(ks, keys)
