"""Closed-form behaviour, the time grid, sweeps, seeds, gradients and divergence."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import massengine as me


def hopf_net(example, k=0.5, coupling="diffusive", speed=10.0, node=None, **params):
    node = node or me.nodes.Hopf(initial={"x": np.linspace(-0.3, 0.4, 8), "y": 0.1})
    return me.Network(node, weights=example.weights, distances=example.distances, speed=speed,
                      coupling=coupling, k=k, labels=example.labels, **params)


def test_time_grid_and_sample_count(example):
    ds = me.simulate(hopf_net(example), duration=300.0, dt=0.1, transient=50.0)
    assert ds.sizes == {"time": 2500, "region": 8}
    assert ds.time.values[0] == pytest.approx(50.1) and ds.time.values[-1] == pytest.approx(300.0)
    np.testing.assert_allclose(np.diff(ds.time.values), 0.1, atol=1e-9)
    assert list(ds.region.values) == list(example.labels)
    assert ds.x.attrs["units"] and ds.time.attrs["units"] == "ms"
    sub = me.simulate(hopf_net(example), duration=300.0, dt=0.1, transient=50.0, sample_every=10)
    assert sub.sizes["time"] == 250 and sub.time.values[0] == pytest.approx(51.0)
    # The subsampled run is the same trajectory read every 10th step. The two runs compile
    # different loops (10 steps per iteration vs 1); on a CPU XLA emits the same arithmetic
    # for both (equal bits), on a GPU it may fuse the step differently (an FMA contraction:
    # 7e-8 seen on an H100), so the comparison allows float32 rounding, ~1e-6 relative.
    np.testing.assert_allclose(sub.x.values, ds.x.values[9::10], rtol=1e-6, atol=1e-7)


def test_mean_monitor_averages_each_period(example):
    raw = me.simulate(hopf_net(example), duration=30.0, dt=0.1, transient=10.0)
    avg = me.simulate(hopf_net(example), duration=30.0, dt=0.1, transient=10.0,
                      sample_every=5, monitor="mean")
    want = raw.x.values.reshape(-1, 5, 8).mean(axis=1)
    np.testing.assert_allclose(avg.x.values, want, rtol=1e-5, atol=1e-6)


def test_uncoupled_hopf_settles_on_radius_sqrt_a():
    for a in (0.04, 0.25, 1.0):
        node = me.nodes.Hopf(a=a, w=0.3, initial={"x": 0.05, "y": np.linspace(-1.5, 1.5, 4)})
        with pytest.warns(UserWarning, match="no incoming connection"):
            net = me.Network(node, weights=np.zeros((4, 4)), k=0.0)
        ds = me.simulate(net, duration=400.0, dt=0.05, transient=300.0, precision="float64",
                         integrator="heun")
        radius = np.hypot(ds.x.values, ds.y.values)
        np.testing.assert_allclose(radius, np.sqrt(a), rtol=1e-3)


def test_k_zero_decouples_the_network(example):
    net = hopf_net(example, k=0.0)
    ds = me.simulate(net, duration=50.0, dt=0.1, precision="float64")
    x0 = np.linspace(-0.3, 0.4, 8)
    for i in (0, 5):
        alone = me.Network(me.nodes.Hopf(initial={"x": x0[i], "y": 0.1}), weights=np.zeros((1, 1)))
        single = me.simulate(alone, duration=50.0, dt=0.1, precision="float64")
        np.testing.assert_allclose(ds.x.values[:, i], single.x.values[:, 0], rtol=1e-12)


def test_zero_delays_equal_the_instantaneous_ode(example):
    """No delays: Heun at small dt converges to scipy's ODE solution of the coupled system."""
    w, k, a, om = example.weights, 0.3, 0.25, 0.2
    x0 = np.concatenate([np.linspace(-0.3, 0.4, 8), np.full(8, 0.1)])

    def rhs(t, z):
        x, y = z[:8], z[8:]
        r = x * x + y * y
        c = k * (w @ x - w.sum(axis=1) * x)
        return np.concatenate([(a - r) * x - om * y + c, (a - r) * y + om * x])

    ode = solve_ivp(rhs, (0, 20.0), x0, rtol=1e-10, atol=1e-12, t_eval=[20.0]).y[:, -1]
    errors = {}
    for delays, dt in [(None, 0.004), (np.zeros((8, 8)), 0.004), (None, 0.002)]:
        net = me.Network(me.nodes.Hopf(initial={"x": x0[:8], "y": 0.1}), weights=w, k=k,
                         delays=delays)
        ds = me.simulate(net, duration=20.0, dt=dt, integrator="heun", precision="float64")
        state = np.concatenate([ds.x.values[-1], ds.y.values[-1]])
        errors[(delays is None, dt)] = np.abs(state - ode).max()
    # The coupling is frozen within a step (DESIGN §3), so Heun is first order here:
    # halving dt halves the error, and at dt = 0.002 ms it is below 3e-5.
    assert errors[(True, 0.004)] == errors[(False, 0.004)]
    assert errors[(True, 0.002)] < 3e-5
    assert 1.8 < errors[(True, 0.004)] / errors[(True, 0.002)] < 2.2


def test_vmapped_sweep_equals_loop_of_single_runs(example):
    ks = np.linspace(0.0, 1.5, 7)
    net = hopf_net(example)
    sw = me.sweep(net, k=ks, couplings=["diffusive", {"name": "tanh", "scale": 1.0}],
                  duration=40.0, dt=0.1, transient=10.0, sample_every=5)
    assert sw.x.dims == ("coupling", "k", "time", "region")
    assert list(sw.coupling.values) == ["diffusive", "tanh"]
    for name, extra in [("diffusive", {}), ("tanh", {"scale": 1.0})]:
        for i, k in enumerate(ks):
            one = me.simulate(net.replace(coupling=name, k=k, **extra), duration=40.0, dt=0.1,
                              transient=10.0, sample_every=5)
            np.testing.assert_allclose(sw.x.sel(coupling=name).values[i], one.x.values,
                                       rtol=1e-5, atol=1e-6)


def test_sweep_compiles_once_for_all_k(example):
    """A second sweep with other k values (same length) reuses the compiled program."""
    from massengine import engine

    net = hopf_net(example)
    kwargs = dict(duration=11.0, dt=0.1, transient=1.0, sample_every=10)
    me.sweep(net, k=[0.1, 0.2, 0.3], **kwargs)
    before = engine.advance_jit._cache_size()
    me.sweep(net, k=[0.7, 0.8, 0.9], **kwargs)
    assert engine.advance_jit._cache_size() == before


def test_same_seed_is_bit_identical_and_seeds_differ(example):
    net = hopf_net(example)
    kw = dict(duration=20.0, dt=0.1, noise=0.05)
    a = me.simulate(net, seed=7, **kw)
    b = me.simulate(net, seed=7, **kw)
    c = me.simulate(net, seed=8, **kw)
    np.testing.assert_array_equal(a.x.values, b.x.values)
    assert np.abs(a.x.values - c.x.values).max() > 1e-3


def test_seed_result_does_not_depend_on_batch(example):
    net = hopf_net(example)
    kw = dict(duration=20.0, dt=0.1, noise={"x": 0.05, "y": 0.02})
    wide = me.sweep(net, k=[0.1, 0.5, 0.9], seeds=[3, 4, 5], **kw)
    assert wide.x.dims == ("coupling", "k", "seed", "time", "region")
    narrow = me.sweep(net, k=[0.5], seeds=[4], **kw)
    single = me.simulate(net.replace(k=0.5), seed=4, **kw)
    np.testing.assert_allclose(wide.x.sel(k=0.5, seed=4).values[0], narrow.x.values[0, 0, 0],
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(narrow.x.values[0, 0, 0], single.x.values, rtol=1e-6, atol=1e-7)


def loss_of(example, **replace):
    def loss(value):
        net = hopf_net(example, k=0.4, coupling="tanh", scale=1.5)
        node_changes = {k: value for k in replace.get("node", [])}
        if node_changes:
            net = net.replace(node=net.node.replace(**node_changes))
        term_changes = {k: value for k in replace.get("term", [])}
        if term_changes:
            net = net.replace(**term_changes)
        traj = me.integrate(net, duration=30.0, dt=0.1, transient=5.0, precision="float64")
        return jnp.mean(traj["x"] ** 2) + jnp.mean(traj["x"][:, 0] * traj["x"][:, 3])
    return loss


@pytest.mark.parametrize("target,value", [({"term": ["k"]}, 0.4), ({"term": ["scale"]}, 1.5),
                                          ({"node": ["a"]}, 0.25), ({"node": ["w"]}, 0.2)])
def test_gradient_matches_finite_difference(example, target, value):
    loss = loss_of(example, **target)
    with jax.enable_x64(True):  # the loss's own arithmetic in float64 too
        grad = float(jax.grad(loss)(jnp.asarray(value, jnp.float64)))
        h = 1e-5
        fd = (float(loss(value + h)) - float(loss(value - h))) / (2 * h)
    assert abs(fd) > 1e-6
    assert grad == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_gradient_in_float32_is_finite(example):
    def loss(k):
        traj = me.integrate(hopf_net(example).replace(k=k), duration=20.0, dt=0.1)
        return jnp.mean(traj["x"] ** 2)
    g = jax.grad(loss)(0.5)
    assert np.isfinite(g) and g != 0


def test_divergence_is_flagged_and_siblings_untouched():
    w = np.ones((3, 3)) - np.eye(3)
    net = me.Network(me.nodes.Hopf(a=0.1, initial={"x": 0.5}), weights=w, coupling="additive",
                     k=1.0)
    ks = [0.0, 0.5, 1e4]
    kw = dict(duration=50.0, dt=0.5, transient=0.0)
    sw = me.sweep(net, k=ks, **kw)
    div = sw.diverged.values[0]
    assert list(div) == [False, False, True]
    t_div = float(sw.divergence_time.values[0, 2])
    assert 0 < t_div < 50.0
    x = sw.x.values[0, 2]
    times = sw.time.values
    assert np.all(np.isnan(x[times >= t_div])) and np.all(np.isfinite(x[times < t_div]))
    for i in (0, 1):
        one = me.simulate(net.replace(k=ks[i]), **kw)
        assert not bool(one.diverged)
        np.testing.assert_allclose(sw.x.values[0, i], one.x.values, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("chunk", [1, 7, 50])
def test_time_chunking_does_not_change_the_numbers(example, chunk):
    net = hopf_net(example)
    kw = dict(duration=30.0, dt=0.1, transient=5.0, sample_every=5, noise=0.02, seed=11)
    whole = me.simulate(net, **kw)
    cut = me.simulate(net, chunk_samples=chunk, **kw)
    np.testing.assert_array_equal(cut.x.values, whole.x.values)
    kw.pop("seed")
    sw_whole = me.sweep(net, k=[0.2, 0.9], seeds=[1, 2], **kw)
    sw_cut = me.sweep(net, k=[0.2, 0.9], seeds=[1, 2], chunk_samples=chunk, **kw)
    np.testing.assert_array_equal(sw_cut.x.values, sw_whole.x.values)


def test_layout_is_chosen_by_backend_and_density():
    from massengine.simulate import build, coupling_layout, resolve_settings

    conn = me.synthetic_connectome(40, density=0.1, seed=2)
    for density, weights, want in [(0.1, conn.weights, "sparse"), (1.0, np.ones((40, 40)), "dense")]:
        net = me.Network(me.nodes.Hopf(), weights=weights, distances=conn.distances, speed=10.0)
        s = resolve_settings(net, 30.0, 0.1, 0.0, 1, "euler", "float32", "ceil", "zeros", None, "sample", None)
        spec, params, *_ = build(net, s)
        assert spec.terms[0].layout == want, density
        if want == "sparse":
            assert params["terms"][0]["targets"].shape == (int((weights != 0).sum()),)
        # On a GPU: padded in-neighbour lists for the sparse network, the dense read otherwise.
        lags = np.zeros((40, 40), np.int32)
        gpu, numbers = coupling_layout(net.terms[0], lags, "auto", "gpu")
        assert gpu == {"sparse": "ell", "dense": "dense"}[want]
        if gpu == "ell":
            width = int((weights != 0).sum(axis=1).max())
            assert numbers["sources"].shape == numbers["slots"].shape == (40, width)
            assert int(numbers["slots"].sum()) == int((weights != 0).sum())


def test_padded_in_neighbour_lists_hold_each_edge_once_in_its_target_row():
    from massengine.simulate import coupling_layout

    w = np.array([[0, 2.0, 0, 3.0], [0, 0, 0, 0], [5.0, 0, 0, 0], [1.0, 4.0, 6.0, 0]])
    lags = np.arange(16, dtype=np.int32).reshape(4, 4)
    with pytest.warns(UserWarning, match="no incoming connection"):  # row 1 is empty on purpose
        net = me.Network(me.nodes.Hopf(), weights=w, delays=np.ones((4, 4)) - np.eye(4))
    layout, n = coupling_layout(net.terms[0], lags, "ell", "cpu")
    assert layout == "ell"
    slots, sources, ell_lags = (np.asarray(n[k]) for k in ("slots", "sources", "lags"))
    assert slots.shape == (4, 3)  # the widest row (target 3) has three in-neighbours
    for i in range(4):
        got = sorted((int(j), int(lag)) for j, lag, used in zip(sources[i], ell_lags[i], slots[i], strict=True) if used)
        assert got == [(j, int(lags[i, j])) for j in np.nonzero(w[i])[0]]
        assert np.all(sources[i][~slots[i]] == i)  # padding reads the target itself (weight 0)




def test_padded_lists_equal_the_dense_read_with_self_connections_and_asymmetric_delays():
    """Padding slots read the target itself: with a self-connection (W_ii != 0) they must
    still weigh 0, and each real slot must read its own edge's lag (asymmetric delays)."""
    rng = np.random.default_rng(5)
    n = 6
    w = rng.random((n, n)) * (rng.random((n, n)) < 0.4)
    np.fill_diagonal(w, 0.7)
    delays = rng.uniform(0.3, 2.9, (n, n))
    node = me.nodes.Hopf(a=0.1, w=0.4, initial={"x": np.linspace(-0.5, 0.5, n), "y": 0.1})
    net = me.Network(node, weights=w, delays=delays, self_connections=True, coupling="diffusive", k=0.6)
    kw = dict(duration=20.0, dt=0.1, precision="float64")
    dense = me.simulate(net, layout="dense", **kw)
    ell = me.simulate(net, layout="ell", **kw)
    assert np.abs(dense.x.values).max() > 0.1
    np.testing.assert_allclose(ell.x.values, dense.x.values, rtol=1e-12, atol=1e-13)  # float64, summation order
