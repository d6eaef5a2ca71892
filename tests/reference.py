"""An independent plain-NumPy reference for the engine, written from DESIGN §3 alone.

Deliberately naive: couplings as double loops over (i, j), the coupled signal kept for
*every* step in a dict keyed by step number (no ring buffer), history looked up by step.
"""

import math

import numpy as np


def lags_ceil(delays, dt):
    return np.ceil(np.round(np.asarray(delays) / dt, 6)).astype(int)


def lags_rounded(delays, dt, rounding="ceil"):
    """Lags in steps, one entry at a time: ``tau / dt`` to 6 decimals (a whole multiple up to
    float error stays whole), then ceil, round (half to even, as numpy.rint in TVB) or floor."""
    rule = {"ceil": math.ceil, "round": round, "floor": math.floor}[rounding]
    d = np.asarray(delays, dtype=float)
    return np.array([[rule(round(d[i, j] / dt, 6)) for j in range(d.shape[1])] for i in range(d.shape[0])])


def sjr(v, cmin=0.0, cmax=0.005, midpoint=6.0, r=0.56):
    return cmin + (cmax - cmin) / (1.0 + np.exp(r * (midpoint - v)))


def laplacian_loop(w, normalize=None):
    n = len(w)
    deg = [sum(w[i, j] for j in range(n)) for i in range(n)]
    lap = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if deg[i] == 0:
                continue
            eye = 1.0 if i == j else 0.0
            if normalize is None:
                lap[i, j] = (deg[i] if i == j else 0.0) - w[i, j]
            elif normalize == "sym":
                lap[i, j] = eye - w[i, j] / math.sqrt(deg[i] * deg[j]) if deg[j] > 0 else eye
            else:
                lap[i, j] = eye - w[i, j] / deg[i]
    return lap


def coupling_loop(kind, xd, x, w, k, **p):
    """Coupling current by the table of DESIGN §3, one (i, j) at a time."""
    n = len(x)
    out = np.zeros(n)
    for i in range(n):
        if kind == "laplacian":
            lap = p.get("laplacian")
            lap = laplacian_loop(w, p.get("normalize")) if lap is None else lap
            total = sum(lap[i, j] * (x[i] if j == i else xd[i, j]) for j in range(n))
            out[i] = -k * total
            continue
        if kind == "diffusive":
            out[i] = k * sum(w[i, j] * (xd[i, j] - x[i]) for j in range(n))
            continue
        if kind == "sigmoidal_jansen_rit":
            out[i] = k * sum(w[i, j] * sjr(xd[i, j], **p) for j in range(n))
            continue
        if kind == "kuramoto":
            out[i] = k * sum(w[i, j] * math.sin(xd[i, j] - x[i]) for j in range(n))
            continue
        s = sum(w[i, j] * xd[i, j] for j in range(n))
        if kind == "additive":
            out[i] = k * s + p.get("b", 0.0)
        elif kind == "tanh":
            out[i] = k * math.tanh(p.get("scale", 2.0) * s)
        elif kind == "sigmoidal":
            z = p.get("slope", 1.0) * (p.get("a", 1.0) * s + p.get("b", 0.0) - p.get("midpoint", 0.0))
            out[i] = k / (1.0 + math.exp(-z))
        else:
            raise ValueError(kind)
    return out


def hopf_dfun(state, c, a=0.25, w=0.2, beta=1.0):
    x, y = state
    r = x * x + y * y
    return np.array([(a - beta * r) * x - w * y + c, (a - beta * r) * y + w * x])


def simulate_hopf(w, delays, kind, k, x0, y0, dt, n_steps, integrator="euler",
                  history="zeros", node=None, delay_rounding="ceil", noise=None, **coupling_params):
    """Every state x_0 .. x_{n_steps} of a Hopf network coupled on x, as (n_steps+1, 2, N).

    ``noise``: the additive increments (n_steps, 2, N) of each step (sigma sqrt(dt) z),
    added once to the Euler step and, as in TVB's stochastic Heun, to both Heun stages."""
    node = node or {}
    n = len(w)
    lags = np.zeros((n, n), int) if delays is None else lags_rounded(delays, dt, delay_rounding)
    state = np.array([np.broadcast_to(x0, n), np.broadcast_to(y0, n)], dtype=float)
    past = {0: state[0].copy()}  # coupled signal x by step number

    def signal_at(step, j):
        if step >= 0:
            return past[step][j]
        if isinstance(history, str) and history == "zeros":
            return 0.0
        if isinstance(history, str) and history == "initial":
            return past[0][j]
        return history[len(history) - 1 + step, j]  # last row is t = 0

    out = [state.copy()]
    for step in range(n_steps):
        xd = np.array([[signal_at(step - lags[i, j], j) for j in range(n)] for i in range(n)])
        c = coupling_loop(kind, xd, state[0], w, k, **coupling_params)
        f0 = hopf_dfun(state, c, **node)
        dw = 0.0 if noise is None else noise[step]
        if integrator == "euler":
            state = state + dt * f0 + dw
        else:
            pred = state + dt * f0 + dw
            state = state + 0.5 * dt * (f0 + hopf_dfun(pred, c, **node)) + dw
        past[step + 1] = state[0].copy()
        out.append(state.copy())
    return np.array(out)
