"""Figures people would rather look at than read: time series, FC/SC matrices, metric-vs-k
curves, coupling × k heatmaps and planes (a metric over two swept axes, :class:`Plane`). Each
plotting helper returns a matplotlib ``Figure`` (built without pyplot's global state, so it
works headless and in notebooks alike); :func:`svg_plane` writes a plane as inline SVG."""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from .summary import simulated_runs

SYNCHRONY_THRESHOLD = 0.5
# Cycled per coupling so that two couplings with the same values (laplacian without
# normalisation is diffusive) still show as two lines: a dashed one over a solid one.
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">")


class CellStatus(IntEnum):
    """What a heatmap cell shows: a value, or why it has none."""

    VALUE = 0
    DIVERGED = 1  # every run with a defined value is missing because the state blew up
    UNDEFINED = 2  # the runs stayed finite but the metric has no value (a flat signal has no correlation)
    NOT_SIMULATED = 3  # no run at this point (refinement adds different k to different couplings)


STATUS_LEGEND = {CellStatus.DIVERGED: "diverged", CellStatus.UNDEFINED: "undefined (e.g. flat signal)",
                 CellStatus.NOT_SIMULATED: "not simulated"}


@dataclass(frozen=True)
class Plane:
    """One 2-D slice of the summary, ready to draw: ``values`` and ``status`` are
    (len(y), len(x)); ``y_labels`` makes the rows categorical (couplings), their ``y`` then
    being row numbers. ``rounds``: the refinement round of each cell (NaN: none recorded);
    ``synchrony``: the seed-mean synchrony of the same cells, for the transition contour;
    ``best``: the (x, y) of the best fit on this plane, by the metric ``best_by``."""

    metric: str
    x_name: str
    x: np.ndarray
    y_name: str
    y: np.ndarray
    values: np.ndarray
    status: np.ndarray
    title: str
    units: str = ""
    rounds: np.ndarray | None = None
    synchrony: np.ndarray | None = None
    best: tuple[float, float] | None = None
    y_labels: tuple[str, ...] | None = None
    best_by: str = "fit_fc_corr_group"


def _axes(ax, size=(6, 4)):
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _legend_outside(ax, **kw):
    # Right of the axes, never over the curves; constrained layout makes room for it.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kw)


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
        _legend_outside(ax, fontsize=6)
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


def _first_of_other_axes(da: xr.DataArray, keep=("coupling", "k", "seed")) -> tuple[xr.DataArray, str]:
    """``da`` at the first value of every swept axis besides ``keep``, and the words saying so."""
    others = [d for d in da.dims if d not in keep]
    note = ", ".join(f"{d} = {_num(da[d].values[0])}" for d in others)
    return da.isel({d: 0 for d in others}), note


def _num(value) -> str:
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def _simulated_k(summary: xr.Dataset, coupling) -> np.ndarray:
    """Per k, whether any run of ``coupling`` there was simulated (on the slice drawn)."""

    sim, _ = _first_of_other_axes(simulated_runs(summary).sel(coupling=coupling), keep=("k", "seed"))
    return np.asarray(sim.transpose("k", ...).values, bool).reshape(sim.sizes["k"], -1).any(axis=1)


def _refined_k(summary: xr.Dataset, coupling) -> np.ndarray:
    """Per k, whether any run of ``coupling`` there was added by refinement (round >= 1)."""
    if "round" not in summary:
        return np.zeros(summary.sizes["k"], bool)
    rounds, _ = _first_of_other_axes(summary["round"].sel(coupling=coupling), keep=("k", "seed"))
    values = np.asarray(rounds.transpose("k", ...).values, float).reshape(rounds.sizes["k"], -1)
    return (np.nan_to_num(values, nan=-1.0) >= 1).any(axis=1)


def plot_metric_vs_k(summary: xr.Dataset, metric: str, ax=None) -> Figure:
    """``metric`` against k, one line per coupling; the band spans the seeds' range."""
    fig, ax = _axes(ax, (7, 4))
    values, note = _first_of_other_axes(summary[metric])
    any_refined = False
    for i, coupling in enumerate(summary["coupling"].values):
        v = values.sel(coupling=coupling)
        # Refinement gives couplings different k: the others' k are gaps, not breaks in the line.
        keep = _simulated_k(summary, coupling)
        ks = summary["k"].values[keep]
        v = v.isel(k=np.flatnonzero(keep))
        colour = f"C{i % 10}"  # named, so the band and the line agree (fill_between uses up a cycle colour)
        if "seed" in v.dims and v.sizes["seed"] > 1:
            ax.fill_between(ks, v.min("seed"), v.max("seed"), color=colour, alpha=0.2)
            v = v.mean("seed")
        elif "seed" in v.dims:
            v = v.isel(seed=0)
        ax.plot(ks, v.values, color=colour, marker=MARKERS[i % len(MARKERS)], ms=4, lw=1.4,
                ls=LINESTYLES[i % len(LINESTYLES)], mfc="none" if i % 2 else colour, label=str(coupling))
        refined = _refined_k(summary, coupling)[keep]
        if refined.any():
            any_refined = True
            ax.plot(ks[refined], v.values[refined], ls="none", marker="D", ms=8, mfc="none", mec=colour, mew=1.2)
    if any_refined:
        ax.plot([], [], ls="none", marker="D", ms=8, mfc="none", mec="k", label="refined point (round ≥ 1)")
    ax.set_xlabel("coupling strength k")
    units = values.attrs.get("units")
    ax.set_ylabel(f"{metric} ({units})" if units else metric)
    title = values.attrs.get("long_name", "")
    if note:
        title = f"{title}\nat {note}" if title else f"at {note}"
    if title:
        ax.set_title(title, fontsize=9)
    _legend_outside(ax, fontsize=7)
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


def is_log_axis(centres) -> bool:
    """Whether an axis reads better on a log scale: all values positive, spanning at least a
    factor of 100 (noise levels 1e-3, 1e-2, 1e-1...), or a factor of 20 with geometric
    steps (the median ratio of neighbours at least 1.25: speeds 1, 2, 4 ... 32, a
    ``{log: ...}`` k grid, also after refinement inserted points)."""
    c = np.unique(np.asarray(centres, dtype=float))
    if c.size < 2 or not np.all(c > 0):
        return False
    span = c.max() / c.min()
    return bool(span >= 100 or (span >= 20 and np.median(c[1:] / c[:-1]) >= 1.25))


def cell_edges(centres, log: bool = False) -> np.ndarray:
    """The n + 1 cell edges around n sorted centres: midway between neighbours, the outer
    ones as far out as the nearest midpoint, so unevenly spaced (refined) points get cells
    of their true widths. ``log``: the same in log10 (geometric midpoints). A single centre
    gets a cell of width 1 (a factor of 10 when ``log``)."""
    c = np.asarray(centres, dtype=float)
    if log:
        return 10.0 ** cell_edges(np.log10(c))
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mids = (c[1:] + c[:-1]) / 2
    return np.concatenate([[2 * c[0] - mids[0]], mids, [2 * c[-1] - mids[-1]]])


def _plane_edges(plane: Plane) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    xlog = is_log_axis(plane.x)
    ylog = not plane.y_labels and is_log_axis(plane.y)
    return cell_edges(plane.x, xlog), cell_edges(plane.y, ylog), xlog, ylog


def _scaler(edges, log: bool, start: float, length: float, flip: bool = False):
    """Data value -> pixel along one SVG axis of ``length`` pixels from ``start``."""
    f = np.log10 if log else (lambda v: v)
    low, high = f(edges[0]), f(edges[-1])
    if flip:  # SVG y grows downwards; numeric plot axes grow upwards
        return lambda v: start + (high - f(v)) / (high - low) * length
    return lambda v: start + (f(v) - low) / (high - low) * length


def _norm(values) -> Normalize:
    finite = np.asarray(values, float)[np.isfinite(values)]
    if finite.size == 0:
        return Normalize(0.0, 1.0)
    low, high = float(finite.min()), float(finite.max())
    return Normalize(low, high if high > low else low + 1e-12)


def _draw_status(ax, plane: Plane, xe, ye) -> list:
    """Markers for the blank cells; returns their legend handles (present kinds only)."""
    handles = []
    rows, cols = np.nonzero(plane.status == CellStatus.NOT_SIMULATED)
    for i, j in zip(rows, cols, strict=True):
        ax.add_patch(Rectangle((xe[j], ye[i]), xe[j + 1] - xe[j], ye[i + 1] - ye[i], facecolor="#eeeeee",
                               edgecolor="#aaaaaa", hatch="///", lw=0))
    if rows.size:
        handles.append(Patch(facecolor="#eeeeee", edgecolor="#aaaaaa", hatch="///",
                             label=STATUS_LEGEND[CellStatus.NOT_SIMULATED]))
    for status, style in ((CellStatus.DIVERGED, {"marker": "x", "c": "k", "s": 40}),
                          (CellStatus.UNDEFINED, {"marker": "o", "facecolors": "none", "edgecolors": "k", "s": 40})):
        rows, cols = np.nonzero(plane.status == status)
        if rows.size:
            handles.append(ax.scatter(plane.x[cols], plane.y[rows], label=STATUS_LEGEND[status], zorder=3, **style))
    return handles


def _draw_refined(ax, plane: Plane) -> list:
    if plane.rounds is None:
        return []
    rows, cols = np.nonzero(np.nan_to_num(plane.rounds, nan=-1.0) >= 1)
    if not rows.size:
        return []
    return [ax.scatter(plane.x[cols], plane.y[rows], marker="o", s=10, c="white", edgecolors="k", linewidths=0.5,
                       zorder=4, label="refined point (round ≥ 1)")]


def _has_transition(plane: Plane) -> bool:
    sync = plane.synchrony
    if sync is None or min(sync.shape) < 2:
        return False
    finite = sync[np.isfinite(sync)]
    # A contour needs values on both sides of the threshold.
    return bool(finite.size and finite.min() < SYNCHRONY_THRESHOLD <= finite.max())


def _contour(ax, plane: Plane, **kw):
    return ax.contour(plane.x, plane.y, np.ma.masked_invalid(plane.synchrony), levels=[SYNCHRONY_THRESHOLD], **kw)


def transition_lines(plane: Plane) -> list[np.ndarray]:
    """The synchrony = 0.5 contour of ``plane`` as (n, 2) arrays of (x, y) points, one per
    connected piece (cells without synchrony break the line); none when synchrony does not
    cross 0.5 on the plane."""
    if not _has_transition(plane):
        return []
    path = _contour(Figure().add_subplot(), plane).get_paths()[0]
    starts = np.flatnonzero(path.codes == path.MOVETO) if path.codes is not None else np.array([0])
    return [piece for piece in np.split(path.vertices, starts[1:]) if len(piece) > 1]


def _draw_transition(ax, plane: Plane) -> list:
    if not _has_transition(plane):
        return []
    _contour(ax, plane, colors="red", linewidths=1.5, zorder=5)
    return [Line2D([], [], color="red", lw=1.5, label=f"synchrony = {SYNCHRONY_THRESHOLD}")]


def _draw_best(ax, plane: Plane) -> list:
    if plane.best is None:
        return []
    return [ax.scatter([plane.best[0]], [plane.best[1]], marker="*", s=160, c="gold", edgecolors="k", zorder=6,
                       label=f"best fit ({plane.best_by})")]


def plot_plane(plane: Plane) -> Figure:
    """A heatmap of ``plane`` drawn on its true coordinates (cells span :func:`cell_edges`,
    so refined, unevenly spaced points are right), with markers for diverged, undefined and
    not-simulated cells, dots on refined points, the synchrony = 0.5 contour, the best-fit
    star, and their legend below the axes."""
    rows = len(plane.y_labels) if plane.y_labels else 0
    fig = Figure(figsize=(6, max(3.0, 1.6 + 0.4 * rows)) if rows else (5.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    xe, ye, xlog, ylog = _plane_edges(plane)
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(plane.values), cmap="viridis", norm=_norm(plane.values))
    fig.colorbar(mesh, ax=ax, label=f"{plane.metric} ({plane.units})" if plane.units else plane.metric)
    handles = (_draw_status(ax, plane, xe, ye) + _draw_refined(ax, plane) + _draw_transition(ax, plane)
               + _draw_best(ax, plane))
    if plane.y_labels:
        ax.set_yticks(plane.y, plane.y_labels)
        ax.invert_yaxis()  # the first coupling on top, as in a table
    ax.set_xscale("log" if xlog else "linear")
    ax.set_yscale("log" if ylog else "linear")
    ax.set_xlim(xe[0], xe[-1])
    if not plane.y_labels:
        ax.set_ylim(ye[0], ye[-1])
    ax.set(xlabel=plane.x_name, ylabel="" if plane.y_labels else plane.y_name)
    ax.set_title(plane.title, fontsize=9)
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3), fontsize=7, frameon=False)
    return fig


def cell_label(plane: Plane, i: int, j: int) -> str:
    """The words for cell (row ``i``, column ``j``): its coordinates, then the metric's value
    (seed mean) or why there is none, and its refinement round when it was refined."""
    x = f"{plane.x_name} = {_num(plane.x[j])}"
    y = f"{plane.y_name} = {plane.y_labels[i] if plane.y_labels else _num(plane.y[i])}"
    where = f"{y}, {x}" if plane.y_labels else f"{x}, {y}"
    status = CellStatus(int(plane.status[i, j]))
    what = f"{plane.metric} = {plane.values[i, j]:.6g}" if status == CellStatus.VALUE else \
        f"{plane.metric}: {STATUS_LEGEND[status]}"
    if plane.rounds is not None and np.isfinite(plane.rounds[i, j]) and plane.rounds[i, j] >= 1:
        what += f" (refined, round {int(plane.rounds[i, j])})"
    return f"{where}: {what}"


def _svg_ticks(centres, labels, to_px, count=6) -> list[tuple[float, str]]:
    idx = np.unique(np.linspace(0, len(centres) - 1, min(len(centres), count)).round().astype(int))
    return [(to_px(centres[i]), labels[i] if labels else _num(centres[i])) for i in idx]


def svg_key(plane: Plane) -> list[str]:
    """The marks :func:`svg_plane` draws on ``plane`` (those present only), in words."""
    marks = ["hover a cell for its value"]
    marks += [f"{glyph} {STATUS_LEGEND[status]}" for status, glyph in
              ((CellStatus.DIVERGED, "×"), (CellStatus.UNDEFINED, "○"), (CellStatus.NOT_SIMULATED, "hatched:"))
              if (plane.status == status).any()]
    if plane.rounds is not None and (np.nan_to_num(plane.rounds, nan=-1.0) >= 1).any():
        marks.append("white dot: refined point")
    if _has_transition(plane):
        marks.append(f"red line: synchrony = {SYNCHRONY_THRESHOLD}")
    if plane.best is not None:
        marks.append("★ best fit")
    return marks


def _svg_overlays(plane: Plane, px, py) -> list[str]:
    """Refined dots, the transition line and the best-fit star, drawn over the cells but
    transparent to the mouse so the cells' hover text still shows."""
    out = []
    if plane.rounds is not None:
        for i, j in zip(*np.nonzero(np.nan_to_num(plane.rounds, nan=-1.0) >= 1), strict=True):
            out.append(f'<circle cx="{px(plane.x[j]):.1f}" cy="{py(plane.y[i]):.1f}" r="2.5" fill="#ffffff" '
                       'stroke="#000000" stroke-width="0.6" pointer-events="none"/>')
    for piece in transition_lines(plane):
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in piece)
        out.append(f'<polyline class="transition" points="{points}" fill="none" stroke="red" stroke-width="2" '
                   'pointer-events="none"/>')
    if plane.best is not None:
        out.append(f'<text x="{px(plane.best[0]):.1f}" y="{py(plane.best[1]) + 6:.1f}" text-anchor="middle" '
                   'font-size="18" fill="gold" stroke="#000000" stroke-width="0.6" pointer-events="none">★</text>')
    return out


def svg_plane(plane: Plane, width: int = 420, height: int = 260) -> str:
    """``plane`` as an inline SVG heatmap: one ``<rect>`` per cell whose ``<title>`` child
    (:func:`cell_label`) shows the numbers on hover; × marks diverged cells, ○ undefined
    ones, grey hatching points not simulated, white dots refined points, the red line the
    transition (:func:`transition_lines`) and ★ the best fit. Self-contained: no script,
    opens offline."""
    left = 110 if plane.y_labels else 60
    key = svg_key(plane)
    key_lines = [" · ".join(key[i:i + 3]) for i in range(0, len(key), 3)]
    top, bottom, right = 34, 48 + 14 * len(key_lines), 80
    xe, ye, xlog, ylog = _plane_edges(plane)
    px = _scaler(xe, xlog, left, width)
    # Numeric rows grow upwards as on a plot; categorical rows read top to bottom as in a table.
    py = _scaler(ye, ylog, top, height, flip=not plane.y_labels)
    cmap, norm = colormaps["viridis"], _norm(plane.values)
    # Ids are page-wide: one suffix per plane, from what tells planes apart.
    uid = hashlib.sha1(f"{plane.title}|{plane.x_name}|{plane.y_name}".encode()).hexdigest()[:8]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plane" width="{left + width + right}" '
           f'height="{top + height + bottom}" font-family="sans-serif" font-size="11" role="img" '
           f'aria-label="{html.escape(plane.title)}">',
           f'<defs><pattern id="nosim-{uid}" width="6" height="6" patternUnits="userSpaceOnUse">'
           '<rect width="6" height="6" fill="#eeeeee"/><path d="M0,6 L6,0" stroke="#aaaaaa"/></pattern>'
           f'<linearGradient id="cbar-{uid}" x1="0" y1="1" x2="0" y2="0">'
           + "".join(f'<stop offset="{f:.2f}" stop-color="{to_hex(cmap(f))}"/>' for f in np.linspace(0, 1, 11))
           + "</linearGradient></defs>",
           f'<text x="{left}" y="16" font-size="12">{html.escape(plane.title)}</text>']
    for i in range(len(plane.y)):
        for j in range(len(plane.x)):
            x0, x1 = px(xe[j]), px(xe[j + 1])
            y0, y1 = sorted((py(ye[i]), py(ye[i + 1])))
            status = CellStatus(int(plane.status[i, j]))
            fill = to_hex(cmap(norm(plane.values[i, j]))) if status == CellStatus.VALUE else \
                (f"url(#nosim-{uid})" if status == CellStatus.NOT_SIMULATED else "#ffffff")
            out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
                       f'fill="{fill}" stroke="{"#ffffff" if status == CellStatus.VALUE else "#cccccc"}" '
                       'stroke-width="0.5">'
                       f"<title>{html.escape(cell_label(plane, i, j))}</title></rect>")
            glyph = {CellStatus.DIVERGED: "×", CellStatus.UNDEFINED: "○"}.get(status)
            if glyph:
                out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{(y0 + y1) / 2 + 4:.1f}" text-anchor="middle" '
                           f'pointer-events="none">{glyph}</text>')
    out += _svg_overlays(plane, px, py)
    for x, label in _svg_ticks(plane.x, None, px):
        out.append(f'<text x="{x:.1f}" y="{top + height + 14}" text-anchor="middle">{html.escape(label)}</text>')
    for y, label in _svg_ticks(plane.y, plane.y_labels, py, count=20 if plane.y_labels else 6):
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{html.escape(str(label))}</text>')
    out.append(f'<text x="{left + width / 2}" y="{top + height + 34}" text-anchor="middle">'
               f"{html.escape(plane.x_name)}</text>")
    if not plane.y_labels:
        out.append(f'<text x="12" y="{top + height / 2}" text-anchor="middle" '
                   f'transform="rotate(-90 12 {top + height / 2})">{html.escape(plane.y_name)}</text>')
    out += [f'<text x="8" y="{top + height + 54 + 14 * n}" font-size="10" fill="#444444">{html.escape(line)}</text>'
            for n, line in enumerate(key_lines)]
    bar = left + width + 16
    out.append(f'<rect x="{bar}" y="{top}" width="12" height="{height}" fill="url(#cbar-{uid})"/>'
               f'<text x="{bar + 16}" y="{top + 10}">{norm.vmax:.3g}</text>'
               f'<text x="{bar + 16}" y="{top + height}">{norm.vmin:.3g}</text></svg>')
    return "".join(out)
