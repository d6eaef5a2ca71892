"""Several devices (issue 24): a sweep split over host devices gives every run the numbers it
gets on one device, bit for bit, for every coupling, layout and monitor, with noise, grids,
divergence, run counts not divisible by the device count and sweeps that also split into
batches. The suite runs with four CPU host devices (conftest.py), as
``massengine.use_cpu_cores(4)`` gives a user; one device is the reference."""

import jax
import numpy as np
import pytest
import xarray as xr

import massengine as me
from massengine import devices
from massengine.nodes import Hopf, JansenRit, Kuramoto

from conftest import N_TEST_DEVICES

N = 6
KW = dict(duration=12.0, dt=0.1, sample_every=4)


@pytest.fixture(scope="module")
def connectome():
    rng = np.random.default_rng(24)
    weights = rng.random((N, N)) * (rng.random((N, N)) < 0.5)
    np.fill_diagonal(weights, 0)
    lengths = rng.random((N, N)) * 30
    return weights, (lengths + lengths.T) / 2


def network(connectome, coupling="diffusive", node=None, **params):
    weights, lengths = connectome
    node = node or Hopf(a=-0.05, w=0.06, initial={"x": np.linspace(-0.3, 0.3, N)})
    return me.Network(node, weights=weights, distances=lengths, speed=4.0, coupling=coupling, **params)


def assert_same(split: xr.Dataset, one: xr.Dataset):
    assert split.data_vars.keys() == one.data_vars.keys()
    for name in one.data_vars:
        np.testing.assert_array_equal(split[name].values, one[name].values, err_msg=name)


def test_the_suite_has_several_host_devices():
    assert len(jax.devices()) == N_TEST_DEVICES  # otherwise every test below compares one device with itself


@pytest.mark.parametrize("coupling", ["diffusive", "additive", "laplacian", "tanh", "sigmoidal",
                                      "sigmoidal_jansen_rit", "kuramoto"])
def test_every_coupling_gives_one_device_numbers_on_four(connectome, coupling):
    node = {"sigmoidal_jansen_rit": JansenRit(), "kuramoto": Kuramoto()}.get(coupling)
    net = network(connectome, coupling, node)
    kw = dict(k=[0.0, 0.05, 0.1, 0.2, 0.4], seeds=[1, 2], noise=0.01, **KW)
    assert_same(me.sweep(net, devices=N_TEST_DEVICES, **kw), me.sweep(net, devices=1, **kw))


@pytest.mark.parametrize("layout", ["dense", "sparse", "ell"])
@pytest.mark.parametrize("monitor", ["sample", "mean", "bold"])
def test_every_layout_and_monitor_gives_one_device_numbers(connectome, layout, monitor):
    kw = dict(k=[0.1, 0.3, 0.5], seeds=[7], layout=layout, monitor=monitor, **KW)
    if monitor == "bold":
        kw.update(duration=200.0, tr=20.0, sample_every=1)
    net = network(connectome, "tanh")
    assert_same(me.sweep(net, devices=3, **kw), me.sweep(net, devices=1, **kw))


def test_grids_noise_and_float64_split_over_devices(connectome):
    net = network(connectome, "tanh")
    kw = dict(k=[0.2, 0.9], seeds=[4, 5, 6], precision="float64", **KW,
              grid={"speed": [3.0, 12.0], "node.a": [-0.1, 0.05], "noise": [0.0, 0.03], "coupling.scale": [0.5]})
    assert_same(me.sweep(net, devices=N_TEST_DEVICES, **kw), me.sweep(net, devices=1, **kw))


@pytest.mark.parametrize("n_runs, n_devices", [(1, 2), (3, 2), (5, 4), (7, 3)])
def test_run_counts_not_divisible_by_the_device_count(connectome, n_runs, n_devices):
    net = network(connectome)
    kw = dict(k=np.linspace(0.0, 0.5, n_runs), noise=0.02, **KW)
    split = me.sweep(net, devices=n_devices, **kw)
    assert split["x"].sizes["k"] == n_runs
    assert_same(split, me.sweep(net, devices=1, **kw))


def test_a_split_sweep_in_batches_and_segments_equals_one_device(connectome):
    net = network(connectome)
    kw = dict(k=np.linspace(0.0, 0.6, 9), seeds=[0, 1], noise=0.02, **KW)
    one = me.sweep(net, devices=1, **kw)
    assert_same(me.sweep(net, devices=N_TEST_DEVICES, batch_size=5, chunk_samples=7, **kw), one)


def test_a_run_diverging_half_way_is_flagged_on_its_own_device_only(connectome):
    """k = 40 blows up within the run; its neighbours on other devices stay finite."""
    net = network(connectome, "additive", Hopf(a=0.5, w=0.06, initial={"x": np.full(N, 0.5)}))
    kw = dict(KW, k=[0.0, 0.01, 40.0, 0.02, 0.03], duration=60.0)
    one = me.sweep(net, devices=1, **kw)
    split = me.sweep(net, devices=N_TEST_DEVICES, **kw)
    assert one["diverged"].values.tolist() == [[False, False, True, False, False]]
    assert 0 < float(one["divergence_time"].sel(k=40.0).squeeze()) < 60.0
    assert_same(split, one)


def test_a_store_streamed_from_several_devices_equals_one_device(connectome, tmp_path):
    net = network(connectome)
    kw = dict(seeds=[3, 4], noise=0.02, **KW)
    ks = np.linspace(0.0, 0.4, 5)
    one = me.sweep(net, k=ks, devices=1, **kw)
    path = me.sweep_to_store(net, ks, tmp_path / "split.zarr", devices=N_TEST_DEVICES, chunk_samples=5,
                             batch_size=6, **kw)
    stored = me.io.open_store(path)
    for name in ("x", "y", "diverged", "divergence_time"):
        np.testing.assert_array_equal(stored[name].values, one[name].isel(coupling=0).values, err_msg=name)


def test_the_default_splits_only_sweeps_large_enough_to_pay():
    assert devices.Spread.of(None, 1).size == 1
    assert devices.Spread.of(None, 2 * devices.MIN_RUNS_PER_DEVICE - 1).size == 1
    assert devices.Spread.of(None, 2 * devices.MIN_RUNS_PER_DEVICE).size == 2
    assert devices.Spread.of("all", 1000).size == N_TEST_DEVICES
    assert devices.Spread.of(3, 1).size == 3  # asked for by count: split whatever the size
    assert devices.Spread.of(jax.devices()[1:3], 1).devices == tuple(jax.devices()[1:3])
    # Inside a default-device context (the CPU fallback of a busy GPU) only that device.
    with jax.default_device(jax.devices()[2]):
        assert devices.Spread.of(None, 1000).devices == (jax.devices()[2],)


def test_shares_are_equal_and_at_least_two_runs():
    spread = devices.Spread(tuple(jax.devices()[:3]))
    assert [spread.padded(n) for n in (1, 5, 6, 7)] == [6, 6, 6, 9]
    assert devices.Spread(tuple(jax.devices()[:1])).padded(1) == 2


@pytest.mark.parametrize("bad, message", [(N_TEST_DEVICES + 1, "has 4 cpu device"), (0, "ask for 1 to 4"),
                                          ("some", "devices must be"), ([], "devices must be"),
                                          ([jax.devices()[0]] * 2, "distinct")])
def test_bad_device_choices_are_refused_before_anything_runs(connectome, bad, message):
    with pytest.raises(ValueError, match=message):
        me.sweep(network(connectome), k=[0.1], devices=bad, **KW)


def test_cpu_cores_cannot_change_once_jax_runs():
    assert me.use_cpu_cores(N_TEST_DEVICES) == N_TEST_DEVICES  # what the process has: accepted
    with pytest.raises(RuntimeError, match="before the first JAX computation"):
        me.use_cpu_cores(N_TEST_DEVICES - 1)
    with pytest.raises(ValueError, match="integer >= 1 or 'all'"):
        me.use_cpu_cores(0)


def test_the_environment_variable_asks_for_cpu_devices_at_import(tmp_path):
    import subprocess
    import sys

    code = "import massengine, jax; print(len(jax.devices('cpu')))"
    env = {**__import__("os").environ, devices.CPU_DEVICES_ENV: "3", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "3"
    env[devices.CPU_DEVICES_ENV] = "many"
    bad = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode != 0 and "MASSENGINE_CPU_DEVICES='many'" in bad.stderr


def test_a_split_batch_really_runs_on_every_device(connectome, monkeypatch):
    """Not one device computing everything: each segment's samples live on all four."""
    seen = []
    advance = devices.Spread.advance

    def spy(self, *args):
        carry, samples = advance(self, *args)
        seen.append(samples.sharding.device_set)
        return carry, samples

    monkeypatch.setattr(devices.Spread, "advance", spy)
    me.sweep(network(connectome), k=np.linspace(0, 0.3, 4 * devices.MIN_RUNS_PER_DEVICE), **KW)
    assert seen == [set(jax.devices())]
