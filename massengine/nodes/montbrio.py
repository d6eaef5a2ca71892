"""Montbrió–Pazó–Roxin: the exact mean field of a population of quadratic integrate-and-fire
neurons (firing rate and mean membrane potential)."""

from __future__ import annotations

import jax.numpy as jnp

from ..parameters import Param
from .base import NodeModel


class MontbrioPazoRoxin(NodeModel):
    """Montbrió, Pazó & Roxin (2015) *Phys. Rev. X* 5:021028, as TVB's
    ``MontbrioPazoRoxin`` and vbjax's ``mpr_dfun``::

        dr/dt = (Delta / (pi tau) + 2 V r) / tau
        dV/dt = (V² - pi² tau² r² + eta + J tau r + I + cr C_r + cv C_V) / tau

    ``r`` is the population firing rate, ``V`` the mean membrane potential (time in ms with
    TVB's ``tau = 1``: ``r`` per ms, ``V`` dimensionless).

    **Coupling, as in TVB and vbjax.** The model has two coupling inputs, indexed like its
    state variables: the summed current of the terms aimed at ``r`` is TVB's
    ``Coupling_Term_r`` (``C_r``), that of the terms aimed at ``V`` is ``Coupling_Term_V``
    (``C_V``). *Both* enter the ``V`` equation, weighted by ``cr`` and ``cv``; neither enters
    ``dr``. The default term reads ``r`` and is aimed at ``r`` (rate coupling,
    ``C_r = k sum_j W_ij r_j`` with ``coupling="additive"``, TVB's ``Linear``); for TVB's
    voltage coupling add a second term ``CouplingTerm(coupled_var="V", target="V")`` and set
    ``cv``.

    Uncoupled fixed points: ``r* = -Delta / (2 pi tau V*)`` with ``V*`` a negative root of
    ``4 V⁴ + 4 (eta + I) V² - 2 J Delta V / pi - Delta² = 0``; at the defaults (eta = -5,
    J = 15, Delta = 1) a stable low-activity focus and a stable high-activity focus coexist.
    TVB clips ``r`` at 0 after each step; massengine does not (the deterministic flow keeps
    ``r > 0``: ``dr/dt = Delta / (pi tau²) > 0`` at ``r = 0``).
    """

    name = "montbrio_pazo_roxin"
    reference = "Montbrio E, Pazo D, Roxin A (2015) Phys Rev X 5:021028"
    state_vars = ("r", "V")
    units = {"r": "1/ms", "V": "a.u."}
    parameters = {
        "tau": Param(1.0, "characteristic (membrane) time constant", "ms", 0.001, 15.0),
        "I": Param(0.0, "external homogeneous current", "a.u.", -10.0, 10.0),
        "Delta": Param(1.0, "half-width of the Lorentzian distribution of excitabilities", "a.u.",
                       0.0, 10.0),
        "J": Param(15.0, "mean synaptic weight (recurrent excitation)", "a.u.", -25.0, 25.0),
        "eta": Param(-5.0, "centre of the distribution of excitabilities", "a.u.", -10.0, 10.0),
        "cr": Param(1.0, "weight of the rate coupling C_r in dV", "", 0.0, 1.0),
        "cv": Param(0.0, "weight of the voltage coupling C_V in dV", "", 0.0, 1.0),
    }
    coupled_var = "r"
    coupling_target = "r"
    default_record = ("r", "V")
    couplings = ("additive", "diffusive", "laplacian", "sigmoidal", "tanh")

    @staticmethod
    def dfun(state, coupling, p):
        r, v = state[0], state[1]
        tau = p["tau"]
        dr = (p["Delta"] / (jnp.pi * tau) + 2.0 * v * r) / tau
        dv = (v * v - (jnp.pi * tau * r) ** 2 + p["eta"] + p["J"] * tau * r + p["I"]
              + p["cr"] * coupling[0] + p["cv"] * coupling[1]) / tau
        return jnp.stack([dr, dv])
