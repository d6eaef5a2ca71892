"""The ring delay buffer: the last ``H`` values of one coupled signal.

Row ``m mod H`` holds the (source-transformed) signal at step ``m``. Before step ``n``
advances ``x_n`` to ``x_{n+1}``, the buffer holds steps ``n-H+1 .. n``, so a lag in
``0 .. H-1`` is always there; ``x_{n+1}`` then overwrites the row of step ``n-H+1``.
Memory is ``(H + M) x N`` per coupling term and run, whatever the run length. The engine
keeps a batch of runs in one ring (H + M, N, B), the batch innermost.

The engine advances blocks of ``U`` steps whose delayed reads it gathers at once
(``engine.block_size``): one read is then a window of ``U`` consecutive steps of one
source. The ``M = U - 1`` margin rows after the ring repeat its first ``M`` rows, so that
a window starting at any row ends inside the array: one slice per read, not ``U``.
"""

from __future__ import annotations

import jax
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


def init_ring(rows, signal0, margin: int = 0):
    """Ring from time-ordered ``rows`` (H, N, ...) of steps ``-(H-1) .. 0``: step ``m`` in
    row ``m mod H``; step 0 holds ``signal0``; then ``margin`` rows repeating the first ones."""
    ring = jnp.roll(rows, 1, axis=0).at[0].set(signal0)
    return jnp.concatenate([ring, ring[:margin]]) if margin else ring


def read(ring, n, size, horizon, lags, sources=None, per_run: bool = False):
    """Delayed reads for the ``size`` steps ``n .. n+size-1``: the signal of ``sources`` at
    steps ``n + u - lags``, ``u = 0 .. size-1``, with the step axis ``u`` just before the
    batch axis. ``horizon``: the ring's H (its rows beyond are the margin). Dense: ``lags``
    (N, N) and ``sources`` None (every column). Edge list: ``lags`` and ``sources`` (E,);
    padded in-neighbour lists: both (N, K). A ring (H + M, N, B) of a batch gives reads
    (N, N, U, B), (E, U, B) or (N, K, U, B): each read is one window of U x B values
    (``size <= M + 1``). ``per_run``: ``lags`` has a trailing B axis (each run its own
    delays, e.g. a grid over conduction speed), so each value is gathered alone.

    Every read must reach a step already in the ring: ``lags >= size - 1`` (the block of
    steps is then exact; ``engine.block_size``)."""
    n_regions = ring.shape[1]
    if sources is None:
        sources = jnp.arange(n_regions)[None, :]
    sources = jnp.broadcast_to(sources, lags.shape[:sources.ndim] if per_run else lags.shape)
    if per_run:
        rows = ring.reshape((-1,) + ring.shape[2:])
        steps = (n + jnp.arange(size)).reshape((1,) * (lags.ndim - 1) + (size, 1))  # against (..., 1, B)
        index = jnp.mod(steps - lags[..., None, :], horizon) * n_regions + sources[..., None, None]  # (..., U, B)
        flat = index.reshape(-1, index.shape[-1])
        return jnp.take_along_axis(rows, flat, axis=0).reshape(index.shape)
    starts = jnp.stack([jnp.mod(n - lags, horizon), sources], axis=-1)  # (..., 2): (row, region)
    k = lags.ndim
    dims = jax.lax.GatherDimensionNumbers(offset_dims=(k, k + 1), collapsed_slice_dims=(1,), start_index_map=(0, 1))
    return jax.lax.gather(ring, starts, dims, slice_sizes=(size, 1) + ring.shape[2:],
                          mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)


def with_margin(ring, horizon, margin: int):
    """The ring with ``margin`` mirror rows after its ``horizon`` rows (more or fewer than it
    has): a batch that runs shorter blocks than the margin was made for writes fewer mirrors,
    single steps none (:func:`write`'s plain update)."""
    if ring.shape[0] == horizon + margin:
        return ring
    body = ring[:horizon]
    return jnp.concatenate([body, body[:margin]]) if margin else body


def write(ring, n, values, horizon):
    """Store ``values`` (U, N, ...) as steps ``n .. n+U-1`` (``U <= H``, so no two land in
    one row), in the ring's H rows and, for the first ones, in the margin after them."""
    if ring.shape[0] == horizon:  # no margin, so U = 1: a dynamic-update-slice
        return ring.at[jnp.mod(n, horizon)].set(values[0])
    rows = jnp.mod(n + jnp.arange(values.shape[0]), horizon)
    past_end = ring.shape[0] + jnp.arange(values.shape[0])  # distinct indices, dropped
    mirror = jnp.where(rows < ring.shape[0] - horizon, rows + horizon, past_end)
    return ring.at[jnp.concatenate([rows, mirror])].set(jnp.concatenate([values, values]),
                                                        mode="drop", unique_indices=True)
