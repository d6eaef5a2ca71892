"""Parameter grids (issue 14): ``sweep(..., grid={axis: values})`` is the cartesian product
of single runs, every point batched into one compiled call per coupling.

The reference at each grid point is an independent single run (``me.simulate`` of a network
built with that point's parameters), compared in float64 at 1e-12.
"""

import itertools

import numpy as np
import pytest

import massengine as me
from massengine import engine
from massengine.nodes import Hopf, JansenRit

N = 5
KW = dict(duration=30.0, dt=0.1, precision="float64")


@pytest.fixture(scope="module")
def connectome():
    rng = np.random.default_rng(7)
    weights = rng.random((N, N)) * (rng.random((N, N)) < 0.6)
    np.fill_diagonal(weights, 0)
    lengths = rng.random((N, N)) * 40
    return weights, (lengths + lengths.T) / 2


def hopf(connectome, speed=5.0, a=-0.05, coupling="tanh", **params):
    weights, lengths = connectome
    return me.Network(Hopf(a=a, w=0.06), weights=weights, distances=lengths, speed=speed,
                      coupling=coupling, **params)


def single(net, k, seed, noise):
    run = me.simulate(net.replace(k=k), seed=seed, noise=noise, **KW)
    return run["x"].values


@pytest.mark.parametrize("layout", ["dense", "sparse", "ell"])
def test_grid_is_the_cartesian_product_of_single_runs(connectome, layout):
    ks, speeds, a_values, noises, seeds = [0.2, 0.9], [2.0, 12.0], [-0.1, 0.05], [0.0, 0.03], [4, 5]
    out = me.sweep(hopf(connectome), k=ks, seeds=seeds, layout=layout,
                   grid={"speed": speeds, "node.a": a_values, "noise": noises, "coupling.scale": [0.5]}, **KW)
    assert out["x"].dims == ("coupling", "k", "speed", "node.a", "noise", "coupling.scale", "seed", "time", "region")
    assert out["diverged"].dims == ("coupling", "k", "speed", "node.a", "noise", "coupling.scale", "seed")
    np.testing.assert_array_equal(out["speed"].values, speeds)
    np.testing.assert_array_equal(out["node.a"].values, a_values)
    assert out["speed"].attrs["units"] == "mm/ms"
    for k, speed, a, noise, seed in itertools.product(ks, speeds, a_values, noises, seeds):
        net = hopf(connectome, speed=speed, a=a, scale=0.5)
        got = out["x"].sel(k=k, speed=speed, noise=noise, seed=seed, **{"node.a": a}).isel(coupling=0).squeeze()
        np.testing.assert_allclose(got.values, single(net, k, seed, noise), rtol=0, atol=1e-12,
                                   err_msg=f"k={k} speed={speed} a={a} noise={noise} seed={seed}")


def test_speeds_change_the_delays_as_tract_length_over_speed(connectome):
    """Not only equal to single runs: a slower speed gives a different trajectory (the axis
    reaches the delays), and the slowest speed sets the ring's horizon without error."""
    out = me.sweep(hopf(connectome, a=0.1), k=[0.8], grid={"speed": [1.5, 30.0]}, noise=0.02, **KW)
    slow, fast = (out["x"].sel(speed=v).values for v in (1.5, 30.0))
    assert np.abs(slow - fast).max() > 1e-3


def test_a_source_parameter_grid_gives_each_run_its_own_delay_history():
    """sigmoidal_jansen_rit transforms the signal before it enters the delay ring: a grid over
    its cmax must give per-run rings from t = 0 (history='initial' fills them)."""
    rng = np.random.default_rng(3)
    weights = rng.random((4, 4))
    np.fill_diagonal(weights, 0)
    lengths = rng.random((4, 4)) * 30
    lengths = lengths + lengths.T
    net = me.Network(JansenRit(), weights=weights, distances=lengths, speed=3.0, coupling="sigmoidal_jansen_rit")
    kw = dict(duration=40.0, dt=0.1, precision="float64", history="initial")
    cmax = [0.002, 0.01]
    out = me.sweep(net, k=[5.0], grid={"coupling.cmax": cmax}, **kw)
    for value in cmax:
        ref = me.simulate(net.replace(k=5.0, cmax=value), **kw)
        for name in out.data_vars:
            if "time" in out[name].dims:
                np.testing.assert_allclose(out[name].sel(**{"coupling.cmax": value}).squeeze().values,
                                           ref[name].values, rtol=0, atol=1e-12)


def test_every_grid_point_of_a_coupling_runs_in_one_compiled_call(connectome, monkeypatch):
    """Batchable axes add no program: one advance_runs call and one compiled program per
    coupling, whatever the grid (the jit cache grows by one for a new shape only)."""
    calls = []
    real = engine.advance_runs
    monkeypatch.setattr(engine, "advance_runs", lambda *a: calls.append(a[3]["k"].shape) or real(*a))
    before = real._cache_size()
    grid = {"speed": [2.0, 4.0, 8.0], "node.a": [-0.1, 0.0], "noise": [0.01, 0.02]}
    out = me.sweep(hopf(connectome, coupling="diffusive"), k=[0.1, 0.2, 0.3], couplings=["diffusive", "additive"],
                   grid=grid, duration=30.0, dt=0.1, devices=1)  # one device: the call is not split
    assert out.sizes["speed"] == 3 and out.sizes["coupling"] == 2
    assert calls == [(36,), (36,)]  # 3 k x 3 speeds x 2 a x 2 noises, per coupling
    # Both couplings share no program (different code), each compiled exactly once.
    assert real._cache_size() - before == 2


@pytest.mark.parametrize("batch_size", [1, 5])
def test_grid_batches_and_streamed_stores_are_bit_identical(connectome, batch_size, tmp_path):
    net = hopf(connectome)
    kw = dict(k=[0.2, 0.7], seeds=[0, 1], grid={"speed": [2.0, 8.0], "node.a": [-0.1, 0.0, 0.1]},
              noise=0.02, duration=20.0, dt=0.1)
    whole = me.sweep(net, **kw)
    split = me.sweep(net, batch_size=batch_size, **kw)
    np.testing.assert_array_equal(split["x"].values, whole["x"].values)
    store = me.sweep_to_store(net, path=tmp_path / "s.zarr", batch_size=batch_size, chunk_samples=70, **kw)
    streamed = me.io.open_store(store, verify=True)
    assert streamed["x"].dims == ("k", "speed", "node.a", "seed", "time", "region")
    np.testing.assert_array_equal(streamed["x"].values, whole["x"].isel(coupling=0).values)
    np.testing.assert_array_equal(streamed["diverged"].values, whole["diverged"].isel(coupling=0).values)


@pytest.mark.parametrize("grid, message", [
    ({"spead": [1.0]}, r"unknown grid axis 'spead'; valid axes: speed, noise, node\.a, .*Did you mean 'speed'"),
    ({"k": [1.0]}, r"grid axis 'k': give k values with k="),
    ({"node.zz": [1.0]}, r"unknown grid axis 'node\.zz'; valid axes: .*node\.w, node\.beta"),
    ({"speed": [0.0, 1.0]}, r"grid axis 'speed' \(mm/ms\) must be > 0"),
    ({"speed": [0.01]}, r"at 0\.01 mm/ms the longest delay is .* longer than the run"),
    ({"noise": [-1.0]}, r"grid axis 'noise' \(sigma\) must be >= 0"),
    ({"coupling.scale": [1.0, 1.0]}, r"grid axis 'coupling\.scale': values must be distinct"),
    ({"coupling.scale": [-1.0]}, r"grid axis 'coupling\.scale': values must lie in \[0\.0, None\]"),
    ({"node.a": []}, r"grid axis 'node\.a' must be a non-empty list of finite numbers"),
    ({"coupling.normalize": ["sym"]}, r"unknown grid axis 'coupling\.normalize'"),
    ([1, 2], r"grid must be a mapping"),
])
def test_bad_grids_are_refused_with_the_fix(connectome, grid, message):
    with pytest.raises(ValueError, match=message):
        me.sweep(hopf(connectome), k=[0.1], grid=grid, **KW)


def test_axes_the_network_or_settings_cannot_take_are_refused(connectome):
    weights, lengths = connectome
    given_delays = me.Network(Hopf(), weights=weights, delays=lengths / 5.0)
    with pytest.raises(ValueError, match="recomputes the delays from the tract lengths: build the network"):
        me.sweep(given_delays, k=[0.1], grid={"speed": [1.0, 2.0]}, **KW)
    with pytest.raises(ValueError, match="grid axis 'noise' sets the noise sigma of every run: drop the noise="):
        me.sweep(hopf(connectome), k=[0.1], grid={"noise": [0.1]}, noise=0.2, **KW)
    with pytest.raises(ValueError, match=r"Coupling\(s\) diffusive have no numeric parameter 'scale'"):
        me.sweep(hopf(connectome), k=[0.1], couplings=["diffusive", "tanh"], grid={"coupling.scale": [1.0]}, **KW)
