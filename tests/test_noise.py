"""Additive Gaussian noise: increment statistics and seed reproducibility."""

import warnings

import numpy as np
import pytest

import massengine as me


def drift_free(n=100):
    """Kuramoto phases with omega = 0 and k = 0: every increment is pure noise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return me.Network(me.nodes.Kuramoto(omega=0.0), weights=np.zeros((n, n)), coupling="kuramoto", k=0.0)


@pytest.mark.parametrize("integrator", ["euler", "heun"])
def test_increments_have_variance_sigma_squared_dt(integrator):
    sigma, dt = 0.3, 0.05
    ds = me.simulate(drift_free(), duration=2000 * dt, dt=dt, noise=sigma, seed=5,
                     integrator=integrator, precision="float64")
    inc = np.diff(np.concatenate([np.zeros((1, 100)), ds.theta.values]), axis=0).ravel()
    # 200 000 increments: the sample variance has relative std sqrt(2/n) = 0.32 %; allow 2 %.
    assert inc.var() == pytest.approx(sigma**2 * dt, rel=0.02)
    assert abs(inc.mean()) < 4 * sigma * np.sqrt(dt / inc.size)
    # Gaussian: the kurtosis of a normal sample is 3 (std of the estimate ~ 0.011 here)
    assert np.mean(inc**4) / inc.var() ** 2 == pytest.approx(3.0, abs=0.06)
    # independent in time: lag-1 autocorrelation ~ 0 (std 1/sqrt(n) = 0.0022)
    series = np.diff(np.concatenate([np.zeros((1, 100)), ds.theta.values]), axis=0)
    lag1 = np.mean(series[1:] * series[:-1]) / series.var()
    assert abs(lag1) < 0.01


def test_noise_per_variable():
    net = me.Network(me.nodes.Hopf(a=-1.0, w=0.0), weights=np.ones((3, 3)) - np.eye(3), k=0.0)
    ds = me.simulate(net, duration=50.0, dt=0.1, noise={"y": 0.2})
    assert np.all(ds.x.values == 0) and np.std(ds.y.values) > 0.01


def test_seeds_reproduce_across_batch_sizes_order_and_chunks(example):
    node = me.nodes.JansenRit()
    net = me.Network(node, weights=example.weights, distances=example.distances, speed=10.0,
                     coupling="sigmoidal_jansen_rit", k=1.0)
    kw = dict(duration=100.0, dt=0.1, sample_every=10, noise={"y4": 0.05})
    big = me.sweep(net, k=[0.5, 1.0, 2.0], seeds=[10, 11, 12, 13], **kw)
    var = "y1_minus_y2"
    # other batch sizes, orders and time chunks: bit-identical
    for ks, seeds, chunk in [([1.0], [13, 11], 3), ([1.0], [11], None), ([2.0, 1.0], [11], 4)]:
        small = me.sweep(net, k=ks, seeds=seeds, chunk_samples=chunk, **kw)
        np.testing.assert_array_equal(small[var].sel(k=1.0, seed=11).values,
                                      big[var].sel(k=1.0, seed=11).values)
    # an unbatched run is the same trajectory to float32 rounding
    single = me.simulate(net, seed=12, **kw)
    np.testing.assert_allclose(single[var].values, big[var].sel(k=1.0, seed=12).values[0],
                               rtol=1e-5, atol=1e-5)
    a, b = big[var].sel(k=1.0, seed=10).values, big[var].sel(k=1.0, seed=11).values
    assert np.abs(a - b).max() > 1e-3
