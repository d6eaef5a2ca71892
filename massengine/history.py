"""The ring delay buffer: the last ``H`` values of one coupled signal.

Row ``m mod H`` holds the (source-transformed) signal at step ``m``. Before step ``n``
advances ``x_n`` to ``x_{n+1}``, the buffer holds steps ``n-H+1 .. n``, so a lag in
``0 .. H-1`` is always there; ``x_{n+1}`` then overwrites the row of step ``n-H+1``.
Memory is ``H x N`` per coupling term and run, whatever the run length. The engine keeps
a batch of runs in one ring (H, N, B), the batch innermost.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

HISTORY_MODES = ("zeros", "initial")


def horizon(lags) -> int:
    """``H = max(lag) + 1``: the number of past steps a run must remember."""
    return int(np.max(lags)) + 1 if np.size(lags) else 1


def history_rows(history, signal0, h: int):
    """The (H, N) values of the signal at steps ``-(H-1) .. 0`` (row ``H-1`` is ``t = 0``).

    ``history``: ``"zeros"`` (at rest before t = 0), ``"initial"`` (constant at its t = 0
    value), or an array whose last ``H`` rows are used in time order (the last row is t = 0
    and is superseded by the initial state itself).
    """
    n = signal0.shape[0]
    xp = np if isinstance(signal0, np.ndarray) else jnp  # NumPy on the host when it can
    if isinstance(history, str):
        if history == "zeros":
            return xp.zeros((h, n), signal0.dtype)
        return xp.broadcast_to(signal0[None, :], (h, n))
    return xp.asarray(history, signal0.dtype)[-h:]


def init_ring(rows, signal0):
    """Ring from time-ordered ``rows`` (H, N) of steps ``-(H-1) .. 0``: step ``m`` in row
    ``m mod H``; step 0 holds ``signal0``."""
    return jnp.roll(rows, 1, axis=0).at[0].set(signal0)


def read(ring, n, lags, sources=None, per_run: bool = False):
    """Delayed reads: the signal of ``sources`` at steps ``n - lags``. Dense: ``lags``
    (N, N) and ``sources`` None (every column; a compile-time iota, which XLA turns into a
    much faster gather than the same indices passed as data: 5x, benchmarks/README.md).
    Edge list: ``lags`` and ``sources`` (E,); padded in-neighbour lists: both (N, K). A ring
    (H, N, B) of a batch gives reads (N, N, B), (E, B) or (N, K, B): each read fetches the
    B contiguous values of the batch. ``per_run``: ``lags`` has a trailing B axis (each run
    its own delays, e.g. a grid over conduction speed), so each value is gathered alone."""
    h, n_regions = ring.shape[:2]
    if sources is None:
        sources = jnp.arange(n_regions)[None, :]
    rows = ring.reshape((h * n_regions,) + ring.shape[2:])
    if not per_run:
        return rows[jnp.mod(n - lags, h) * n_regions + sources]
    index = jnp.mod(n - lags, h) * n_regions + sources[..., None]  # (..., B)
    flat = index.reshape(-1, index.shape[-1])
    return jnp.take_along_axis(rows, flat, axis=0).reshape(index.shape)


def write(ring, n, values):
    """Store ``values`` (N,) — or (N, B) for a batch — as step ``n``."""
    return ring.at[jnp.mod(n, ring.shape[0])].set(values)
