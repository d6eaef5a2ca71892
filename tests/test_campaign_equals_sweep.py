"""Every trajectory store of the tiny campaign equals a direct ``sweep`` of its chunk.

test_workflow checks one store (tanh, chunk 0); a bug in how the workflow cuts k into
chunks, or builds the network of one coupling, would show in another. The direct runs are
built here by hand from config/test/tiny.yaml's values, not through massengine.config.
"""

import numpy as np
import yaml

import massengine as me
from massengine import io

from conftest import TINY, chunk_names


def test_every_store_equals_a_direct_sweep_of_its_chunk(campaign):
    _, out = campaign
    config = yaml.safe_load(TINY.read_text())
    # tiny.yaml: k [0, 0.5, 1] in jobs of 2; couplings diffusive {} and tanh {scale: 1}
    assert config["k"] == [0.0, 0.5, 1.0] and config["k_per_job"] == 2 and config["seeds"] == [0]
    assert config["couplings"] == {"diffusive": {}, "tanh": {"scale": 1.0}}
    chunks = [[0.0, 0.5], [1.0]]
    conn = me.datasets.load("example_connectome")
    x0 = np.random.default_rng(1).uniform(-0.5, 0.5, 8)  # initial: {x: {uniform: [-0.5, 0.5], seed: 1}}
    # Stores are named by content (massengine/chunks.py): exactly the planned ones, nothing else.
    names = {c: chunk_names(TINY, c, out) for c in config["couplings"]}
    stores = sorted(p.relative_to(out / "simulations").as_posix() for p in (out / "simulations").glob("*/*.zarr"))
    assert stores == sorted(f"{c}/{name}" for c in names for name in names[c])
    for coupling, params in config["couplings"].items():
        net = me.Network(me.nodes.Hopf(initial={"x": x0}), weights=conn.weights, distances=conn.distances,
                         speed=10.0, coupling=coupling, **params)
        for i, ks in enumerate(chunks):
            store = io.open_store(out / "simulations" / coupling / names[coupling][i]).load()
            # dt 0.1, duration 120, transient 20, sample_period 1 ms = 10 steps, seed 0
            direct = io.as_store(me.sweep(net, k=ks, seeds=[0], duration=120.0, dt=0.1, transient=20.0,
                                          sample_every=10))
            where = f"{coupling} chunk {i}"
            assert str(store["coupling"].values) == coupling, where
            np.testing.assert_array_equal(store["k"].values, ks, err_msg=where)
            np.testing.assert_array_equal(store["time"].values, direct["time"].values, err_msg=where)
            assert sorted(store.data_vars) == sorted(direct.data_vars), where
            for name in direct.data_vars:
                np.testing.assert_array_equal(store[name].values, direct[name].values, err_msg=f"{where}: {name}")
            assert np.abs(store["x"].values).max() > 0.01, where  # not a store of zeros
