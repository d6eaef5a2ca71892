"""BOLD (Balloon–Windkessel): the pure transform ``me.bold`` against an independent NumPy
restatement and neurolib, and the streamed ``monitor="bold"`` against ``me.bold``."""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import massengine as me

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))

import make_neurolib_bold as nl_input  # noqa: E402


def numpy_balloon(z, dt, *, x0=0.0, kappa=0.65, gamma=0.41, tau=0.98, alpha=0.32, rho=0.34, V0=0.02,
                  neurolib_order=False):
    """Plain float64 loop over steps: Friston (2000) / Stephan (2007) as written in the papers,
    every variable from the state at the start of the step. ``neurolib_order``: update as
    neurolib 0.6.2 does (x first, then q and v from the old f, then f from the *new* x).
    Returns the BOLD after every step, (time, N)."""
    dts = dt / 1000.0
    n = z.shape[1]
    x, f, v, q = np.full(n, x0), np.ones(n), np.ones(n), np.ones(n)
    k1, k2, k3 = 7 * rho, 2.0, 2 * rho - 0.2
    out = np.empty(z.shape)
    for i in range(z.shape[0]):
        x_new = x + dts * (z[i] - kappa * x - gamma * (f - 1))
        q_new = q + dts / tau * (f * (1 - (1 - rho) ** (1 / f)) / rho - q * v ** (1 / alpha - 1))
        v_new = v + dts / tau * (f - v ** (1 / alpha))
        f_new = f + dts * (x_new if neurolib_order else x)
        x, f, v, q = x_new, f_new, v_new, q_new
        out[i] = V0 * (k1 * (1 - q) + k2 * (1 - q / v) + k3 * (1 - v))
    return out


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def drive(seed=0, steps=6000, n=3):
    """A slow, strong drive (1/s): random levels held 100 ms each, plus noise."""
    rng = np.random.default_rng(seed)
    levels = np.repeat(rng.uniform(0, 2, size=(steps // 1000 + 1, n)), 1000, axis=0)[:steps]
    return levels + 0.3 * rng.normal(size=(steps, n))


def test_matches_independent_numpy_loop(x64):
    z = drive()
    ref = numpy_balloon(z, dt=0.1)
    out = np.asarray(me.bold(z, 0.1, tr=50.0))  # 500 steps per sample
    assert out.shape == (12, 3)
    # float64, the same operations in another order: agreement to rounding (BOLD ~ 1e-3).
    np.testing.assert_allclose(out, ref[499::500], rtol=0, atol=1e-13)
    assert np.abs(ref).max() > 1e-4  # the drive moves the signal


def test_every_constant_is_a_keyword(x64):
    z = drive(steps=3000)
    kw = dict(kappa=0.8, gamma=0.3, tau=1.2, alpha=0.35, rho=0.4, V0=0.03)
    ref = numpy_balloon(1.5 * z + 0.2, dt=0.1, **kw)
    out = np.asarray(me.bold(z, 0.1, tr=10.0, scale=1.5, offset=0.2, **kw))
    np.testing.assert_allclose(out, ref[99::100], rtol=0, atol=1e-13)
    # k1..k3 explicitly: the derived defaults are 7 rho, 2, 2 rho - 0.2.
    same = me.bold(z, 0.1, tr=10.0, k1=7 * 0.34, k2=2.0, k3=2 * 0.34 - 0.2)
    np.testing.assert_array_equal(np.asarray(same), np.asarray(me.bold(z, 0.1, tr=10.0)))
    # (N,) constants: region i behaves as a run with its own scalar.
    kappas = np.array([0.5, 0.65, 0.9])
    per_region = np.asarray(me.bold(z, 0.1, tr=10.0, kappa=kappas))
    for i, kappa in enumerate(kappas):
        np.testing.assert_allclose(per_region[:, i], np.asarray(me.bold(z, 0.1, tr=10.0, kappa=kappa))[:, i],
                                   rtol=0, atol=1e-15)


def test_rest_is_a_fixed_point_and_batches_are_independent(x64):
    assert np.all(np.asarray(me.bold(np.zeros((2000, 2)), 0.5, tr=100.0)) == 0.0)
    z = np.stack([drive(seed=s, steps=2000) for s in range(3)])  # (3, time, N)
    batched = np.asarray(me.bold(z, 0.5, tr=100.0))
    assert batched.shape == (3, 10, 3)
    for s in range(3):
        np.testing.assert_array_equal(batched[s], np.asarray(me.bold(z[s], 0.5, tr=100.0)))


def test_parity_with_neurolib():
    """neurolib 0.6.2's ``simulateBOLD`` (fixture from tests/data/make_neurolib_bold.py).

    neurolib advances ``f`` with the already-updated ``x`` (a semi-implicit order); massengine
    is explicit Euler. Our NumPy loop in neurolib's order reproduces neurolib to rounding,
    which pins the constants and equations; massengine then differs by the O(dt) ordering
    term only: < 1e-3 of the peak BOLD at dt = 0.5 ms (measured 3.5e-4)."""
    ref = np.load(DATA / "neurolib_bold.npz")
    z, every = nl_input.drive(), int(ref["every_step"])
    assert float(ref["dt"]) == nl_input.DT
    peak = np.abs(ref["every"]).max()
    assert peak > 0.01
    np.testing.assert_allclose(numpy_balloon(z, nl_input.DT, neurolib_order=True)[every - 1 :: every],
                               ref["every"], rtol=0, atol=1e-12 * peak)
    with jax.enable_x64(True):
        ours = np.asarray(me.bold(z, nl_input.DT, tr=every * nl_input.DT))
    assert np.abs(ours - ref["every"]).max() < 1e-3 * peak


def test_parity_with_neurolib_bold_model_and_its_start():
    """neurolib's ``BOLDModel`` starts x at 1 (not at rest) and samples every 2 000 ms from
    its step index 1: ``initial={"x": 1}`` reproduces it (within the same ordering term),
    while from rest the start differs by up to 32 % of the peak in the first 10 s and by
    < 0.02 % after 30 s."""
    ref = np.load(DATA / "neurolib_bold.npz")
    z, model = nl_input.drive(), ref["model_bold"]
    peak = np.abs(model).max()
    with jax.enable_x64(True):
        start_x1 = np.asarray(me.bold(z, nl_input.DT, tr=nl_input.DT, initial={"x": 1.0}))
        rest = np.asarray(me.bold(z, nl_input.DT, tr=nl_input.DT))
    period = int(2000 / nl_input.DT)
    np.testing.assert_allclose(ref["model_t"], (1 + period * np.arange(model.shape[0])) * nl_input.DT)
    assert np.abs(start_x1[1::period] - model).max() < 1e-3 * peak
    assert np.abs(rest[1::period] - model).max() > 0.1 * peak
    assert np.abs(rest[1::period] - model)[15:].max() < 1e-3 * peak


def test_bad_arguments_are_named():
    z = np.zeros((100, 2))
    with pytest.raises(ValueError, match=r"tr = 0.25 ms is not a whole multiple of dt = 0.1 ms"):
        me.bold(z, 0.1, tr=0.25)
    with pytest.raises(ValueError, match="tr = 20 ms is longer than the signal"):
        me.bold(z, 0.1, tr=20.0)
    with pytest.raises(ValueError, match="dt must be"):
        me.bold(z, 0.0, tr=1.0)
    with pytest.raises(ValueError, match=r"shape \(time, N\)"):
        me.bold(np.zeros(100), 0.1, tr=1.0)
    with pytest.raises(ValueError, match="BOLD parameter alpha"):
        me.bold(z, 0.1, tr=1.0, alpha=1.5)
    with pytest.raises(ValueError, match=r"scalar or have shape \(2,\)"):
        me.bold(z, 0.1, tr=1.0, kappa=np.ones(3))
    with pytest.raises(ValueError, match="unknown BOLD state variable"):
        me.bold(z, 0.1, tr=1.0, initial={"s": 1.0})


def test_jit_and_gradient_are_finite():
    z = jnp.asarray(drive(steps=2000), jnp.float32)
    target = jnp.asarray(me.bold(1.1 * z, 0.5, tr=50.0))
    fast = jax.jit(lambda s: me.bold(s, 0.5, tr=50.0))
    np.testing.assert_array_equal(np.asarray(fast(z)), np.asarray(me.bold(z, 0.5, tr=50.0)))

    def loss(signal, kappa):
        return jnp.sum((me.bold(signal, 0.5, tr=50.0, kappa=kappa) - target) ** 2)

    g_signal, g_kappa = jax.grad(loss, argnums=(0, 1))(z, 0.65)
    assert g_signal.shape == z.shape and bool(jnp.all(jnp.isfinite(g_signal)))
    assert bool(jnp.any(g_signal != 0)) and np.isfinite(float(g_kappa)) and float(g_kappa) != 0


# ---- the streamed monitor -------------------------------------------------------------------


@pytest.fixture(scope="module")
def hopf_net():
    conn = me.datasets.load("example_connectome")
    node = me.nodes.Hopf(a=-0.05, w=0.05, initial={"x": 0.5, "y": -0.2})
    return me.Network(node, weights=conn.weights, distances=conn.distances, speed=5.0, k=0.4)


RUN = dict(duration=600.0, dt=0.5, noise=0.05, precision="float64", seed=3)


def test_monitor_equals_bold_of_the_every_step_signal(hopf_net):
    """The Balloon state advances at every step from the recorded signal of the new state:
    ``monitor="bold"`` equals ``me.bold`` of the run recorded at every step (float64)."""
    every = me.simulate(hopf_net, **RUN)  # the state after steps 1, 2, ...
    with jax.enable_x64(True):
        ref = np.asarray(me.bold(every["x"].values, RUN["dt"], tr=50.0))  # (12, N)
        every_y = np.asarray(me.bold(every["y"].values, RUN["dt"], tr=50.0, kappa=0.9, scale=4.0, offset=4.0))
    ds = me.simulate(hopf_net, **RUN, transient=100.0, monitor="bold", tr=50.0)
    assert list(ds.data_vars) == ["bold", "diverged", "divergence_time"]
    assert ds["bold"].attrs["units"] == "1" and "BOLD" in ds["bold"].attrs["long_name"]
    assert ds["bold"].attrs["driven_by"] == "x" and ds.attrs["tr_ms"] == 50.0
    np.testing.assert_allclose(ds["time"].values, 100.0 + 50.0 * np.arange(1, 11))
    np.testing.assert_allclose(ds["bold"].values, ref[2:], rtol=0, atol=1e-14)
    assert np.abs(ref).max() > 1e-6  # 600 ms of a weak drive: BOLD ~ 1e-5, compared to 1e-14
    # Another driving signal and constants, cut into segments: the same numbers.
    cut = me.simulate(hopf_net, **RUN, monitor="bold", tr=50.0, bold_signal="y", chunk_samples=5,
                      bold_params={"kappa": 0.9, "scale": 4.0, "offset": 4.0})
    np.testing.assert_allclose(cut["bold"].values, every_y, rtol=0, atol=1e-14)


def test_observable_drive_and_float32():
    """Jansen–Rit drives BOLD with its observable y1 - y2 by default (its coupled signal);
    float32 agrees with me.bold on the float32 every-step record to rounding."""
    conn = me.datasets.load("example_connectome")
    net = me.Network(me.nodes.JansenRit(), weights=conn.weights, coupling="sigmoidal_jansen_rit", k=0.1)
    every = me.simulate(net, duration=200.0, dt=0.5)
    ds = me.simulate(net, duration=200.0, dt=0.5, monitor="bold", tr=20.0, bold_params={"scale": 0.1})
    assert ds["bold"].attrs["driven_by"] == "y1_minus_y2"
    ref = np.asarray(me.bold(every["y1_minus_y2"].values, 0.5, tr=20.0, scale=0.1))
    np.testing.assert_allclose(ds["bold"].values, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


def test_sweep_batched_equals_per_run_and_store_equals_sweep(hopf_net, tmp_path):
    ks, seeds = [0.0, 0.4, 0.8], [1, 2]
    kw = dict(duration=400.0, dt=0.5, transient=100.0, noise=0.05, precision="float64", monitor="bold", tr=50.0)
    sw = me.sweep(hopf_net, k=ks, seeds=seeds, **kw)
    assert sw["bold"].dims == ("coupling", "k", "seed", "time", "region") and sw.sizes["time"] == 6
    for i, k in enumerate(ks):
        for j, seed in enumerate(seeds):
            one = me.simulate(hopf_net.replace(k=k), seed=seed, **{n: v for n, v in kw.items()})
            np.testing.assert_allclose(sw["bold"].values[0, i, j], one["bold"].values, rtol=0, atol=1e-14)
    store = me.sweep_to_store(hopf_net, ks, tmp_path / "bold.zarr", seeds=seeds, chunk_samples=4, **kw)
    streamed = me.io.open_store(store)
    np.testing.assert_array_equal(streamed["bold"].values, sw["bold"].values[0])
    assert streamed["bold"].attrs["units"] == "1" and streamed.attrs["monitor"] == "bold"
    np.testing.assert_array_equal(streamed["time"].values, sw["time"].values)


def test_monitor_divergence_and_gradient(hopf_net):
    big = hopf_net.replace(coupling="additive", k=3.0)
    ds = me.simulate(big, duration=60.0, dt=0.1, monitor="bold", tr=2.0)
    assert bool(ds.diverged) and np.isnan(ds["bold"].values[-1]).all()
    first = int(np.argmax(np.isnan(ds["bold"].values).any(axis=1)))
    assert float(ds.divergence_time) == float(ds.time[first])

    def loss(k):
        traj = me.integrate(hopf_net.replace(k=k), duration=200.0, dt=0.5, noise=0.05, monitor="bold", tr=20.0)
        return jnp.sum(traj["bold"] ** 2)

    g = jax.grad(loss)(0.4)
    assert np.isfinite(float(g)) and float(g) != 0.0


def test_monitor_settings_errors_name_the_fix(hopf_net):
    run = dict(duration=100.0, dt=0.1)
    with pytest.raises(ValueError, match="tr = 0.25 ms is not a whole multiple of dt = 0.1 ms"):
        me.simulate(hopf_net, **run, monitor="bold", tr=0.25)
    with pytest.raises(ValueError, match="tr = 200 ms is longer than the recorded part of the run"):
        me.simulate(hopf_net, **run, monitor="bold", tr=200.0)
    with pytest.raises(ValueError, match="tr = 720 ms is longer"):  # the default tr
        me.simulate(hopf_net, **run, monitor="bold")
    with pytest.raises(ValueError, match="apply to monitor='bold' only"):
        me.simulate(hopf_net, **run, tr=10.0)
    with pytest.raises(ValueError, match="drop sample_every"):
        me.simulate(hopf_net, **run, monitor="bold", tr=10.0, sample_every=10)
    with pytest.raises(ValueError, match="drop record"):
        me.sweep(hopf_net, k=[0.1], **run, monitor="bold", tr=10.0, record=["x"])
    with pytest.raises(ValueError, match="unknown bold_signal 'z'"):
        me.simulate(hopf_net, **run, monitor="bold", tr=10.0, bold_signal="z")
    with pytest.raises(ValueError, match="bold_params: unknown BOLD parameter"):
        me.simulate(hopf_net, **run, monitor="bold", tr=10.0, bold_params={"kapa": 1.0})
    with pytest.raises(ValueError, match=r"bold_params\['kappa'\] must be a scalar or have shape \(8,\)"):
        me.simulate(hopf_net, **run, monitor="bold", tr=10.0, bold_params={"kappa": [1.0, 2.0]})


# ---- the workflow -----------------------------------------------------------------------------


def test_bold_campaign_runs_through_snakemake(tmp_path):
    """``monitor: bold`` in a campaign config: stores hold ``bold`` at TR sampling and the
    metrics (FC, FCD with windows in seconds) are computed from it."""
    from conftest import ROOT, chunk_stores, snakemake

    out = tmp_path / "out"
    run = snakemake("--configfile", str(ROOT / "config" / "test" / "bold.yaml"), "--config",
                    f"output_dir={out}", workdir=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    traj = me.io.open_store(chunk_stores(out, "diffusive")[0])
    assert list(traj["bold"].dims) == ["k", "seed", "time", "region"] and "x" not in traj
    assert traj.attrs["monitor"] == "bold" and traj.attrs["tr_ms"] == 200.0
    np.testing.assert_allclose(traj["time"].values, 2000.0 + 200.0 * np.arange(1, 91))
    assert np.isfinite(traj["bold"].values).all() and not traj["diverged"].values.any()
    metrics = me.io.open_store(chunk_stores(out, "diffusive", "metrics")[0])
    assert metrics.attrs["metrics_variable"] == "bold" and metrics.attrs["sampling_rate_hz"] == 5.0
    assert metrics.sizes["window"] == 15  # 4 s windows every 1 s over 18 s of BOLD
    assert np.isfinite(metrics["mean_fc"].values).all()
    assert (out / "report.html").exists()


@pytest.mark.parametrize("change, message", [
    ({"tr": 0.75}, r"^simulation\.tr: tr = 0.75 ms is not a whole multiple of dt = 0.5 ms"),
    ({"tr": 40000.0}, r"^simulation: tr = 40000 ms is longer than the recorded part"),
    ({"monitor": "sample"}, r"^simulation\.tr: applies to monitor: bold only"),
    ({"bold_signal": "r"}, r"^simulation: unknown bold_signal 'r'"),
    ({"bold_params": {"kapa": 1.0}}, r"^simulation: bold_params: unknown BOLD parameter"),
])
def test_bold_config_errors_name_the_key(change, message):
    import yaml
    from snakemake.utils import validate

    import massengine.config as mecfg

    from conftest import ROOT

    schema = str(ROOT / "config" / "schemas" / "config.schema.yaml")
    config = yaml.safe_load((ROOT / "config" / "test" / "bold.yaml").read_text())
    config["simulation"].update(change)
    validate(config, schema)
    with pytest.raises(mecfg.ConfigError, match=message):
        mecfg.check(config)
