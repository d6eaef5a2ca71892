"""massengine: coupling-strength sweeps of delay-coupled whole-brain neural-mass models.

This module only re-exports the public API; importing it has no side effects beyond the
one its user asks for: ``MASSENGINE_CPU_DEVICES`` set makes the CPU that many JAX devices
(:func:`massengine.use_cpu_cores`).
"""

from . import couplings, datasets, fit, nodes
from ._version import __version__
from .connectivity import (
    Connectome,
    delay_steps,
    delays_from_distances,
    laplacian_connectivity,
    normalize_weights,
    synthetic_connectome,
)
from .couplings import COUPLINGS, apply_coupling
from .devices import cpu_cores_from_environment as _cpu_cores_from_environment
from .devices import use_cpu_cores
from .fit import best_k, fc_loss, fit_k, fit_parameters, goodness_of_fit
from .hemodynamics import bold
from .io import open_campaign
from .network import CouplingTerm, Network
from .simulate import Trajectory, integrate, simulate, sweep, sweep_to_store
from .streaming import sweep_metrics

_cpu_cores_from_environment()

__all__ = [
    "COUPLINGS",
    "Connectome",
    "CouplingTerm",
    "Network",
    "Trajectory",
    "__version__",
    "apply_coupling",
    "best_k",
    "bold",
    "couplings",
    "datasets",
    "delay_steps",
    "delays_from_distances",
    "fc_loss",
    "fit",
    "fit_k",
    "fit_parameters",
    "goodness_of_fit",
    "integrate",
    "laplacian_connectivity",
    "nodes",
    "normalize_weights",
    "open_campaign",
    "simulate",
    "sweep",
    "sweep_metrics",
    "sweep_to_store",
    "synthetic_connectome",
    "use_cpu_cores",
]
