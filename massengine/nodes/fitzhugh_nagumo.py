"""FitzHugh–Nagumo excitable/oscillatory unit."""

from __future__ import annotations

import jax.numpy as jnp

from ..parameters import Param
from .base import NodeModel


class FitzHughNagumo(NodeModel):
    """FitzHugh (1961) *Biophys. J.* 1:445; Nagumo et al. (1962) *Proc. IRE* 50:2061::

        dV/dt = (V - V³/3 - w + I + C) / tau
        dw/dt = eps (V + a - b w) / tau

    FitzHugh's a = 0.7, b = 0.8, eps = 0.08; with I = 0.5 the unit oscillates (the rest
    state loses stability near I ≈ 0.33). ``tau`` (ms) sets the time scale: with tau = 1 ms
    one cycle lasts ≈ 37 ms. The coupling current enters ``dV``; other regions read ``V``.
    """

    name = "fitzhugh_nagumo"
    reference = "FitzHugh R (1961) Biophys J 1:445-466; Nagumo J et al. (1962) Proc IRE 50:2061"
    state_vars = ("V", "w")
    units = {"V": "a.u.", "w": "a.u."}
    parameters = {
        "a": Param(0.7, "recovery offset", "", -2.0, 2.0),
        "b": Param(0.8, "recovery self-coupling", "", 0.0, 2.0),
        "eps": Param(0.08, "time-scale separation of the recovery variable", "", 0.0, 1.0),
        "I": Param(0.5, "external current", "", -2.0, 2.0),
        "tau": Param(1.0, "time scale", "ms", 0.01, 100.0),
    }
    coupled_var = "V"
    coupling_target = "V"
    default_record = ("V", "w")
    couplings = ("diffusive", "additive", "laplacian", "tanh", "sigmoidal", "sigmoidal_jansen_rit")

    @staticmethod
    def dfun(state, coupling, p):
        v, w = state
        dv = (v - v**3 / 3.0 - w + p["I"] + coupling[0]) / p["tau"]
        dw = p["eps"] * (v + p["a"] - p["b"] * w) / p["tau"] + coupling[1]
        return jnp.stack([dv, dw])
