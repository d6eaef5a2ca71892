"""simulate() against the independent plain-NumPy reference (tests/reference.py)."""

import numpy as np
import pytest

import massengine as me

from reference import simulate_hopf

COUPLING_CASES = {
    "diffusive": {},
    "additive": {"b": 0.05},
    "laplacian": {},
    "tanh": {"scale": 1.5},
    "sigmoidal": {"slope": 2.0, "midpoint": 0.1},
    "sigmoidal_jansen_rit": {"midpoint": 0.2, "r": 3.0, "cmax": 0.5},
    "kuramoto": {},
}
DT, N_STEPS, SPEED = 0.5, 60, 8.0  # delays of 4..10 ms = 8..20 steps


def engine_states(example, kind, params, integrator, precision, history="zeros", layout="auto", weights=None):
    net = me.Network(
        me.nodes.Hopf(initial={"x": np.linspace(-0.4, 0.5, 8), "y": 0.2}),
        weights=example.weights if weights is None else weights, distances=example.distances, speed=SPEED,
        coupling=kind, k=0.6, **params,
    )
    ds = me.simulate(net, duration=N_STEPS * DT, dt=DT, integrator=integrator,
                     precision=precision, history=history, layout=layout)
    return np.stack([ds.x.values, ds.y.values], axis=1)


def reference_states(example, kind, params, integrator, history="zeros", weights=None):
    delays = example.distances / SPEED
    weights = example.weights if weights is None else weights
    return simulate_hopf(weights, delays, kind, 0.6, np.linspace(-0.4, 0.5, 8), 0.2,
                         DT, N_STEPS, integrator, history=history, **params)[1:]


@pytest.mark.parametrize("integrator", ["euler", "heun"])
@pytest.mark.parametrize("kind", sorted(COUPLING_CASES))
def test_every_coupling_matches_reference_float64(example, kind, integrator):
    params = COUPLING_CASES[kind]
    got = engine_states(example, kind, params, integrator, "float64")
    want = reference_states(example, kind, params, integrator)
    assert np.abs(want).max() > 0.1  # the comparison is not of zeros
    # float64 both sides; only summation order differs
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(COUPLING_CASES))
def test_sparse_edge_sum_matches_reference_on_a_sparse_network(example, kind):
    """The edge-list and padded in-neighbour paths (forced; "auto" picks one below 30 %
    density) on a sparsified network."""
    mask = np.random.default_rng(7).random((8, 8)) < 0.25
    weights = example.weights * (mask | mask.T)
    params = dict(COUPLING_CASES[kind])
    if kind == "laplacian":
        params["normalize"] = "sym"
    want = reference_states(example, kind, params, "heun", weights=weights)
    for layout in ("auto", "sparse", "ell", "dense"):
        got = engine_states(example, kind, params, "heun", "float64", layout=layout, weights=weights)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["diffusive", "tanh", "sigmoidal_jansen_rit"])
def test_float32_default_matches_reference_to_float32_tolerance(example, kind):
    params = COUPLING_CASES[kind]
    got = engine_states(example, kind, params, "euler", "float32")
    want = reference_states(example, kind, params, "euler")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("history", ["initial", "array"])
def test_history_modes_match_reference(example, history):
    if history == "array":
        h = int(np.ceil(np.round(example.distances.max() / SPEED / DT, 6))) + 1
        history = np.sin(np.arange(h)[:, None] * 0.3 + np.arange(8)[None, :])
    got = engine_states(example, "diffusive", {}, "euler", "float64", history)
    want = reference_states(example, "diffusive", {}, "euler", history)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    zeros = engine_states(example, "diffusive", {}, "euler", "float64")
    assert np.abs(zeros - got).max() > 1e-3  # the history really was used


def test_custom_wiring_two_terms_sum(example):
    """Forward/backward weights as two terms equal a hand sum of the two currents."""
    upper, lower = np.triu(example.weights), np.tril(example.weights)
    delays = example.distances / SPEED
    node = me.nodes.Hopf(initial={"x": 0.3})
    net = me.Network(node, terms=[
        me.CouplingTerm("diffusive", upper, delays, params={"k": 0.4}),
        me.CouplingTerm("tanh", lower, delays, params={"k": 0.7, "scale": 1.0}),
    ])
    ds = me.simulate(net, duration=20.0, dt=DT, precision="float64")
    # reference: run the two couplings through one hand-written Euler loop
    from reference import coupling_loop, hopf_dfun, lags_ceil
    lags, state, past = lags_ceil(delays, DT), np.array([np.full(8, 0.3), np.zeros(8)]), {}
    past[0] = state[0].copy()
    read = lambda s, j: past[s][j] if s >= 0 else 0.0  # noqa: E731
    for step in range(40):
        xd = np.array([[read(step - lags[i, j], j) for j in range(8)] for i in range(8)])
        c = coupling_loop("diffusive", xd, state[0], upper, 0.4) + coupling_loop(
            "tanh", xd, state[0], lower, 0.7, scale=1.0)
        state = state + DT * hopf_dfun(state, c)
        past[step + 1] = state[0].copy()
    np.testing.assert_allclose(ds.x.values[-1], state[0], rtol=1e-10)


def test_term_can_target_another_variable(example):
    """A term read from x and aimed at y's equation moves y, not x, at the first step."""
    net = me.Network(me.nodes.Hopf(a=0.0, w=0.0, initial={"x": np.arange(8.0)}),
                     weights=example.weights, coupling="additive", k=1.0, target="y")
    ds = me.simulate(net, duration=0.1, dt=0.1, precision="float64")
    np.testing.assert_allclose(ds.y.values[0], 0.1 * example.weights @ np.arange(8.0), rtol=1e-12)
