"""Jansen–Rit cortical column: pyramidal cells with excitatory and inhibitory interneurons."""

from __future__ import annotations

import jax.numpy as jnp

from ..parameters import Param
from .base import NodeModel


def _sigmoid(v, p):
    """Potential-to-rate transfer ``2 e0 / (1 + exp(r (v0 - v)))`` (1/ms)."""
    return 2.0 * p["e0"] / (1.0 + jnp.exp(p["r"] * (p["v0"] - v)))


class JansenRit(NodeModel):
    """Jansen & Rit (1995) *Biol. Cybern.* 73:357, in TVB's millisecond units
    (Sanz Leon et al. 2013; ``tvb.simulator.models.JansenRit``)::

        dy0 = y3                  dy3 = A a S(y1 - y2) - 2 a y3 - a² y0
        dy1 = y4                  dy4 = A a (mu + a2 J S(a1 J y0) + C) - 2 a y4 - a² y1
        dy2 = y5                  dy5 = B b a4 J S(a3 J y0) - 2 b y5 - b² y2
        S(v) = 2 e0 / (1 + exp(r (v0 - v)))

    The coupling current ``C`` (a firing rate, 1/ms) enters the pyramidal excitatory input
    ``dy4``; other regions read the pyramidal potential ``y1 - y2`` (observable
    ``"y1_minus_y2"``, mV), which pairs with ``coupling="sigmoidal_jansen_rit"``.
    """

    name = "jansen_rit"
    reference = "Jansen BH, Rit VG (1995) Biol Cybern 73:357-366"
    state_vars = ("y0", "y1", "y2", "y3", "y4", "y5")
    units = {"y0": "mV", "y1": "mV", "y2": "mV", "y3": "mV/ms", "y4": "mV/ms", "y5": "mV/ms",
             "y1_minus_y2": "mV"}
    parameters = {
        "A": Param(3.25, "maximal excitatory PSP amplitude", "mV", 2.6, 9.75),
        "B": Param(22.0, "maximal inhibitory PSP amplitude", "mV", 17.6, 110.0),
        "a": Param(0.1, "reciprocal of the excitatory time constant", "1/ms", 0.05, 0.15),
        "b": Param(0.05, "reciprocal of the inhibitory time constant", "1/ms", 0.025, 0.075),
        "v0": Param(5.52, "potential at half the maximal firing rate", "mV", 3.12, 6.0),
        "e0": Param(0.0025, "half the maximal firing rate", "1/ms", 0.00125, 0.00375),
        "r": Param(0.56, "steepness of the sigmoid", "1/mV", 0.28, 0.84),
        "J": Param(135.0, "average number of synapses between populations", "", 65.0, 1350.0),
        "a1": Param(1.0, "pyramidal -> excitatory interneuron connectivity", "", 0.5, 1.5),
        "a2": Param(0.8, "excitatory interneuron -> pyramidal connectivity", "", 0.4, 1.2),
        "a3": Param(0.25, "pyramidal -> inhibitory interneuron connectivity", "", 0.125, 0.375),
        "a4": Param(0.25, "inhibitory interneuron -> pyramidal connectivity", "", 0.125, 0.375),
        "mu": Param(0.22, "mean extrinsic input rate", "1/ms", 0.0, 0.5),
    }
    coupled_var = "y1_minus_y2"
    coupling_target = "y4"
    observables = {"y1_minus_y2": lambda state, p: state[1] - state[2]}
    default_record = ("y1_minus_y2",)
    couplings = ("sigmoidal_jansen_rit", "sigmoidal", "tanh", "diffusive", "laplacian")

    @staticmethod
    def dfun(state, coupling, p):
        y0, y1, y2, y3, y4, y5 = state
        a, b, j = p["a"], p["b"], p["J"]
        dy3 = p["A"] * a * _sigmoid(y1 - y2, p) - 2 * a * y3 - a * a * y0
        excitatory = p["mu"] + p["a2"] * j * _sigmoid(p["a1"] * j * y0, p) + coupling[4]
        dy4 = p["A"] * a * excitatory - 2 * a * y4 - a * a * y1
        dy5 = p["B"] * b * p["a4"] * j * _sigmoid(p["a3"] * j * y0, p) - 2 * b * y5 - b * b * y2
        derivative = jnp.stack([y3, y4, y5, dy3, dy4, dy5])
        # currents aimed at any other variable are added to its derivative
        return derivative + coupling.at[4].set(0.0)
