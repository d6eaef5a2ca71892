"""Streamed metrics (massengine/streaming.py) against the whole-run metrics.

The references are metrics.py's kernels on the whole run (themselves tested against NumPy
and SciPy in test_metrics.py) and SciPy's Welch directly; float64 throughout, so the streamed
sums must agree to 1e-10 (only summation order differs).
"""

import numpy as np
import pytest
from scipy import signal as sps

import massengine as me
from massengine import metrics
from massengine.streaming import NOT_STREAMED, STREAMED, StreamedMetrics

TOL = dict(rtol=1e-10, atol=1e-12)
N_SAMPLES, WINDOW, STEP, FS = 600, 30, 7, 1000.0


def streamed(x, segment, window=WINDOW, step=STEP):
    acc = StreamedMetrics(x.shape[0], x.shape[2], x.shape[1], window, step, FS)
    for t in range(0, x.shape[1], segment):
        acc.add(x[:, t: t + segment])
    return acc.finish()


def whole(x, window=WINDOW, step=STEP):
    freqs, psd = metrics.welch_psd(x, FS)
    return {"fc": metrics.functional_connectivity(x), "fcd": metrics.fcd(x, window, step), "psd": psd,
            "freq": freqs}


@pytest.fixture
def runs(rng):
    # an offset far from 0 and slow drifts: raw sums of squares would cancel, centred ones do not
    t = np.arange(N_SAMPLES)[None, :, None]
    return 50.0 + rng.normal(size=(3, N_SAMPLES, 5)) + np.sin(t / 40.0 + rng.uniform(0, 6, (3, 1, 5)))


# 1 sample; 7 < the FCD window (windows straddle up to 5 segments); 64 (Welch segments of
# 256 straddle); 600 = one segment
@pytest.mark.parametrize("segment", [1, 7, 64, N_SAMPLES])
def test_streamed_equals_the_whole_run(runs, segment):
    got, want = streamed(runs, segment), whole(runs)
    for name in ("fc", "fcd", "psd", "freq"):
        np.testing.assert_allclose(got[name], want[name], **TOL, err_msg=name)


def test_welch_against_scipy_directly(runs):
    got = streamed(runs, 50)
    freqs, pxx = sps.welch(runs, fs=FS, nperseg=256, axis=-2)  # scipy's defaults: Hann, half overlap
    np.testing.assert_allclose(got["freq"], freqs)
    np.testing.assert_allclose(got["psd"], pxx.mean(-1), **TOL)


def test_short_runs_and_windows_wider_than_their_step(rng):
    x = rng.normal(size=(2, 100, 4))  # shorter than a Welch segment: one of 100 samples
    for window, step in [(10, 25), (99, 1), (100, 3)]:  # gaps between windows; the whole run as a window
        got, want = streamed(x, 13, window, step), whole(x, window, step)
        for name in ("fc", "fcd", "psd"):
            np.testing.assert_allclose(got[name], want[name], **TOL, err_msg=f"{name} {window} {step}")


def test_a_run_that_diverges_half_way(runs):
    x = runs.copy()
    x[1, 310:] = np.nan
    got, want = streamed(x, 64), whole(x)
    assert np.isnan(got["fc"][1]).all() and np.isnan(got["psd"][1]).all()
    for name in ("fc", "fcd", "psd"):  # fcd: the windows before the NaN stay, as in metrics.fcd
        np.testing.assert_allclose(got[name], want[name], **TOL, err_msg=name)
    assert np.isfinite(got["fcd"][1][:5, :5]).all()


def test_a_flat_region_has_no_correlation(runs):
    x = runs.copy()
    x[0, :, 2] = 0.1  # its mean rounds: centred samples an ulp off 0, not 0
    got, want = streamed(x, 64), whole(x)
    assert np.isnan(got["fc"][0, 2]).all() and np.isnan(want["fc"][0, 2]).all()
    np.testing.assert_allclose(got["fc"], want["fc"], **TOL)


def test_segments_must_add_up_to_the_run(runs):
    acc = StreamedMetrics(3, 5, N_SAMPLES, WINDOW, STEP, FS)
    acc.add(runs[:, :100])
    with pytest.raises(ValueError, match="ended after 100"):
        acc.finish()
    with pytest.raises(ValueError, match="601 samples given"):
        acc.add(runs[:, :501])
    with pytest.raises(ValueError, match="FCD window of 601 samples"):
        StreamedMetrics(3, 5, N_SAMPLES, 601, STEP, FS)


# ---- sweep_metrics against metrics.compute of the sweep's trajectories ----------------------


def network(coupling="diffusive"):
    conn = me.datasets.load("example_connectome")
    x0 = np.random.default_rng(1).uniform(-0.5, 0.5, conn.n_regions)
    return me.Network(me.nodes.Hopf(initial={"x": x0}), weights=conn.weights, distances=conn.distances,
                      speed=10.0, coupling=coupling)


KW = dict(duration=300.0, dt=0.1, sample_every=10, precision="float64", noise=0.02)


def stored_path(net, k, couplings=None, target_fc=None, **kw):
    sweep = me.sweep(net, k, couplings, **{**KW, **kw})
    out = metrics.compute(sweep, "x", np.asarray(net.terms[0].weights), 50.0, 10.0, target_fc=target_fc).compute()
    return out.drop_vars(NOT_STREAMED)


def assert_same(got, want):
    assert set(got.data_vars) == set(want.data_vars) == set(STREAMED) | {"diverged", "divergence_time"}
    for name in want.data_vars:
        assert got[name].dims == want[name].dims, name
        np.testing.assert_allclose(got[name].values.astype(float), want[name].values.astype(float), **TOL,
                                   err_msg=name)
    for name in want.coords:
        np.testing.assert_array_equal(got[name].values, want[name].values, err_msg=name)


@pytest.mark.parametrize("chunk_samples", [None, 3, 41])
def test_sweep_metrics_equal_the_stored_trajectory_path(chunk_samples):
    net = network()
    kw = dict(seeds=[0, 1], grid={"noise": [0.01, 0.03]}, noise=None)  # the axis sets the noise
    got = me.sweep_metrics(net, [0.0, 0.4, 1.2], ["diffusive", {"name": "tanh", "scale": 2.0}], **{**KW, **kw},
                           chunk_samples=chunk_samples)
    assert_same(got, stored_path(net, [0.0, 0.4, 1.2], ["diffusive", {"name": "tanh", "scale": 2.0}], **kw))
    assert got.attrs["not_streamed"] == "synchrony, metastability, mean_amplitude"


def test_sweep_metrics_with_diverging_runs_batches_and_a_target(rng):
    net = network()
    target = np.corrcoef(rng.normal(size=(100, net.n_regions)).T)
    kw = dict(divergence_bound=0.5, batch_size=2)  # every run crosses the bound part-way
    got = me.sweep_metrics(net, [0.0, 1.0, 3.0], target_fc=target, **KW, **kw)
    want = stored_path(net, [0.0, 1.0, 3.0], target_fc=target, **kw)
    assert want["diverged"].values.all()
    assert_same(got, want)


def test_sweep_metrics_refuses_what_it_cannot_measure():
    net = network()
    with pytest.raises(ValueError, match="variable='v' is not recorded"):
        me.sweep_metrics(net, [0.0], variable="v", **KW)
    with pytest.raises(ValueError, match="FCD window of 50 samples does not fit a run of 30"):
        me.sweep_metrics(net, [0.0], **{**KW, "duration": 30.0, "sample_every": 10}, fcd_window_ms=50.0)
    with pytest.raises(ValueError, match="target_fc"):
        me.sweep_metrics(net, [0.0], target_fc=np.ones((8, 8)), **KW)
