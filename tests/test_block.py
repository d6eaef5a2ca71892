"""The blocked time loop (issue 23): blocks of U steps whose delayed reads are gathered at once
give the numbers of the step-by-step loop (float64 at 1e-12) for every coupling, layout,
monitor, integrator, with noise, segments and gradients; and the block size follows its rule."""

import importlib

import jax
import numpy as np
import pytest

import massengine as me
from massengine import engine
from massengine.nodes import Hopf, JansenRit, Kuramoto

sim = importlib.import_module("massengine.simulate")

N = 7
KW = dict(duration=30.0, dt=0.1, sample_every=6, precision="float64")
TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def connectome():
    """Tract lengths of 8-30 mm at 3 mm/ms and dt 0.1 ms: lags of 27-100 steps, so the blocks
    are limited by the sample period (6 steps), not by the lags."""
    rng = np.random.default_rng(23)
    weights = rng.random((N, N)) * (rng.random((N, N)) < 0.5)
    np.fill_diagonal(weights, 0)
    lengths = 8 + rng.random((N, N)) * 22
    return weights, (lengths + lengths.T) / 2


def network(connectome, coupling="diffusive", node=None, speed=3.0, **kw):
    weights, lengths = connectome
    node = node or Hopf(a=-0.05, w=0.06, initial={"x": np.linspace(-0.3, 0.3, N)})
    return me.Network(node, weights=weights, distances=lengths, speed=speed, coupling=coupling, **kw)


def block_of(net, **kw):
    settings = {k: v for k, v in {**KW, **kw}.items() if k not in ("duration", "k", "seeds")}
    s = sim._resolve(net, kw.get("duration", KW["duration"]), settings)
    with sim._precision(s.precision):
        return sim.build(net, s)[0].block


def step_by_step(monkeypatch):
    """The loop before blocks: simulate.build asks engine.block_size, pinned to 1 here."""
    monkeypatch.setattr(engine, "block_size", lambda *_: 1)


def both(monkeypatch, fn):
    blocked = fn()
    with monkeypatch.context() as m:
        step_by_step(m)
        stepped = fn()
    return blocked, stepped


def assert_close(blocked, stepped):
    for name in stepped.data_vars:
        np.testing.assert_allclose(blocked[name].values, stepped[name].values, err_msg=name, **TOL)


def test_block_size_rule():
    assert engine.block_size(5, 154, 10) == 5  # TVB 76 at 10 mm/ms: two blocks of 5 per 1 ms
    assert engine.block_size(9, 154, 10) == 10  # one block per period
    assert engine.block_size(6, 154, 10) == 5  # 7 allowed, but 10 = 5 + 5 beats 7 + 3
    assert engine.block_size(0, 154, 10) == 1  # a zero lag: step by step
    assert engine.block_size(100, 154, 20000) == engine.BLOCK_CAP  # BOLD periods: the cap
    assert engine.block_size(100, 1, 10) == 1  # a one-row ring (a term with no delays)
    assert engine.block_size(3, 10, 7) == 4  # 4 + 3: two blocks, the second one shorter


def test_the_test_networks_really_run_in_blocks(connectome):
    assert block_of(network(connectome)) == 6
    assert block_of(network(connectome, speed=300.0)) == 2  # lags of 0.3-1 step, rounded: shortest 1
    weights, lengths = connectome
    weights, lengths = weights.copy(), lengths.copy()
    weights[0, 1], lengths[0, 1] = 0.5, 0.0  # one edge without delay: a lag of 0
    assert block_of(network((weights, lengths))) == 1
    lengths[0, 1] = 30.0
    weights[2, 3], lengths[2, 3] = 0.0, 0.0  # a zero delay on a zero weight: read, but never counts
    assert block_of(network((weights, lengths)), layout="dense") == 6


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("coupling", ["diffusive", "additive", "laplacian", "tanh", "sigmoidal",
                                      "sigmoidal_jansen_rit", "kuramoto"])
def test_every_coupling_gives_the_step_by_step_numbers(connectome, coupling, layout, monkeypatch):
    node = {"sigmoidal_jansen_rit": JansenRit(), "kuramoto": Kuramoto()}.get(coupling)
    net = network(connectome, coupling, node)
    kw = dict(k=[0.0, 0.1, 0.4], seeds=[1, 2], noise=0.01, layout=layout, **KW)
    assert_close(*both(monkeypatch, lambda: me.sweep(net, **kw)))


@pytest.mark.parametrize("layout", ["dense", "sparse", "ell"])
@pytest.mark.parametrize("monitor", ["sample", "mean", "bold"])
def test_every_layout_and_monitor_gives_the_step_by_step_numbers(connectome, layout, monitor, monkeypatch):
    kw = dict(KW, k=[0.1, 0.5], layout=layout, monitor=monitor)
    if monitor == "bold":
        kw.update(duration=400.0, tr=20.0, sample_every=1)
    net = network(connectome, "tanh")
    assert block_of(net, **kw) > 1
    assert_close(*both(monkeypatch, lambda: me.sweep(net, **kw)))


def test_heun_transients_segments_and_a_remainder_block(connectome, monkeypatch):
    """sample_every 7 with short lags: blocks that leave a remainder in every period; a 2.5 ms
    transient (25 steps) and a run cut into segments of 4 samples cut the loop elsewhere."""
    net = network(connectome, speed=40.0)  # lags of 2-8 steps
    kw = dict(KW, k=[0.2, 0.3], integrator="heun", sample_every=7, transient=2.5, noise=0.02, seeds=[3])
    block = block_of(net, **kw)
    assert 1 < block < 7 and 7 % block
    blocked, stepped = both(monkeypatch, lambda: me.sweep(net, **kw))
    assert_close(blocked, stepped)
    run = {k: v for k, v in kw.items() if k not in ("k", "seeds")}
    one = me.simulate(network(connectome, speed=40.0, k=0.2), seed=3, **run)
    cut = me.simulate(network(connectome, speed=40.0, k=0.2), seed=3, chunk_samples=4, **run)
    np.testing.assert_array_equal(cut.x.values, one.x.values)


def test_a_blocked_run_equals_a_plain_numpy_loop(connectome):
    """The independent reference: Euler on the delay equations, one step at a time in NumPy."""
    weights, lengths = connectome
    a, w, k, dt, steps = -0.05, 0.06, 0.3, 0.1, 300
    x0 = np.linspace(-0.3, 0.3, N)
    net = network(connectome, k=k)
    assert block_of(net) > 1
    out = me.simulate(net, duration=steps * dt, dt=dt, sample_every=1, precision="float64", history="initial",
                      delay_rounding="round")
    lags = np.rint(lengths / 3.0 / dt).astype(int)
    xs, ys = [x0.copy()], [np.zeros(N)]
    for n in range(steps):
        x, y = xs[-1], ys[-1]
        delayed = np.array([[xs[max(n - lags[i, j], 0)][j] for j in range(N)] for i in range(N)])
        coupling = k * (np.sum(weights * delayed, axis=1) - weights.sum(axis=1) * x)
        r = x * x + y * y
        xs.append(x + dt * ((a - r) * x - w * y + coupling))
        ys.append(y + dt * ((a - r) * y + w * x))
    np.testing.assert_allclose(out.x.values.reshape(steps, N), np.array(xs[1:]), rtol=1e-10, atol=1e-12)


def test_gradients_through_blocks_equal_step_by_step(connectome, monkeypatch):
    net = network(connectome)
    target = np.corrcoef(np.random.default_rng(0).normal(size=(50, N)).T)

    def grad():
        loss = me.fc_loss(net, target, duration=30.0, dt=0.1, sample_every=6, precision="float64")
        with jax.enable_x64(True):
            return np.asarray(jax.grad(loss)({"k": jax.numpy.asarray(0.2, jax.numpy.float64)})["k"])

    blocked, stepped = both(monkeypatch, grad)
    np.testing.assert_allclose(blocked, stepped, **TOL)
    assert np.isfinite(blocked) and blocked != 0


@pytest.mark.parametrize("limit_steps", [1, 2])
def test_big_batches_run_shorter_blocks_with_the_same_numbers(connectome, limit_steps, monkeypatch, tmp_path,
                                                              request):
    """Blocks shrink when a block's reads outgrow BLOCK_READS_BYTES (here: room for 1 or 2
    steps of reads for 6 runs); the rings run with a narrower margin and get theirs back
    between segments (a store written 2 samples at a time)."""
    net = network(connectome, "tanh")
    kw = dict(KW, k=[0.0, 0.2, 0.4], seeds=[1, 2], noise=0.01, layout="dense")
    assert block_of(net, **kw) == 6
    per_step = 6 * 8 * N * N  # runs x float64 x dense reads
    monkeypatch.setattr(engine, "BLOCK_READS_BYTES", limit_steps * per_step)
    # The block length is fixed when a program is traced: drop programs traced under another
    # limit (before this test and, by the finalizer, after it).
    jax.clear_caches()
    request.addfinalizer(jax.clear_caches)
    settings = {k: v for k, v in kw.items() if k not in ("k", "seeds", "duration")}
    with sim._precision("float64"):
        spec, params, x0, rows = sim.build(net, sim._resolve(net, KW["duration"], settings))
        assert engine._cached_block(spec, N * N, 6, 8) == limit_steps
        # start() gives the rings the margin of those blocks (none for single steps).
        carry, _ = engine.start(spec, params, x0, rows, np.arange(6))
        assert carry[1][0].shape[0] == spec.terms[0].horizon + limit_steps - 1
    shrunk = me.sweep(net, **kw)
    stored = me.io.open_store(me.sweep_to_store(net, kw.pop("k"), tmp_path / "s.zarr", chunk_samples=2, **kw))
    with monkeypatch.context() as m:
        step_by_step(m)
        stepped = me.sweep(net, k=[0.0, 0.2, 0.4], **kw)
    assert_close(shrunk, stepped)
    np.testing.assert_allclose(stored.x.values, stepped.x.isel(coupling=0).values, **TOL)
