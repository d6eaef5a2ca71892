"""Kuramoto phase oscillators."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..parameters import Param
from .base import NodeModel


class Kuramoto(NodeModel):
    """Kuramoto (1975/1984) phase oscillators::

        dtheta_i/dt = omega_i + C_i

    Pairs with ``coupling="kuramoto"`` (``C_i = k sum_j W_ij sin(theta_j(t - tau_ij) -
    theta_i(t))``). ``omega`` (rad/ms) is a scalar or one natural frequency per region;
    :meth:`draw_frequencies` draws them from a seeded normal distribution. The phase is
    not wrapped (record ``sin``/``cos`` of it, or wrap it, as needed).
    """

    name = "kuramoto"
    reference = "Kuramoto Y (1984) Chemical Oscillations, Waves, and Turbulence. Springer"
    state_vars = ("theta",)
    units = {"theta": "rad"}
    parameters = {
        "omega": Param(2 * np.pi * 0.01, "natural angular frequency (0.0628 rad/ms = 10 Hz)",
                       "rad/ms", -10.0, 10.0),
    }
    coupled_var = "theta"
    coupling_target = "theta"
    default_record = ("theta",)
    couplings = ("kuramoto", "diffusive", "laplacian")
    divergence_bound = float("inf")  # the phase is not wrapped: it grows by w*t

    @staticmethod
    def dfun(state, coupling, p):
        return jnp.broadcast_to(p["omega"], state.shape) + coupling

    @staticmethod
    def draw_frequencies(n_regions: int, mean: float = 2 * np.pi * 0.01, std: float = 2 * np.pi * 0.001,
                         seed: int = 0) -> np.ndarray:
        """``n_regions`` natural frequencies (rad/ms) ~ Normal(mean, std), from ``seed``."""
        return np.random.default_rng(seed).normal(mean, std, size=n_regions)
