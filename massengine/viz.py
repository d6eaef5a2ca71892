"""Figures people would rather look at than read: time series, FC/SC matrices, metric-vs-k
curves and coupling × k heatmaps. Each helper returns a matplotlib ``Figure`` (built without
pyplot's global state, so it works headless and in notebooks alike)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure


def _axes(ax, size=(6, 4)):
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def plot_timeseries(data: xr.DataArray, ax=None, max_regions: int = 8, title: str | None = None) -> Figure:
    """A (time, region) signal, one line per region (at most ``max_regions``), offset-free."""
    fig, ax = _axes(ax, (7, 3))
    regions = data["region"].values[:max_regions]
    for region in regions:
        ax.plot(data["time"].values, data.sel(region=region).values, lw=0.8, label=str(region))
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"{data.name} ({data.attrs.get('units', 'a.u.')})")
    ax.set_title(title or str(data.name))
    if len(regions) <= 8:
        ax.legend(fontsize=6, ncol=4, loc="upper right")
    return fig


def plot_matrix(matrix, labels=None, title: str = "", ax=None, vmin=None, vmax=None,
                cmap: str = "RdBu_r") -> Figure:
    """An (N, N) matrix (FC, SC, FCD) with a colour bar; rows = targets."""
    fig, ax = _axes(ax, (4, 3.5))
    matrix = np.asarray(matrix, dtype=float)
    image = ax.imshow(matrix, vmin=vmin, vmax=vmax, cmap=cmap, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8)
    if labels is not None and len(labels) <= 20:
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set_title(title)
    return fig


def plot_metric_vs_k(summary: xr.Dataset, metric: str, ax=None) -> Figure:
    """``metric`` against k, one line per coupling; the band spans the seeds' range."""
    fig, ax = _axes(ax)
    values = summary[metric]
    for coupling in summary["coupling"].values:
        v = values.sel(coupling=coupling)
        ks = summary["k"].values
        if "seed" in v.dims and v.sizes["seed"] > 1:
            ax.fill_between(ks, v.min("seed"), v.max("seed"), alpha=0.2)
            v = v.mean("seed")
        elif "seed" in v.dims:
            v = v.isel(seed=0)
        ax.plot(ks, v.values, marker="o", ms=3, label=str(coupling))
    ax.set_xlabel("coupling strength k")
    units = values.attrs.get("units")
    ax.set_ylabel(f"{metric} ({units})" if units else metric)
    if values.attrs.get("long_name"):
        ax.set_title(values.attrs["long_name"], fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def plot_heatmap(summary: xr.Dataset, metric: str, ax=None) -> Figure:
    """Coupling × k heatmap of ``metric`` (mean over seeds); diverged runs show as blank."""
    fig, ax = _axes(ax, (7, 0.5 + 0.45 * summary.sizes["coupling"]))
    values = summary[metric]
    if "seed" in values.dims:
        values = values.mean("seed")
    ks = summary["k"].values
    image = ax.imshow(values.values, aspect="auto", interpolation="nearest", cmap="viridis")
    ax.set_yticks(range(summary.sizes["coupling"]), [str(c) for c in summary["coupling"].values])
    ticks = np.linspace(0, ks.size - 1, min(ks.size, 8)).round().astype(int)
    ax.set_xticks(ticks, [f"{ks[i]:.3g}" for i in ticks])
    ax.set_xlabel("k")
    ax.set_title(metric)
    fig.colorbar(image, ax=ax)
    return fig
