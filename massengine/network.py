"""A network: one node model, region labels and one or more coupling terms.

``Network(node, weights=..., distances=..., speed=..., coupling="diffusive", k=...)`` is the
common case: one coupling term built from keywords. For custom wiring pass
``terms=[CouplingTerm(...), ...]``: the terms' currents are summed, each with its own kind,
weights, delays, source signal (``coupled_var``) and target variable.

Both classes validate on construction (concrete inputs only, so ``replace`` also works with
JAX tracers under ``jax.grad``) and are immutable.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import numpy as np

from .connectivity import (
    check_distances,
    check_laplacian_degrees,
    check_weights,
    default_labels,
    delays_from_distances,
    isolated_regions,
    warn_isolated,
)
from .couplings import get_coupling
from .memory import network_host_bytes, require
from .nodes.base import NodeModel


def is_concrete(value) -> bool:
    """False for JAX tracers (values inside ``jax.grad``/``jit``), True otherwise."""
    return not isinstance(value, jax.core.Tracer)


def check_number(name: str, value, n_regions: int | None = None):
    """Check a scalar (or per-region (N,) array) parameter; tracers pass unchecked."""
    if not is_concrete(value):
        return value
    want = "a number" if n_regions is None else f"a number or an array of {n_regions} numbers (one per region)"
    try:
        array = np.asarray(value)
    except ValueError:  # ragged lists
        array = np.asarray(None)
    if value is None or array.dtype.kind not in "biuf":
        raise ValueError(f"parameter {name!r} must be {want}, got {value!r}.")
    allowed = ((),) if n_regions is None else ((), (n_regions,))
    if array.shape not in allowed:
        want = "a scalar" if n_regions is None else f"a scalar or an array of shape ({n_regions},)"
        raise ValueError(f"parameter {name!r} must be {want}, got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"parameter {name!r} must be finite, got {value!r}.")
    return value


@dataclass(frozen=True)
class CouplingTerm:
    """One coupling term: ``coupling`` kind and its ``params`` (``k`` and shape parameters),
    ``weights`` (N, N, row = target), conduction ``delays`` in ms (N, N) or ``None`` for
    instantaneous coupling, the signal other regions read (``coupled_var``, default the
    node's) and the variable whose equation receives the current (``target``).
    ``distances``: the tract lengths (mm) the delays came from, when the network was built
    from them (a sweep over conduction speed recomputes the delays from them)."""

    coupling: str = "diffusive"
    weights: Any = None
    delays: Any = None
    coupled_var: str | None = None
    target: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    distances: Any = None

    def __post_init__(self):
        kind = get_coupling(self.coupling)
        params = kind.resolve(dict(self.params))
        for name, value in params.items():
            if name not in kind.static and name != "laplacian":  # the matrix is checked below
                check_number(f"{self.coupling}.{name}", value)
        object.__setattr__(self, "params", params)
        if self.weights is None:
            raise ValueError("a coupling term needs weights (an (N, N) matrix, row = target).")
        if is_concrete(self.weights):
            object.__setattr__(self, "weights", check_weights(self.weights))
        if self.delays is not None:
            n = np.shape(self.weights)[0]
            object.__setattr__(self, "delays", check_distances(self.delays, n, "delays (ms)"))
        if self.coupling == "laplacian" and lap_needs_check(params, self.weights):
            check_laplacian_degrees(self.weights, params.get("normalize"))
        lap = params.get("laplacian")
        if lap is not None and is_concrete(lap):
            n = np.shape(self.weights)[0]
            if np.shape(lap) != (n, n) or not np.all(np.isfinite(lap)):
                raise ValueError(f"laplacian must be a finite matrix of the weights' shape ({n}, {n}), "
                                 f"got shape {np.shape(lap)}.")

    @property
    def n_regions(self) -> int:
        return np.shape(self.weights)[0]

    @property
    def max_delay(self) -> float:
        return 0.0 if self.delays is None else float(np.max(self.delays))

    def with_changes(self, **changes) -> CouplingTerm:
        """A copy with term fields and/or coupling parameters changed. Switching the coupling
        kind keeps ``k`` and drops shape parameters the new kind does not have."""
        fields = {key: changes.pop(key) for key in list(changes) if key in _TERM_FIELDS}
        kind = fields.get("coupling", self.coupling)
        params = dict(self.params) if kind == self.coupling else {"k": self.params["k"]}
        if kind != self.coupling:
            params = {k: v for k, v in params.items() if k in get_coupling(kind).params}
        params.update(changes)
        if "delays" in fields:  # given delays no longer come from the tract lengths
            fields["distances"] = None
        return replace(self, **fields, params=params)


_TERM_FIELDS = {"coupling", "weights", "delays", "coupled_var", "target"}


def lap_needs_check(params, weights) -> bool:
    """A Laplacian coupling computing its normalised L from concrete weights."""
    return params.get("laplacian") is None and params.get("normalize") is not None and is_concrete(weights)


class Network:
    """A delay-coupled network of one node model.

    Common case (one coupling term)::

        Network(node, weights=W, distances=D, speed=10.0, coupling="diffusive", k=0.5)

    ``distances`` (mm) with ``speed`` (mm/ms) or ``delays`` (ms) give conduction delays;
    neither means instantaneous coupling. Any shape parameter of the coupling is a keyword
    (``scale=``, ``slope=``, ``normalize=``...). The diagonal of ``weights`` is zeroed unless
    ``self_connections=True``. For custom wiring give ``terms=[CouplingTerm(...), ...]``.
    """

    def __init__(
        self,
        node: NodeModel,
        weights=None,
        distances=None,
        speed: float | None = None,
        delays=None,
        coupling: str = "diffusive",
        coupled_var: str | None = None,
        target: str | None = None,
        labels: Sequence[str] | None = None,
        self_connections: bool = False,
        terms: Sequence[CouplingTerm] | None = None,
        **coupling_params,
    ):
        if not isinstance(node, NodeModel):
            raise ValueError(
                f"node must be a node model instance such as massengine.nodes.Hopf(), got {node!r}."
            )
        if terms is None:
            for name, matrix in (("weights", weights), ("distances", distances), ("delays", delays)):
                _check_numeric(name, matrix)
            _check_network_memory(weights, with_delays=distances is not None or delays is not None)
            terms = [
                _single_term(
                    weights, distances, speed, delays, coupling, coupled_var, target,
                    self_connections, coupling_params,
                )
            ]
        elif weights is not None or coupling_params or distances is not None or delays is not None:
            raise ValueError(
                "give either terms=[CouplingTerm(...)] or weights/coupling keywords, not both."
            )
        if not terms:
            raise ValueError("a network needs at least one coupling term.")
        self.node = node
        self.terms = tuple(self._checked_term(term, node) for term in terms)
        n = self.terms[0].n_regions
        if any(term.n_regions != n for term in self.terms):
            raise ValueError("all coupling terms must have weights of the same shape (N, N).")
        self.labels = tuple(str(x) for x in labels) if labels is not None else default_labels(n)
        if len(self.labels) != n:
            raise ValueError(f"{len(self.labels)} labels for {n} regions; give one per region.")
        if len(set(self.labels)) != n:
            twice = sorted({x for x in self.labels if self.labels.count(x) > 1})
            raise ValueError(f"labels must be distinct (each names one region of the output), got "
                             f"{', '.join(map(repr, twice[:5]))} more than once.")
        for name, value in node.params.items():
            check_number(f"{node.name}.{name}", value, n_regions=n)
        node.initial_state(n)  # validates shapes of the initial values
        if all(is_concrete(term.weights) for term in self.terms):
            total = sum(np.abs(np.asarray(term.weights)) for term in self.terms)
            warn_isolated(np.isin(np.arange(n), isolated_regions(total)), self.labels)

    @staticmethod
    def _checked_term(term: CouplingTerm, node: NodeModel) -> CouplingTerm:
        coupled = node.check_signal(term.coupled_var or node.coupled_var, "coupled_var")
        target = term.target or node.coupling_target
        node.index(target, what="coupling target")
        if term.coupling not in node.couplings:
            warnings.warn(
                f"coupling {term.coupling!r} is not one the {node.name!r} model is meant for "
                f"({', '.join(node.couplings)}); it runs, but expect unbounded or meaningless input.",
                stacklevel=3,
            )
        return replace(term, coupled_var=coupled, target=target)

    @property
    def n_regions(self) -> int:
        return self.terms[0].n_regions

    @property
    def coupling(self) -> str:
        """The coupling kind, for single-term networks."""
        return self._single().coupling

    @property
    def k(self):
        return self._single().params["k"]

    @property
    def max_delay(self) -> float:
        return max(term.max_delay for term in self.terms)

    def _single(self) -> CouplingTerm:
        if len(self.terms) != 1:
            raise ValueError("this network has several coupling terms; look at net.terms.")
        return self.terms[0]

    def replace(self, node: NodeModel | None = None, labels=None, **changes) -> Network:
        """A copy with the node, labels, or term fields / coupling parameters changed.

        Term changes (``k=``, ``coupling=``, ``scale=``...) apply to every term. ``k`` may be
        a JAX tracer, so ``jax.grad`` of a loss with respect to ``k`` works.
        """
        new = object.__new__(Network)
        new.node = node if node is not None else self.node
        new.labels = tuple(labels) if labels is not None else self.labels
        terms = tuple(term.with_changes(**changes) for term in self.terms) if changes else self.terms
        new.terms = tuple(self._checked_term(term, new.node) for term in terms)
        return new

    def __repr__(self) -> str:
        parts = [f"{t.coupling}(k={t.params['k']!r}, {t.coupled_var}->{t.target})" for t in self.terms]
        return f"Network({self.node!r}, N={self.n_regions}, terms=[{', '.join(parts)}])"


def _check_numeric(name: str, matrix) -> None:
    """A matrix given as nested lists must be rectangular and numeric (NumPy's own message,
    "inhomogeneous shape" or "could not convert", names neither the argument nor the fix)."""
    if matrix is None or not is_concrete(matrix):
        return
    try:
        if hasattr(matrix, "dtype"):  # an array already: its type says it all (never copy 10 000²)
            if np.dtype(matrix.dtype).kind not in "biuf" and np.dtype(matrix.dtype).name != "bfloat16":
                raise TypeError
        else:
            np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an (N, N) matrix of numbers: its rows have different lengths, or some "
                         "entries are not numbers. Give a square array (e.g. numpy.loadtxt of the file).") from None


def _check_network_memory(weights, with_delays: bool) -> None:
    """Refuse a network too big for this machine before allocating its derived arrays."""
    shape = np.shape(weights) if weights is not None and is_concrete(weights) else ()
    if len(shape) != 2:
        return
    n = shape[0]
    require(network_host_bytes(n, 1, with_delays), f"a network of {n} regions",
            "use fewer regions (a coarser parcellation), or a machine with more memory.")


def _single_term(weights, distances, speed, delays, coupling, coupled_var, target,
                 self_connections, params) -> CouplingTerm:
    if weights is None:
        raise ValueError("Network needs weights: an (N, N) matrix with row = target region.")
    if is_concrete(weights):
        weights = check_weights(weights, self_connections=self_connections)
    n = np.shape(weights)[0]
    if delays is not None and distances is not None:
        raise ValueError("give distances (with speed) or delays (ms), not both.")
    if distances is not None:
        distances = check_distances(distances, n)
        if speed is None:
            raise ValueError("distances need a conduction speed (speed=, in mm/ms = m/s).")
        delays = delays_from_distances(distances, speed)
    elif speed is not None:
        raise ValueError("speed= needs distances= (tract lengths in mm) to give delays; without them the "
                         "coupling would be instantaneous. Pass distances=, or delays= (ms) directly, or drop speed.")
    return CouplingTerm(coupling, weights, delays, coupled_var, target, params, distances)
