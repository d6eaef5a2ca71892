"""Each metric against an independent computation (NumPy/SciPy) on known signals."""

import numpy as np
import pytest
import xarray as xr
from scipy import signal as sps
from scipy import stats

from massengine import metrics


@pytest.fixture
def signals(rng):
    return rng.normal(size=(3, 400, 6))  # (runs, time, region)


def test_fc_equals_numpy_corrcoef(signals):
    fc = metrics.functional_connectivity(signals)
    for run in range(3):
        np.testing.assert_allclose(fc[run], np.corrcoef(signals[run].T), atol=1e-12)


def test_flat_region_gives_nan_not_a_number(signals):
    x = signals[0].copy()
    x[:, 2] = 1.0
    fc = metrics.functional_connectivity(x)
    assert np.all(np.isnan(fc[2])) and np.all(np.isnan(fc[:, 2]))
    want = np.corrcoef(np.delete(x, 2, axis=1).T)
    np.testing.assert_allclose(metrics.mean_fc(fc), want[np.triu_indices(5, 1)].mean())


def test_fc_sc_correlation_is_pearson_of_upper_triangles(rng):
    a, b = rng.normal(size=(7, 7)), rng.normal(size=(7, 7))
    i, j = np.triu_indices(7, 1)
    assert metrics.matrix_correlation(a, b) == pytest.approx(stats.pearsonr(a[i, j], b[i, j])[0], abs=1e-12)


def test_fcd_equals_loop_over_windows(signals):
    x, window, step = signals[1], 50, 25
    got = metrics.fcd(x, window, step)
    i, j = np.triu_indices(6, 1)
    vecs = [np.corrcoef(x[s:s + window].T)[i, j] for s in range(0, 400 - window + 1, step)]
    want = np.corrcoef(np.array(vecs))
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert metrics.fcd_variance(got) == pytest.approx(np.var(want[np.triu_indices(len(vecs), 1)]))


def test_order_parameter_of_known_phases():
    fs, t = 1000.0, np.arange(4000) / 1000.0
    same = np.stack([np.sin(2 * np.pi * 10 * t + 0.0) for _ in range(5)], axis=-1)
    r_same = metrics.order_parameter(same, fs)
    assert np.median(r_same) == pytest.approx(1.0, abs=1e-6)
    # two oscillators at 10 and 11 Hz: R(t) = |cos(pi (f2 - f1) t)|
    pair = np.stack([np.sin(2 * np.pi * 10 * t), np.sin(2 * np.pi * 11 * t)], axis=-1)
    r = metrics.order_parameter(pair, fs)
    want = np.abs(np.cos(np.pi * 1.0 * t))
    inner = slice(500, -500)  # away from the Hilbert transform's edge effects; 3 whole periods
    np.testing.assert_allclose(r[inner], want[inner], atol=0.02)
    # over whole periods: mean |cos| = 2/pi, std = sqrt(1/2 - 4/pi^2)
    assert metrics.synchrony(r[inner]) == pytest.approx(2 / np.pi, abs=0.01)
    assert metrics.metastability(r[inner]) == pytest.approx(np.sqrt(0.5 - 4 / np.pi**2), abs=0.01)


def test_bandpass_isolates_the_band():
    fs, t = 1000.0, np.arange(4000) / 1000.0
    slow = np.sin(2 * np.pi * 2 * t)[:, None] * np.array([1, -1, 1])  # anti-phase at 2 Hz
    fast = np.sin(2 * np.pi * 40 * t)[:, None] * np.ones(3) * 0.5      # in phase at 40 Hz
    r = metrics.order_parameter(slow + fast, fs, band=(30.0, 50.0))
    assert np.median(r) > 0.99


def test_peak_frequency_and_amplitude(rng):
    fs, t = 1000.0, np.arange(5000) / 1000.0
    x = 2.0 * np.sin(2 * np.pi * 12.0 * t)[:, None] + 0.1 * rng.normal(size=(5000, 4))
    freqs, psd = metrics.welch_psd(x, fs)
    f_ref, p_ref = sps.welch(x, fs=fs, nperseg=256, axis=0)
    np.testing.assert_allclose(psd, p_ref.mean(axis=1))
    assert metrics.peak_frequency(freqs, psd) == pytest.approx(12.0, abs=fs / 256)
    assert metrics.mean_amplitude(x, fs) == pytest.approx(2.0, rel=0.03)


def test_diverged_run_gets_nan_everywhere(signals):
    x = signals.copy()
    x[1, 300:] = np.nan
    fc = metrics.functional_connectivity(x)
    assert np.all(np.isnan(fc[1])) and np.all(np.isfinite(fc[0]))
    assert np.all(np.isnan(metrics.order_parameter(x, 1000.0)[1]))
    freqs, psd = metrics.welch_psd(x, 1000.0)
    assert np.isnan(metrics.peak_frequency(freqs, psd)[1]) and np.isfinite(metrics.peak_frequency(freqs, psd)[0])
    assert np.isnan(metrics.mean_amplitude(x, 1000.0)[1])


def test_compute_on_a_dask_dataset_equals_direct_kernels(rng):
    x = rng.normal(size=(2, 3, 300, 5)).astype(np.float32)
    x[1, 2, 100:] = np.nan  # one diverged run
    times = np.arange(1, 301) * 1.0
    ds = xr.Dataset(
        {"x": (("k", "seed", "time", "region"), x)},
        coords={"k": [0.1, 0.2], "seed": [0, 1, 2], "time": times, "region": list("abcde")},
    )
    ds["diverged"] = (("k", "seed"), np.array([[False] * 3, [False, False, True]]))
    ds["divergence_time"] = (("k", "seed"), np.where(ds["diverged"], 100.0, np.nan))
    w = rng.random((5, 5))
    out = metrics.compute(ds.chunk({"k": 1, "seed": 1}), "x", w, 50.0, 25.0).compute()
    run = x[0, 1].astype(np.float64)
    np.testing.assert_allclose(out.fc.values[0, 1], np.corrcoef(run.T), atol=1e-6)
    assert out.mean_fc.values[0, 1] == pytest.approx(metrics.mean_fc(np.corrcoef(run.T)), abs=1e-6)
    assert out.fc_sc_corr.values[0, 1] == pytest.approx(metrics.matrix_correlation(np.corrcoef(run.T), w), abs=1e-6)
    assert out.synchrony.values[0, 1] == pytest.approx(metrics.order_parameter(run, 1000.0).mean(), abs=1e-9)
    assert out.fcd.sizes["window"] == len(range(0, 300 - 50 + 1, 25))
    for name in metrics.SCALARS:
        if name != "fc_target_corr":
            assert np.isnan(out[name].values[1, 2]) and np.isfinite(out[name].values[0, 0]), name
    assert np.all(np.isnan(out.fc_target_corr.values))
    target = np.corrcoef(run.T)
    with_target = metrics.compute(ds, "x", w, 50.0, 25.0, target_fc=target).compute()
    assert with_target.fc_target_corr.values[0, 1] == pytest.approx(1.0, abs=1e-6)


def test_fcd_matrix_product_path_matches_a_plain_loop():
    """metrics.fcd's one-matrix-product path (every window finite, or NaN throughout as in a
    diverged run) against np.corrcoef of the windows' FC upper triangles, pair by pair
    (tolerance 1e-12); a window with some NaN entries (a region flat within it) takes the
    pairwise path and agrees too."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 240, 6))
    x[1, 120:, :] = np.nan       # diverged at sample 120: windows from there are all NaN
    x[2, 60:100, 2] = 1.0        # region 2 flat inside some windows
    window, step = 40, 20
    for run in x:
        starts = range(0, run.shape[0] - window + 1, step)
        tri = np.triu_indices(6, 1)
        fcs = []
        for s in starts:
            seg = run[s:s + window]
            with np.errstate(invalid="ignore", divide="ignore"):
                fc = np.corrcoef(seg.T)[tri] if np.isfinite(seg).all() else np.full(len(tri[0]), np.nan)
            fcs.append(fc)
        expected = np.full((len(fcs), len(fcs)), np.nan)
        for a, fa in enumerate(fcs):
            for b, fb in enumerate(fcs):
                ok = np.isfinite(fa) & np.isfinite(fb)
                if ok.sum() >= 3:
                    expected[a, b] = np.corrcoef(fa[ok], fb[ok])[0, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            got = metrics.fcd(run, window, step)
        np.testing.assert_allclose(got, expected, atol=1e-12, equal_nan=True)


def test_metrics_of_a_store_streamed_in_time_segments_equal_the_whole(tmp_path):
    """A store written segment by segment has several zarr chunks along time (a campaign job
    with more than ~16 MB of samples); every metric reads whole runs all the same."""
    import massengine as me
    from massengine import io

    conn = me.datasets.load("example_connectome")
    net = me.Network(me.nodes.Hopf(initial={"x": np.linspace(-0.5, 0.5, 8)}), weights=conn.weights,
                     distances=conn.distances, speed=10.0, coupling="tanh")
    kw = dict(seeds=[0, 1], noise=0.01, duration=200.0, dt=0.1, sample_every=5, grid={"speed": [3.0, 9.0]})
    whole = io.open_store(me.sweep_to_store(net, [0.1, 0.6], tmp_path / "whole.zarr", **kw))
    cut = io.open_store(me.sweep_to_store(net, [0.1, 0.6], tmp_path / "cut.zarr", chunk_samples=30, **kw))
    assert len(cut["x"].chunks[cut["x"].dims.index("time")]) > 1
    want = metrics.compute(whole, "x", conn.weights, 50.0, 10.0).compute()
    got = metrics.compute(cut, "x", conn.weights, 50.0, 10.0).compute()
    assert got["synchrony"].dims == ("k", "speed", "seed")
    for name in ("fc", "fcd", "synchrony", "metastability", "psd"):
        np.testing.assert_allclose(got[name].values, want[name].values, rtol=0, atol=1e-12, equal_nan=True)
