"""Wilson–Cowan excitatory/inhibitory population rates."""

from __future__ import annotations

import jax.numpy as jnp

from ..parameters import Param
from .base import NodeModel


def _logistic(x, gain, threshold):
    """Wilson & Cowan's shifted logistic: 0 at zero input, ``1 - 1/(1 + exp(gain θ))`` max."""
    return 1.0 / (1.0 + jnp.exp(-gain * (x - threshold))) - 1.0 / (1.0 + jnp.exp(gain * threshold))


class WilsonCowan(NodeModel):
    """Wilson & Cowan (1972) *Biophys. J.* 12:1, with TVB's defaults
    (``tvb.simulator.models.WilsonCowan``, shifted sigmoid)::

        tau_e dE/dt = -E + (k_e - r_e E) S_e(c_ee E - c_ei I + P + C)
        tau_i dI/dt = -I + (k_i - r_i I) S_i(c_ie E - c_ii I + Q)
        S(x) = 1 / (1 + exp(-a (x - theta))) - 1 / (1 + exp(a theta))

    The coupling current ``C`` enters the excitatory input; other regions read ``E``.
    With ``P = Q = 0``, ``E = I = 0`` is a stable low-activity fixed point.
    """

    name = "wilson_cowan"
    reference = "Wilson HR, Cowan JD (1972) Biophys J 12:1-24"
    state_vars = ("E", "I")
    units = {"E": "", "I": ""}
    parameters = {
        "c_ee": Param(12.0, "excitatory -> excitatory coupling", "", 0.0, 30.0),
        "c_ei": Param(4.0, "inhibitory -> excitatory coupling", "", 0.0, 30.0),
        "c_ie": Param(13.0, "excitatory -> inhibitory coupling", "", 0.0, 30.0),
        "c_ii": Param(11.0, "inhibitory -> inhibitory coupling", "", 0.0, 30.0),
        "tau_e": Param(10.0, "excitatory time constant", "ms", 0.1, 150.0),
        "tau_i": Param(10.0, "inhibitory time constant", "ms", 0.1, 150.0),
        "a_e": Param(1.2, "excitatory sigmoid gain", "", 0.0, 10.0),
        "theta_e": Param(2.8, "excitatory sigmoid threshold", "", 0.0, 10.0),
        "a_i": Param(1.0, "inhibitory sigmoid gain", "", 0.0, 10.0),
        "theta_i": Param(4.0, "inhibitory sigmoid threshold", "", 0.0, 10.0),
        "r_e": Param(1.0, "excitatory refractory period", "", 0.0, 1.0),
        "r_i": Param(1.0, "inhibitory refractory period", "", 0.0, 1.0),
        "k_e": Param(1.0, "maximal excitatory response", "", 0.0, 1.0),
        "k_i": Param(1.0, "maximal inhibitory response", "", 0.0, 1.0),
        "P": Param(0.0, "external input to the excitatory population", "", -5.0, 5.0),
        "Q": Param(0.0, "external input to the inhibitory population", "", -5.0, 5.0),
    }
    coupled_var = "E"
    coupling_target = "E"
    default_record = ("E", "I")
    couplings = ("diffusive", "additive", "laplacian", "tanh", "sigmoidal", "sigmoidal_jansen_rit")

    @staticmethod
    def dfun(state, coupling, p):
        e, i = state
        drive_e = p["c_ee"] * e - p["c_ei"] * i + p["P"] + coupling[0]
        drive_i = p["c_ie"] * e - p["c_ii"] * i + p["Q"] + coupling[1]
        de = (-e + (p["k_e"] - p["r_e"] * e) * _logistic(drive_e, p["a_e"], p["theta_e"])) / p["tau_e"]
        di = (-i + (p["k_i"] - p["r_i"] * i) * _logistic(drive_i, p["a_i"], p["theta_i"])) / p["tau_i"]
        return jnp.stack([de, di])
