"""Sweep k for every coupling on the bundled connectome and print mean FC per coupling.

    python examples/quick_sweep.py
"""

import numpy as np

import massengine as me

conn = me.datasets.load("example_connectome")
node = me.nodes.Hopf(a=0.25, w=0.2, initial={"x": np.linspace(-0.5, 0.5, conn.n_regions)})
net = me.Network(node, weights=conn.weights, distances=conn.distances, speed=10.0,
                 labels=conn.labels, coupling="diffusive", k=0.5)
ks = np.linspace(0.0, 1.5, 16)
couplings = ["diffusive", "additive", "laplacian", "tanh", "sigmoidal", "sigmoidal_jansen_rit"]
sw = me.sweep(net, k=ks, couplings=couplings, duration=300.0, dt=0.1, transient=50.0,
              sample_every=10)
x = sw.x.values  # (coupling, k, time, region)
print(f"{'k':>6} " + " ".join(f"{c[:12]:>12}" for c in couplings))
for i, k in enumerate(ks):
    row = []
    for c in range(len(couplings)):
        with np.errstate(invalid="ignore", divide="ignore"):  # a flat signal has no FC: nan
            fc = np.corrcoef(x[c, i].T)
        row.append(fc[np.triu_indices_from(fc, 1)].mean())
    print(f"{k:6.2f} " + " ".join(f"{v:12.3f}" for v in row))
