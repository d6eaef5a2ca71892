"""Metrics computed while a sweep runs, from each time segment as it leaves the engine: the
trajectories themselves are never held, so memory does not grow with a run's duration.

:class:`StreamedMetrics` takes a batch of runs' samples segment by segment, in time order,
and keeps only what the metrics need:

- **FC**: each run's mean and co-moment matrix, merged segment by segment with Chan et
  al.'s pairwise update (each segment centred on its own mean first, so no sum of squares
  of raw values cancels) in float64, whatever the run's precision;
- **FCD**: the last ``window - 1`` samples, so that windows straddling two segments are
  whole; each finished window's FC upper triangle (``W x pairs`` per run);
- **PSD**: the last ``nperseg - 1`` samples and the sum of the Welch segments' periodograms
  (Hann window, half overlap, constant detrend: :func:`massengine.metrics.welch_psd`).

The scalars (mean FC, FC-SC and FC-target correlations, FCD variance, peak frequency) are
derived from these matrices by the same functions as for stored trajectories
(:func:`massengine.metrics.derived`). Synchrony, metastability and the mean amplitude need
a Hilbert transform (and a zero-phase band-pass) of the whole run: they are not streamed,
and a streamed sweep does not report them rather than report them approximately.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from scipy import signal as sps

from . import io, metrics
from .simulate import plan_sweep, run_batches

# What a streamed sweep reports: the matrices and the scalars derived from them.
STREAMED = ("fc", "fcd", "psd", "mean_fc", "fc_sc_corr", "fc_target_corr", "fcd_var", "peak_freq")
NOT_STREAMED = ("synchrony", "metastability", "mean_amplitude")


class StreamedMetrics:
    """The FC, FCD and PSD of ``n_runs`` runs of ``n_samples`` samples of ``n_regions``
    regions, fed :meth:`add` segments ``(runs, m, regions)`` in time order."""

    def __init__(self, n_runs: int, n_regions: int, n_samples: int, fcd_window: int, fcd_step: int,
                 fs: float):
        if fcd_window > n_samples or fcd_window < 3:
            raise ValueError(f"FCD window of {fcd_window} samples does not fit a run of {n_samples} samples.")
        self.n_samples, self.fs = n_samples, fs
        self.window, self.step = fcd_window, fcd_step
        self.nperseg = min(n_samples, 256)  # metrics.welch_psd's choice
        self.seen = 0
        self.finite = np.ones(n_runs, bool)
        self.mean = np.zeros((n_runs, n_regions))
        self.comoment = np.zeros((n_runs, n_regions, n_regions))
        self.low, self.high = np.full((n_runs, n_regions), np.inf), np.full((n_runs, n_regions), -np.inf)
        self.tail = np.zeros((n_runs, 0, n_regions))  # the samples a later window or Welch segment needs
        self.next_window, self.windows = 0, []
        self.next_welch, self.periodograms, self.n_welch = 0, 0.0, 0

    def add(self, x: np.ndarray) -> None:
        """The next ``m`` samples of every run, ``(runs, m, regions)``."""
        x = np.asarray(x, np.float64)
        if self.seen + x.shape[1] > self.n_samples:
            raise ValueError(f"{self.seen + x.shape[1]} samples given for runs of {self.n_samples}.")
        self.finite &= np.isfinite(x).all(axis=(1, 2))
        self.low, self.high = np.minimum(self.low, x.min(axis=1)), np.maximum(self.high, x.max(axis=1))
        with np.errstate(invalid="ignore", over="ignore"):
            self._moments(x)
        start = self.seen - self.tail.shape[1]  # the sample index of tail[:, 0]
        self.tail = np.concatenate([self.tail, x], axis=1)
        self.seen += x.shape[1]
        self._windows(start)
        self._welch(start)
        keep = min(self.next_window, self.next_welch) - start  # nothing before these is read again
        self.tail = self.tail[:, max(0, keep):]

    def _moments(self, x: np.ndarray) -> None:
        m, n = x.shape[1], self.seen
        seg_mean = x.mean(axis=1)
        centred = x - seg_mean[:, None]
        seg_comoment = np.einsum("bti,btj->bij", centred, centred)
        delta = seg_mean - self.mean
        total = n + m
        self.comoment += seg_comoment + np.einsum("bi,bj->bij", delta, delta) * (n * m / total)
        self.mean += delta * (m / total)

    def _windows(self, start: int) -> None:
        last = self.n_samples - self.window  # the last start metrics.fcd uses
        starts = range(self.next_window, min(self.seen - self.window, last) + 1, self.step)
        if len(starts):
            self.windows.append(metrics.window_fcs(self.tail, [s - start for s in starts], self.window))
            self.next_window = starts[-1] + self.step

    def _welch(self, start: int) -> None:
        hop = self.nperseg - self.nperseg // 2  # scipy's default overlap, nperseg // 2
        starts = range(self.next_welch, self.seen - self.nperseg + 1, hop)
        if len(starts):
            segs = np.stack([self.tail[:, s - start: s - start + self.nperseg] for s in starts], axis=1)
            segs = np.where(np.isfinite(segs), segs, 0.0)
            freqs, pxx = sps.welch(segs, fs=self.fs, nperseg=self.nperseg, noverlap=0, axis=-2,
                                   detrend="constant")  # one periodogram per segment: (runs, S, F, N)
            self.freqs = freqs
            self.periodograms = self.periodograms + pxx.sum(axis=1)
            self.n_welch += len(starts)
            self.next_welch = starts[-1] + hop

    def finish(self) -> dict[str, np.ndarray]:
        """``fc`` (runs, N, N), ``fcd`` (runs, W, W), ``psd`` (runs, F) and ``freq`` (F,),
        as :mod:`massengine.metrics` computes them from the whole runs."""
        if self.seen != self.n_samples:
            raise ValueError(f"runs of {self.n_samples} samples ended after {self.seen}.")
        # A flat region has no correlation (metrics.functional_connectivity's rule).
        std = np.where(self.high > self.low, np.sqrt(np.einsum("bii->bi", self.comoment)), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            fc = self.comoment / (std[:, :, None] * std[:, None, :])
        fc = np.where(np.isfinite(fc), np.clip(fc, -1.0, 1.0), np.nan)
        fc = np.where(self.finite[:, None, None], fc, np.nan)
        windows = np.concatenate(self.windows, axis=1)
        psd = self.periodograms.mean(axis=-1) / self.n_welch  # Welch's mean, then over regions
        psd = np.where(self.finite[:, None], psd, np.nan)
        return {"fc": fc, "fcd": metrics.fcd_of_windows(windows), "psd": psd, "freq": self.freqs}


def sweep_metrics(net, k, couplings: Sequence[str | Mapping] | None = None, *, duration: float,
                  seeds: Sequence[int] | None = None, grid: Mapping | None = None, variable: str | None = None,
                  fcd_window_ms: float = 50.0, fcd_step_ms: float = 10.0, target_fc=None,
                  batch_size: int | None = None, chunk_samples: int | None = None, devices=None,
                  **settings) -> xr.Dataset:
    """The metrics of :func:`massengine.sweep`'s runs, computed as the runs stream, without
    keeping their trajectories.

    Takes :func:`massengine.sweep`'s arguments (``settings``: ``dt``, ``noise``,
    ``record``...) plus what :func:`massengine.metrics.compute` takes: ``variable`` (the
    recorded signal measured; default the first recorded), the FCD window and step (ms)
    and ``target_fc``. Returns the dataset ``metrics.compute(sweep(...), ...)`` returns, with
    the same numbers (float64 sums: within 1e-10 of it), dims ``(coupling, k, *grid axes,
    [seed,] ...)``, except synchrony, metastability and mean amplitude (:data:`NOT_STREAMED`:
    they need the whole run). Memory holds one segment of a batch of runs plus an FCD window
    and a Welch segment per run, whatever the duration.
    """
    metrics._check_target(target_fc)
    plan = plan_sweep(net, k, couplings, seeds, grid, duration, settings)
    s, runs = plan.settings, plan.runs
    if variable is None:
        variable = s.outputs[0]
    if variable not in s.outputs:
        raise ValueError(f"variable={variable!r} is not recorded; recorded: {', '.join(s.outputs)}. "
                         "Add it to record=, or measure one of those.")
    fs, window, step = metrics.sampling(s.times, fcd_window_ms, fcd_step_ms)
    which = s.outputs.index(variable)
    results, div = [], np.empty((len(plan.variants), runs.size), np.int64)
    for c, (_, variant) in enumerate(plan.variants):
        batches = {}
        for batch, _, samples in run_batches(variant, s, runs, chunk_samples, batch_size, div[c],
                                                      devices=devices):
            if batch.start not in batches:
                batches[batch.start] = StreamedMetrics(batch.stop - batch.start, net.n_regions, s.n_samples,
                                                       window, step, fs)
            batches[batch.start].add(samples[which])
        done = [batches[b].finish() for b in sorted(batches)]
        results.append({n: np.concatenate([d[n] for d in done]) for n in ("fc", "fcd", "psd")})
        freqs = done[0]["freq"]
    return _dataset(plan, results, div, variable, freqs, window, step, weights=np.asarray(net.terms[0].weights),
                    target_fc=target_fc,
                    fcd_window_ms=fcd_window_ms, fcd_step_ms=fcd_step_ms, fs=fs)


def _dataset(plan, results, div, variable, freqs, window, step, *, weights, target_fc, fcd_window_ms,
             fcd_step_ms, fs) -> xr.Dataset:
    """The metrics dataset of a streamed sweep: :func:`massengine.sweep`'s coordinates and
    attributes (its dataset built around no samples), the streamed matrices, and the scalars
    :func:`massengine.metrics.derived` makes of them."""
    s, runs = plan.settings, plan.runs
    shape = (len(plan.variants),) + runs.shape
    n_regions = plan.variants[0][1].n_regions  # no samples: a zero broadcast, no memory
    empty = np.broadcast_to(np.zeros((), s.precision), (len(s.outputs), *shape, s.n_samples, n_regions))
    like = io.sweep_dataset(plan.variants, empty, div.reshape(shape), plan.ks, plan.seeds, s, plan.axes)
    run_dims = tuple(d for d in like[variable].dims if d not in ("time", "region"))
    if plan.seeds is None:  # sweep's dataset has no seed axis then
        shape = shape[:-1]
    stacked = {n: np.stack([r[n] for r in results]).reshape(shape + results[0][n].shape[1:]) for n in results[0]}
    out = xr.Dataset({"fc": (run_dims + ("region", "region_j"), stacked["fc"]),
                      "fcd": (run_dims + ("window", "window_j"), stacked["fcd"]),
                      "psd": (run_dims + ("freq",), stacked["psd"])},
                     coords={d: like[d] for d in run_dims} | {"region": like["region"]})
    out = metrics.labelled(out, s.times, step, freqs, like["region"].values)
    out = metrics.derived(out, like, weights, target_fc)
    out.attrs.update({**like.attrs, "metrics_variable": variable, "fcd_window_ms": fcd_window_ms,
                      "fcd_step_ms": fcd_step_ms, "band_hz": "none", "sampling_rate_hz": fs,
                      "streamed": "metrics computed segment by segment; trajectories not kept",
                      "not_streamed": ", ".join(NOT_STREAMED)})
    return io.describe(out, f"streamed metrics of {variable}",
                       f"sweep_metrics(variable={variable!r}, fcd_window_ms={fcd_window_ms}, "
                       f"fcd_step_ms={fcd_step_ms})")
