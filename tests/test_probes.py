"""The probes of issue 15 as a table: each bad input, through the API or ``massengine check``,
gets a clear error naming the argument (or config key) and the fix, before anything runs.
docs/troubleshooting.md lists the same messages."""

import re
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import yaml

import massengine as me
from massengine import memory
from massengine.connectivity import laplacian_connectivity

from conftest import TINY

W3 = np.ones((3, 3)) - np.eye(3)
NEG = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])  # row 0 sums to -1


def net(**kw):
    node = kw.pop("node", me.nodes.Hopf(initial={"x": 0.1}))
    return me.Network(node, weights=kw.pop("weights", W3), **kw)


RUN = dict(duration=10.0, dt=0.1)

API_PROBES = [
    ("couplings=[]", lambda: me.sweep(net(), k=[0.1], couplings=[], **RUN),
     r"couplings must name at least one coupling"),
    ("record=[]", lambda: me.simulate(net(), record=[], **RUN), r"record must name at least one variable"),
    ("record='xy'", lambda: me.simulate(net(), record="xy", **RUN), r"unknown recorded variable 'xy'"),
    ("record twice", lambda: me.simulate(net(), record=["x", "x"], **RUN), r"record names a variable twice"),
    ("scale=None", lambda: net(coupling="tanh", scale=None), r"parameter 'tanh.scale' must be a number, got None"),
    ("scale='big'", lambda: net(coupling="tanh", scale="big"), r"parameter 'tanh.scale' must be a number, got 'big'"),
    ("node a='big'", lambda: net(node=me.nodes.Hopf(a="big")), r"parameter 'hopf.a' must be a number or an array of 3"),
    ("initial=[...]", lambda: me.nodes.Hopf(initial=[0.1, 0.2, 0.3]),
     r"initial must be a mapping \{variable: value\}.*got list"),
    ("initial={'x': 'a'}", lambda: net(node=me.nodes.Hopf(initial={"x": "a"})), r"initial\['x'\] must be a number"),
    ("initial uniform typo", lambda: net(node=me.nodes.Hopf(initial={"x": {"uniforn": [0, 1]}})),
     r"initial\['x'\] as a mapping must be \{'uniform': \[low, high\], 'seed': integer\}"),
    ("seed=1.5", lambda: me.simulate(net(), seed=1.5, **RUN), r"seed must be an integer in \[-2\*\*31, 2\*\*31\)"),
    ("seeds=[2**70]", lambda: me.sweep(net(), k=[0.1], seeds=[2**70], **RUN), r"each seed must be an integer"),
    ("seeds twice", lambda: me.sweep(net(), k=[0.1], seeds=[1, 1], **RUN), r"seeds must be distinct"),
    ("k twice", lambda: me.sweep(net(), k=[0.1, 0.1], **RUN), r"k values must be distinct"),
    ("labels twice", lambda: net(labels=["a", "b", "a"]), r"labels must be distinct .* got 'a' more than once"),
    ("speed without distances", lambda: net(speed=5.0), r"speed= needs distances="),
    ("laplacian_connectivity negative degree", lambda: laplacian_connectivity(NEG, "sym"),
     r"normalize='sym' needs non-negative degrees .* row 0 sums below zero"),
    ("laplacian coupling negative degree", lambda: net(weights=NEG, coupling="laplacian", normalize="rw"),
     r"normalize='rw' needs non-negative degrees"),
    ("dt > duration", lambda: me.simulate(net(), duration=1.0, dt=1.5),  # main: one sample, at 1.5 ms
     r"dt = 1.5 ms is longer than the run \(duration = 1 ms\)"),
    ("duration not whole steps", lambda: me.simulate(net(), duration=10.05, dt=0.1),
     r"duration = 10.05 ms is not a whole number of steps of dt = 0.1 ms; use 10 or 10.1 ms"),
    ("transient not whole steps", lambda: me.simulate(net(), duration=10.0, dt=0.1, transient=2.25),
     r"transient = 2.25 ms is not a whole number of steps"),
    ("divergence_bound=0", lambda: me.simulate(net(), divergence_bound=0, **RUN),
     r"divergence_bound must be a number > 0"),
]


@pytest.mark.parametrize(("probe", "call", "message"), API_PROBES, ids=[p[0] for p in API_PROBES])
def test_api_probe_is_refused_with_a_clear_message(probe, call, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match=message):
            call()


def test_what_is_accepted_instead():
    """A bare record string is one name; the config's uniform initial works in the API; a
    duration that is a whole number of steps up to float rounding is fine."""
    ds = me.simulate(net(), record="x", duration=300.0, dt=0.1)
    assert list(ds.data_vars)[:1] == ["x"] and "y" not in ds and ds.time.size == 3000
    node = me.nodes.Hopf(initial={"x": {"uniform": [-0.5, 0.5], "seed": 1}})
    np.testing.assert_array_equal(node.initial_state(3)[0], np.random.default_rng(1).uniform(-0.5, 0.5, 3))


def test_dt_beyond_the_delays_flags_the_blow_up_as_diverged(example):
    """dt = 5 ms on delays of 3 ms: the run blows up to ~1e12 and beyond. Before the bound,
    it came back as a valid run."""
    hopf = me.Network(me.nodes.Hopf(initial={"x": 0.1}), weights=example.weights, distances=example.distances,
                      speed=10.0, k=0.5)
    assert 3.0 < example.distances[example.distances > 0].min() / 10.0 < 5.0
    with pytest.warns(UserWarning, match="longer than the shortest nonzero delay"):
        unbounded = me.simulate(hopf, duration=25.0, dt=5.0, divergence_bound=float("inf"))
    assert not bool(unbounded.diverged) and float(np.abs(unbounded.x).max()) > 1e12  # what main returned
    with pytest.warns(UserWarning):
        ds = me.simulate(hopf, duration=25.0, dt=5.0)
    assert bool(ds.diverged) and float(ds.divergence_time) == 20.0
    assert ds.attrs["divergence_bound"] == 1e6 and np.all(np.isnan(ds.x.values[ds.time.values >= 20.0]))
    assert me.nodes.Kuramoto.divergence_bound == float("inf")


def test_a_ten_thousand_region_network_is_refused_at_once(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * 2**30)
    huge = np.broadcast_to(np.float32(1.0), (10_000, 10_000))  # a view: costs nothing
    start = time.perf_counter()
    with pytest.raises(memory.NotEnoughMemory, match=r"a network of 10000 regions needs about 3\.0 GB of memory, "
                                                     r"but only 2\.0 GB is available: use fewer regions"):
        me.Network(me.nodes.Hopf(), weights=huge, distances=huge, speed=10.0)
    assert time.perf_counter() - start < 1.0


def test_a_sweep_that_does_not_fit_is_refused_before_allocating(monkeypatch):
    """Not even the smallest batch fits (a sweep that only needs splitting is split:
    tests/test_batching.py)."""
    n = 1500
    dense = net(weights=np.ones((n, n), np.float32) - np.eye(n, dtype=np.float32))
    monkeypatch.setattr(memory, "available_bytes", lambda: 40 * 2**20)
    start = time.perf_counter()
    with pytest.raises(memory.NotEnoughMemory, match=r"64 run\(s\) of 1500 regions .* needs about .* MB of memory, "
                                                     r"but only 40\.0 MB is available: run fewer k values"):
        me.sweep(dense, k=np.linspace(0, 1, 64), duration=1.0, dt=0.1)
    assert time.perf_counter() - start < 2.0


def test_memory_estimate_counts_each_part():
    n, b, item = 100, 4, 4
    dense = memory.estimate_bytes(n, None, 10, b, 50, 2, item)
    sparse = memory.estimate_bytes(n, 500, 10, b, 50, 2, item)
    assert dense - sparse == (n * n * 4 - 500 * 16) + 2 * (n * n - 500) * b * item
    assert memory.estimate_bytes(n, None, 11, b, 50, 2, item) - dense == n * b * item  # one ring row
    assert memory.estimate_bytes(n, None, 10, b, 51, 2, item) - dense == 2 * 2 * n * b * item  # one sample


# ---- massengine check ------------------------------------------------------------------------


def _tiny(**changes):
    config = yaml.safe_load(TINY.read_text())
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return yaml.safe_dump(config)


CHECK_PROBES = [
    ("empty", "", r"the file is empty; a campaign config is a mapping"),
    ("scalar", "just a string\n", r"the top level must be a mapping of keys .* got a str"),
    ("broken", "a: [1, 2\nb: 3\n", r"not valid YAML at line 2, column 2"),
    ("dt string", _tiny(simulation__dt="0.1ms"), r"simulation.dt: '0.1ms' is not of type 'number'"),
    ("out of range", _tiny(k_per_job=0), r"k_per_job: 0 is less than the minimum of 1"),
    ("variable not recorded", _tiny(simulation__record=["x"], metrics__variable="y"),
     r"metrics.variable: 'y' is not recorded; recorded: x\. Add it to simulation.record"),
    ("band inverted", _tiny(metrics__band=[40.0, 20.0]), r"metrics.band: \[40, 20\] Hz is inverted"),
    ("band above Nyquist", _tiny(metrics__band=[10.0, 600.0]),
     r"metrics.band: the upper edge 600 Hz is at or above the Nyquist frequency 500 Hz"),
    ("FCD window too long", _tiny(metrics__fcd_window=500.0),
     r"metrics.fcd_window: 500 ms is longer than the recorded data \(100 ms = 100 samples\)"),
    ("duration not whole steps", _tiny(simulation__duration=120.05), r"duration = 120.05 ms is not a whole number"),
    ("duplicate seeds", _tiny(seeds=[0, 0]), r"seeds: seeds must be distinct"),
]


@pytest.mark.parametrize(("probe", "text", "message"), CHECK_PROBES, ids=[p[0] for p in CHECK_PROBES])
def test_check_probe_prints_one_clear_line_from_any_directory(probe, text, message, tmp_path):
    config = tmp_path / "campaign.yaml"
    config.write_text(text)
    # From a directory that is not the repository: the schema ships with massengine.
    run = subprocess.run([sys.executable, "-m", "massengine.cli", "check", str(config)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert "Traceback" not in run.stderr and all(line.startswith("error: ") for line in lines)
    assert any(re.search(message, line) for line in lines), run.stderr


def test_check_messages_for_target_fc_and_speed(tmp_path, capsys):
    from massengine import cli

    fc = tmp_path / "fc.npy"
    np.save(fc, np.full((8, 8), 0.3))
    config = tmp_path / "c.yaml"
    config.write_text(_tiny(metrics__target_fc=str(fc)))
    assert cli.main(["check", str(config)]) == 2
    assert "metrics.target_fc: the target FC is constant (or non-finite) off its diagonal" in capsys.readouterr().err
    weights = tmp_path / "w.txt"
    np.savetxt(weights, me.datasets.load("example_connectome").weights)
    config.write_text(_tiny(connectome={"weights": str(weights), "speed": 10.0}))
    assert cli.main(["check", str(config)]) == 2
    assert "connectome.speed: the connectome" in capsys.readouterr().err
