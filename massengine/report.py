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


def build(summary: xr.Dataset, weights: np.ndarray, labels, examples: dict[str, xr.DataArray],
          path, title: str = "massengine coupling comparison", fc_at_k=(), provenance: dict | None = None) -> Path:
    """Write the HTML report to ``path``.

    ``summary``: the aggregated metrics (coupling, k, seed, ...); ``examples``: per coupling
    a (time, region) signal to show; ``weights``/``labels``: the SC shown beside the FCs.
    """
    summary = summary.load()
    crossing = synchrony_crossing(summary)
    metric, best = best_match(summary)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if provenance:
        parts.append("<p class=meta>" + " · ".join(f"{html.escape(k)}: {html.escape(str(v))}"
                                                   for k, v in provenance.items()) + "</p>")
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
