"""Memory before allocation: what a network and a batch of runs will take, checked against
what the machine has, so that a run too big is refused in milliseconds with what it needs
and what to change — not after taking gigabytes.

:func:`estimate_bytes` is a small pure function of the sizes (the engine's batching can use
it to split a sweep into batches that fit a device); :func:`network_host_bytes` is what
``Network()`` allocates on the host; :func:`require` compares an estimate with
:func:`available_bytes` and raises :class:`NotEnoughMemory`.
"""

from __future__ import annotations

import os

# Of the memory available, the share one run may plan to use (the rest: Python, JAX,
# XLA's own buffers and whatever else runs).
USABLE_FRACTION = 0.8


class NotEnoughMemory(ValueError):
    """A network or run that would not fit in memory; the message says what it needs and
    what to change."""


def estimate_bytes(n_regions: int, n_edges: int | None, horizon: int, n_batch: int, n_samples: int,
                   n_record: int, itemsize: int, *, n_terms: int = 1, n_vars: int = 2) -> int:
    """Peak bytes of one compiled sweep call (batch of ``n_batch`` runs), per coupling term:

    - weights ``N²`` (the dense layout) and the read offsets: ``N²`` int32 lags (dense,
      ``n_edges=None``) or ``E`` lags + sources + targets (int32) + edge weights (sparse);
    - the delay ring of the coupled signal ``H·N·B`` (``horizon`` H = longest lag + 1);
    - the delayed read of one step: ``N²·B`` (dense) or ``E·B`` (sparse), times two (the
      read and the weighted product exist together);
    - the state ``n_vars·N·B`` a few times over (state, new state, integrator stages);
    - the samples held ``n_samples·n_record·N·B``, twice (device output and host copy).
    """
    n, b, item = int(n_regions), max(int(n_batch), 1), int(itemsize)
    if n_edges is None:
        wiring = n * n * item + n * n * 4
        read = 2 * n * n * b * item
    else:
        e = int(n_edges)
        wiring = n * n * item + e * (3 * 4 + item)
        read = 2 * e * b * item
    ring = int(horizon) * n * b * item
    state = 4 * int(n_vars) * n * b * item
    samples = 2 * int(n_samples) * int(n_record) * n * b * item
    return int(n_terms) * (wiring + ring) + read + state + samples


def network_host_bytes(n_regions: int, n_terms: int = 1, with_delays: bool = True) -> int:
    """Host memory ``Network()`` takes beyond the caller's arrays: per term a float64 copy of
    the weights, the delays, and the temporaries of the checks (``|W|`` sums)."""
    per_term = (2 + (2 if with_delays else 0)) * n_regions * n_regions * 8
    return n_terms * per_term


def available_bytes() -> int:
    """Memory the system can still give (``MemAvailable`` of /proc/meminfo, else the
    physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def human(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes < 1024 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.1f} TB"  # pragma: no cover


def require(needed: int, what: str, fix: str) -> None:
    """Raise :class:`NotEnoughMemory` unless ``needed`` bytes fit in the usable share of the
    available memory."""
    free = available_bytes()
    if needed > USABLE_FRACTION * free:
        raise NotEnoughMemory(f"{what} needs about {human(needed)} of memory, but only {human(free)} is "
                              f"available: {fix}")
