"""Reduced Wong–Wang: the one-variable NMDA-gating mean field of Deco et al. (2013)."""

from __future__ import annotations

import jax.numpy as jnp

from ..parameters import Param
from .base import NodeModel


def transfer(x, p):
    """Firing rate ``H(x) = (a x - b) / (1 - exp(-d (a x - b)))`` (kHz) of input current
    ``x`` (nA). At ``a x = b`` the quotient is 0/0 with the limit ``1/d``; within
    ``|d (a x - b)| < 1e-6`` the two-term series ``(1 + d y / 2) / d`` (error below 1e-13
    relative) is used instead, so the value and its gradient stay finite."""
    y = p["a"] * x - p["b"]
    dy = p["d"] * y
    small = jnp.abs(dy) < 1e-6
    safe = jnp.where(small, 1.0, dy)
    return jnp.where(small, (1.0 + 0.5 * dy) / p["d"], y / -jnp.expm1(-safe))


class ReducedWongWang(NodeModel):
    """Reduced Wong–Wang model (Wong & Wang 2006, reduced by Deco et al. 2013, *J Neurosci*
    33:11239, p. 11242), in TVB's millisecond units (``tvb.simulator.models.ReducedWongWang``)::

        x   = w J_N S + I_o + J_N C
        H(x) = (a x - b) / (1 - exp(-d (a x - b)))
        dS/dt = -S / tau_s + (1 - S) gamma H(x)

    ``S`` is the fraction of open NMDA channels (0..1), ``x`` the input current (nA), ``H``
    the firing rate (kHz). The coupling current ``C`` enters the input current scaled by
    ``J_N``, exactly where TVB adds its coupling ``c_0`` (``x = ... + J_N c_0``): with
    ``coupling="additive"`` (``C = k sum_j W_ij S_j``, TVB's ``Linear(a=k)``) this is Deco
    et al.'s ``G J_N sum_j C_ij S_j``. Other regions read ``S``.

    Uncoupled, ``S`` relaxes to the root of ``S / tau_s = (1 - S) gamma H(w J_N S + I_o)``
    (one low-activity state at the defaults). TVB clips ``S`` to [0, 1] after each step;
    massengine does not (the deterministic flow keeps ``S`` in [0, 1]; strong noise may
    leave it). Noise is a run setting (``noise={"S": sigma}``), not a model parameter as
    TVB's ``sigma_noise`` is.
    """

    name = "reduced_wong_wang"
    reference = ("Deco G, Ponce-Alvarez A, Mantini D, Romani GL, Hagmann P, Corbetta M (2013) "
                 "J Neurosci 33:11239-11252; Wong KF, Wang XJ (2006) J Neurosci 26:1314-1328")
    state_vars = ("S",)
    units = {"S": ""}
    parameters = {
        "a": Param(0.270, "input gain of the transfer function", "1/nC", 0.0, 0.270),
        "b": Param(0.108, "input shift of the transfer function", "kHz", 0.0, 1.0),
        "d": Param(154.0, "curvature of the transfer function", "ms", 0.0, 200.0),
        "gamma": Param(0.641, "kinetic parameter (NMDA gating rate per firing rate)", "", 0.0, 1.0),
        "tau_s": Param(100.0, "NMDA decay time constant", "ms", 50.0, 150.0),
        "w": Param(0.6, "excitatory recurrence", "", 0.0, 1.0),
        "J_N": Param(0.2609, "NMDA coupling current", "nA", 0.2609, 0.5),
        "I_o": Param(0.33, "effective external input current", "nA", 0.0, 1.0),
    }
    coupled_var = "S"
    coupling_target = "S"
    default_record = ("S",)
    couplings = ("additive", "diffusive", "laplacian", "sigmoidal", "tanh")

    @staticmethod
    def dfun(state, coupling, p):
        s = state[0]
        x = p["w"] * p["J_N"] * s + p["I_o"] + p["J_N"] * coupling[0]
        ds = -s / p["tau_s"] + (1.0 - s) * p["gamma"] * transfer(x, p)
        return ds[None]
