"""Regenerate the figures of docs/ from massengine itself:  python docs/make_figures.py"""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import massengine as me
from massengine import metrics, viz

OUT = Path(__file__).resolve().parent / "figures"
COUPLINGS = ["diffusive", "additive", "laplacian", "tanh", "sigmoidal", "sigmoidal_jansen_rit"]


def main():
    OUT.mkdir(exist_ok=True)
    conn = me.datasets.load("example_connectome")
    node = me.nodes.Hopf(a=0.25, w=0.2, initial={"x": np.linspace(-0.5, 0.5, 8)})
    net = me.Network(node, weights=conn.weights, distances=conn.distances, speed=10.0,
                     coupling="diffusive", k=0.3, labels=conn.labels)
    ds = me.simulate(net, duration=300.0, dt=0.1, transient=50.0)
    viz.plot_timeseries(ds.x, title="Hopf, diffusive, k = 0.3").savefig(OUT / "quickstart_timeseries.png", dpi=90)

    sw = me.sweep(net, k=[0.1], couplings=COUPLINGS, duration=300.0, dt=0.1, transient=50.0)
    fig = Figure(figsize=(12, 7), layout="constrained")
    for ax, name in zip(fig.subplots(3, 2).ravel(), COUPLINGS, strict=True):
        viz.plot_timeseries(sw.x.sel(coupling=name, k=0.1), ax=ax, title=f"{name}, k = 0.1")
    fig.savefig(OUT / "couplings_timeseries.png", dpi=80)

    ks = np.linspace(0.0, 1.5, 16)
    sw = me.sweep(net, k=ks, couplings=COUPLINGS, duration=300.0, dt=0.1, transient=50.0, sample_every=10)
    mean_fc = metrics.mean_fc(metrics.functional_connectivity(sw.x.values))
    summary = sw[["diverged"]].assign(mean_fc=(("coupling", "k"), mean_fc))
    viz.plot_metric_vs_k(summary, "mean_fc").savefig(OUT / "fc_vs_k.png", dpi=90)
    print(f"figures written to {OUT}")


if __name__ == "__main__":
    main()
