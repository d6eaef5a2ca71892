"""The campaign's comparison report: one self-contained HTML file (figures embedded as PNG,
the synchrony heatmaps also as inline SVG that shows each cell's numbers on hover), plus the
two summaries a reader looks for first: where each coupling synchronises, and which k best
reproduces the target FC (or, without one, the structural connectivity). Extra swept axes
(``speed``, ``noise``...) get planes: heatmaps over two axes at a time."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import xarray as xr

from . import integrity, viz
from .metrics import SCALARS
from .summary import simulated_runs

SYNCHRONY_THRESHOLD = viz.SYNCHRONY_THRESHOLD
BASE_DIMS = ("coupling", "k", "seed")
# Couplings whose formula only means something on one node model: kind -> (model, why).
MADE_FOR = {
    "sigmoidal_jansen_rit": ("jansen_rit", "its sigmoid turns a Jansen–Rit pyramidal potential (mV, midpoint "
                                           "6 mV) into a firing rate"),
    "kuramoto": ("kuramoto", "it takes the sine of differences of phases"),
}
COINCIDE_ATOL = 1e-9
FIT_METRIC = "fit_fc_corr_group"
# Without empirical data (the fit stage), a target FC (metrics.target_fc) still gives a best fit.
TARGET_METRIC = "fc_target_corr"


def fit_metric(summary: xr.Dataset) -> str | None:
    """The metric whose maximum is the best fit: ``fit_fc_corr_group`` (empirical data),
    else ``fc_target_corr`` (a target FC), whichever has a value; ``None`` without either."""
    for name in (FIT_METRIC, TARGET_METRIC):
        if name in summary and bool(np.isfinite(summary[name].values).any()):
            return name
    return None


def swept_axes(summary: xr.Dataset) -> list[str]:
    """The swept axes besides coupling and k (``speed``, ``noise``, ``node.a``...), in the
    summary's order: the dims of a scalar metric other than coupling, k and seed."""
    ref = next((summary[m] for m in ("synchrony", *SCALARS, "diverged") if m in summary), None)
    return [] if ref is None else [str(d) for d in ref.dims if d not in BASE_DIMS]


def _truthy(values) -> np.ndarray:
    # After an outer join a bool variable comes back as float or object with NaN: NaN is "no".
    return np.nan_to_num(np.asarray(values, dtype=float), nan=0.0) > 0.5


def classify_cells(values, diverged, simulated=None) -> np.ndarray:
    """Per cell, a :class:`massengine.viz.CellStatus` from its runs along the last axis
    (the seeds): VALUE when any run has a finite value; else DIVERGED when a simulated run
    diverged; else UNDEFINED when a simulated run stayed finite but its value is NaN (a
    flat signal has no correlation); else NOT_SIMULATED. ``diverged``/``simulated`` may hold
    NaN (read as false)."""
    values = np.asarray(values, dtype=float)
    ok = np.isfinite(values)
    sim = np.ones(values.shape, bool) if simulated is None else _truthy(simulated)
    div = _truthy(diverged) & sim & ~ok
    undefined = sim & ~_truthy(diverged) & ~ok
    status = np.full(values.shape[:-1], int(viz.CellStatus.NOT_SIMULATED))
    status[undefined.any(axis=-1)] = viz.CellStatus.UNDEFINED
    status[div.any(axis=-1)] = viz.CellStatus.DIVERGED
    status[ok.any(axis=-1)] = viz.CellStatus.VALUE
    return status


def _seed_mean(runs: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the finite values; NaN (quietly) where there is none."""
    finite = np.isfinite(runs)
    count = finite.sum(axis=-1)
    total = np.where(finite, runs, 0.0).sum(axis=-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _runs(da: xr.DataArray, coupling, fixed: dict, dims: tuple[str, ...]) -> np.ndarray:
    """``da`` for one coupling at ``fixed`` (axis -> index), as (*dims, seed)."""
    da = da.sel(coupling=coupling) if "coupling" in da.dims else da
    da = da.isel({a: i for a, i in fixed.items() if a in da.dims})
    if "seed" not in da.dims:
        da = da.expand_dims(seed=1)
    return np.asarray(da.transpose(*dims, "seed").values, dtype=float)


def _fixed_note(summary: xr.Dataset, fixed: dict) -> str:
    return ", ".join(f"{a} = {float(summary[a].values[i]):.4g}" for a, i in fixed.items())


def _plane_variables(summary: xr.Dataset, metric: str) -> xr.Dataset:
    # Only what a plane reads: sorting the whole summary would copy every FC matrix per figure.
    wanted = (metric, "synchrony", "diverged", "round", FIT_METRIC, TARGET_METRIC)
    return summary[[v for v in dict.fromkeys(wanted) if v in summary]]


def metric_plane(summary: xr.Dataset, metric: str, coupling: str, x: str, y: str) -> viz.Plane:
    """``metric`` of ``coupling`` over the swept axes ``x`` and ``y`` (mean over seeds), the
    other swept axes at their first value (named in the title), with each cell's status
    (:func:`classify_cells`), refinement round, synchrony (for the transition line) and the
    best fit on the plane (:func:`fit_metric`, maximised) when the summary has one."""
    summary = _plane_variables(summary, metric).sortby([x, y])
    fixed = {a: 0 for a in ["k", *swept_axes(summary)] if a not in (x, y)}
    dims = (y, x)
    runs = _runs(summary[metric], coupling, fixed, dims)
    diverged = _runs(summary["diverged"], coupling, fixed, dims)
    simulated = _runs(simulated_runs(summary), coupling, fixed, dims)
    rounds = None
    if "round" in summary:
        template = summary[metric].sel(coupling=coupling).isel(fixed)
        template = template.isel(seed=0, drop=True) if "seed" in template.dims else template
        r = summary["round"].sel(coupling=coupling)
        r = r.isel({a: i for a, i in fixed.items() if a in r.dims})
        rounds = np.asarray(xr.broadcast(r, template)[0].transpose(*dims).values, dtype=float)
    sync = _seed_mean(_runs(summary["synchrony"], coupling, fixed, dims)) if "synchrony" in summary else None
    best, best_by = None, fit_metric(summary)
    if best_by is not None:
        fit = _seed_mean(_runs(summary[best_by], coupling, fixed, dims))
        if np.isfinite(fit).any():
            i, j = np.unravel_index(int(np.nanargmax(fit)), fit.shape)
            best = (float(summary[x].values[j]), float(summary[y].values[i]))
    note = _fixed_note(summary, fixed)
    return viz.Plane(metric=metric, x_name=x, x=np.asarray(summary[x].values, float), y_name=y,
                     y=np.asarray(summary[y].values, float), values=_seed_mean(runs),
                     status=classify_cells(runs, diverged, simulated),
                     title=f"{coupling}: {metric}" + (f" (at {note})" if note else ""),
                     units=summary[metric].attrs.get("units", ""), rounds=rounds, synchrony=sync, best=best,
                     best_by=best_by or FIT_METRIC)


def coupling_k_plane(summary: xr.Dataset, metric: str) -> viz.Plane:
    """The coupling × k heatmap of ``metric`` (mean over seeds) as a :class:`viz.Plane`,
    couplings as rows; other swept axes at their first value."""
    summary = _plane_variables(summary, metric).sortby("k")
    fixed = {a: 0 for a in swept_axes(summary)}
    couplings = [str(c) for c in summary["coupling"].values]
    runs = np.stack([_runs(summary[metric], c, fixed, ("k",)) for c in couplings])
    diverged = np.stack([_runs(summary["diverged"], c, fixed, ("k",)) for c in couplings])
    sim_all = simulated_runs(summary)
    simulated = np.stack([_runs(sim_all, c, fixed, ("k",)) for c in couplings])
    rounds = None
    if "round" in summary:
        r = summary["round"].isel({a: i for a, i in fixed.items() if a in summary["round"].dims})
        rounds = np.asarray(r.transpose("coupling", "k").values, dtype=float)
    note = _fixed_note(summary, fixed)
    return viz.Plane(metric=metric, x_name="k", x=np.asarray(summary["k"].values, float), y_name="coupling",
                     y=np.arange(len(couplings), dtype=float), values=_seed_mean(runs),
                     status=classify_cells(runs, diverged, simulated),
                     title=f"{metric}" + (f" (at {note})" if note else ""),
                     units=summary[metric].attrs.get("units", ""), rounds=rounds, y_labels=tuple(couplings))


def plane_pairs(summary: xr.Dataset) -> list[tuple[str, str]]:
    """The (x, y) pairs drawn as planes: (k, axis) for each extra swept axis, then each pair
    of extra axes; none without extra axes."""
    axes = swept_axes(summary)
    return [("k", a) for a in axes] + [(a, b) for i, a in enumerate(axes) for b in axes[i + 1:]]


def coinciding_couplings(summary: xr.Dataset, atol: float = COINCIDE_ATOL) -> list[tuple[str, str]]:
    """Pairs of couplings whose scalar metrics are equal within ``atol`` everywhere (same NaN
    cells, at least one finite value): e.g. laplacian without normalisation and diffusive."""
    metrics = [m for m in SCALARS if m in summary]
    couplings = [str(c) for c in summary["coupling"].values]
    values = {c: [np.asarray(summary[m].sel(coupling=c).values, float) for m in metrics] for c in couplings}
    pairs = []
    for i, a in enumerate(couplings):
        for b in couplings[i + 1:]:
            if any(np.isfinite(v).any() for v in values[a]) and all(
                    np.array_equal(np.isnan(va), np.isnan(vb)) and np.all(np.abs(va - vb)[~np.isnan(va)] <= atol)
                    for va, vb in zip(values[a], values[b], strict=True)):
                pairs.append((a, b))
    return pairs


def coupling_kinds(summary: xr.Dataset, coupling: str) -> set[str]:
    """The coupling kinds (registry names) behind the summary's ``coupling`` entry, read from
    ``attrs["coupling_terms"]`` (JSON: per coupling its terms, or one term); the entry's own
    name when the attrs do not say."""
    try:
        terms = json.loads(summary.attrs.get("coupling_terms") or "{}")
    except (TypeError, ValueError):
        terms = {}
    entry = terms.get(coupling) if isinstance(terms, dict) else None
    entry = [entry] if isinstance(entry, dict) else entry
    kinds = {t["coupling"] for t in entry or () if isinstance(t, dict) and isinstance(t.get("coupling"), str)}
    return kinds or {coupling}


def model_mismatch_warnings(summary: xr.Dataset) -> list[str]:
    """One sentence per coupling run on a node model it was not made for
    (``sigmoidal_jansen_rit`` off ``jansen_rit``, ``kuramoto`` off ``kuramoto``), read from
    ``attrs["node_model"]``; none when the attrs do not name the model."""
    model = summary.attrs.get("node_model")
    if not model:
        return []
    out = []
    for coupling in (str(c) for c in summary["coupling"].values):
        for kind in sorted(coupling_kinds(summary, coupling)):
            if kind in MADE_FOR and MADE_FOR[kind][0] != model:
                made_for, why = MADE_FOR[kind]
                out.append(f"{coupling}: the {kind} coupling was made for the {made_for} node model ({why}), "
                           f"but this campaign runs {model} nodes; read its results with care.")
    return out


def refinement_counts(summary: xr.Dataset) -> dict[int, int]:
    """How many entries of ``round`` each round holds: 0 the coarse grid, r >= 1 the points
    refinement round r added (NaN: not simulated, not counted); empty without ``round``."""
    if "round" not in summary:
        return {}
    r = np.asarray(summary["round"].values, dtype=float)
    rounds, counts = np.unique(r[np.isfinite(r)], return_counts=True)
    return {int(a): int(n) for a, n in zip(rounds, counts, strict=True)}


def _best_point(v: xr.DataArray) -> tuple[dict[str, float], float]:
    """The coordinates (every dim of ``v``) and value of ``v``'s maximum; NaN when none."""
    if not np.isfinite(v.values).any():
        return {d: np.nan for d in v.dims}, np.nan
    index = np.unravel_index(int(np.nanargmax(v.values)), v.shape)
    return {d: float(v[d].values[i]) for d, i in zip(v.dims, index, strict=True)}, float(v.values[index])


def synchrony_crossing(summary: xr.Dataset) -> dict[str, float]:
    """Per coupling, the first k where mean synchrony reaches 0.5 (linear interpolation
    between simulated grid points); NaN if it never does. Other swept axes: at their first
    value."""
    fixed = {a: 0 for a in swept_axes(summary)}
    sim_all = simulated_runs(summary)
    out = {}
    for coupling in summary["coupling"].values:
        sync = summary["synchrony"].sel(coupling=coupling).isel(fixed)
        sync = sync.mean("seed") if "seed" in sync.dims else sync
        sim = sim_all.sel(coupling=coupling).isel(fixed)
        sim = sim.any("seed") if "seed" in sim.dims else sim
        keep = np.asarray(sim.values, bool)  # refinement: another coupling's k is no grid point here
        ks, values = summary["k"].values[keep], sync.values[keep]
        out[str(coupling)] = np.nan
        for i in range(ks.size):
            if np.isfinite(values[i]) and values[i] >= SYNCHRONY_THRESHOLD:
                if i == 0 or not np.isfinite(values[i - 1]):
                    out[str(coupling)] = float(ks[i])
                else:
                    frac = (SYNCHRONY_THRESHOLD - values[i - 1]) / (values[i] - values[i - 1])
                    out[str(coupling)] = float(ks[i - 1] + frac * (ks[i] - ks[i - 1]))
                break
    return out


def best_points(summary: xr.Dataset, metric: str) -> dict[str, tuple[dict[str, float], float]]:
    """Per coupling, the swept point (k and every extra axis) maximising the seed mean of
    ``metric``, and that maximum."""
    out = {}
    for coupling in summary["coupling"].values:
        v = summary[metric].sel(coupling=coupling)
        out[str(coupling)] = _best_point(v.mean("seed") if "seed" in v.dims else v)
    return out


def best_match(summary: xr.Dataset) -> tuple[str, dict[str, tuple[float, float]]]:
    """Per coupling, ``(k, correlation)`` maximising the FC–target correlation when a target
    FC was given, otherwise the FC–SC correlation. Returns the metric used and the table.
    With extra swept axes the maximum is over all of them (:func:`best_points` says where)."""
    metric = "fc_target_corr" if np.isfinite(summary["fc_target_corr"].values).any() else "fc_sc_corr"
    return metric, {c: (point.get("k", np.nan), value) for c, (point, value) in best_points(summary, metric).items()}


def diverged_runs(summary: xr.Dataset) -> list[tuple]:
    """(coupling, k, <each extra swept axis>, seed, divergence time in ms) of every run that
    blew up."""
    axes = swept_axes(summary)
    dims = ("coupling", "k", *axes, "seed")
    div = _truthy(summary["diverged"].transpose(*dims).values)
    times = summary["divergence_time"].transpose(*dims).values
    rows = []
    for index in zip(*np.nonzero(div), strict=True):
        coords = [summary[d].values[i] for d, i in zip(dims, index, strict=True)]
        rows.append((str(coords[0]), *(float(c) for c in coords[1:-1]), int(coords[-1]), float(times[index])))
    return rows


def _png(fig, alt: str = "figure") -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return (f'<img alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">')


def _fc_at(summary: xr.Dataset, coupling: str, k: float, where=None) -> np.ndarray:
    """The first seed's FC of ``coupling`` at ``k``; each extra swept axis at ``where``'s
    value for it (a fit ranking row may carry one), else at its first value."""
    fc = summary["fc"].sel(coupling=coupling, k=k)
    for axis in swept_axes(summary):
        value = (where or {}).get(axis)
        if isinstance(value, (int, float)) and np.isfinite(value):
            fc = fc.sel({axis: value}, method="nearest")
        else:
            fc = fc.isel({axis: 0})
    return fc.isel(seed=0).values if "seed" in fc.dims else fc.values


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return "—" if not np.isfinite(value) else f"{value:.4g}"
    return str(value)


def fc_k_values(summary: xr.Dataset, wanted) -> list[float]:
    """Grid k values nearest to ``wanted`` (default: first, middle, last)."""
    ks = summary["k"].values
    if not wanted:
        return sorted({float(ks[0]), float(ks[ks.size // 2]), float(ks[-1])})
    return sorted({float(ks[np.abs(ks - w).argmin()]) for w in wanted})


def plot_loss_curves(refined: dict) -> viz.Figure:
    """The gradient refinement's loss (``1 - FC correlation``) against accepted step, one line
    per refined coupling, its k path in a second panel."""
    fig = viz.Figure(figsize=(9, 3.5), layout="constrained")
    ax_loss, ax_k = fig.subplots(1, 2)
    for coupling, r in refined.items():
        ax_loss.plot(np.arange(len(r["loss"])), r["loss"], marker="o", label=coupling)
        ax_k.plot(np.arange(len(r["k_path"])), r["k_path"], marker="o", label=coupling)
    ax_loss.set(xlabel="accepted step", ylabel="loss (1 - FC corr, group)", title="gradient refinement")
    ax_k.set(xlabel="accepted step", ylabel="k", title="k along the refinement")
    ax_loss.legend(fontsize=8)
    return fig


def fit_section(summary: xr.Dataset, fit: dict, empirical_fc: np.ndarray, labels) -> list[str]:
    """The HTML of "Fit to the empirical data": per coupling its best grid k and scores
    (ranked, with how far behind the best each is), the gradient refinement (start and
    fitted k, loss curves), and the simulated FC at the best point beside the empirical
    group FC."""
    ranking, refined = fit["ranking"], fit["refined"]
    parts = ["<h2>Fit to the empirical data</h2>"]
    best = ranking[0]
    n_subjects = fit.get("subjects", "?")
    if np.isfinite(best.get("fc_corr_group", np.nan)):
        second = ranking[1] if len(ranking) > 1 else None
        lead = "" if second is None or not np.isfinite(second.get("fc_corr_group", np.nan)) else (
            f", {best['fc_corr_group'] - second['fc_corr_group']:.3g} above the next "
            f"({html.escape(second['coupling'])}, {second['fc_corr_group']:.3g} at k = {second['best_k']:.3g})")
        parts.append(f"<p><b>Best fit: {html.escape(best['coupling'])} at k = {best['best_k']:.4g}</b>: FC "
                     f"correlation {best['fc_corr_group']:.3g} with the group-average FC of {n_subjects} "
                     f"subjects{lead}.</p>")
    else:
        parts.append("<p>No coupling has a defined fit: every run diverged or has a flat region.</p>")
    has_ks = any("fcd_ks_group" in r for r in ranking)
    header = ["rank", "coupling", "best k", "FC corr (group)", "behind the best", "FC corr (subjects' mean)",
              "FC RMSE (group)"] + (["FCD KS (group)"] if has_ks else [])
    rows = [[r["rank"], r["coupling"], r["best_k"], r.get("fc_corr_group", np.nan), r["fc_corr_behind_best"],
             r.get("fc_corr_subjects", np.nan), r.get("fc_rmse_group", np.nan)]
            + ([r.get("fcd_ks_group", np.nan)] if has_ks else []) for r in ranking]
    parts.append(_table(header, rows))
    parts.append("<p>Each coupling at the grid k with the highest FC correlation to the group-average FC "
                 "(seeds averaged); per-subject scores are in summary.zarr (<code>fit_*</code>, by subject) "
                 "and summary.csv.</p>")
    parts.append("<h3>Goodness of fit against k</h3><div class=grid>")
    parts += [_png(viz.plot_metric_vs_k(summary, m)) for m in ("fit_fc_corr_group", "fit_fc_rmse_group",
                                                                   "fit_fcd_ks_group")
              if m in summary and np.isfinite(summary[m].values).any()]
    parts.append("</div>")
    if refined:
        parts.append("<h3>Gradient refinement of k</h3>")
        parts.append(_table(
            ["coupling", "grid k", "refined k", "FC corr (group) at grid k", "FC corr (group) refined",
             "FC corr (subjects' mean) refined", "steps", "stopped", "seconds"],
            [[c, r["k_start"], r["k"], r.get("fc_corr_group_start") or np.nan, r["fc_corr_group"],
              r["fc_corr_subjects"], r["iterations"], r["message"], r["seconds"]] for c, r in refined.items()]))
        signal = {r["signal"] for r in refined.values()}
        parts.append(f"<p>Adam on 1 - FC correlation, gradients through the simulation of the "
                     f"{'BOLD signal' if signal == {'bold'} else ', '.join(sorted(signal))} (first seed, its "
                     "noise frozen), starting from the grid's best k.</p>")
        parts.append(_png(plot_loss_curves(refined)))
    parts.append("<h3>Simulated FC at the best point beside the empirical FC</h3><div class=grid>")
    parts.append(_png(viz.plot_matrix(empirical_fc, labels, f"empirical FC (group of {n_subjects})",
                                      vmin=-1, vmax=1)))
    if np.isfinite(best["best_k"]):
        fc = _fc_at(summary, best["coupling"], best["best_k"], where=best)
        parts.append(_png(viz.plot_matrix(fc, labels, f"{best['coupling']}, grid k = {best['best_k']:.3g}",
                                          vmin=-1, vmax=1)))
    if best["coupling"] in refined:
        r = refined[best["coupling"]]
        parts.append(_png(viz.plot_matrix(np.asarray(r["fc"]), labels,
                                          f"{best['coupling']}, refined k = {r['k']:.3g}", vmin=-1, vmax=1)))
    parts.append("</div>")
    return parts


def _drawn(summary: xr.Dataset) -> list[str]:
    """The scalar metrics worth a figure: those with a finite value somewhere."""
    return [m for m in SCALARS if m in summary and np.isfinite(summary[m].values).any()]


def markers_text(summary: xr.Dataset) -> str:
    """The sentences that explain the heatmaps' marks (refinement and best fit only when the
    summary has ``round`` or ``fit_fc_corr_group``)."""
    text = ("In the heatmaps a blank cell says why it is blank: × marks a point whose runs diverged (the state "
            "blew up, so no metric exists), ○ a point whose runs stayed finite but whose metric is undefined (e.g. "
            "a flat signal has no correlation), grey hatching a point not simulated for this coupling.")
    if "round" in summary:
        text += (" Small white dots mark points added by adaptive refinement (round ≥ 1), which adds different "
                 "k to different couplings.")
    if swept_axes(summary):
        text += f" The red line is the transition, where synchrony reaches {SYNCHRONY_THRESHOLD}."
    best_by = fit_metric(summary)
    if best_by is not None:
        target = "empirical FC" if best_by == FIT_METRIC else "target FC (metrics.target_fc)"
        text += f" The star is the best fit to the {target} on that plane ({best_by}, maximised)."
    return text + " Hover over a cell of the synchrony heatmap (drawn as SVG) to read its numbers."


def how_to_read(summary: xr.Dataset) -> str:
    """The "How to read this" paragraph, naming the swept axes this summary has."""
    axes = swept_axes(summary)
    swept = "coupling strength k" + (f" and {', '.join(axes)}" if axes else "")
    seeds = summary.sizes.get("seed", 1)
    planes = (" Each plane is a heatmap of one metric over two swept axes for one coupling; when more than two "
              "axes were swept, the others sit at their first value, named in the title." if axes else "")
    return ("<h2>How to read this</h2><p>Each coupling (the way regions drive each other) was run over a grid "
            f"of {html.escape(swept)}, {seeds} seed{'s' if seeds != 1 else ''} each (seeds differ only in "
            "their noise); every value shown is the mean over the seeds that have one, and the bands around "
            "the curves span the seeds. Synchrony is the Kuramoto order parameter (0: independent, 1: in "
            f"phase); the k where it reaches {SYNCHRONY_THRESHOLD} is taken as the transition to synchrony. "
            "The best k is where "
            "the simulated FC correlates best with the target FC (without one, with the structural "
            f"connectivity).{planes}</p>")


def notes_section(summary: xr.Dataset) -> list[str]:
    """Warnings and notes a reader needs before the figures: couplings run on a model they
    were not made for, couplings that coincide, and what each refinement round added."""
    parts = [f"<p class=warn>⚠ {html.escape(w)}</p>" for w in model_mismatch_warnings(summary)]
    for a, b in coinciding_couplings(summary):
        parts.append(f"<p class=note>{html.escape(a)} and {html.escape(b)} coincide: every metric is equal "
                     f"within {COINCIDE_ATOL:g} everywhere (laplacian without normalisation is diffusive, for "
                     "instance). Their curves lie on top of each other; the line styles differ so both show.</p>")
    counts = refinement_counts(summary)
    if any(r >= 1 for r in counts):
        unit = "(" + ", ".join(map(str, summary["round"].dims)) + ") points"
        added = "; ".join(f"round {r} added {n}" for r, n in counts.items() if r >= 1)
        parts.append(f"<p class=note>Adaptive refinement: the coarse grid has {counts.get(0, 0)} {unit}; "
                     f"{added}. Refined points are marked on the curves (◇) and on the heatmaps (white dots).</p>")
    return parts


def planes_section(summary: xr.Dataset) -> list[str]:
    """The planes: per pair of swept axes (:func:`plane_pairs`) and coupling, the synchrony
    plane as a hoverable SVG and a PNG heatmap of every scalar metric."""
    pairs = plane_pairs(summary)
    if not pairs:
        return []
    parts = ["<h2 id=planes>Planes over the swept axes</h2>", f"<p>{markers_text(summary)}</p>"]
    for x, y in pairs:
        parts.append(f"<h3>{html.escape(x)} × {html.escape(y)}</h3>")
        for coupling in (str(c) for c in summary["coupling"].values):
            parts.append(f"<h4>{html.escape(coupling)}</h4><div class=grid>")
            if "synchrony" in summary:
                parts.append(viz.svg_plane(metric_plane(summary, "synchrony", coupling, x, y)))
            parts += [_png(viz.plot_plane(metric_plane(summary, m, coupling, x, y)),
                           alt=f"plane: {coupling}, {m}, {x} × {y}") for m in _drawn(summary)]
            parts.append("</div>")
    return parts


def _overview(summary: xr.Dataset) -> list[str]:
    """ "Which coupling, how strong": the transition and the best point of each coupling."""
    crossing = synchrony_crossing(summary)
    metric, best = best_match(summary)
    axes = swept_axes(summary)
    at = f" (at {_fixed_note(summary, {a: 0 for a in axes})})" if axes else ""
    header = ["coupling", f"k where synchrony reaches {SYNCHRONY_THRESHOLD}{at}", f"best k ({metric})", "correlation"]
    rows = [[c, crossing[c], best[c][0], best[c][1]] for c in crossing]
    if axes:
        points = best_points(summary, metric)
        header.append("best point")
        for row in rows:
            row.append(", ".join(f"{a} = {_fmt(points[row[0]][0][a])}" for a in axes))
    return ["<h2>Which coupling, how strong</h2>", _table(header, rows)]


def build(summary: xr.Dataset, weights: np.ndarray, labels, examples: dict[str, xr.DataArray],
          path, title: str = "massengine coupling comparison", fc_at_k=(), provenance: dict | None = None,
          fit: dict | None = None, empirical_fc: np.ndarray | None = None) -> Path:
    """Write the HTML report to ``path``.

    ``summary``: the aggregated metrics (coupling, k, <extra swept axes>, seed, ...), with
    ``diverged``/``divergence_time``, optionally ``round`` and ``fit_fc_corr_group``, and
    ``attrs["node_model"]``/``attrs["coupling_terms"]``; ``examples``: per coupling a (time,
    region) signal to show; ``weights``/``labels``: the SC shown beside the FCs; ``fit`` (the
    fit stage's JSON) and ``empirical_fc`` (the group FC): the section "Fit to the empirical
    data" (:func:`fit_section`), placed first. Extra swept axes get planes
    (:func:`planes_section`); without them, the coupling × k heatmaps.
    """
    summary = summary.load()
    summary = summary.sortby(["k", *swept_axes(summary)])  # cell edges need sorted coordinates
    metric, _ = best_match(summary)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if provenance:
        parts.append("<p class=meta>" + " · ".join(f"{html.escape(k)}: {html.escape(str(v))}"
                                                   for k, v in provenance.items()) + "</p>")
    parts += notes_section(summary)
    parts.append(how_to_read(summary))
    if fit is not None:
        parts += fit_section(summary, fit, empirical_fc, labels)
    parts += _overview(summary)
    parts += planes_section(summary)
    parts.append("<h2>Metrics against k</h2><div class=grid>")
    parts += [_png(viz.plot_metric_vs_k(summary, m), alt=f"{m} against k") for m in _drawn(summary)]
    parts.append("</div>")
    if not swept_axes(summary):
        parts.append(f"<h2>Coupling × k heatmaps</h2><p>{markers_text(summary)}</p><div class=grid>")
        if "synchrony" in summary:
            parts.append(viz.svg_plane(coupling_k_plane(summary, "synchrony")))
        parts += [_png(viz.plot_plane(coupling_k_plane(summary, m)), alt=f"coupling × k: {m}")
                  for m in _drawn(summary)]
        parts.append("</div>")
    parts.append("<h2>FC at chosen k, next to SC</h2>")
    at = _fixed_note(summary, {a: 0 for a in swept_axes(summary)})
    for coupling in summary["coupling"].values:
        parts.append(f"<h3>{html.escape(str(coupling))}</h3><div class=grid>")
        parts.append(_png(viz.plot_matrix(weights, labels, "SC (weights)", cmap="viridis")))
        for k in fc_k_values(summary, fc_at_k):
            fc = _fc_at(summary, str(coupling), k)
            parts.append(_png(viz.plot_matrix(fc, labels, f"FC, k = {k:.3g}" + (f", {at}" if at else ""),
                                              vmin=-1, vmax=1)))
        parts.append("</div>")
    parts.append(f"<h2>Example time series (each coupling at its best k by {metric})</h2><div class=grid>")
    for coupling, data in examples.items():
        k = float(data["k"].values) if "k" in data.coords else float("nan")
        parts.append(_png(viz.plot_timeseries(data, title=f"{coupling}, k = {k:.3g}")))
    parts.append("</div><h2>Diverged runs</h2>")
    rows = diverged_runs(summary)
    parts.append(_table(["coupling", "k", *swept_axes(summary), "seed", "diverged at (ms)"], rows) if rows
                 else "<p>None: every run stayed finite.</p>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
             ".grid{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}.meta{color:#666;font-size:90%}"
             ".warn{background:#fff3cd;border-left:4px solid #e0a800;padding:6px 10px}"
             ".note{background:#eef4fb;border-left:4px solid #5b9bd5;padding:6px 10px}")
    page = f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>" \
           f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    return integrity.write_product_text(path, page, "report")
