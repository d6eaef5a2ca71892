"""Content-addressed chunks (massengine/chunks.py) and reading a campaign made of them:
finished stores are reused whatever grid they were first part of, jobs read the head's cut,
and stores of two grids are never silently mixed."""

import json

import numpy as np
import pytest

import massengine as me
from massengine import chunks, io
from massengine.nodes import Hopf


def fake_store(directory, key, ks):
    """A finished chunk store as the planner sees it: a manifest and the identity attributes."""
    name = chunks.chunk_id(key, ks)
    store = directory / f"{name}.zarr"
    store.mkdir(parents=True)
    (store / io.MANIFEST).write_text("{}")
    (store / "zarr.json").write_text(json.dumps({"attributes": {"chunk_key": key, "chunk_k": json.dumps(ks)}}))
    return name


def test_a_plan_reuses_finished_chunks_and_cuts_the_rest(tmp_path):
    coarse = np.linspace(0.0, 1.5, 16).round(12).tolist()
    fine = np.linspace(0.0, 1.5, 31).round(12).tolist()
    reused = fake_store(tmp_path, "key", coarse)
    fake_store(tmp_path, "other-settings", fine[1::2])  # same k, other settings: never reused
    plan = chunks.plan(fine, 16, "key", tmp_path)
    assert plan[0] == (reused, coarse)
    assert [ks for _, ks in plan[1:]] == [fine[1::2]]  # the 15 new k, one new chunk
    assert plan[1][0] == chunks.chunk_id("key", fine[1::2])
    # A store partly outside the wanted grid is not reused: its wanted k are planned anew.
    assert all(name != reused for name, _ in chunks.plan(fine[:10], 16, "key", tmp_path))


def test_jobs_read_the_heads_cut_even_when_a_reused_store_is_being_redone(tmp_path):
    """A rerun deletes a reused store first; planning again would then cut the k values
    differently, so a job reads the k values the head recorded for its chunk."""
    coarse = np.linspace(0.0, 1.5, 16).round(12).tolist()
    fine = np.linspace(0.0, 1.5, 31).round(12).tolist()
    fake_store(tmp_path / "sims", "key", coarse)
    head = chunks.plan(fine, 16, "key", tmp_path / "sims")
    chunks.register(tmp_path / "registry", head)
    for name, _ in head:
        (tmp_path / "sims" / f"{name}.zarr" / io.MANIFEST).unlink(missing_ok=True)  # being redone
    replanned = chunks.plan(fine, 16, "key", tmp_path / "sims")
    assert [name for name, _ in replanned] != [name for name, _ in head]  # why the registry exists
    for name, ks in head:
        assert chunks.registered(tmp_path / "registry", name) == ks
    assert chunks.registered(tmp_path / "registry", "0" * 16) is None


def _campaign(root, grids):
    conn = me.datasets.load("example_connectome")
    net = me.Network(Hopf(initial={"x": np.linspace(-0.5, 0.5, 8)}), weights=conn.weights,
                     distances=conn.distances, speed=10.0, coupling="tanh")
    for i, ks in enumerate(grids):
        me.sweep_to_store(net, ks, root / "simulations" / "tanh" / f"{i}.zarr", seeds=[0], duration=30.0, dt=0.1,
                          sample_every=10)


def test_open_campaign_refuses_two_grids_mixed_and_reads_a_summary_without_a_store_list(tmp_path):
    _campaign(tmp_path, [[0.1, 0.3], [0.2, 0.4], [0.3]])  # k = 0.3 twice: two grids' stores
    with pytest.raises(ValueError, match=r"coupling 'tanh': k = \[0\.3\] in more than one chunk"):
        me.open_campaign(tmp_path)
    (tmp_path / "simulations" / "tanh" / "2.zarr").rename(tmp_path / "elsewhere.zarr")
    # chunks interleave in k (a refined or extended grid): joined in k order
    assert me.open_campaign(tmp_path)["k"].values.tolist() == [0.1, 0.2, 0.3, 0.4]
    # a summary written before summaries listed their stores: every store is read
    io.write_store(io.label_coords(me.io.open_store(tmp_path / "simulations" / "tanh" / "0.zarr")[["diverged"]]),
                   tmp_path / "summary.zarr")
    assert me.open_campaign(tmp_path)["k"].values.tolist() == [0.1, 0.2, 0.3, 0.4]


def test_a_node_parameter_grid_reaches_an_observable_the_coupling_reads():
    """The coupled signal at t = 0 may depend on a per-run parameter (an observable x * a):
    each run's delay ring starts from its own value, as a single run's does."""

    class ScaledHopf(Hopf):
        observables = {"xa": lambda state, p: state[0] * p["a"]}
        coupled_var = "xa"

    rng = np.random.default_rng(0)
    weights = rng.random((4, 4))
    np.fill_diagonal(weights, 0)
    lengths = rng.random((4, 4)) * 20
    net = me.Network(ScaledHopf(initial={"x": [0.3, -0.2, 0.1, 0.4]}), weights=weights,
                     distances=lengths + lengths.T, speed=4.0, coupling="diffusive")
    kw = dict(duration=20.0, dt=0.1, precision="float64", history="initial")
    out = me.sweep(net, k=[0.5], grid={"node.a": [0.1, 0.4]}, **kw)
    for a in (0.1, 0.4):
        ref = me.simulate(me.Network(ScaledHopf(a=a, initial={"x": [0.3, -0.2, 0.1, 0.4]}), weights=weights,
                                     distances=lengths + lengths.T, speed=4.0, coupling="diffusive", k=0.5), **kw)
        np.testing.assert_allclose(out["x"].sel(**{"node.a": a}).squeeze().values, ref["x"].values, rtol=0, atol=1e-12)
