"""Parameter grids: the named axes a sweep explores besides ``k`` and ``seed``.

An axis is ``"speed"`` (conduction speed, mm/ms: the delays become tract length / speed),
``"noise"`` (the noise sigma of every state variable), ``"node.<name>"`` (a node parameter)
or ``"coupling.<name>"`` (a coupling shape parameter). None of them changes the compiled
program (numbers, not code; the delay rings are sized for the slowest speed), so every
point of a grid runs in the same vmapped call as the k values: the runs are the cartesian
product k × axes × seeds in C order (seeds innermost).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .couplings import get_coupling
from .parameters import closest

# What a run grid's dims are called besides the grid's own axes.
RESERVED = {"k": "give k values with k=", "seed": "give seeds with seeds=", "seeds": "give seeds with seeds="}
NOT_NUMBERS = ("k", "laplacian")  # coupling parameters that are no grid axis (k has its own)


def valid_axes(variants) -> list[str]:
    """The axis names a sweep of the networks ``variants`` ``[(name, net), ...]`` accepts."""
    net = variants[0][1]
    names = ["speed", "noise"] + [f"node.{p}" for p in net.node.params]
    shared = None
    for _, variant in variants:
        numbers = {p for t in variant.terms for p in _coupling_numbers(t.coupling)}
        shared = numbers if shared is None else shared & numbers
    return names + [f"coupling.{p}" for p in sorted(shared or ())]


def _coupling_numbers(name: str) -> list[str]:
    kind = get_coupling(name)
    return [p for p in kind.params if p not in kind.static and p not in NOT_NUMBERS]


def check_grid(grid, variants, noise, duration: float) -> tuple[tuple[str, np.ndarray], ...]:
    """``grid`` ``{axis: values}`` checked against the networks of a sweep: ``((axis,
    values), ...)`` in the order given. Errors name the axis and what would fix it."""
    if grid is None:
        return ()
    if not isinstance(grid, Mapping):
        raise ValueError(f"grid must be a mapping {{axis: values}}, e.g. {{'speed': [3, 10, 30]}}, got {grid!r}.")
    axes = []
    valid = valid_axes(variants)
    for name, values in grid.items():
        if name in RESERVED:
            raise ValueError(f"grid axis {name!r}: {RESERVED[name]}, not in grid.")
        if name not in valid:
            raise ValueError(_unknown_axis(name, variants, valid))
        values = _axis_values(name, values)
        _check_axis(name, values, variants, noise, duration)
        axes.append((name, values))
    return tuple(axes)


def _unknown_axis(name: str, variants, valid) -> str:
    message = f"unknown grid axis {name!r}; valid axes: {', '.join(valid)}."
    if name.startswith("coupling."):
        param = name.split(".", 1)[1]
        lacking = [c for c, net in variants if all(param not in _coupling_numbers(t.coupling) for t in net.terms)]
        if lacking and len(lacking) < len(variants):
            message += (f" Coupling(s) {', '.join(lacking)} have no numeric parameter {param!r}: sweep it in "
                        "a separate call with the couplings that have it.")
    return message + closest(name, valid)


def finite_list(values) -> np.ndarray | None:
    """``values`` as a non-empty 1-D float64 array of finite numbers, or ``None`` if they are
    not one (the caller says what was expected)."""
    try:
        array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        return None
    return array if array.ndim == 1 and array.size and np.all(np.isfinite(array)) else None


def _axis_values(name: str, values) -> np.ndarray:
    array = finite_list(values)
    if array is None:
        raise ValueError(f"grid axis {name!r} must be a non-empty list of finite numbers, got {values!r}.")
    if len(np.unique(array)) != array.size:
        raise ValueError(f"grid axis {name!r}: values must be distinct (each is one coordinate), got "
                         f"{array.tolist()}.")
    return array


def _check_axis(name: str, values: np.ndarray, variants, noise, duration: float) -> None:
    net = variants[0][1]
    if name == "speed":
        if np.any(values <= 0):
            raise ValueError(f"grid axis 'speed' (mm/ms) must be > 0, got {values.tolist()}.")
        if any(t.distances is None for t in net.terms):
            raise ValueError("grid axis 'speed' recomputes the delays from the tract lengths: build the network "
                             "with distances= and speed= (not delays=).")
        longest = max(float(np.max(t.distances)) for t in net.terms) / float(values.min())
        if longest > duration:
            raise ValueError(f"grid axis 'speed': at {values.min():g} mm/ms the longest delay is {longest:g} ms, "
                             f"longer than the run ({duration:g} ms): raise duration or the slowest speed.")
    elif name == "noise":
        if noise is not None:
            raise ValueError("grid axis 'noise' sets the noise sigma of every run: drop the noise= setting "
                             f"(got {noise!r}) or the axis.")
        if np.any(values < 0):
            raise ValueError(f"grid axis 'noise' (sigma) must be >= 0, got {values.tolist()}.")
    else:
        owner, param = name.split(".", 1)
        spec = (net.node.parameters[param] if owner == "node"
                else get_coupling(variants[0][1].terms[0].coupling).params.get(param))
        low, high = (spec.low, spec.high) if spec is not None else (None, None)
        if (low is not None and np.any(values < low)) or (high is not None and np.any(values > high)):
            raise ValueError(f"grid axis {name!r}: values must lie in [{low}, {high}], got {values.tolist()}.")


@dataclass(frozen=True)
class RunGrid:
    """The runs of a sweep: k × grid axes × seeds, cartesian, in C order (seed innermost).
    Run ``r`` is the grid point ``np.unravel_index(r, shape)``."""

    ks: np.ndarray
    axes: tuple[tuple[str, np.ndarray], ...] = ()
    seeds: tuple[int, ...] = (0,)

    @property
    def dims(self) -> tuple[str, ...]:
        """The run dims of the output, seed excepted: ``("k", *axes)``."""
        return ("k",) + tuple(name for name, _ in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.ks),) + tuple(len(v) for _, v in self.axes) + (len(self.seeds),)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def values(self, name: str) -> np.ndarray | None:
        """The coordinates of axis ``name`` (``None`` if the grid has no such axis)."""
        return dict(self.axes).get(name)

    def runs(self, start: int, stop: int) -> tuple[dict, np.ndarray]:
        """``({dim: (runs,) values}, indices)`` of runs ``[start, stop)``: each run's value
        on every dim (``k``, the axes and ``seed``) and its index on each (dims, runs)."""
        index = np.unravel_index(np.arange(start, stop), self.shape)
        coords = [self.ks, *(v for _, v in self.axes), np.asarray(self.seeds)]
        names = (*self.dims, "seed")
        return {n: c[i] for n, c, i in zip(names, coords, index, strict=True)}, dict(zip(names, index, strict=True))

