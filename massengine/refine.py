"""Adaptive refinement of a coupling-strength sweep: which k to simulate next.

After a coarse grid of coupling strengths ``k``, a campaign adds points where a metric (by
default synchrony, in [0, 1]) crosses a threshold or changes fastest. The workflow calls
:func:`next_points` (one metric curve) or :func:`plan_round` (a metric with more axes, e.g.
one curve per conduction speed) between rounds, with every k simulated so far and its metric
values, and simulates the returned k next round. The functions are pure NumPy and keep no
state: the grid itself is the state, so a round can be re-planned, resumed or audited from
the stored results alone.

Conventions shared by every function here:

- ``k`` is 1-D, finite and strictly increasing (the caller sorts; duplicates are an error).
- ``values[i]`` is the metric at ``k[i]``. A non-finite value (NaN: diverged or undefined
  run; also ±inf) is *undefined*: it is neither above nor below anything. The *intervals*
  are the pairs of consecutive **finite** points; an interval spans the undefined points
  between them. Undefined points before the first or after the last finite point belong to
  no interval.
- A point has *reached* the threshold when ``value >= threshold``; an interval is a
  *crossing* when exactly one of its two end points has reached it (either direction).
- Refining an interval means bisecting the *gap* (consecutive grid points, defined or not)
  at each of its ends: the interval's own midpoint when nothing undefined lies inside it;
  otherwise the gap from its lower end to the first undefined point and the gap from the last
  undefined point to its upper end, which locates the edges of the undefined stretch without
  spending points inside it (its metric is undefined there, typically a contiguous diverged
  region). A gap is *refinable* when it is wider than ``tol`` and its midpoint is a float
  distinct (beyond 1e-12 relative) from both of its ends. An interval with no refinable end
  gap is *refined to tol*: with nothing undefined inside, that is exactly ``width <= tol``.

Repeating :func:`next_points` on the growing grid is bisection: each round halves the end
gaps of every crossing it refines, so a crossing of initial width ``w`` is refined to ``tol``
after ``ceil(log2(w / tol))`` rounds, and the next round returns nothing for it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["MODES", "crossings", "next_points", "plan_round", "steepest"]

#: The valid ``mode`` arguments of :func:`next_points` and :func:`plan_round`.
MODES = ("crossing", "steepest", "both")

_REL = 1e-12  # two k closer than this (relative) are the same point


# ---- validation ------------------------------------------------------------------------------


def _check_k(k) -> np.ndarray:
    try:
        k = np.asarray(k, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"k must be a 1-D array of real numbers: {err}") from None
    if k.ndim != 1:
        raise ValueError(f"k must be 1-D, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("k must be finite (no NaN or inf)")
    steps = np.diff(k)
    if np.any(steps == 0):
        i = int(np.flatnonzero(steps == 0)[0])
        raise ValueError(f"k must not contain duplicates: k[{i}] == k[{i + 1}] == {k[i]!r}")
    if np.any(steps < 0):
        i = int(np.flatnonzero(steps < 0)[0])
        raise ValueError(f"k must be sorted ascending: k[{i}] = {k[i]!r} > k[{i + 1}] = {k[i + 1]!r}")
    return k


def _check_values(values, k: np.ndarray, *, one_d: bool) -> np.ndarray:
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"values must be an array of real numbers: {err}") from None
    if one_d and values.shape != k.shape:
        raise ValueError(f"values must have the shape of k, {k.shape}; got {values.shape}")
    if not one_d and (values.ndim < 1 or values.shape[0] != k.shape[0]):
        raise ValueError(f"values must have shape (len(k), ...) = ({k.shape[0]}, ...); got {values.shape}")
    return values


def _check_real(name: str, x) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {x!r}")
    return float(x)


def _check_threshold(threshold) -> float:
    threshold = _check_real("threshold", threshold)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    return threshold


def _check_tol(tol) -> float:
    tol = _check_real("tol", tol)
    if not tol > 0:  # also rejects NaN
        raise ValueError(f"tol must be > 0 (a width in k), got {tol!r}")
    return tol


def _check_count(name: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {n!r}")
    if n < 0:
        raise ValueError(f"{name} must be >= 0, got {n!r}")
    return int(n)


def _check_mode(mode) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(repr(m) for m in MODES)}; got {mode!r}")
    return mode


# ---- kernels (validated inputs, one 1-D curve) -----------------------------------------------


def _intervals(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (lo, hi) of consecutive finite points."""
    finite = np.flatnonzero(np.isfinite(values))
    return finite[:-1], finite[1:]


def _refinable_gap(k: np.ndarray, g: int, tol: float) -> bool:
    a, b = k[g], k[g + 1]
    if not b - a > tol:
        return False
    mid = 0.5 * (a + b)
    scale = _REL * max(abs(a), abs(b))
    return mid - a > scale and b - mid > scale


def _end_gaps(k: np.ndarray, lo: int, hi: int, tol: float) -> list[int]:
    """Refinable gaps (index g: between k[g] and k[g + 1]) at the ends of interval (lo, hi)."""
    gaps = [lo] if hi == lo + 1 else [lo, hi - 1]
    return [g for g in gaps if _refinable_gap(k, g, tol)]


def _crossing_mask(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, threshold: float) -> np.ndarray:
    return (values[lo] >= threshold) != (values[hi] >= threshold)


def _candidates(k: np.ndarray, values: np.ndarray, threshold: float, tol: float, mode: str) -> list[tuple]:
    """(category, -|Δvalue|, k_lo, gap) for every refinable end gap; category 0 = crossing, 1 = steepest."""
    lo, hi = _intervals(values)
    change = np.abs(values[hi] - values[lo])
    crossing = _crossing_mask(values, lo, hi, threshold)
    out = []
    for i in range(lo.size):
        if mode in ("crossing", "both") and crossing[i]:
            category = 0
        elif mode in ("steepest", "both") and change[i] > 0:
            category = 1
        else:
            continue
        for g in _end_gaps(k, int(lo[i]), int(hi[i]), tol):
            out.append((category, -float(change[i]), float(k[lo[i]]), g))
    return out


# ---- public API ------------------------------------------------------------------------------


def crossings(k, values, threshold: float = 0.5) -> list[tuple[float, float]]:
    """Brackets ``(k_lo, k_hi)`` of the threshold crossings of ``values(k)``, ascending in k.

    A bracket is a pair of consecutive *finite* points of which exactly one has reached the
    threshold (``value >= threshold``; a value equal to the threshold counts as reached), in
    either direction (rising or falling). Non-finite values are skipped: a bracket spans any
    NaN points between its two finite ends, so ``[0.1, nan, 0.9]`` at threshold 0.5 gives one
    bracket over the whole range. Every crossing is returned, however narrow.
    """
    k = _check_k(k)
    values = _check_values(values, k, one_d=True)
    threshold = _check_threshold(threshold)
    lo, hi = _intervals(values)
    mask = _crossing_mask(values, lo, hi, threshold)
    return [(float(k[a]), float(k[b])) for a, b in zip(lo[mask], hi[mask], strict=True)]


def steepest(k, values, n: int, *, tol: float | None = None) -> list[tuple[float, float]]:
    """The ``n`` intervals ``(k_lo, k_hi)`` over which ``values`` changes most, steepest first.

    Intervals are between consecutive *finite* points (spanning any NaN between them) and
    are ranked by ``|values[hi] - values[lo]|`` (the change, not the slope), largest first;
    equal changes are ranked by lower ``k_lo`` first. Intervals with no change are never
    returned. With ``tol`` given (> 0), intervals already refined to ``tol`` (see the module
    docstring; without NaN inside, ``width <= tol``) are excluded. Fewer than ``n`` are
    returned when fewer qualify; ``n = 0`` returns none.
    """
    k = _check_k(k)
    values = _check_values(values, k, one_d=True)
    n = _check_count("n", n)
    if tol is not None:
        tol = _check_tol(tol)
    lo, hi = _intervals(values)
    change = np.abs(values[hi] - values[lo])
    ranked = []
    for i in range(lo.size):
        if not change[i] > 0:
            continue
        if tol is not None and not _end_gaps(k, int(lo[i]), int(hi[i]), tol):
            continue
        ranked.append((-float(change[i]), float(k[lo[i]]), float(k[hi[i]])))
    ranked.sort()
    return [(a, b) for _, a, b in ranked[:n]]


def plan_round(
    k, values, *, threshold: float = 0.5, tol: float, max_points: int, mode: str = "crossing"
) -> np.ndarray:
    """New k for the next round of a metric with more axes than k: ``values`` has shape ``(len(k), *other)``.

    Each curve ``values[:, j...]`` (e.g. one per conduction speed, already reduced over
    seeds) is refined as by :func:`next_points`; the result is the union of the new k (the
    run grid is cartesian, so each new k is simulated at every other-axis value). When more
    than ``max_points`` are proposed, crossings (of any curve) come before steepest
    intervals, and within each kind the larger ``|Δvalue|`` first (a gap proposed by
    several curves counts with its largest), then lower k. ``values`` of shape ``(len(k),)``
    is one curve: exactly :func:`next_points`. A labelled array must have k on its first
    axis (``da.transpose("k", ...)``).

    Returns a sorted float64 array of distinct k, none within 1e-12 (relative) of an existing
    k, at most ``max_points`` long; empty when nothing is left to refine or ``max_points``
    is 0 (refinement switched off).
    """
    k = _check_k(k)
    values = _check_values(values, k, one_d=False)
    threshold = _check_threshold(threshold)
    tol = _check_tol(tol)
    max_points = _check_count("max_points", max_points)
    mode = _check_mode(mode)
    curves = values.reshape(k.size, -1).T
    best: dict[int, tuple] = {}
    for curve in curves:
        for cand in _candidates(k, curve, threshold, tol, mode):
            g = cand[-1]
            if g not in best or cand < best[g]:
                best[g] = cand
    chosen = sorted(best.values())[:max_points]
    return np.array(sorted(0.5 * (k[g] + k[g + 1]) for *_, g in chosen), dtype=np.float64)


def next_points(
    k, values, *, threshold: float = 0.5, tol: float, max_points: int, mode: str = "crossing"
) -> np.ndarray:
    """New k to simulate next round: midpoints of the brackets not yet refined to ``tol``.

    ``mode="crossing"`` refines the threshold crossings (:func:`crossings`);
    ``"steepest"`` the intervals with the largest change (:func:`steepest`); ``"both"``
    crossings first, then steepest intervals to fill the remaining places. Each chosen
    interval contributes the midpoint of its end gap(s) (its own midpoint when it has no NaN
    inside; see the module docstring). Within a kind, the larger ``|Δvalue|`` goes first,
    then lower k; the first ``max_points`` are kept.

    Returns a sorted float64 array of distinct k, none within 1e-12 (relative) of an existing
    k, at most ``max_points`` long. Empty when nothing is left to refine (in crossing mode:
    every crossing refined to ``tol``, or none at all) or ``max_points`` is 0 (refinement
    switched off). Steepest mode stops only when every interval with any change is refined
    to ``tol``, so the campaign's round and point budget is what ends it in practice.
    """
    k = _check_k(k)
    values = _check_values(values, k, one_d=True)
    return plan_round(k, values, threshold=threshold, tol=tol, max_points=max_points, mode=mode)
