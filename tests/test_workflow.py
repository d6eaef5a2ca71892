"""The Snakemake workflow, through the real `snakemake` command, on the tiny campaign."""

import subprocess
import sys

import jax
import numpy as np
import pandas as pd
import pytest
import yaml

import massengine as me
from massengine import io, metrics

from conftest import ROOT, TINY, chunk_stores, snakemake


def test_lint_passes():
    run = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0 and "good condition" in run.stdout + run.stderr, run.stdout + run.stderr


def job_counts(text):
    counts, table = {}, False
    for line in text.splitlines():
        if line.startswith("job ") and "count" in line:
            table = True
            continue
        if table:
            parts = line.split()
            if parts and parts[0] == "total":
                break
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
    return counts


def test_dry_run_lists_one_simulate_job_per_coupling_and_chunk(tmp_path):
    run = snakemake("-n", "--configfile", str(TINY), "--config", f"output_dir={tmp_path}/o", workdir=tmp_path)
    assert run.returncode == 0, run.stderr
    # 2 couplings x ceil(3 k / 2 per job) = 4 simulate and 4 metrics jobs
    assert job_counts(run.stdout + run.stderr) == {"simulate": 4, "metrics": 4, "aggregate": 1, "report_html": 1,
                                                   "default_target": 1}


def test_default_campaign_dry_run(tmp_path):
    run = snakemake("-n", "--config", f"output_dir={tmp_path}/o", workdir=ROOT)
    assert run.returncode == 0, run.stderr
    counts = job_counts(run.stdout + run.stderr)
    assert counts["simulate"] == 6 and counts["metrics"] == 6  # 6 couplings x 1 chunk of 16 k


def test_trajectory_stores(campaign):
    _, out = campaign
    store = io.open_store(chunk_stores(out, "tanh")[0])
    assert store["x"].dims == ("k", "seed", "time", "region")
    assert str(store["coupling"].values) == "tanh"
    np.testing.assert_allclose(store["k"].values, [0.0, 0.5])
    assert list(store["seed"].values) == [0]
    assert store.sizes["time"] == 100 and store["time"].values[0] == pytest.approx(21.0)
    assert list(store["region"].values) == [f"R{i}" for i in range(8)]
    assert store["x"].attrs["units"] and store["time"].attrs["units"] == "ms"
    for key in ("massengine_version", "config_hash", "config", "jax_backend", "jax_device", "integrator",
                "precision", "dt_ms", "node_params", "coupling_terms"):
        assert key in store.attrs, key
    assert store["x"].encoding["chunks"] == (1, 1, 100, 8)
    # the store equals a direct sweep with the same settings
    config = yaml.safe_load(TINY.read_text())
    conn = me.datasets.load("example_connectome")
    x0 = np.random.default_rng(1).uniform(-0.5, 0.5, 8)
    net = me.Network(me.nodes.Hopf(initial={"x": x0}), weights=conn.weights, distances=conn.distances,
                     speed=10.0, coupling="tanh", scale=1.0)
    direct = me.sweep(net, k=[0.0, 0.5], duration=120.0, dt=0.1, transient=20.0, sample_every=10)
    np.testing.assert_array_equal(store["x"].values[:, 0], direct["x"].values[0])
    assert config["k"] == [0.0, 0.5, 1.0]


def test_metric_stores_equal_direct_calls(campaign):
    _, out = campaign
    traj = io.open_store(chunk_stores(out, "diffusive")[0]).load()
    got = io.open_store(chunk_stores(out, "diffusive", "metrics")[0]).load()
    x = traj["x"].values[1, 0].astype(np.float64)
    fc = metrics.functional_connectivity(x)
    np.testing.assert_allclose(got["fc"].values[0, 1, 0], fc, atol=1e-12, equal_nan=True)
    assert got["mean_fc"].values[0, 1, 0] == pytest.approx(metrics.mean_fc(fc), nan_ok=True)
    conn = me.datasets.load("example_connectome")
    assert got["fc_sc_corr"].values[0, 1, 0] == pytest.approx(metrics.matrix_correlation(fc, conn.weights),
                                                             nan_ok=True)
    assert got["synchrony"].values[0, 1, 0] == pytest.approx(metrics.order_parameter(x, 1000.0).mean())


def test_summary_csv_and_report(campaign):
    _, out = campaign
    table = pd.read_csv(out / "summary.csv")
    assert len(table) == 2 * 3 * 1
    assert set(table["coupling"]) == {"diffusive", "tanh"}
    assert set(table.columns) >= {"coupling", "k", "seed", *metrics.SCALARS, "diverged", "divergence_time"}
    summary = io.open_store(out / "summary.zarr")
    assert summary["synchrony"].dims == ("coupling", "k", "seed")
    row = table[(table.coupling == "tanh") & (table.k == 1.0)].iloc[0]
    assert row["synchrony"] == pytest.approx(float(summary["synchrony"].sel(coupling="tanh", k=1.0, seed=0)),
                                             rel=1e-5)
    html = (out / "report.html").read_text()
    for coupling in ("diffusive", "tanh"):
        assert f"<td>{coupling}</td>" in html
    assert html.count("data:image/png;base64,") >= 10 and "Diverged runs" in html
    job_log = (out / "logs" / "simulate" / f"tanh_{chunk_stores(out, 'tanh')[1].stem}.log").read_text()
    device = jax.devices()[0]  # the jobs run in this environment: the device JAX picks here (CPU or GPU)
    assert job_log.startswith(f"device: {device.platform}:{device.device_kind}\n")
    assert "simulate tanh: 1 k x 1 grid point(s) x 1 seeds" in job_log


def test_rerun_does_nothing(campaign):
    work, out = campaign
    run = snakemake("--configfile", str(TINY), "--config", f"output_dir={out}", workdir=work)
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def test_bad_config_fails_before_any_job(tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["couplings"]["tanh"] = {"scael": 1.0}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    run = snakemake("--configfile", str(bad), "--config", f"output_dir={tmp_path}/o", workdir=tmp_path)
    assert run.returncode != 0
    assert "couplings.tanh.scael: unknown parameter of tanh; valid: scale. Did you mean 'scale'?" in run.stderr
    assert not (tmp_path / "o").exists()


def test_cli_prints_provenance_and_checks_configs(campaign):
    _, out = campaign
    from massengine.cli import main

    assert main(["provenance", str(chunk_stores(out, "tanh")[0])]) == 0
    assert main(["check", str(TINY), "--schema", str(ROOT / "config" / "schemas" / "config.schema.yaml")]) == 0
    assert main(["provenance", str(out / "nope.zarr")]) == 2
