"""The report's numbers on hand-built summaries whose answers are known, and those numbers
in the rendered HTML (the workflow test only checks that names and images exist)."""

import numpy as np
import pytest
import xarray as xr

from massengine import report
from massengine.metrics import SCALARS

COUPLINGS = ["diffusive", "tanh", "additive"]
KS = [0.0, 1.0, 2.0]
SEEDS = [0, 1]
N = 4


def summary(fc_target=None):
    """(coupling, k, seed) metrics with answers worked out by hand:

    synchrony (mean over the two seeds): diffusive 0.2, 0.4, 0.8 -> reaches 0.5 at
    k = 1 + (0.5 - 0.4) / (0.8 - 0.4) = 1.25; tanh 0.2, 0.7, 0.9 (seeds 0.1/0.3, 0.6/0.8,
    0.9/0.9) -> at k = (0.5 - 0.2) / (0.7 - 0.2) = 0.6; additive 0.1, 0.3, diverged -> never.
    fc_sc_corr: diffusive 0.1, 0.5, 0.3 -> best k = 1 (0.5); tanh 0.6, 0.2, -0.9 -> best k = 0
    (0.6); additive 0.3, 0.7, diverged -> best k = 1 (0.7). The minimum would give k = 0, 2, 0.
    Both additive runs at k = 2 diverged, at 37.5 and 41.25 ms.
    """
    shape = (len(COUPLINGS), len(KS), len(SEEDS))
    sync = np.array([[[0.2, 0.2], [0.4, 0.4], [0.8, 0.8]],
                     [[0.1, 0.3], [0.6, 0.8], [0.9, 0.9]],
                     [[0.1, 0.1], [0.3, 0.3], [np.nan, np.nan]]])
    sc = np.repeat(np.array([[0.1, 0.5, 0.3], [0.6, 0.2, -0.9], [0.3, 0.7, np.nan]])[..., None], 2, axis=2)
    diverged = np.zeros(shape, bool)
    diverged[2, 2, :] = True
    div_time = np.full(shape, np.nan)
    div_time[2, 2] = [37.5, 41.25]
    dims = ("coupling", "k", "seed")
    data = {name: (dims, np.full(shape, 0.25)) for name in SCALARS}
    data["synchrony"] = (dims, sync)
    data["fc_sc_corr"] = (dims, sc)
    data["fc_target_corr"] = (dims, np.full(shape, np.nan) if fc_target is None else fc_target)
    for name in SCALARS:
        data[name][1][diverged] = np.nan  # metrics of a diverged run are NaN (metrics.compute)
    data["diverged"] = (dims, diverged)
    data["divergence_time"] = (dims, div_time)
    fc = np.broadcast_to(np.eye(N), shape + (N, N)).copy()
    data["fc"] = (dims + ("region", "region_j"), fc)
    coords = {"coupling": COUPLINGS, "k": KS, "seed": SEEDS,
              "region": [f"R{i}" for i in range(N)], "region_j": [f"R{i}" for i in range(N)]}
    return xr.Dataset(data, coords=coords)


def test_synchrony_crossing_interpolates_the_seed_mean():
    got = report.synchrony_crossing(summary())
    assert got["diffusive"] == pytest.approx(1.25, abs=1e-12)
    assert got["tanh"] == pytest.approx(0.6, abs=1e-12)
    assert np.isnan(got["additive"])


def test_synchrony_crossing_at_the_first_grid_point_and_without_seeds():
    s = summary().isel(seed=0)  # a summary without a seed dimension
    s["synchrony"].loc[{"coupling": "additive"}] = [0.55, 0.9, 0.95]
    got = report.synchrony_crossing(s)
    assert got["additive"] == 0.0  # already synchronised at the first k
    assert got["diffusive"] == pytest.approx(1.25, abs=1e-12)
    assert got["tanh"] == pytest.approx(0.8, abs=1e-12)  # seed 0 alone: 0.1, 0.6 -> 0.8


def test_best_match_is_the_maximum_of_the_fit():
    metric, best = report.best_match(summary())
    assert metric == "fc_sc_corr"  # no target FC: the SC is the target
    assert best == {"diffusive": (1.0, 0.5), "tanh": (0.0, 0.6), "additive": (1.0, 0.7)}


def test_best_match_prefers_the_target_fc_when_there_is_one():
    target = np.repeat(np.array([[0.3, 0.2, 0.9], [0.1, 0.4, 0.0], [0.8, 0.1, np.nan]])[..., None], 2, axis=2)
    metric, best = report.best_match(summary(fc_target=target))
    assert metric == "fc_target_corr"
    assert best == {"diffusive": (2.0, 0.9), "tanh": (1.0, 0.4), "additive": (0.0, 0.8)}


def test_diverged_runs_lists_each_run_with_its_time():
    assert report.diverged_runs(summary()) == [("additive", 2.0, 0, 37.5), ("additive", 2.0, 1, 41.25)]


def test_the_html_shows_these_numbers(tmp_path):
    weights = np.ones((N, N)) - np.eye(N)
    path = report.build(summary(), weights, [f"R{i}" for i in range(N)], {}, tmp_path / "r.html")
    html = path.read_text()
    assert "<th>best k (fc_sc_corr)</th>" in html
    # coupling | k where synchrony reaches 0.5 | best k | correlation
    assert "<tr><td>diffusive</td><td>1.25</td><td>1</td><td>0.5</td></tr>" in html
    assert "<tr><td>tanh</td><td>0.6</td><td>0</td><td>0.6</td></tr>" in html
    assert "<tr><td>additive</td><td>—</td><td>1</td><td>0.7</td></tr>" in html
    # the diverged table
    assert "<tr><td>additive</td><td>2</td><td>0</td><td>37.5</td></tr>" in html
    assert "<tr><td>additive</td><td>2</td><td>1</td><td>41.25</td></tr>" in html
    assert "None: every run stayed finite" not in html


def test_the_html_says_when_nothing_diverged(tmp_path):
    s = summary()
    s["diverged"][:] = False
    html = report.build(s, np.ones((N, N)), None, {}, tmp_path / "r.html").read_text()
    assert "None: every run stayed finite." in html and "<td>37.5</td>" not in html
