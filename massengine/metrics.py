"""What a sweep measures: FC, FCD, synchrony, metastability, spectra.

Two layers (xarray's habit): NumPy kernels on arrays whose last two axes are
``(time, region)`` (leading axes are runs), label-agnostic and independently testable; and
:func:`compute`, which maps them over a labelled trajectory store with
``xarray.apply_ufunc(..., dask="parallelized")``, one dask task per run.

A run containing any non-finite sample (it diverged) gets NaN for every metric, never a
number computed from garbage. A region whose signal is flat has no defined correlation:
its FC entries are NaN (reported as such, not as 0).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import signal as sps

from . import io

# ---- NumPy kernels: (..., time, region) ------------------------------------------------------


def _finite_runs(x: np.ndarray) -> np.ndarray:
    """(...,) True where the whole run is finite."""
    return np.all(np.isfinite(x), axis=(-2, -1))


def functional_connectivity(x: np.ndarray) -> np.ndarray:
    """Pearson correlation over time between regions: (..., time, region) -> (..., region, region)."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=-2, keepdims=True)
    cov = np.einsum("...ti,...tj->...ij", centred, centred)
    # A flat region's centred samples may be an ulp off 0 (its mean rounds): no correlation.
    std = np.where(np.ptp(x, axis=-2) > 0, np.sqrt(np.einsum("...ii->...i", cov)), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fc = cov / (std[..., :, None] * std[..., None, :])
    fc = np.where(np.isfinite(fc), np.clip(fc, -1.0, 1.0), np.nan)
    return np.where(_finite_runs(x)[..., None, None], fc, np.nan)


def upper_triangle(m: np.ndarray) -> np.ndarray:
    """(..., N, N) -> (..., N(N-1)/2): the strict upper triangle."""
    i, j = np.triu_indices(m.shape[-1], k=1)
    return m[..., i, j]


def mean_fc(fc: np.ndarray) -> np.ndarray:
    """Mean of the FC's upper triangle (NaN entries of flat regions ignored; all-NaN -> NaN)."""
    tri = upper_triangle(fc)
    count = np.sum(np.isfinite(tri), axis=-1)
    total = np.nansum(tri, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def matrix_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of the upper triangles of two (..., N, N) matrices (NaN-aware)."""
    ta, tb = np.broadcast_arrays(upper_triangle(np.asarray(a, float)), upper_triangle(np.asarray(b, float)))
    return _row_corr(ta, tb)


def fcd(x: np.ndarray, window: int, step: int) -> np.ndarray:
    """Functional connectivity dynamics: correlations between the FC (upper triangles) of
    sliding windows of ``window`` samples every ``step`` samples -> (..., W, W)."""
    n_time = x.shape[-2]
    if window > n_time or window < 3:
        raise ValueError(f"FCD window of {window} samples does not fit a run of {n_time} samples.")
    return fcd_of_windows(window_fcs(x, range(0, n_time - window + 1, step), window))


def window_fcs(x: np.ndarray, starts, window: int) -> np.ndarray:
    """The FC upper triangles of the windows of ``window`` samples at ``starts``:
    (..., time, region) -> (..., W, pairs)."""
    return np.stack([upper_triangle(functional_connectivity(x[..., s : s + window, :])) for s in starts], axis=-2)


def fcd_of_windows(windows: np.ndarray) -> np.ndarray:
    """The FCD (..., W, W) of window FC upper triangles (..., W, pairs) (:func:`window_fcs`)."""
    w = windows.shape[-2]
    finite = np.isfinite(windows)
    whole = finite.all(-1)
    if windows.shape[-1] >= 3 and (whole | ~finite.any(-1)).all():
        # Each window's FC finite throughout (or NaN throughout: a diverged run): the W x W
        # Pearson correlations as one matrix product — what _row_corr gives pair by pair,
        # without its (W, W, pairs) temporaries; NaN rows and columns for NaN windows.
        centred = np.where(whole[..., None], windows - np.nanmean(np.where(finite, windows, 0.0), -1,
                                                                  keepdims=True), 0.0)
        norm = np.sqrt(np.einsum("...wp,...wp->...w", centred, centred))
        with np.errstate(invalid="ignore", divide="ignore"):
            z = centred / norm[..., None]
            out = np.einsum("...ap,...bp->...ab", z, z)
        ok = whole[..., :, None] & whole[..., None, :]
        return np.where(ok & np.isfinite(out), np.clip(out, -1.0, 1.0), np.nan)
    a = np.repeat(windows[..., :, None, :], w, axis=-2)
    b = np.repeat(windows[..., None, :, :], w, axis=-3)
    return _row_corr(a, b)


def _row_corr(a, b):
    """Pearson correlation along the last axis, over the entries finite in both; NaN with
    fewer than three such entries or no variance."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum(-1)
    a, b = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        da = np.where(ok, a - (a.sum(-1) / n)[..., None], 0.0)
        db = np.where(ok, b - (b.sum(-1) / n)[..., None], 0.0)
        r = (da * db).sum(-1) / np.sqrt((da * da).sum(-1) * (db * db).sum(-1))
    return np.where((n > 2) & np.isfinite(r), r, np.nan)


def fcd_variance(fcd_matrix: np.ndarray) -> np.ndarray:
    """Variance of the FCD's upper triangle: how much FC wanders over time."""
    tri = upper_triangle(fcd_matrix)
    with np.errstate(invalid="ignore"):
        return np.where(np.all(np.isfinite(tri), -1) & (tri.shape[-1] > 0), np.var(tri, axis=-1), np.nan)


def _bandpass(x: np.ndarray, fs: float, band) -> np.ndarray:
    low, high = band
    if not 0 < low < high < fs / 2:
        raise ValueError(f"band {list(band)} Hz must satisfy 0 < low < high < fs/2 = {fs / 2:g} Hz.")
    sos = sps.butter(4, [low, high], btype="bandpass", fs=fs, output="sos")
    return sps.sosfiltfilt(sos, x, axis=-2)


def analytic_signal(x: np.ndarray, fs: float, band=None) -> np.ndarray:
    """Hilbert analytic signal of each demeaned (optionally band-passed) region."""
    x = np.asarray(x, dtype=np.float64)
    x = np.where(np.isfinite(x), x, 0.0) - np.nanmean(np.where(np.isfinite(x), x, 0.0), axis=-2, keepdims=True)
    if band is not None:
        x = _bandpass(x, fs, band)
    return sps.hilbert(x, axis=-2)


def order_parameter(x: np.ndarray, fs: float, band=None) -> np.ndarray:
    """Kuramoto order parameter R(t) = |mean_j exp(i phase_j(t))|, phases from the Hilbert
    transform: (..., time, region) -> (..., time). Flat regions carry no phase: excluded."""
    z = analytic_signal(x, fs, band)
    amplitude = np.abs(z)
    moving = np.std(np.asarray(x, float), axis=-2, keepdims=True) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(moving & (amplitude > 0), z / amplitude, 0.0)
        r = np.abs(unit.sum(axis=-1)) / moving.sum(axis=-1)
    r = np.where(moving.sum(axis=-1) > 0, r, np.nan)
    return np.where(_finite_runs(x)[..., None], r, np.nan)


def synchrony(r: np.ndarray) -> np.ndarray:
    """Mean of R(t)."""
    return np.mean(r, axis=-1)


def metastability(r: np.ndarray) -> np.ndarray:
    """Standard deviation of R(t) (Shanahan 2010)."""
    return np.std(r, axis=-1)


def mean_amplitude(x: np.ndarray, fs: float, band=None) -> np.ndarray:
    """Mean Hilbert envelope over time and regions."""
    amp = np.abs(analytic_signal(x, fs, band)).mean(axis=(-2, -1))
    return np.where(_finite_runs(x), amp, np.nan)


def welch_psd(x: np.ndarray, fs: float, nperseg: int | None = None):
    """Region-averaged Welch PSD: (..., time, region) -> (freqs (F,), psd (..., F))."""
    n_time = x.shape[-2]
    nperseg = min(n_time, nperseg or 256)
    clean = np.where(np.isfinite(x), x, 0.0)
    freqs, pxx = sps.welch(clean, fs=fs, nperseg=nperseg, axis=-2, detrend="constant")
    psd = pxx.mean(axis=-1)  # (..., F)
    return freqs, np.where(_finite_runs(x)[..., None], psd, np.nan)


def peak_frequency(freqs: np.ndarray, psd: np.ndarray) -> np.ndarray:
    """Frequency (Hz) of the PSD maximum, DC excluded; NaN for a flat or diverged run."""
    body = psd[..., 1:]
    ok = np.all(np.isfinite(body), axis=-1) & (np.nanmax(np.where(np.isfinite(body), body, 0), axis=-1) > 0)
    idx = np.argmax(np.where(np.isfinite(body), body, -np.inf), axis=-1)
    return np.where(ok, freqs[1:][idx], np.nan)


# ---- the labelled layer ---------------------------------------------------------------------


SCALARS = ("mean_fc", "fc_sc_corr", "fc_target_corr", "fcd_var", "synchrony", "metastability",
           "peak_freq", "mean_amplitude")
DESCRIPTIONS = {
    "mean_fc": ("mean functional connectivity (upper triangle of the Pearson FC)", ""),
    "fc_sc_corr": ("correlation of FC with the structural weights (upper triangles)", ""),
    "fc_target_corr": ("correlation of FC with the target FC (upper triangles)", ""),
    "fcd_var": ("variance of the FCD matrix's upper triangle", ""),
    "synchrony": ("mean Kuramoto order parameter R(t) of the Hilbert phases", ""),
    "metastability": ("standard deviation of R(t)", ""),
    "peak_freq": ("frequency of the region-averaged Welch PSD maximum", "Hz"),
    "mean_amplitude": ("mean Hilbert envelope", "a.u."),
    "fc": ("functional connectivity (Pearson over time)", ""),
    "fcd": ("functional connectivity dynamics (correlation of windowed FCs)", ""),
    "psd": ("region-averaged Welch power spectral density", "a.u.^2/Hz"),
}


def _core(da: xr.DataArray, fn, out_dims, sizes=None, dtype=np.float64):
    return xr.apply_ufunc(
        fn, da, input_core_dims=[["time", "region"]], output_core_dims=[out_dims],
        dask="parallelized", output_dtypes=[dtype],
        dask_gufunc_kwargs={"output_sizes": sizes or {}},
    )


def check_target_fc(fc) -> None:
    """A target FC must vary off its diagonal: a constant one correlates with nothing (the
    report would silently rank k by the structural connectivity instead, a fit would have
    nothing to follow). Raises :class:`ValueError`."""
    fc = np.asarray(fc, dtype=np.float64)
    off = fc[~np.eye(fc.shape[0], dtype=bool)]
    if off.size == 0 or not np.all(np.isfinite(off)) or np.ptp(off) == 0:
        raise ValueError("the target FC is constant (or non-finite) off its diagonal: correlation with it is "
                         "undefined and nothing could be ranked or fitted by it. Give an empirical FC matrix, or "
                         "leave target_fc out to rank by the structural connectivity.")


def compute(traj: xr.Dataset, variable: str, weights: np.ndarray, fcd_window_ms: float,
            fcd_step_ms: float, band=None, target_fc: np.ndarray | None = None) -> xr.Dataset:
    """All metrics of a trajectory dataset (``k, seed, time, region``; dask-backed or not).

    Returns a lazy dataset: FC ``(k, seed, region, region_j)``, FCD ``(k, seed, window,
    window_j)``, PSD ``(k, seed, freq)``, the scalars of :data:`SCALARS` ``(k, seed)``,
    and ``diverged``/``divergence_time`` carried over.
    """
    _check_target(target_fc)
    da = traj[variable]
    if da.chunks is not None:  # a streamed store holds time in segments; each metric reads a whole run
        da = da.chunk({"time": -1, "region": -1})
    times = traj["time"].values
    fs, window, step = sampling(times, fcd_window_ms, fcd_step_ms)
    n_windows = len(range(0, times.size - window + 1, step))
    n = traj.sizes["region"]
    freqs, _ = welch_psd(np.zeros((times.size, n)), fs)

    fc = _core(da, functional_connectivity, ["region", "region_j"], {"region_j": n})
    fcd_m = _core(da, lambda x: fcd(x, window, step), ["window", "window_j"],
                  {"window": n_windows, "window_j": n_windows})
    r = _core(da, lambda x: order_parameter(x, fs, band), ["time"])
    psd = _core(da, lambda x: welch_psd(x, fs)[1], ["freq"], {"freq": freqs.size})
    amp = xr.apply_ufunc(lambda x: mean_amplitude(x, fs, band), da, input_core_dims=[["time", "region"]],
                         dask="parallelized", output_dtypes=[np.float64])
    out = labelled(xr.Dataset({"fc": fc, "fcd": fcd_m, "psd": psd}), times, step, freqs, traj["region"].values)
    out["synchrony"] = xr.apply_ufunc(synchrony, r, input_core_dims=[["time"]], dask="parallelized",
                                      output_dtypes=[np.float64])
    out["metastability"] = xr.apply_ufunc(metastability, r, input_core_dims=[["time"]], dask="parallelized",
                                          output_dtypes=[np.float64])
    out["mean_amplitude"] = amp
    out = derived(out, traj, weights, target_fc)
    out.attrs.update({"metrics_variable": variable, "fcd_window_ms": fcd_window_ms, "fcd_step_ms": fcd_step_ms,
                      "band_hz": "none" if band is None else list(band), "sampling_rate_hz": fs})
    return io.describe(out, f"metrics of {variable}",
                       f"metrics.compute(variable={variable!r}, fcd_window_ms={fcd_window_ms}, "
                       f"fcd_step_ms={fcd_step_ms}, band={band})")


def _check_target(target_fc) -> None:
    if target_fc is not None:
        try:
            check_target_fc(target_fc)
        except ValueError as err:
            raise ValueError(f"target_fc: {err}") from None


def sampling(times: np.ndarray, fcd_window_ms: float, fcd_step_ms: float) -> tuple[float, int, int]:
    """``(sampling rate in Hz, FCD window, FCD step in samples)`` of samples at ``times`` (ms)."""
    period_ms = float(times[1] - times[0]) if times.size > 1 else 1.0
    return (1000.0 / period_ms, max(3, int(round(fcd_window_ms / period_ms))),
            max(1, int(round(fcd_step_ms / period_ms))))


def labelled(out: xr.Dataset, times: np.ndarray, step: int, freqs: np.ndarray, regions) -> xr.Dataset:
    """The coordinates of the matrices ``fc``, ``fcd`` and ``psd``: the second region axis,
    each FCD window's start time (ms), the PSD's frequencies (Hz)."""
    period_ms = float(times[1] - times[0]) if times.size > 1 else 1.0
    n_windows = out.sizes["window"]
    return out.assign_coords(region_j=("region_j", regions),
                             window=("window", times[0] + period_ms * (np.arange(n_windows) * step)),
                             window_j=("window_j", np.arange(n_windows)),
                             freq=("freq", freqs, {"units": "Hz"}))


def derived(out: xr.Dataset, runs: xr.Dataset, weights: np.ndarray, target_fc=None) -> xr.Dataset:
    """``out`` (``fc``, ``fcd``, ``psd`` and whichever of synchrony, metastability and
    mean_amplitude were computed) with the scalars derived from the matrices, every scalar
    NaN where the run diverged, ``diverged``/``divergence_time`` of ``runs``, and each
    variable's description."""
    freqs = out["freq"].values
    over = lambda fn, m, dims: xr.apply_ufunc(fn, m, input_core_dims=[dims], dask="parallelized",  # noqa: E731
                                              output_dtypes=[np.float64])
    pair = ["region", "region_j"]
    out["mean_fc"] = over(mean_fc, out["fc"], pair)
    out["fc_sc_corr"] = over(lambda m: matrix_correlation(m, weights), out["fc"], pair)
    out["fcd_var"] = over(fcd_variance, out["fcd"], ["window", "window_j"])
    out["peak_freq"] = over(lambda p: peak_frequency(freqs, p), out["psd"], ["freq"])
    if target_fc is not None:
        out["fc_target_corr"] = over(lambda m: matrix_correlation(m, target_fc), out["fc"], pair)
    else:
        out["fc_target_corr"] = xr.full_like(out["mean_fc"], np.nan)
    diverged = runs["diverged"]
    for name in SCALARS:
        if name in out:
            out[name] = out[name].where(~diverged)
    out["diverged"] = diverged
    out["divergence_time"] = runs["divergence_time"]
    for name, (doc, units) in DESCRIPTIONS.items():
        if name in out:
            out[name].attrs = {"long_name": doc, "units": units}
    if "history" in runs.attrs:
        out.attrs["history"] = runs.attrs["history"]
    return out
