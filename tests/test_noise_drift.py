"""Stochastic Euler and Heun on a system *with* drift, against the reference, exactly.

The statistical tests (test_noise.py) use a drift-free system, where the Heun predictor's
noise term changes nothing (issue 17). Here a delay-coupled Hopf network runs with noise,
and the test draws the same standard normals the engine draws (engine._noise: run b at
step n uses ``jax.random.normal(jax.random.fold_in(jax.random.key(seed_b), n), (n_vars, N))``),
so the reference (tests/reference.py) integrates the very same path.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import massengine as me

from reference import simulate_hopf

DT, N_STEPS, SIGMA = 0.1, 80, 0.05
X0, Y0 = np.array([0.4, -0.2, 0.1, 0.3]), 0.1


def network():
    w = np.array([[0.0, 0.8, 0.0, 0.3],
                  [0.2, 0.0, 0.6, 0.0],
                  [0.0, 0.9, 0.0, 0.5],
                  [0.7, 0.0, 0.1, 0.0]])
    delays = np.array([[0.0, 0.23, 0.0, 0.61],
                       [0.47, 0.0, 0.35, 0.0],
                       [0.0, 0.12, 0.0, 0.88],
                       [0.29, 0.0, 0.54, 0.0]])
    return w, delays


@functools.cache
def normals(seed):
    """The engine's standard normals (N_STEPS, 2, 4) of steps 0 .. N_STEPS-1 for ``seed``."""
    with jax.enable_x64(True):
        key = jax.random.key(seed)
        draw = lambda n: jax.random.normal(jax.random.fold_in(key, n), (2, 4), jnp.float64)  # noqa: E731
        return np.asarray(jax.vmap(draw)(jnp.arange(N_STEPS)))


def increments(seed, sigma=SIGMA):
    """The engine's noise increments sigma sqrt(dt) z of every step for ``seed``."""
    return sigma * np.sqrt(DT) * normals(seed)


def reference(integrator, seed, k=0.5, noise=True):
    w, delays = network()
    return simulate_hopf(w, delays, "diffusive", k, X0, Y0, DT, N_STEPS, integrator,
                         noise=increments(seed) if noise else None)[1:]


def engine_net(k=0.5):
    w, delays = network()
    return me.Network(me.nodes.Hopf(initial={"x": X0, "y": Y0}), weights=w, delays=delays,
                      coupling="diffusive", k=k)


@pytest.mark.parametrize("integrator", ["euler", "heun"])
def test_stochastic_integrators_match_reference_on_the_same_normals(integrator):
    want = reference(integrator, seed=7)
    ds = me.simulate(engine_net(), duration=N_STEPS * DT, dt=DT, precision="float64",
                     integrator=integrator, noise=SIGMA, seed=7)
    got = np.stack([ds.x.values, ds.y.values], axis=1)
    # float64 both sides, the same normals: only rounding differs
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # the noise is felt (the run is not the deterministic one) and the drift is not negligible
    assert np.abs(want - reference(integrator, seed=7, noise=False)).max() > 1e-2
    assert np.abs(want[-1] - want[0]).max() > 0.05


def heun_without_predictor_noise(seed):
    """Heun whose predictor leaves the noise out: the bug this file exists to catch."""
    w, delays = network()
    from reference import coupling_loop, hopf_dfun, lags_rounded

    dw, lags = increments(seed), lags_rounded(delays, DT)
    state = np.array([X0, np.full(4, Y0)])
    past, out = {0: state[0].copy()}, []
    for step in range(N_STEPS):
        xd = np.array([[past[step - lags[i, j]][j] if step >= lags[i, j] else 0.0 for j in range(4)]
                       for i in range(4)])
        c = coupling_loop("diffusive", xd, state[0], w, 0.5)
        f0 = hopf_dfun(state, c)
        state = state + 0.5 * DT * (f0 + hopf_dfun(state + DT * f0, c)) + dw[step]
        past[step + 1] = state[0].copy()
        out.append(state.copy())
    return np.array(out)


def test_heun_predictor_noise_is_visible_at_this_tolerance():
    """The premise of the Heun case above: leaving the noise out of the predictor moves the
    path far beyond the 1e-10 tolerance."""
    assert np.abs(heun_without_predictor_noise(7) - reference("heun", seed=7)).max() > 1e-5


def test_sweep_seeds_match_reference_on_their_own_normals():
    ks, seeds = [0.2, 0.8], [3, 11]
    ds = me.sweep(engine_net(), k=ks, seeds=seeds, duration=N_STEPS * DT, dt=DT, precision="float64",
                  integrator="heun", noise=SIGMA)
    for i, k in enumerate(ks):
        for j, seed in enumerate(seeds):
            w, delays = network()
            want = simulate_hopf(w, delays, "diffusive", k, X0, Y0, DT, N_STEPS, "heun",
                                 noise=increments(seed))[1:]
            got = np.stack([ds.x.values[0, i, j], ds.y.values[0, i, j]], axis=1)
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_per_variable_sigma_matches_reference():
    """noise={"y": sigma}: x gets no increment, y gets sigma sqrt(dt) z[1]."""
    ds = me.simulate(engine_net(), duration=N_STEPS * DT, dt=DT, precision="float64",
                     integrator="euler", noise={"y": SIGMA}, seed=2)
    dw = increments(2)
    dw[:, 0] = 0.0
    w, delays = network()
    want = simulate_hopf(w, delays, "diffusive", 0.5, X0, Y0, DT, N_STEPS, "euler", noise=dw)[1:]
    np.testing.assert_allclose(np.stack([ds.x.values, ds.y.values], axis=1), want, rtol=1e-10, atol=1e-12)
