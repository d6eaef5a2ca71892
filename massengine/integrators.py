"""One step of the integrators: Euler(–Maruyama) and (stochastic) Heun.

``f(x)`` is the model's time derivative with the coupling current already bound (it is
held fixed within the step, also for Heun: docs/semantics.md). ``noise`` is the step's additive
increment ``sigma * sqrt(dt) * z`` (or 0.0), shared by both Heun stages as in TVB.
"""

from __future__ import annotations

INTEGRATORS = ("euler", "heun")


def euler(f, x, dt, noise):
    return x + dt * f(x) + noise


def heun(f, x, dt, noise):
    slope = f(x)
    predictor = x + dt * slope + noise
    return x + 0.5 * dt * (slope + f(predictor)) + noise


STEPPERS = {"euler": euler, "heun": heun}
