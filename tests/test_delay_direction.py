"""Which way a delay points and how many steps it lasts, in every ``delay_rounding`` mode.

Every other delay matrix in the suite is symmetric, so a delay read as ``[j, i]`` instead of
``[i, j]``, or a rounding mode dropped on the way to the engine, went unseen (issue 17).
Here weights *and* delays are asymmetric and the delays fall between steps, so the three
modes give three different lag matrices; the engine (``simulate`` and ``sweep``, float64)
is compared with the independent NumPy reference (tests/reference.py), which computes its
lags itself. An impulse test then shows the first arrival, step by step.
"""

import numpy as np
import pytest

import massengine as me

from reference import lags_rounded, simulate_hopf

ROUNDINGS = ("ceil", "round", "floor")
DT, N_STEPS, K = 0.5, 60, 0.6
X0, Y0 = np.array([0.5, -0.3, 0.1, 0.4, -0.2]), 0.2


def asymmetric_network():
    """5 regions; weights and delays both asymmetric; every delay is (whole + 0.3) or
    (whole + 0.7) steps of DT, so ceil, round and floor all disagree somewhere."""
    rng = np.random.default_rng(17)
    n = 5
    w = rng.uniform(0.2, 1.0, (n, n)) * (rng.random((n, n)) < 0.7)
    np.fill_diagonal(w, 0.0)
    whole = rng.integers(1, 12, (n, n))
    frac = np.where(rng.random((n, n)) < 0.5, 0.3, 0.7)
    delays = (whole + frac) * DT
    np.fill_diagonal(delays, 0.0)
    return w, delays


def test_the_case_is_asymmetric_and_separates_the_modes():
    """Guards the premise of the tests below (else they could not catch the bugs)."""
    w, delays = asymmetric_network()
    lags = {mode: lags_rounded(delays, DT, mode) for mode in ROUNDINGS}
    assert np.count_nonzero((lags["ceil"] != lags["ceil"].T) & (w != 0)) >= 5
    assert not np.array_equal(w, w.T)
    assert np.count_nonzero((lags["ceil"] != lags["round"]) & (w != 0)) >= 3
    assert np.count_nonzero((lags["round"] != lags["floor"]) & (w != 0)) >= 3
    # the engine's own lags agree with the reference's independent restatement
    for mode in ROUNDINGS:
        np.testing.assert_array_equal(me.delay_steps(delays, DT, mode), lags[mode])


def net_of(w, delays, coupling="diffusive", **params):
    node = me.nodes.Hopf(initial={"x": X0, "y": Y0})
    return me.Network(node, weights=w, delays=delays, coupling=coupling, k=K, **params)


def reference(w, delays, mode, k=K, coupling="diffusive", **params):
    return simulate_hopf(w, delays, coupling, k, X0, Y0, DT, N_STEPS, delay_rounding=mode, **params)[1:]


@pytest.mark.parametrize("mode", ROUNDINGS)
def test_simulate_matches_reference_with_asymmetric_delays(mode):
    w, delays = asymmetric_network()
    want = reference(w, delays, mode)
    for layout in ("dense", "sparse"):
        ds = me.simulate(net_of(w, delays), duration=N_STEPS * DT, dt=DT, precision="float64",
                         delay_rounding=mode, layout=layout)
        got = np.stack([ds.x.values, ds.y.values], axis=1)
        # float64 both sides; only the order of the coupling sums differs
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert ds.attrs["delay_rounding"] == mode
    # the comparison can tell: transposed delays or another rounding give other trajectories
    assert np.abs(reference(w, delays.T, mode) - want).max() > 1e-3
    for other in set(ROUNDINGS) - {mode}:
        assert np.abs(reference(w, delays, other) - want).max() > 1e-3


@pytest.mark.parametrize("mode", ROUNDINGS)
def test_sweep_matches_reference_with_asymmetric_delays(mode):
    w, delays = asymmetric_network()
    ks = [0.3, 0.9]
    ds = me.sweep(net_of(w, delays, "tanh", scale=1.5), k=ks, duration=N_STEPS * DT, dt=DT,
                  precision="float64", delay_rounding=mode)
    for i, k in enumerate(ks):
        want = reference(w, delays, mode, k, "tanh", scale=1.5)
        got = np.stack([ds.x.values[0, i], ds.y.values[0, i]], axis=1)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        assert np.abs(reference(w, delays.T, mode, k, "tanh", scale=1.5) - want).max() > 1e-3


# ---- impulse: one source, one pulse ----------------------------------------------------------
#
# Hopf with w = 0, beta = 0 and a = -1/dt is x_{n+1} = dt * C_n (exactly, dt being 1/4): a region keeps
# nothing of its past, so region 0 started at x = 1 is a one-step pulse at t = 0, and a
# region that hears it through an additive coupling (C_i = k sum_j W_ij x_j(n - lag_ij))
# is nonzero exactly at step lag + 1 (the step that reads x_0(0)), zero before.

IMP_DT = 0.25  # a power of two: every product below is exact in float64
# delays in steps (of IMP_DT): 0 -> 1: 2.3, 0 -> 2: 5.7, 1 -> 0 (the reverse edge): 9.4
IMP_DELAYS = np.array([[0.0, 9.4, 0.0],
                       [2.3, 0.0, 0.0],
                       [5.7, 0.0, 0.0]]) * IMP_DT
IMP_W = np.array([[0.0, 0.25, 0.0],
                  [1.0, 0.0, 0.0],
                  [0.5, 0.0, 0.0]])
# lag_ij (row = target i, column = source j), worked out by hand from the delays above:
# ceil(2.3) = 3, ceil(5.7) = 6, ceil(9.4) = 10; round: 2, 6, 9; floor: 2, 5, 9.
IMP_LAGS = {"ceil": (3, 6, 10), "round": (2, 6, 9), "floor": (2, 5, 9)}


def impulse_net():
    node = me.nodes.Hopf(a=-1.0 / IMP_DT, w=0.0, beta=0.0, initial={"x": [1.0, 0.0, 0.0]})
    return me.Network(node, weights=IMP_W, delays=IMP_DELAYS, coupling="additive", k=1.0)


def first_nonzero(series):
    """Step of the first nonzero state (sample m - 1 holds the state after step m)."""
    return int(np.flatnonzero(series != 0.0)[0]) + 1


def check_impulse(x, mode, k):
    """``x`` (steps 1..n, region) of the impulse network at coupling strength k."""
    lag10, lag20, lag01 = IMP_LAGS[mode]
    # the source is a one-step pulse: x_0 = 1 at t = 0, then 0 until its echo returns
    assert x[0, 0] == 0.0
    # each receiver first feels it exactly lag + 1 steps in, with the pulse's full height
    assert first_nonzero(x[:, 1]) == lag10 + 1
    assert first_nonzero(x[:, 2]) == lag20 + 1
    assert x[lag10, 1] == IMP_DT * k * 1.0 and x[lag20, 2] == IMP_DT * k * 0.5
    # and the pulse travels 0 -> 1 only: the source hears nothing until 1's own pulse has
    # crossed the reverse edge (lag01 more steps), never at lag10 or lag20
    assert first_nonzero(x[:, 0]) == lag10 + 1 + lag01 + 1
    assert x[lag10 + lag01 + 1, 0] == IMP_DT * k * 0.25 * IMP_DT * k * 1.0


@pytest.mark.parametrize("mode", ROUNDINGS)
def test_impulse_arrives_exactly_lag_steps_later_one_way(mode):
    assert lags_rounded(IMP_DELAYS, IMP_DT, mode)[[1, 2, 0], [0, 0, 1]].tolist() == list(IMP_LAGS[mode])
    n = 30
    ds = me.simulate(impulse_net(), duration=n * IMP_DT, dt=IMP_DT, precision="float64", delay_rounding=mode)
    check_impulse(ds.x.values, mode, 1.0)
    sw = me.sweep(impulse_net(), k=[1.0, 2.0], duration=n * IMP_DT, dt=IMP_DT, precision="float64",
                  delay_rounding=mode, layout="sparse")
    for i, k in enumerate([1.0, 2.0]):
        check_impulse(sw.x.values[0, i], mode, k)
