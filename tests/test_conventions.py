"""The xarray/zarr conventions of everything massengine writes: labelled coordinates,
dataset attributes, consolidated metadata where stores are read remotely, and one dataset
over all chunks of a campaign."""

import json
import re
import warnings

import numpy as np
import pytest
import xarray as xr
import yaml
from snakemake.utils import validate

import massengine as me
from massengine import campaign as stages
from massengine import config as mecfg
from massengine import io

from conftest import TINY

VERSION = re.escape(me.__version__)
HISTORY_LINE = re.compile(rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ massengine {VERSION}: \w[\w.]*\(.*\)$")


def assert_conventions(ds: xr.Dataset, what: str, history_lines: int = 1):
    for name, coord in ds.coords.items():
        assert coord.attrs.get("units") and coord.attrs.get("long_name"), f"{what}: coordinate {name} {coord.attrs}"
    assert ds.attrs["Conventions"] == io.CONVENTIONS and ds.attrs["title"], what
    lines = ds.attrs["history"].split("\n")
    assert len(lines) == history_lines and all(HISTORY_LINE.match(line) for line in lines), (what, lines)


@pytest.fixture(scope="module")
def net(example):
    return me.Network(me.nodes.Hopf(initial={"x": 0.3}), weights=example.weights, distances=example.distances,
                      speed=10.0, coupling="diffusive", labels=example.labels)


def test_simulate_and_sweep_datasets_follow_the_conventions(net):
    ds = me.simulate(net, duration=20.0, dt=0.1, sample_every=10)
    assert_conventions(ds, "simulate")
    assert ds["time"].attrs == {"long_name": "time since the start of the run", "units": "ms"}
    assert ds["region"].attrs["units"] == "1"
    sw = me.sweep(net, k=[0.0, 0.5], couplings=["diffusive", "tanh"], seeds=[0, 1], duration=20.0,
                  sample_every=10)
    assert_conventions(sw, "sweep")
    assert set(sw.coords) == {"coupling", "k", "seed", "time", "region"}
    assert sw["k"].attrs["units"] == "1" and sw["seed"].attrs["long_name"] == "noise seed"
    assert "delay_history" in sw.attrs  # the history mode no longer collides with CF's history


@pytest.fixture(scope="module")
def campaign_dir(tmp_path_factory):
    """A campaign's outputs made by the stages themselves: 2 couplings x 2 chunks."""
    out = tmp_path_factory.mktemp("campaign")
    config = yaml.safe_load(TINY.read_text())
    config["output_dir"] = str(out)
    validate(config, str(mecfg.schema_path()))
    chunks = {"diffusive": [[0.0, 0.5], [1.0]], "tanh": [[0.0, 0.5], [1.0]]}
    metric_stores = []
    for coupling, ks_list in chunks.items():
        for i, ks in enumerate(ks_list):
            sim = stages.simulate_chunk(config, coupling, ks, out / "simulations" / coupling / f"chunk{i:04d}.zarr")
            met = out / "metrics" / coupling / f"chunk{i:04d}.zarr"
            metric_stores.append(stages.metrics_chunk(config, sim, met))
    stages.aggregate(metric_stores, out / "summary.zarr", out / "summary.csv")
    return out


def test_every_store_of_a_campaign_follows_the_conventions(campaign_dir):
    sim = io.open_store(campaign_dir / "simulations" / "tanh" / "chunk0000.zarr")
    assert_conventions(sim, "trajectory store")
    assert set(sim.coords) == {"coupling", "k", "seed", "time", "region"}
    met = io.open_store(campaign_dir / "metrics" / "tanh" / "chunk0000.zarr")
    assert_conventions(met, "metric store", history_lines=2)  # the simulation's line, then the metrics'
    assert {"region_j", "window", "window_j", "freq"} <= set(met.coords)
    assert met["freq"].attrs["units"] == "Hz" and met["window"].attrs["units"] == "ms"
    summary = io.open_store(campaign_dir / "summary.zarr")
    assert_conventions(summary, "summary store")
    assert "aggregate(4 metric stores)" in summary.attrs["history"]


def _consolidated(path) -> bool:
    return json.loads((path / "zarr.json").read_text()).get("consolidated_metadata") is not None


def test_stores_read_remotely_have_consolidated_metadata(campaign_dir):
    assert _consolidated(campaign_dir / "summary.zarr")
    assert _consolidated(campaign_dir / "metrics" / "diffusive" / "chunk0001.zarr")
    assert not _consolidated(campaign_dir / "simulations" / "diffusive" / "chunk0001.zarr")  # read locally
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a consolidated open neither falls back nor warns
        summary = xr.open_zarr(campaign_dir / "summary.zarr", consolidated=True)
    assert summary["synchrony"].dims == ("coupling", "k", "seed")


def test_consolidating_a_store_warns_nothing(tmp_path):
    ds = xr.Dataset({"a": ("k", np.arange(3.0))}, coords={"k": [0.0, 0.5, 1.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        io.write_store(io.label_coords(ds), tmp_path / "s.zarr", consolidated=True)
    assert _consolidated(tmp_path / "s.zarr")
    assert xr.open_zarr(tmp_path / "s.zarr", consolidated=True)["k"].attrs["units"] == "1"


def test_open_campaign_joins_every_chunk_of_every_coupling(campaign_dir):
    ds = me.open_campaign(campaign_dir)
    assert ds["x"].dims == ("coupling", "k", "seed", "time", "region")
    assert list(ds["coupling"].values) == ["diffusive", "tanh"] and list(ds["k"].values) == [0.0, 0.5, 1.0]
    assert ds["diverged"].dims == ("coupling", "k", "seed")
    assert_conventions(ds, "open_campaign")
    for coupling in ("diffusive", "tanh"):
        last = io.open_store(campaign_dir / "simulations" / coupling / "chunk0001.zarr")
        np.testing.assert_array_equal(ds["x"].sel(coupling=coupling, k=1.0).values, last["x"].sel(k=1.0).values)


def test_open_campaign_without_stores_says_where_it_looked(tmp_path):
    with pytest.raises(ValueError, match=r"no trajectory stores under '.*/simulations'"):
        me.open_campaign(tmp_path)
