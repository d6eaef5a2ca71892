"""Each workflow job receives only the slice of the config it reads: after a finished
campaign, editing a setting reruns only what depends on it (through the real snakemake)."""

import json

import numpy as np
import pandas as pd
import yaml
from test_workflow import job_counts

import massengine as me
from massengine import io

from conftest import TINY, snakemake


def _dry_run(campaign, **edits):
    work, out = campaign
    config = yaml.safe_load(TINY.read_text())
    for section, values in edits.items():
        config.setdefault(section, {}).update(values)
    path = work / f"edited-{'-'.join(edits)}.yaml"
    path.write_text(yaml.safe_dump(config))
    run = snakemake("-n", "--configfile", str(path), "--config", f"output_dir={out}", workdir=work)
    assert run.returncode == 0, run.stderr[-3000:]
    return job_counts(run.stdout + run.stderr)


def test_an_unchanged_campaign_has_nothing_to_do(campaign):
    work, out = campaign
    run = snakemake("-n", "--configfile", str(TINY), "--config", f"output_dir={out}", workdir=work)
    assert run.returncode == 0 and job_counts(run.stdout + run.stderr) == {}, run.stdout[-2000:]


def test_a_new_report_title_reruns_only_the_report(campaign):
    assert _dry_run(campaign, report={"title": "another title"}) == {"report_html": 1, "default_target": 1}


def test_a_new_fcd_window_reruns_metrics_but_no_simulation(campaign):
    counts = _dry_run(campaign, metrics={"fcd_window": 40.0})
    assert "simulate" not in counts
    assert counts["metrics"] == 4 and counts["aggregate"] == 1 and counts["report_html"] == 1


def test_a_new_simulation_setting_reruns_the_simulations(campaign):
    """The check is not blind: what a simulation reads does rerun it."""
    counts = _dry_run(campaign, simulation={"integrator": "heun"})
    assert counts["simulate"] == 4 and counts["metrics"] == 4


def _campaign_file(work, name, **changes):
    config = {**yaml.safe_load(TINY.read_text()), **changes}
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _stores(out):
    return {p: p.stat().st_mtime_ns for p in (out / "simulations").glob("*/*.zarr")}


def test_an_extended_k_grid_simulates_only_the_new_points(tmp_path):
    """(c) of issue 14: 16 k values, then 31 on the same range (the 16 plus a point between
    each pair): the finished stores are reused untouched, the new ones hold the 15 new k."""
    out = tmp_path / "out"
    short = {"simulation": {"dt": 0.1, "duration": 60.0, "transient": 10.0, "sample_period": 1.0}, "k_per_job": 16}
    coarse = _campaign_file(tmp_path, "coarse", k={"start": 0.0, "stop": 1.5, "num": 16}, **short)
    run = snakemake("--configfile", str(coarse), "--config", f"output_dir={out}", workdir=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    before = _stores(out)
    assert len(before) == 2  # one chunk of 16 k per coupling

    fine = _campaign_file(tmp_path, "fine", k={"start": 0.0, "stop": 1.5, "num": 31}, **short)
    dry = snakemake("-n", "--configfile", str(fine), "--config", f"output_dir={out}", workdir=tmp_path)
    assert job_counts(dry.stdout + dry.stderr)["simulate"] == 2, dry.stdout[-2000:]
    run = snakemake("--configfile", str(fine), "--config", f"output_dir={out}", workdir=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    after = _stores(out)
    assert {p: after[p] for p in before} == before  # reused, not rewritten
    new_k = np.linspace(0.0, 1.5, 31)[1::2]
    for path in set(after) - set(before):
        np.testing.assert_allclose(io.open_store(path)["k"].values, new_k, rtol=0, atol=1e-12)
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary.groupby("coupling").size().tolist()) == [31, 31]
    np.testing.assert_allclose(np.sort(summary.k.unique()), np.linspace(0.0, 1.5, 31), atol=1e-12)
    # The campaign's dataset holds the 31 points; a rerun has nothing to do.
    assert me.open_campaign(out).sizes["k"] == 31
    again = snakemake("-n", "--configfile", str(fine), "--config", f"output_dir={out}", workdir=tmp_path)
    assert job_counts(again.stdout + again.stderr) == {}


def test_a_grid_campaign_with_refinement_rounds(tmp_path):
    """A k x speed grid, refined for 2 rounds of at most 2 points per coupling: the stores,
    summary and CSV carry the speed axis, every point equals me.sweep there, refinement adds
    a bounded number of k values and marks them, and a third round reruns no earlier work."""
    out = tmp_path / "out"
    changes = dict(grid={"speed": [4.0, 20.0]}, k=[0.0, 0.3, 0.6, 0.9], k_per_job=4,
                   simulation={"dt": 0.1, "duration": 80.0, "transient": 10.0, "sample_period": 1.0},
                   refine={"rounds": 2, "max_points": 2, "tol": 0.05, "mode": "both"})
    config = _campaign_file(tmp_path, "grid", **changes)
    run = snakemake("--configfile", str(config), "--config", f"output_dir={out}", workdir=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = io.open_store(out / "summary.zarr")
    assert summary["synchrony"].dims == ("coupling", "k", "speed", "seed")
    np.testing.assert_array_equal(summary["speed"].values, [4.0, 20.0])
    table = pd.read_csv(out / "summary.csv")
    assert list(table.columns[:4]) == ["coupling", "k", "speed", "seed"] and "round" in table
    for coupling in ("diffusive", "tanh"):
        rounds = table[table.coupling == coupling].groupby("k")["round"].first()
        assert (rounds == 0).sum() == 4
        for r in (1, 2):
            assert (rounds == r).sum() <= 2  # max_points per round
        record = json.loads((out / "refine" / coupling / "round1.json").read_text())
        assert sorted(record["new_k"]) == sorted(rounds[rounds == 1].index.tolist())
    # A store of a refined chunk equals me.sweep at its points (speed axis included).
    conn = me.datasets.load("example_connectome")
    x0 = np.random.default_rng(1).uniform(-0.5, 0.5, 8)
    net = me.Network(me.nodes.Hopf(initial={"x": x0}), weights=conn.weights, distances=conn.distances,
                     speed=10.0, coupling="tanh", scale=1.0)
    refined = [p for p in (out / "simulations" / "tanh").glob("*.zarr")
               if set(io.open_store(p)["k"].values) <= set(table[(table.coupling == "tanh") & (table["round"] > 0)].k)]
    assert refined
    store = io.open_store(refined[0]).load()
    direct = me.sweep(net, k=store["k"].values, seeds=[0], grid={"speed": [4.0, 20.0]}, duration=80.0, dt=0.1,
                      transient=10.0, sample_every=10)
    np.testing.assert_array_equal(store["x"].values, direct["x"].isel(coupling=0).values)
    # Nothing to do on a rerun; one more round simulates only that round's points.
    again = snakemake("-n", "--configfile", str(config), "--config", f"output_dir={out}", workdir=tmp_path)
    assert job_counts(again.stdout + again.stderr) == {}
    more = _campaign_file(tmp_path, "more", **{**changes, "refine": {**changes["refine"], "rounds": 3}})
    dry = snakemake("-n", "--configfile", str(more), "--config", f"output_dir={out}", workdir=tmp_path)
    counts = job_counts(dry.stdout + dry.stderr)
    assert counts.get("refine") == 2 and "simulate" not in counts, counts  # round 3's k are known after it runs
