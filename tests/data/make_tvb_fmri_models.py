"""Regenerate tests/data/tvb_fmri_models.npz: TVB's ReducedWongWang and MontbrioPazoRoxin
on fixed random states and coupling inputs (dfun), and short coupled simulations of a small
delayed network (HeunDeterministic, Raw monitor), for tests/test_models_fmri.py.

CI has no TVB; run this by hand in a throwaway environment:

    python3 -m venv /tmp/venv-tvb && /tmp/venv-tvb/bin/pip install tvb-library==2.10.0
    /tmp/venv-tvb/bin/python tests/data/make_tvb_fmri_models.py
"""

from pathlib import Path

import numpy as np
import tvb
from tvb.datatypes.connectivity import Connectivity
from tvb.simulator import coupling, integrators, models, monitors, simulator

OUT = Path(__file__).with_name("tvb_fmri_models.npz")
rng = np.random.default_rng(2013)
data = {"tvb_version": np.array(getattr(tvb, "__version__", "") or "tvb-library 2.10.0")}

# ---- dfun on random states and coupling inputs ---------------------------------------------
n = 16
rww = models.ReducedWongWang()
rww.configure()
s = rng.uniform(0.0, 1.0, (1, n))
c = rng.normal(scale=0.5, size=(1, n))
data["rww_state"], data["rww_coupling"] = s, c
data["rww_dfun"] = rww.dfun(s[..., None], c[..., None])[..., 0]
data["rww_dfun_numpy"] = rww._numpy_dfun(s, c)

mpr = models.MontbrioPazoRoxin(cv=np.array([0.5]))  # both coupling inputs used
mpr.configure()
x = np.stack([rng.uniform(0.0, 2.0, n), rng.uniform(-2.0, 1.5, n)])
c2 = rng.normal(scale=0.5, size=(2, n))
data["mpr_state"], data["mpr_coupling"], data["mpr_cv"] = x, c2, np.array(0.5)
data["mpr_dfun"] = mpr.dfun(x[..., None], c2[..., None])[..., 0]

# ---- a coupled, delayed network --------------------------------------------------------------
m = 4
w = rng.uniform(0.0, 1.0, (m, m))
np.fill_diagonal(w, 0.0)
lengths = rng.uniform(5.0, 40.0, (m, m))
lengths = (lengths + lengths.T) / 2
np.fill_diagonal(lengths, 0.0)
speed, dt, length = 10.0, 0.1, 200.0
data.update(net_weights=w, net_lengths=lengths, net_speed=np.array(speed), net_dt=np.array(dt))


def run(model, k, x0):
    conn = Connectivity(weights=w, tract_lengths=lengths, region_labels=np.array([f"r{i}" for i in range(m)]),
                        centres=np.zeros((m, 3)), speed=np.array([speed]))
    conn.configure()
    horizon = int(np.rint(lengths.max() / speed / dt)) + 1
    ic = np.broadcast_to(x0[None, :, :, None], (horizon,) + x0.shape + (1,)).copy()
    sim = simulator.Simulator(model=model, connectivity=conn, coupling=coupling.Linear(a=np.array([k])),
                              integrator=integrators.HeunDeterministic(dt=dt),
                              monitors=(monitors.Raw(),), initial_conditions=ic, simulation_length=length)
    sim.configure()
    (t, y), = sim.run()
    return t, y[:, :, :, 0]


x0 = rng.uniform(0.05, 0.6, (1, m))
t, y = run(models.ReducedWongWang(), 0.4, x0)
data.update(rww_net_x0=x0, rww_net_k=np.array(0.4), rww_net_t=t, rww_net_S=y[:, 0])

x0 = np.stack([rng.uniform(0.1, 1.5, m), rng.uniform(-2.0, 0.0, m)])
t, y = run(models.MontbrioPazoRoxin(cv=np.array([0.3])), 0.5, x0)
data.update(mpr_net_x0=x0, mpr_net_k=np.array(0.5), mpr_net_cv=np.array(0.3), mpr_net_t=t, mpr_net_r=y[:, 0],
            mpr_net_V=y[:, 1])

np.savez_compressed(OUT, **data)
print("wrote", OUT, {k: v.shape for k, v in data.items()})
