"""Node models against their equations written out by hand, fixed points, Kuramoto
synchronisation, and every model with every coupling it supports."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import fsolve

import massengine as me

# ---- the published equations, written out independently in NumPy -------------------------


def jr_hand(y, c, A=3.25, B=22.0, a=0.1, b=0.05, v0=5.52, e0=0.0025, r=0.56, J=135.0,
            a1=1.0, a2=0.8, a3=0.25, a4=0.25, mu=0.22):
    def s(v):
        return 2 * e0 / (1 + np.exp(r * (v0 - v)))
    y0, y1, y2, y3, y4, y5 = y
    return np.array([
        y3, y4, y5,
        A * a * s(y1 - y2) - 2 * a * y3 - a**2 * y0,
        A * a * (mu + a2 * J * s(a1 * J * y0) + c) - 2 * a * y4 - a**2 * y1,
        B * b * (a4 * J * s(a3 * J * y0)) - 2 * b * y5 - b**2 * y2,
    ])


def wc_hand(y, c, c_ee=12.0, c_ei=4.0, c_ie=13.0, c_ii=11.0, tau_e=10.0, tau_i=10.0, a_e=1.2,
            theta_e=2.8, a_i=1.0, theta_i=4.0, P=0.0, Q=0.0):
    def s(x, g, th):
        return 1 / (1 + np.exp(-g * (x - th))) - 1 / (1 + np.exp(g * th))
    e, i = y
    return np.array([
        (-e + (1 - e) * s(c_ee * e - c_ei * i + P + c, a_e, theta_e)) / tau_e,
        (-i + (1 - i) * s(c_ie * e - c_ii * i + Q, a_i, theta_i)) / tau_i,
    ])


def fhn_hand(y, c, a=0.7, b=0.8, eps=0.08, I=0.5, tau=1.0):  # noqa: E741
    v, w = y
    return np.array([(v - v**3 / 3 - w + I + c) / tau, eps * (v + a - b * w) / tau])


def hopf_hand(y, c, a=0.25, w=0.2, beta=1.0):
    x, yy = y
    r = x * x + yy * yy
    return np.array([(a - beta * r) * x - w * yy + c, (a - beta * r) * yy + w * x])


HAND = {
    "hopf": (me.nodes.Hopf, hopf_hand, 1.0),
    # y0 is small (a1 J y0 feeds a sigmoid centred at 5.52 mV); y1, y2 are tens of mV
    "jansen_rit": (me.nodes.JansenRit, jr_hand, np.array([[0.04], [10], [10], [1], [1], [1]])),
    "wilson_cowan": (me.nodes.WilsonCowan, wc_hand, 0.5),
    "fitzhugh_nagumo": (me.nodes.FitzHughNagumo, fhn_hand, 1.5),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_dfun_matches_hand_equations_at_random_states(name, rng):
    model, hand, scale = HAND[name]
    n_vars, n = len(model.state_vars), 6
    target = model.index(model.coupling_target)
    p = {k: jnp.asarray(v.default, jnp.float32) for k, v in model.parameters.items()}
    for _ in range(5):
        state = rng.normal(scale=scale, size=(n_vars, n))
        c = rng.normal(scale=0.1, size=n)
        coupling = np.zeros((n_vars, n))
        coupling[target] = c
        got = np.asarray(model.dfun(jnp.asarray(state, jnp.float32), jnp.asarray(coupling, jnp.float32), p))
        want = hand(state, c)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6 * np.abs(want).max())


def test_kuramoto_dfun_is_natural_frequency_plus_coupling(rng):
    omega = rng.normal(size=5)
    c = rng.normal(size=(1, 5))
    got = me.nodes.Kuramoto.dfun(jnp.zeros((1, 5)), jnp.asarray(c), {"omega": jnp.asarray(omega)})
    np.testing.assert_allclose(np.asarray(got), omega[None, :] + c, rtol=1e-6)


def isolated(model, n=3, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no incoming connections, on purpose
        return me.Network(model, weights=np.zeros((n, n)), **kw)


def test_jansen_rit_rest_state_with_mu_zero():
    """With mu = 0 the column settles on the fixed point of its equations (solved by scipy)."""
    rest = fsolve(lambda y: jr_hand(y, 0.0, mu=0.0), np.zeros(6), xtol=1e-13)
    assert np.abs(jr_hand(rest, 0.0, mu=0.0)).max() < 1e-12 and rest[0] > 0
    net = isolated(me.nodes.JansenRit(mu=0.0, initial={"y1": 1.0}))
    ds = me.simulate(net, duration=3000.0, dt=0.1, transient=2900.0, precision="float64",
                     record=["y0", "y1", "y2", "y1_minus_y2"])
    for i, var in enumerate(["y0", "y1", "y2"]):
        np.testing.assert_allclose(ds[var].values[-1], rest[i], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ds["y1_minus_y2"].values[-1], rest[1] - rest[2], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(HAND))
def test_uncoupled_node_matches_scipy_ode_solution(name):
    """One uncoupled node (Heun is second order without coupling) against solve_ivp."""
    model, hand, scale = HAND[name]
    y0 = {"hopf": [0.3, -0.1], "jansen_rit": [0.02, 3.0, 1.0, 0, 0, 0], "wilson_cowan": [0.4, 0.1],
          "fitzhugh_nagumo": [1.0, 0.2]}[name]
    ode = solve_ivp(lambda t, y: hand(y, 0.0), (0, 100.0), y0, rtol=1e-10, atol=1e-12,
                    t_eval=[100.0]).y[:, -1]
    net = isolated(model(initial=dict(zip(model.state_vars, y0, strict=True))), n=1)
    ds = me.simulate(net, duration=100.0, dt=0.01, integrator="heun", precision="float64",
                     record=model.state_vars)
    got = np.array([ds[v].values[-1, 0] for v in model.state_vars])
    np.testing.assert_allclose(got, ode, rtol=1e-4, atol=1e-5 * np.abs(ode).max())


def test_wilson_cowan_low_activity_state_is_a_stable_fixed_point():
    p = {k: jnp.asarray(v.default) for k, v in me.nodes.WilsonCowan.parameters.items()}
    at_rest = me.nodes.WilsonCowan.dfun(jnp.zeros((2, 3)), jnp.zeros((2, 3)), p)
    np.testing.assert_array_equal(np.asarray(at_rest), 0)
    net = isolated(me.nodes.WilsonCowan(initial={"E": 0.05, "I": 0.02}))
    ds = me.simulate(net, duration=400.0, dt=0.1, sample_every=10)
    assert np.abs(ds.E.values[-1]).max() < 1e-6 and np.abs(ds.I.values[-1]).max() < 1e-6


def test_fitzhugh_nagumo_oscillates_at_i_half_and_rests_at_i_zero():
    for current, moving in [(0.5, True), (0.0, False)]:
        net = isolated(me.nodes.FitzHughNagumo(I=current), n=1)
        ds = me.simulate(net, duration=600.0, dt=0.05, transient=300.0)
        assert (np.ptp(ds.V.values) > 2.0) == moving


def kuramoto_net(n, omega, k, w=None, delays=None):
    node = me.nodes.Kuramoto(omega=omega, initial={"theta": np.linspace(0, 2 * np.pi, n, endpoint=False)})
    w = np.ones((n, n)) / n if w is None else w
    return me.Network(node, weights=w, coupling="kuramoto", k=k, delays=delays)


def test_two_identical_oscillators_phase_lock():
    w = np.array([[0.0, 1.0], [1.0, 0.0]])
    node = me.nodes.Kuramoto(omega=0.05, initial={"theta": np.array([0.0, 2.5])})
    net = me.Network(node, weights=w, coupling="kuramoto", k=0.02)
    ds = me.simulate(net, duration=1500.0, dt=0.1, transient=1400.0, precision="float64")
    diff = np.angle(np.exp(1j * (ds.theta.values[:, 0] - ds.theta.values[:, 1])))
    assert np.abs(diff).max() < 1e-4
    np.testing.assert_allclose(np.diff(ds.theta.values[:, 0]) / 0.1, 0.05, rtol=1e-6)


def test_order_parameter_rises_above_the_critical_coupling():
    """All-to-all, Gaussian frequencies of std s: K_c = 2 / (pi g(0)) = s sqrt(8 / pi)."""
    n, std = 200, 0.01
    omega = me.nodes.Kuramoto.draw_frequencies(n, mean=0.05, std=std, seed=1)
    k_c = std * np.sqrt(8 / np.pi)
    sw = me.sweep(kuramoto_net(n, omega, 0.0), k=[0.5 * k_c, 3 * k_c], duration=3000.0, dt=0.5,
                  transient=2000.0, sample_every=10)
    theta = sw.theta.values[0]  # (k, time, region)
    order = np.abs(np.exp(1j * theta).mean(axis=-1)).mean(axis=-1)
    assert order[0] < 0.25, order
    assert order[1] > 0.75, order


def test_sjr_on_jansen_rit_gives_bounded_rate_currents(example):
    net = me.Network(me.nodes.JansenRit(initial={"y1": np.linspace(0, 3, 8)}), weights=example.weights,
                     distances=example.distances, speed=5.0, coupling="sigmoidal_jansen_rit", k=2.0)
    ds = me.simulate(net, duration=500.0, dt=0.1, sample_every=5)
    v = ds["y1_minus_y2"].values
    rows = example.weights.sum(axis=1)
    for t in range(0, v.shape[0], 50):
        xd = np.broadcast_to(v[t], (8, 8))
        c = np.asarray(me.couplings.sigmoidal_jansen_rit(xd, v[t], example.weights, k=2.0))
        assert np.all(c >= 2.0 * 0.0 * rows) and np.all(c <= 2.0 * 0.005 * rows + 1e-9)


@pytest.mark.parametrize("name", sorted(me.nodes.MODELS))
def test_every_model_runs_every_supported_coupling(name, example):
    model = me.nodes.MODELS[name]
    init = {model.state_vars[0]: np.linspace(-0.5, 0.5, 8)}
    for coupling in model.couplings:
        net = me.Network(model(initial=init), weights=example.weights, distances=example.distances,
                         speed=10.0, coupling=coupling)
        ds = me.simulate(net, duration=300.0, dt=0.1, transient=50.0, sample_every=10)
        sw = me.sweep(net, k=[0.0, 0.1, 0.2], duration=300.0, dt=0.1, sample_every=10)
        for var in model.default_record:
            assert np.all(np.isfinite(ds[var].values)), (name, coupling)
            assert np.all(np.isfinite(sw[var].values)), (name, coupling)
        assert not sw.diverged.values.any()


def test_unsupported_pairing_warns():
    with pytest.warns(UserWarning, match=r"coupling 'additive' is not one the 'kuramoto' model is meant for"):
        me.Network(me.nodes.Kuramoto(), weights=np.ones((3, 3)), coupling="additive")


def test_per_region_parameters_equal_separate_runs():
    a = np.array([0.1, 0.4, -0.2])
    net = isolated(me.nodes.Hopf(a=a, initial={"x": 0.3}))
    ds = me.simulate(net, duration=50.0, dt=0.1)
    for i in range(3):
        one = isolated(me.nodes.Hopf(a=float(a[i]), initial={"x": 0.3}), n=1)
        np.testing.assert_allclose(ds.x.values[:, i], me.simulate(one, duration=50.0, dt=0.1).x.values[:, 0],
                                   rtol=1e-6, atol=1e-7)


def test_every_parameter_is_documented_with_range_and_units():
    for model in me.nodes.MODELS.values():
        assert model.reference and model.__doc__
        for name, spec in model.parameters.items():
            assert spec.doc, (model.name, name)
            if spec.low is not None:
                assert spec.low <= spec.default <= spec.high, (model.name, name)
