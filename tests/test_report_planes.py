"""The report with extra swept axes (planes), and the readability helpers (blank cells,
coinciding couplings, model mismatch, refinement rounds), on hand-built summaries whose
answers are known."""

import json
import re

import numpy as np
import pytest
import xarray as xr

from massengine import report, viz
from massengine.metrics import SCALARS
from massengine.viz import CellStatus

COUPLINGS = ["diffusive", "tanh"]
KS = [0.0, 1.0, 2.0]
SPEEDS = [1.0, 3.0, 10.0]  # unevenly spaced on purpose: cell edges 0, 2, 6.5, 13.5
SEEDS = [0, 1]
N = 3

# Seed-mean synchrony, rows k, columns speed. diffusive crosses 0.5 between k = 1 and 2 at
# speed 1 (0.4 -> 0.8: k = 1.25) and between k = 0 and 1 at speeds 3 and 10. tanh: the run at
# (k = 2, speed = 10) diverged (both seeds), the one at (k = 0, speed = 1) is flat (NaN, finite).
SYNC = {"diffusive": [[0.1, 0.2, 0.3], [0.4, 0.6, 0.7], [0.8, 0.9, 0.9]],
        "tanh": [[np.nan, 0.3, 0.35], [0.45, 0.55, 0.65], [0.7, 0.75, np.nan]]}
# The best fit: diffusive at (k = 1, speed = 10), tanh at (k = 2, speed = 1).
FIT = {"diffusive": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.9], [0.2, 0.3, 0.1]],
       "tanh": [[np.nan, 0.1, 0.1], [0.2, 0.3, 0.4], [0.8, 0.1, np.nan]]}


def plane_summary(couplings=None):
    """(coupling, k, speed, seed) metrics built from SYNC and FIT (seeds at mean -/+ 0.05)."""
    couplings = couplings or {c: c for c in COUPLINGS}  # name -> the SYNC/FIT entry it copies
    shape = (len(couplings), len(KS), len(SPEEDS), len(SEEDS))
    mean = np.array([SYNC[src] for src in couplings.values()])
    sync = np.stack([mean - 0.05, mean + 0.05], axis=-1)
    fit = np.repeat(np.array([FIT[src] for src in couplings.values()])[..., None], 2, axis=-1)
    diverged = np.zeros(shape, bool)
    div_time = np.full(shape, np.nan)
    for ci, src in enumerate(couplings.values()):
        if src == "tanh":
            diverged[ci, 2, 2] = True
            div_time[ci, 2, 2] = [12.5, 13.0]
    dims = ("coupling", "k", "speed", "seed")
    data = {name: (dims, np.where(np.isnan(sync), np.nan, 0.25 + 0.1 * sync)) for name in SCALARS}
    data["synchrony"] = (dims, sync)
    data["fc_target_corr"] = (dims, np.full(shape, np.nan))
    data["fit_fc_corr_group"] = (dims, fit)
    data["diverged"] = (dims, diverged)
    data["divergence_time"] = (dims, div_time)
    data["fc"] = (dims + ("region", "region_j"), np.broadcast_to(np.eye(N), shape + (N, N)).copy())
    coords = {"coupling": list(couplings), "k": KS, "speed": SPEEDS, "seed": SEEDS,
              "region": [f"R{i}" for i in range(N)], "region_j": [f"R{i}" for i in range(N)]}
    s = xr.Dataset(data, coords=coords)
    s["synchrony"].attrs["long_name"] = "synchrony"
    s.attrs["node_model"] = "hopf"
    return s


def refined_summary():
    """plane_summary plus k = 0.5 added by refinement round 1 for diffusive only: after the
    outer join tanh's k = 0.5 cells are all NaN (diverged too) and ``round`` is NaN there."""
    s = plane_summary()
    extra = s.isel(k=[0]).assign_coords(k=[0.5])
    extra = extra.sel(coupling=["diffusive"])
    for name in SCALARS:
        if name != "fc_target_corr":  # no target FC
            extra[name][:] = 0.45  # 0.45 between k = 0 and 1: synchrony 0.45 everywhere
    s = xr.concat([s, extra], dim="k", join="outer").sortby("k")  # tanh's k = 0.5: NaN
    s["round"] = (("coupling", "k"), np.array([[0, 1, 0, 0], [0, np.nan, 0, 0]], float))
    return s


def html_of(s, tmp_path, **kw):
    path = report.build(s, np.ones((N, N)) - np.eye(N), [f"R{i}" for i in range(N)], {}, tmp_path / "r.html", **kw)
    return path.read_text()


def svg_titles(html, label):
    """{cell title: ...} of the SVG whose aria-label is ``label``."""
    svg = re.search(rf'<svg[^>]*aria-label="{re.escape(label)}"[^>]*>(.*?)</svg>', html, re.S)
    assert svg, label
    return re.findall(r"<title>(.*?)</title>", svg.group(1))


# --- axes and planes --------------------------------------------------------------------


def test_swept_axes_and_pairs():
    s = plane_summary()
    assert report.swept_axes(s) == ["speed"]
    assert report.plane_pairs(s) == [("k", "speed")]
    two = s.expand_dims(noise=[0.01, 0.1]).transpose("coupling", "k", "speed", "noise", "seed", ...)
    assert report.swept_axes(two) == ["speed", "noise"]
    assert report.plane_pairs(two) == [("k", "speed"), ("k", "noise"), ("speed", "noise")]
    one = s.isel(speed=0, drop=True)
    assert report.swept_axes(one) == [] and report.plane_pairs(one) == []


def test_cell_edges_follow_uneven_spacing():
    np.testing.assert_allclose(viz.cell_edges(SPEEDS), [0.0, 2.0, 6.5, 13.5])
    np.testing.assert_allclose(viz.cell_edges([2.0]), [1.5, 2.5])
    np.testing.assert_allclose(viz.cell_edges([1e-3, 1e-2, 1e-1], log=True), 10.0 ** np.array([-3.5, -2.5, -1.5, -0.5]))
    assert viz.is_log_axis([1e-3, 1e-2, 1e-1]) and not viz.is_log_axis(SPEEDS) and not viz.is_log_axis([0.0, 1.0])
    assert viz.is_log_axis([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])  # geometric over a factor of 32
    assert viz.is_log_axis(np.r_[np.geomspace(0.005, 0.4, 10), [0.0107, 0.0174, 0.0283]])  # refined log k
    assert not viz.is_log_axis(np.linspace(0.1, 2.0, 20))  # linear steps over a factor of 20


def test_a_log_spaced_axis_is_drawn_on_a_log_scale():
    s = plane_summary().assign_coords(speed=[1e-3, 1e-2, 1e-1])
    p = report.metric_plane(s, "synchrony", "diffusive", "k", "speed")
    ax = viz.plot_plane(p).axes[0]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
    assert ax.get_ylim() == pytest.approx((10 ** -3.5, 10 ** -0.5))
    # in the SVG the three rows are equally tall
    cells = re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"[^>]*><title>', viz.svg_plane(p))
    assert len(cells) == 9 and len({round(float(h), 1) for h in cells}) == 1


def test_classify_cells_tells_diverged_from_undefined_from_not_simulated():
    nan = np.nan
    values = np.array([[0.3, nan], [nan, nan], [nan, nan], [nan, nan], [nan, nan]])
    diverged = np.array([[False, True], [True, False], [False, False], [False, False], [nan, nan]], dtype=float)
    simulated = np.array([[1, 1], [1, 1], [1, 1], [0, 0], [0, 0]], dtype=float)
    got = report.classify_cells(values, diverged, simulated)
    assert got.tolist() == [CellStatus.VALUE, CellStatus.DIVERGED, CellStatus.UNDEFINED,
                            CellStatus.NOT_SIMULATED, CellStatus.NOT_SIMULATED]
    # without a simulated mask every run counts as simulated
    assert report.classify_cells(values[3:4], diverged[3:4]).tolist() == [CellStatus.UNDEFINED]


def test_metric_plane_values_status_and_best_fit():
    s = plane_summary()
    p = report.metric_plane(s, "synchrony", "tanh", "k", "speed")
    assert (p.x_name, p.y_name) == ("k", "speed")
    np.testing.assert_allclose(p.x, KS)
    np.testing.assert_allclose(p.y, SPEEDS)
    # rows = speed, columns = k: the transpose of SYNC
    np.testing.assert_allclose(p.values, np.array(SYNC["tanh"]).T, atol=1e-12)
    expected = np.full((3, 3), int(CellStatus.VALUE))
    expected[0, 0] = CellStatus.UNDEFINED  # speed 1, k 0: flat
    expected[2, 2] = CellStatus.DIVERGED  # speed 10, k 2
    assert p.status.tolist() == expected.tolist()
    assert p.best == (2.0, 1.0)
    assert report.metric_plane(s, "synchrony", "diffusive", "k", "speed").best == (1.0, 10.0)
    assert p.title == "tanh: synchrony"


def test_more_than_two_axes_slice_at_the_first_value_and_say_so():
    s = plane_summary().expand_dims(noise=[0.01, 0.1]).transpose("coupling", "k", "speed", "noise", "seed", ...)
    assert report.metric_plane(s, "synchrony", "diffusive", "k", "speed").title == \
        "diffusive: synchrony (at noise = 0.01)"
    p = report.metric_plane(s, "synchrony", "diffusive", "speed", "noise")
    assert p.title == "diffusive: synchrony (at k = 0)"
    assert p.values.shape == (2, 3)  # rows noise, columns speed
    np.testing.assert_allclose(p.values, [SYNC["diffusive"][0]] * 2, atol=1e-12)  # k = 0 at both noises


def test_plane_figure_draws_the_transition_and_explains_markers():
    s = plane_summary()
    fig = viz.plot_plane(report.metric_plane(s, "mean_fc", "tanh", "k", "speed"))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["diverged", "undefined (e.g. flat signal)", "synchrony = 0.5", "best fit (fit_fc_corr_group)"]
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((-0.5, 2.5))
    contours = [c for c in ax.collections if type(c).__name__ == "QuadContourSet"]
    assert len(contours) == 1 and list(contours[0].levels) == [0.5]


def test_synchrony_crossing_on_the_first_speed():
    got = report.synchrony_crossing(plane_summary())
    assert got["diffusive"] == pytest.approx(1.25, abs=1e-12)  # speed 1: 0.1, 0.4, 0.8
    assert got["tanh"] == pytest.approx(1.2, abs=1e-12)  # nan, 0.45, 0.7: 1 + 0.05 / 0.25


def test_best_points_and_diverged_runs_carry_the_extra_axis():
    s = plane_summary()
    metric, best = report.best_match(s)
    assert metric == "fc_sc_corr"
    points = report.best_points(s, "fit_fc_corr_group")
    assert points["diffusive"] == ({"k": 1.0, "speed": 10.0}, pytest.approx(0.9))
    assert report.diverged_runs(s) == [("tanh", 2.0, 10.0, 0, 12.5), ("tanh", 2.0, 10.0, 1, 13.0)]


# --- the HTML --------------------------------------------------------------------------


def test_build_writes_one_plane_per_coupling_and_metric(tmp_path):
    s = plane_summary()
    html = html_of(s, tmp_path)
    assert "<h2 id=planes>Planes over the swept axes</h2>" in html and "<h3>k × speed</h3>" in html
    drawn = [m for m in SCALARS if np.isfinite(s[m].values).any()]
    assert "fc_target_corr" not in drawn and len(drawn) == len(SCALARS) - 1
    for c in COUPLINGS:
        for m in SCALARS:
            assert html.count(f'alt="plane: {c}, {m}, k × speed"') == (m in drawn), (c, m)
    assert html.count('alt="plane: ') == len(COUPLINGS) * len(drawn)
    assert "Coupling × k heatmaps" not in html  # planes replace them
    assert "How to read this" in html and "× marks a point whose runs diverged" in html
    assert "The star is the best fit" in html and "Small white dots" not in html  # no round here
    assert "<tr><td>tanh</td><td>2</td><td>10</td><td>0</td><td>12.5</td></tr>" in html
    assert "<th>k where synchrony reaches 0.5 (at speed = 1)</th>" in html


def test_svg_cells_carry_the_numbers(tmp_path):
    s = plane_summary()
    html = html_of(s, tmp_path)
    for coupling in COUPLINGS:
        titles = svg_titles(html, f"{coupling}: synchrony")
        assert len(titles) == len(KS) * len(SPEEDS)
        mean = s["synchrony"].sel(coupling=coupling).mean("seed")
        for title in titles:
            m = re.fullmatch(r"k = ([\d.]+), speed = ([\d.]+): synchrony = ([-\d.e]+)", title)
            if m is None:
                continue
            k, speed, value = map(float, m.groups())
            assert value == pytest.approx(float(mean.sel(k=k, speed=speed)), abs=1e-6), title
    titles = svg_titles(html, "diffusive: synchrony")
    assert "k = 1, speed = 3: synchrony = 0.6" in titles
    tanh = svg_titles(html, "tanh: synchrony")
    assert "k = 2, speed = 10: synchrony: diverged" in tanh
    assert "k = 0, speed = 1: synchrony: undefined (e.g. flat signal)" in tanh
    assert sum("synchrony = " in t for t in tanh) == 7


def test_one_dimensional_summary_keeps_curves_and_coupling_k_heatmaps(tmp_path):
    s = plane_summary().isel(speed=1, drop=True)
    html = html_of(s, tmp_path)
    assert "id=planes" not in html and 'alt="plane: ' not in html
    assert "<h2>Coupling × k heatmaps</h2>" in html and 'alt="coupling × k: synchrony"' in html
    assert 'alt="synchrony against k"' in html
    titles = svg_titles(html, "synchrony")
    assert len(titles) == len(COUPLINGS) * len(KS)
    assert "coupling = diffusive, k = 1: synchrony = 0.6" in titles
    assert "coupling = tanh, k = 2: synchrony = 0.75" in titles


# --- coinciding couplings, model mismatch, refinement ------------------------------------


def test_coinciding_couplings_finds_the_identical_pair_only():
    s = plane_summary({"diffusive": "diffusive", "tanh": "tanh", "laplacian": "diffusive"})
    s["mean_fc"].loc[{"coupling": "laplacian"}] = s["mean_fc"].sel(coupling="laplacian") + 1e-12
    assert report.coinciding_couplings(s) == [("diffusive", "laplacian")]
    s["mean_fc"].loc[{"coupling": "laplacian", "k": 1.0, "speed": 3.0, "seed": 0}] += 1e-6
    assert report.coinciding_couplings(s) == []


def test_coinciding_couplings_are_named_in_the_report(tmp_path):
    s = plane_summary({"diffusive": "diffusive", "tanh": "tanh", "laplacian": "diffusive"})
    html = html_of(s.isel(speed=0, drop=True), tmp_path)
    assert "diffusive and laplacian coincide" in html
    assert "tanh and" not in html and "and tanh coincide" not in html


def test_lines_of_coinciding_couplings_differ_in_style():
    s = plane_summary({"diffusive": "diffusive", "laplacian": "diffusive"}).isel(speed=0, drop=True)
    ax = viz.plot_metric_vs_k(s, "synchrony").axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_label() in ("diffusive", "laplacian")]
    assert len(lines) == 2
    assert lines[0].get_linestyle() != lines[1].get_linestyle()
    assert lines[0].get_marker() != lines[1].get_marker()
    legend = ax.get_legend()
    assert legend.get_bbox_to_anchor().x0 >= ax.get_window_extent().x1  # outside the data


def terms(kind):
    return json.dumps({"a": [{"coupling": kind, "params": {}}], "diffusive": [{"coupling": "diffusive"}]})


def test_model_mismatch_warning():
    s = plane_summary({"a": "diffusive", "diffusive": "diffusive"})
    s.attrs.update(node_model="hopf", coupling_terms=terms("sigmoidal_jansen_rit"))
    (warning,) = report.model_mismatch_warnings(s)
    assert warning.startswith("a: the sigmoidal_jansen_rit coupling was made for the jansen_rit node model")
    assert "runs hopf nodes" in warning
    s.attrs["node_model"] = "jansen_rit"
    assert report.model_mismatch_warnings(s) == []
    s.attrs.update(node_model="hopf", coupling_terms=terms("kuramoto"))
    assert len(report.model_mismatch_warnings(s)) == 1
    s.attrs["node_model"] = "kuramoto"
    assert report.model_mismatch_warnings(s) == []
    # without coupling_terms the coupling's own name is its kind
    named = plane_summary({"sigmoidal_jansen_rit": "diffusive"})
    named.attrs.pop("coupling_terms", None)
    assert len(report.model_mismatch_warnings(named)) == 1


def test_model_mismatch_warning_in_the_html(tmp_path):
    s = plane_summary({"sigmoidal_jansen_rit": "diffusive", "diffusive": "diffusive"}).isel(speed=0, drop=True)
    assert "<p class=warn>⚠ sigmoidal_jansen_rit: the sigmoidal_jansen_rit coupling" in html_of(s, tmp_path)
    s.attrs["node_model"] = "jansen_rit"
    assert "class=warn" not in html_of(s, tmp_path)


def test_refinement_rounds_are_counted_and_marked(tmp_path):
    s = refined_summary()
    assert report.refinement_counts(s) == {0: 6, 1: 1}
    assert report.refinement_counts(plane_summary()) == {}
    tanh = report.metric_plane(s, "synchrony", "tanh", "k", "speed")
    assert (tanh.status[:, 1] == CellStatus.NOT_SIMULATED).all()  # k = 0.5: not simulated, not diverged
    diffusive = report.metric_plane(s, "synchrony", "diffusive", "k", "speed")
    assert np.nan_to_num(diffusive.rounds, nan=-1).tolist() == [[0, 1, 0, 0]] * 3
    assert (diffusive.status[:, 1] == CellStatus.VALUE).all()
    # tanh's crossing ignores the k it never ran; diffusive's uses its refined point
    got = report.synchrony_crossing(s)
    assert got["tanh"] == pytest.approx(1.2, abs=1e-12)
    assert got["diffusive"] == pytest.approx(1.25, abs=1e-12)  # speed 1: 0.1, 0.45, 0.4, 0.8
    # speed 3: tanh 0.3 at k = 0, (not run at 0.5), 0.55 at k = 1: interpolated across the gap
    assert report.synchrony_crossing(s.isel(speed=[1]))["tanh"] == pytest.approx(0.8, abs=1e-12)
    assert [r[:2] for r in report.diverged_runs(s)] == [("tanh", 2.0), ("tanh", 2.0)]
    html = html_of(s, tmp_path)
    assert "the coarse grid has 6 (coupling, k) points; round 1 added 1." in html
    assert "k = 0.5, speed = 3: synchrony: not simulated" in svg_titles(html, "tanh: synchrony")
    assert "k = 0.5, speed = 3: synchrony = 0.45 (refined, round 1)" in svg_titles(html, "diffusive: synchrony")


def test_refined_points_marked_on_curves_and_one_dimensional_heatmaps():
    s = refined_summary().isel(speed=1, drop=True)  # speed 3: no flat or diverged run
    ax = viz.plot_metric_vs_k(s, "synchrony").axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["diffusive", "tanh", "refined point (round ≥ 1)"]
    tanh_line = next(ln for ln in ax.get_lines() if ln.get_label() == "tanh")
    np.testing.assert_allclose(tanh_line.get_xdata(), [0.0, 1.0, 2.0])  # k = 0.5 is no gap in tanh's line
    p = report.coupling_k_plane(s, "synchrony")
    assert p.status[1].tolist() == [CellStatus.VALUE, CellStatus.NOT_SIMULATED, CellStatus.VALUE,
                                    CellStatus.VALUE]
    assert np.nan_to_num(p.rounds, nan=-1).tolist() == [[0, 1, 0, 0], [0, -1, 0, 0]]
    fig = viz.plot_plane(p)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["not simulated", "refined point (round ≥ 1)"]
    (dots,) = [c for c in fig.axes[0].collections if c.get_label() == "refined point (round ≥ 1)"]
    assert dots.get_offsets().tolist() == [[0.5, 0.0]]  # diffusive (row 0) at k = 0.5 only


def test_fit_section_with_an_extra_axis(tmp_path):
    s = plane_summary()
    fit = {"subjects": 3, "refined": {}, "ranking": [
        {"rank": 1, "coupling": "diffusive", "best_k": 1.0, "speed": 10.0, "fc_corr_group": 0.9,
         "fc_corr_behind_best": 0.0, "fc_corr_subjects": 0.8, "fc_rmse_group": 0.1},
        {"rank": 2, "coupling": "tanh", "best_k": 2.0, "speed": 1.0, "fc_corr_group": 0.8,
         "fc_corr_behind_best": 0.1, "fc_corr_subjects": 0.7, "fc_rmse_group": 0.2}]}
    # the FC shown at the best point is the one at the ranking row's speed (10), not the first (1)
    s["fc"].loc[{"coupling": "diffusive", "k": 1.0, "speed": 10.0}] = 0.5
    np.testing.assert_allclose(report._fc_at(s, "diffusive", 1.0, where=fit["ranking"][0]), 0.5)
    np.testing.assert_allclose(report._fc_at(s, "diffusive", 1.0), np.eye(N))
    html = html_of(s, tmp_path, fit=fit, empirical_fc=np.eye(N))
    assert "<b>Best fit: diffusive at k = 1</b>" in html


def test_a_target_fc_alone_gives_the_best_fit_star():
    """Without the fit stage (grids refuse it), metrics.target_fc's fc_target_corr marks the
    best point; fit_fc_corr_group wins when both exist."""
    s = plane_summary().drop_vars("fit_fc_corr_group")
    s["fc_target_corr"] = (("coupling", "k", "speed", "seed"),
                           np.repeat(np.array([FIT[c] for c in COUPLINGS])[..., None], 2, axis=-1))
    assert report.fit_metric(s) == "fc_target_corr"
    p = report.metric_plane(s, "synchrony", "tanh", "k", "speed")
    assert p.best == (2.0, 1.0) and p.best_by == "fc_target_corr"
    labels = [t.get_text() for t in viz.plot_plane(p).legends[0].get_texts()]
    assert "best fit (fc_target_corr)" in labels
    assert "target FC (metrics.target_fc)" in report.markers_text(s)
    assert report.fit_metric(plane_summary()) == "fit_fc_corr_group"
    assert report.fit_metric(s.drop_vars("fc_target_corr")) is None
