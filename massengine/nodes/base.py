"""The node-model base: what every neural-mass model declares, and nothing it computes.

A model is a subclass that sets the class attributes below and writes one pure function,
``dfun(state, coupling, p)``. Adding a model is adding one file (and one line in
``nodes/__init__.py``); the engine needs nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np

from ..parameters import Param, closest, resolve


class NodeModel:
    """Base class of node models. Instances are immutable: ``replace`` returns a new one.

    Class attributes a model sets:

    - ``name``: registry name (``"hopf"``); ``reference``: the citation of its equations.
    - ``state_vars``: names of the state variables, in the order of ``state``'s rows;
      ``units``: their units.
    - ``parameters``: ``{name: Param}`` with defaults, ranges, units and docs.
    - ``coupled_var``: the variable (or observable) other regions read by default.
    - ``coupling_target``: the state variable whose equation receives the coupling current.
    - ``observables``: ``{name: f(state, p) -> (N,)}``, derived signals that can be coupled
      or recorded like a state variable (e.g. Jansen–Rit's ``y1 - y2``).
    - ``default_record``: what ``simulate`` records when ``record`` is not given.
    - ``bold_signal``: the signal that drives ``monitor="bold"`` when ``bold_signal`` is
      not given (``None``: the model's ``coupled_var``).
    - ``couplings``: the coupling kinds that make sense on this model (others still run,
      with a warning: a phase fed through ``additive`` coupling, say, grows without bound).
    - ``divergence_bound``: a run whose state leaves ``|x| <= divergence_bound`` counts as
      diverged, like a non-finite one (default 1e6, orders of magnitude beyond every model's
      physical range; ``inf`` for Kuramoto, whose phase grows without bound by design).

    ``dfun(state (n_vars, N), coupling (n_vars, N), p) -> (n_vars, N)``: the time
    derivative in 1/ms. ``coupling[v]`` is the summed current of every coupling term aimed
    at variable ``v`` (zero elsewhere); the model decides how it enters its equations.
    ``p`` maps every parameter name to a scalar or an (N,) array.
    """

    name: ClassVar[str]
    reference: ClassVar[str] = ""
    state_vars: ClassVar[tuple[str, ...]]
    units: ClassVar[Mapping[str, str]] = {}
    parameters: ClassVar[Mapping[str, Param]]
    coupled_var: ClassVar[str]
    coupling_target: ClassVar[str]
    observables: ClassVar[Mapping[str, Callable]] = {}
    default_record: ClassVar[tuple[str, ...]] = ()
    divergence_bound: ClassVar[float] = 1e6
    bold_signal: ClassVar[str | None] = None
    couplings: ClassVar[tuple[str, ...]] = (
        "diffusive", "additive", "laplacian", "tanh", "sigmoidal", "sigmoidal_jansen_rit", "kuramoto",
    )

    def __init__(self, initial: Mapping | None = None, **params):
        self.params = resolve(f"node model {self.name!r}", self.parameters, params)
        if initial is not None and not isinstance(initial, Mapping):
            raise ValueError(
                f"initial must be a mapping {{variable: value}} (value: a number, an (N,) array, or "
                f"{{'uniform': [low, high], 'seed': s}}), e.g. initial={{{self.state_vars[0]!r}: 0.1}}; "
                f"got {type(initial).__name__} {initial!r:.60}."
            )
        initial = dict(initial or {})
        for var in initial:
            self.index(var, what="initial state")
        self.initial = initial

    def replace(self, initial: Mapping | None = None, **params) -> NodeModel:
        """A copy with some parameters (or the initial state) changed. Accepts JAX tracers,
        so ``jax.grad`` can differentiate with respect to a node parameter."""
        merged = {**self.params, **params}
        return type(self)(initial=self.initial if initial is None else initial, **merged)

    @staticmethod
    def dfun(state, coupling, p):
        raise NotImplementedError

    @classmethod
    def index(cls, var: str, what: str = "variable") -> int:
        """Row of state variable ``var``; an unknown name lists the model's variables."""
        if var in cls.state_vars:
            return cls.state_vars.index(var)
        raise ValueError(
            f"unknown {what} {var!r} for node model {cls.name!r}; its state variables are "
            f"{', '.join(cls.state_vars)}." + closest(str(var), cls.state_vars)
        )

    @classmethod
    def signals(cls) -> tuple[str, ...]:
        """Everything that can be coupled or recorded: state variables, then observables."""
        return tuple(cls.state_vars) + tuple(cls.observables)

    @classmethod
    def check_signal(cls, name: str, what: str) -> str:
        if name not in cls.signals():
            raise ValueError(
                f"unknown {what} {name!r} for node model {cls.name!r}; choose one of "
                f"{', '.join(cls.signals())}." + closest(str(name), cls.signals())
            )
        return name

    @classmethod
    def bold_default(cls) -> str:
        """The signal that drives the BOLD monitor by default: ``bold_signal`` or, when the
        model sets none, ``coupled_var``."""
        return cls.bold_signal or cls.coupled_var

    @classmethod
    def signal(cls, state, name: str, p):
        """The (N,) value of state variable or observable ``name``."""
        if name in cls.observables:
            return cls.observables[name](state, p)
        return state[cls.state_vars.index(name)]

    def initial_state(self, n_regions: int) -> np.ndarray:
        """(n_vars, N) float64 initial state: given variables, zeros for the rest."""
        x0 = np.zeros((len(self.state_vars), n_regions))
        for var, value in self.initial.items():
            value = initial_values(value, n_regions, f"initial[{var!r}]")
            if value.shape not in ((), (n_regions,)):
                raise ValueError(
                    f"initial[{var!r}] must be a scalar or have shape ({n_regions},), got "
                    f"{value.shape}."
                )
            x0[self.index(var)] = value
        if not np.all(np.isfinite(x0)):
            raise ValueError(f"initial state of {self.name!r} contains non-finite values.")
        return x0

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def initial_values(value, n_regions: int, what: str = "initial value") -> np.ndarray:
    """A number, an (N,) array, or ``{"uniform": [low, high], "seed": s}`` (the config's form:
    N values drawn uniformly from ``numpy.random.default_rng(s)``, s = 0 by default) as a
    float64 array."""
    if isinstance(value, Mapping):
        unknown = set(value) - {"uniform", "seed"}
        bounds = value.get("uniform")
        seed = value.get("seed", 0)
        if (unknown or not isinstance(bounds, (list, tuple)) or len(bounds) != 2
                or not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise ValueError(f"{what} as a mapping must be {{'uniform': [low, high], 'seed': integer}}, "
                             f"got {value!r}.")
        low, high = (float(b) for b in bounds)
        return np.random.default_rng(int(seed)).uniform(low, high, n_regions)
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, an array of {n_regions} numbers or "
                         f"{{'uniform': [low, high], 'seed': s}}, got {value!r}.") from None
