"""The campaign's comparison report: one self-contained HTML file (figures embedded as PNG),
plus the two summaries a reader looks for first: where each coupling synchronises, and which
k best reproduces the target FC (or, without one, the structural connectivity)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import xarray as xr

from . import viz
from .metrics import SCALARS

SYNCHRONY_THRESHOLD = 0.5


def synchrony_crossing(summary: xr.Dataset) -> dict[str, float]:
    """Per coupling, the first k where mean synchrony reaches 0.5 (linear interpolation
    between grid points); NaN if it never does."""
    out = {}
    for coupling in summary["coupling"].values:
        sync = summary["synchrony"].sel(coupling=coupling)
        sync = sync.mean("seed") if "seed" in sync.dims else sync
        ks, values = summary["k"].values, sync.values
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


def best_match(summary: xr.Dataset) -> tuple[str, dict[str, tuple[float, float]]]:
    """Per coupling, ``(k, correlation)`` maximising the FC–target correlation when a target
    FC was given, otherwise the FC–SC correlation. Returns the metric used and the table."""
    metric = "fc_target_corr" if np.isfinite(summary["fc_target_corr"].values).any() else "fc_sc_corr"
    out = {}
    for coupling in summary["coupling"].values:
        v = summary[metric].sel(coupling=coupling)
        v = v.mean("seed") if "seed" in v.dims else v
        if np.isfinite(v.values).any():
            i = int(np.nanargmax(v.values))
            out[str(coupling)] = (float(summary["k"].values[i]), float(v.values[i]))
        else:
            out[str(coupling)] = (np.nan, np.nan)
    return metric, out


def diverged_runs(summary: xr.Dataset) -> list[tuple[str, float, int, float]]:
    """(coupling, k, seed, divergence time in ms) of every run that blew up."""
    rows = []
    div = summary["diverged"].transpose("coupling", "k", "seed")
    times = summary["divergence_time"].transpose("coupling", "k", "seed")
    for ci, ki, si in zip(*np.nonzero(div.values), strict=True):
        rows.append((str(summary["coupling"].values[ci]), float(summary["k"].values[ki]),
                     int(summary["seed"].values[si]), float(times.values[ci, ki, si])))
    return rows


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


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
        fc = summary["fc"].sel(coupling=best["coupling"], k=best["best_k"]).isel(seed=0).values
        parts.append(_png(viz.plot_matrix(fc, labels, f"{best['coupling']}, grid k = {best['best_k']:.3g}",
                                          vmin=-1, vmax=1)))
    if best["coupling"] in refined:
        r = refined[best["coupling"]]
        parts.append(_png(viz.plot_matrix(np.asarray(r["fc"]), labels,
                                          f"{best['coupling']}, refined k = {r['k']:.3g}", vmin=-1, vmax=1)))
    parts.append("</div>")
    return parts


def build(summary: xr.Dataset, weights: np.ndarray, labels, examples: dict[str, xr.DataArray],
          path, title: str = "massengine coupling comparison", fc_at_k=(), provenance: dict | None = None,
          fit: dict | None = None, empirical_fc: np.ndarray | None = None) -> Path:
    """Write the HTML report to ``path``.

    ``summary``: the aggregated metrics (coupling, k, seed, ...); ``examples``: per coupling
    a (time, region) signal to show; ``weights``/``labels``: the SC shown beside the FCs;
    ``fit`` (the fit stage's JSON) and ``empirical_fc`` (the group FC): the section "Fit to
    the empirical data" (:func:`fit_section`), placed first.
    """
    summary = summary.load()
    crossing = synchrony_crossing(summary)
    metric, best = best_match(summary)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if provenance:
        parts.append("<p class=meta>" + " · ".join(f"{html.escape(k)}: {html.escape(str(v))}"
                                                   for k, v in provenance.items()) + "</p>")
    if fit is not None:
        parts += fit_section(summary, fit, empirical_fc, labels)
    parts.append("<h2>Which coupling, how strong</h2>")
    parts.append(_table(
        ["coupling", f"k where synchrony reaches {SYNCHRONY_THRESHOLD}", f"best k ({metric})", "correlation"],
        [[c, crossing[c], best[c][0], best[c][1]] for c in crossing]))
    parts.append("<h2>Metrics against k</h2><div class=grid>")
    parts += [_png(viz.plot_metric_vs_k(summary, m)) for m in SCALARS if np.isfinite(summary[m].values).any()]
    parts.append("</div><h2>Coupling × k heatmaps</h2><div class=grid>")
    parts += [_png(viz.plot_heatmap(summary, m)) for m in SCALARS if np.isfinite(summary[m].values).any()]
    parts.append("</div><h2>FC at chosen k, next to SC</h2>")
    for coupling in summary["coupling"].values:
        parts.append(f"<h3>{html.escape(str(coupling))}</h3><div class=grid>")
        parts.append(_png(viz.plot_matrix(weights, labels, "SC (weights)", cmap="viridis")))
        for k in fc_k_values(summary, fc_at_k):
            fc = summary["fc"].sel(coupling=coupling, k=k).isel(seed=0)
            parts.append(_png(viz.plot_matrix(fc.values, labels, f"FC, k = {k:.3g}", vmin=-1, vmax=1)))
        parts.append("</div>")
    parts.append(f"<h2>Example time series (each coupling at its best k by {metric})</h2><div class=grid>")
    for coupling, data in examples.items():
        k = float(data["k"].values) if "k" in data.coords else float("nan")
        parts.append(_png(viz.plot_timeseries(data, title=f"{coupling}, k = {k:.3g}")))
    parts.append("</div><h2>Diverged runs</h2>")
    rows = diverged_runs(summary)
    parts.append(_table(["coupling", "k", "seed", "diverged at (ms)"], rows) if rows
                 else "<p>None: every run stayed finite.</p>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
             ".grid{display:flex;flex-wrap:wrap;gap:8px}.meta{color:#666;font-size:90%}")
    page = f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>" \
           f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(page)
    tmp.replace(path)
    return path
