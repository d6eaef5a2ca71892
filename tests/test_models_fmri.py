"""The models people fit to fMRI FC — reduced Wong–Wang and Montbrió–Pazó–Roxin — against
their equations written out by hand, their uncoupled fixed points (a NumPy root finder /
the closed-form quartic), where the coupling current enters, and TVB 2.10's implementation
(dfun on random states, and a delayed 4-region network; fixtures from
tests/data/make_tvb_fmri_models.py)."""

import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

import massengine as me

RWW, MPR = me.nodes.ReducedWongWang, me.nodes.MontbrioPazoRoxin
TVB = np.load(Path(__file__).parent / "data" / "tvb_fmri_models.npz")


def defaults(model, **changes):
    return {**{k: v.default for k, v in model.parameters.items()}, **changes}


# ---- the published equations, written out independently in NumPy ---------------------------


def rww_hand(s, c, a=0.270, b=0.108, d=154.0, gamma=0.641, tau_s=100.0, w=0.6, J_N=0.2609, I_o=0.33):  # noqa: N803
    x = w * J_N * s + I_o + J_N * c
    h = (a * x - b) / (1 - np.exp(-d * (a * x - b)))
    return -s / tau_s + (1 - s) * h * gamma


def mpr_hand(r, v, c_r, c_v, tau=1.0, I=0.0, Delta=1.0, J=15.0, eta=-5.0, cr=1.0, cv=0.0):  # noqa: E741, N803
    return np.array([(Delta / (np.pi * tau) + 2 * v * r) / tau,
                     (v**2 - np.pi**2 * tau**2 * r**2 + eta + J * tau * r + I + cr * c_r + cv * c_v) / tau])


def isolated(node, n=3):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no incoming connections, on purpose
        return me.Network(node, weights=np.zeros((n, n)))


def test_rww_dfun_matches_the_hand_equations(rng):
    with jax.enable_x64(True):
        for _ in range(5):
            s, c = rng.uniform(0, 1, 7), rng.normal(scale=0.5, size=7)
            got = np.asarray(RWW.dfun(jnp.asarray(s[None]), jnp.asarray(c[None]), defaults(RWW)))[0]
            np.testing.assert_allclose(got, rww_hand(s, c), rtol=1e-12, atol=1e-15)
        p = defaults(RWW, w=0.9, I_o=0.4, J_N=0.3)
        got = np.asarray(RWW.dfun(jnp.asarray(s[None]), jnp.asarray(c[None]), p))[0]
        np.testing.assert_allclose(got, rww_hand(s, c, w=0.9, I_o=0.4, J_N=0.3), rtol=1e-12, atol=1e-15)


def test_rww_transfer_is_finite_with_its_limit_at_the_removable_singularity():
    """a x = b gives 0/0 in H; the limit is 1/d, and the gradient stays finite there."""
    with jax.enable_x64(True):
        p = {k: jnp.asarray(v) for k, v in defaults(RWW).items()}
        x_star = p["b"] / p["a"]
        h = me.nodes.wong_wang.transfer(x_star, p)
        assert float(h) == pytest.approx(1 / 154.0, rel=1e-12)
        near = float(me.nodes.wong_wang.transfer(x_star + 1e-5, p))
        y = 0.270 * (float(x_star) + 1e-5) - 0.108
        assert near == pytest.approx(y / (1 - np.exp(-154.0 * y)), rel=1e-10)
        grad = jax.grad(lambda x: me.nodes.wong_wang.transfer(x, p))(x_star)
        assert np.isfinite(float(grad)) and float(grad) == pytest.approx(0.270 / 2, rel=1e-6)


def test_rww_uncoupled_relaxes_to_the_root_of_its_fixed_point_equation():
    """S* solves S / tau_s = (1 - S) gamma H(w J_N S + I_o) (scipy brentq on [0, 1])."""
    for i_o in (0.33, 0.4):
        s_star = brentq(lambda s, i=i_o: rww_hand(s, 0.0, I_o=i), 0.0, 1.0, xtol=1e-14)
        net = isolated(RWW(I_o=i_o, initial={"S": np.array([0.0, 0.5, 0.95])}))
        ds = me.simulate(net, duration=3000.0, dt=0.5, transient=2900.0, precision="float64")
        np.testing.assert_allclose(ds.S.values[-1], s_star, rtol=1e-7)


def test_rww_coupling_current_enters_the_input_scaled_by_j_n():
    """One Euler step of an undelayed additive network: x = w J_N S + I_o + J_N k sum_j W_ij S_j."""
    w = np.array([[0, 1.0, 0.5], [0.2, 0, 0], [0.7, 0.3, 0]])
    s0 = np.array([0.1, 0.4, 0.8])
    net = me.Network(RWW(initial={"S": s0}), weights=w, coupling="additive", k=0.7)
    ds = me.simulate(net, duration=0.5, dt=0.5, precision="float64")
    want = s0 + 0.5 * rww_hand(s0, 0.7 * w @ s0)
    np.testing.assert_allclose(ds.S.values[0], want, rtol=1e-12)


def test_mpr_dfun_matches_the_hand_equations_with_both_coupling_inputs(rng):
    with jax.enable_x64(True):
        for _ in range(5):
            r, v = rng.uniform(0, 2, 6), rng.uniform(-2, 1.5, 6)
            c = rng.normal(scale=0.5, size=(2, 6))
            p = defaults(MPR, cv=0.4, tau=1.3, I=0.2)
            got = np.asarray(MPR.dfun(jnp.asarray(np.stack([r, v])), jnp.asarray(c), p))
            np.testing.assert_allclose(got, mpr_hand(r, v, c[0], c[1], cv=0.4, tau=1.3, I=0.2), rtol=1e-12,
                                       atol=1e-13)


def mpr_fixed_points(eta=-5.0, J=15.0, Delta=1.0, tau=1.0, I=0.0):  # noqa: E741, N803
    """Closed form: r* = -Delta / (2 pi tau V*), V* a negative real root of
    4 V^4 + 4 (eta + I) V^2 - 2 J Delta V / pi - Delta^2 = 0; with the Jacobian's stability."""
    roots = np.roots([4.0, 0.0, 4.0 * (eta + I), -2.0 * J * Delta / np.pi, -Delta**2])
    points = []
    for v in sorted(roots[(np.abs(roots.imag) < 1e-12) & (roots.real < 0)].real):
        r = -Delta / (2 * np.pi * tau * v)
        jac = np.array([[2 * v, 2 * r], [-2 * np.pi**2 * tau**2 * r + J * tau, 2 * v]]) / tau
        points.append((r, v, bool(np.all(np.linalg.eigvals(jac).real < 0))))
    return points


def test_mpr_closed_form_fixed_points_are_zeros_of_dfun_and_the_engine_finds_the_stable_ones():
    points = mpr_fixed_points()
    assert len(points) == 3 and [p[2] for p in points] == [True, False, True]  # bistable at the defaults
    stable = [(r, v) for r, v, ok in points if ok]
    with jax.enable_x64(True):
        for r, v, _ in points:
            state = jnp.asarray([[r], [v]])
            assert np.abs(np.asarray(MPR.dfun(state, jnp.zeros((2, 1)), defaults(MPR)))).max() < 1e-9
    # started near each stable point (low-activity and high-activity), the engine settles on it
    start_r = np.array([stable[0][0] * 1.2, stable[1][0] * 0.9])
    start_v = np.array([stable[0][1] * 0.9, stable[1][1] * 1.1])
    net = isolated(MPR(initial={"r": start_r, "V": start_v}), n=2)
    ds = me.simulate(net, duration=200.0, dt=0.005, transient=190.0, sample_every=100, precision="float64",
                     integrator="heun")
    for i, (r, v) in enumerate(stable):
        assert float(ds.r.values[-1, i]) == pytest.approx(r, rel=1e-6)
        assert float(ds.V.values[-1, i]) == pytest.approx(v, rel=1e-6)


def test_mpr_rate_coupling_enters_dv_through_cr_never_dr():
    w = np.array([[0, 1.0], [0.5, 0]])
    x0 = {"r": np.array([0.3, 1.2]), "V": np.array([-1.0, -0.4])}
    net = me.Network(MPR(cr=0.8, initial=x0), weights=w, coupling="additive", k=0.6)
    ds = me.simulate(net, duration=0.01, dt=0.01, precision="float64", record=["r", "V"])
    want = np.stack([x0["r"], x0["V"]]) + 0.01 * mpr_hand(x0["r"], x0["V"], 0.6 * w @ x0["r"], 0.0, cr=0.8)
    np.testing.assert_allclose([ds.r.values[0], ds.V.values[0]], want, rtol=1e-12)


# ---- parity with TVB 2.10 ---------------------------------------------------------------------


def test_dfun_parity_with_tvb():
    """TVB's dfun (numba for RWW, NumPy for MPR) on 16 random states and coupling inputs: equal
    to float64 rounding (|diff| < 1e-13 relative to the largest derivative)."""
    with jax.enable_x64(True):
        got = np.asarray(RWW.dfun(jnp.asarray(TVB["rww_state"]), jnp.asarray(TVB["rww_coupling"]), defaults(RWW)))
        np.testing.assert_allclose(got, TVB["rww_dfun"], rtol=0, atol=1e-13 * np.abs(TVB["rww_dfun"]).max())
        p = defaults(MPR, cv=float(TVB["mpr_cv"]))
        got = np.asarray(MPR.dfun(jnp.asarray(TVB["mpr_state"]), jnp.asarray(TVB["mpr_coupling"]), p))
        np.testing.assert_allclose(got, TVB["mpr_dfun"], rtol=0, atol=1e-13 * np.abs(TVB["mpr_dfun"]).max())


def tvb_network(node, coupled):
    """The fixture's 4-region network: TVB's Linear(a=k) coupling is massengine's "additive"
    (weights[i, j] from j to i in both), delays rounded to steps as TVB does, the history
    constant at the initial state. TVB's Raw monitor stamps its first sample horizon * dt
    (its clock starts after the history); sample m is the state after m steps in both."""
    w, delays = TVB["net_weights"], TVB["net_lengths"] / float(TVB["net_speed"])
    terms = [me.CouplingTerm("additive", weights=w, delays=delays, coupled_var=var, target=var,
                             params={"k": float(k)}) for var, k in coupled]
    return me.Network(node, terms=terms)


RUN = dict(duration=200.0, integrator="heun", history="initial", delay_rounding="round", precision="float64")


def test_delayed_network_parity_with_tvb_reduced_wong_wang():
    """200 ms (2000 Heun steps of 0.1 ms, delays 0.5-4 ms): |S - S_TVB| < 1e-6 (measured 1e-8)."""
    node = RWW(initial={"S": TVB["rww_net_x0"][0]})
    ds = me.simulate(tvb_network(node, [("S", TVB["rww_net_k"])]), dt=float(TVB["net_dt"]), **RUN)
    assert ds.S.shape == TVB["rww_net_S"].shape
    np.testing.assert_allclose(ds.S.values, TVB["rww_net_S"], rtol=0, atol=1e-6)
    assert np.ptp(TVB["rww_net_S"], axis=0).min() > 0.01  # the comparison covers a moving run


def test_delayed_network_parity_with_tvb_montbrio_pazo_roxin():
    """TVB couples r and V (cvar = [r, V], both through Linear): massengine's two terms aimed at
    r and V, weighted by cr = 1 and cv = 0.3; |diff| < 1e-6 (measured 8e-8) over 200 ms."""
    x0 = TVB["mpr_net_x0"]
    node = MPR(cv=float(TVB["mpr_net_cv"]), initial={"r": x0[0], "V": x0[1]})
    k = TVB["mpr_net_k"]
    ds = me.simulate(tvb_network(node, [("r", k), ("V", k)]), dt=float(TVB["net_dt"]), **RUN)
    np.testing.assert_allclose(ds.r.values, TVB["mpr_net_r"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ds.V.values, TVB["mpr_net_V"], rtol=0, atol=1e-6)
    assert np.ptp(TVB["mpr_net_V"], axis=0).min() > 0.1


def test_parameters_are_documented_and_reference_cited():
    for model in (RWW, MPR):
        assert model.reference and "TVB" in model.__doc__
        for name, spec in model.parameters.items():
            assert spec.doc and spec.low <= spec.default <= spec.high, (model.name, name)
        assert me.nodes.get_model(model.name) is model


@pytest.mark.parametrize("model,initial,variable", [("reduced_wong_wang", {"S": 0.1}, "S"),
                                                    ("montbrio_pazo_roxin", {"r": 0.1, "V": -2.0}, "r")])
def test_a_campaign_config_can_name_the_models(model, initial, variable):
    import yaml
    from snakemake.utils import validate

    import massengine.config as mecfg

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "config" / "test" / "tiny.yaml").read_text())
    config["node"] = {"model": model, "initial": initial}
    config["couplings"] = {"additive": {}}
    config["metrics"]["variable"] = variable
    validate(config, str(root / "config" / "schemas" / "config.schema.yaml"))
    mecfg.check(config)
    net = mecfg.network(config, "additive")
    assert net.node.name == model and net.terms[0].coupled_var == variable
