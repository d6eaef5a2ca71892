"""Regenerate ``neurolib_bold.npz``: neurolib's Balloon–Windkessel on a fixed input, the
reference of tests/test_bold.py's peer-parity tests (CI has no neurolib).

Run with neurolib installed (``python -m venv /tmp/venv-neurolib && /tmp/venv-neurolib/bin/pip
install neurolib``)::

    /tmp/venv-neurolib/bin/python tests/data/make_neurolib_bold.py

The input is deterministic and small to store: per region, a piecewise-constant drive (one
value per second, ``BLOCKS``) plus a 0.1 Hz sine, at dt = 0.5 ms for 40 s (80 000 steps).
Saved: neurolib's per-step BOLD from ``simulateBOLD`` started at massengine's rest state
(x = 0, f = q = v = 1), every 100th step; and ``BOLDModel.run`` (its own start, x = 1,
sampled every 2 000 ms from its index 1).
"""

from pathlib import Path

import numpy as np

DT = 0.5  # ms
SECONDS = 40
N = 4
STEPS_PER_BLOCK = int(1000 / DT)
EVERY = 100  # steps between the stored per-step samples


def blocks() -> np.ndarray:
    """(SECONDS, N) drive levels, 1/s: fixed decimals, no random generator involved."""
    i = np.arange(SECONDS)[:, None]
    j = np.arange(N)[None, :]
    return np.round(1.0 + np.sin(0.7 * i + 1.3 * j) * np.cos(0.3 * i * (j + 1)), 3)


def drive() -> np.ndarray:
    """(time, N) input, one row per step of DT."""
    t = np.arange(SECONDS * STEPS_PER_BLOCK) * DT / 1000.0
    sine = 0.5 * np.sin(2 * np.pi * 0.1 * t)[:, None] * np.arange(1, N + 1)[None, :] / N
    return np.repeat(blocks(), STEPS_PER_BLOCK, axis=0) + sine


def main() -> None:
    from importlib.metadata import version

    from neurolib.models.bold import BOLDModel, simulateBOLD

    z = drive()
    ones = np.ones(N)
    every, *_ = simulateBOLD(z.T.copy(), DT * 1e-3, 10000 * ones, X=np.zeros(N), F=ones, Q=ones, V=ones)
    model = BOLDModel(N, DT)
    model.run(z.T.copy())
    out = Path(__file__).with_name("neurolib_bold.npz")
    np.savez_compressed(out, every=every.T[EVERY - 1 :: EVERY], every_step=EVERY, dt=DT,
                        model_bold=model.BOLD.T, model_t=model.t_BOLD, neurolib_version=version("neurolib"))
    print(f"wrote {out} (neurolib {version('neurolib')})")


if __name__ == "__main__":
    main()
