"""Engine throughput: one run and a 32-value k sweep on a 76-region connectome.

Work (issue 2/5): Hopf (a = -0.05, w = 2*pi*0.04 rad/ms), diffusive coupling, tract
lengths / 10 mm/ms, dt = 0.1 ms, 1000 ms, deterministic, float32. The connectome is TVB's
76-region set read from ../shared/data when present (it is GPL-3.0+, never bundled),
otherwise a synthetic 76-region network with the same density.

    python benchmarks/bench_engine.py [--n-k 32] [--duration 1000] [--json out.json] [--scaling]

Reports compile time (first call minus a warm call) separately from the steady-state
throughput in region·steps/s (regions x steps x runs / wall seconds of a warm call).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

import massengine as me

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "tvb_connectivity_76"


def connectome():
    if SHARED.is_dir():
        w = np.load(SHARED / "weights.npy")
        d = np.load(SHARED / "tract_lengths.npy")
        np.fill_diagonal(w, 0)
        return w / w.max(), d, "tvb_connectivity_76"
    conn = me.synthetic_connectome(76, density=0.5, seed=0)
    return conn.weights, conn.distances, "synthetic_76"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return time.perf_counter() - start


def measure(net, ks, duration, dt, layout="auto"):
    kw = dict(duration=duration, dt=dt, sample_every=10, layout=layout)
    if ks is None:
        call = lambda: me.integrate(net, **kw).data  # noqa: E731
        runs = 1
    else:
        call = lambda: me.sweep(net, k=ks, **kw).x.values  # noqa: E731
        runs = len(ks)
    first = timed(call)
    warm = min(timed(call) for _ in range(3))
    steps = int(round(duration / dt))
    return {
        "runs": runs,
        "first_call_s": round(first, 3),
        "warm_call_s": round(warm, 4),
        "compile_s": round(first - warm, 3),
        "region_steps_per_s": net.n_regions * steps * runs / warm,
    }


def scaling(tvb_net):
    """Throughput (region·steps/s) against batch size at N = 76 and against N at batch 32."""
    out = {"batch_at_N76": {}, "N_at_batch32": {}}
    for batch in (1, 8, 32, 128):
        ks = np.linspace(0.0, 1.0, batch)
        for layout in ("dense", "sparse", "ell"):
            out["batch_at_N76"][f"{batch}_{layout}"] = measure(tvb_net, ks, 200.0, 0.1, layout)["region_steps_per_s"]
    nets = {"8": me.datasets.load("example_connectome"), "76": None, "192": None,
            "500_synthetic_10pct": me.synthetic_connectome(500, density=0.1, seed=0)}
    shared = SHARED.parent / "tvb_connectivity_192"
    if shared.is_dir():
        w = np.load(shared / "weights.npy")
        np.fill_diagonal(w, 0)
        nets["192"] = me.Connectome(weights=w / w.max(), distances=np.load(shared / "tract_lengths.npy"))
    ks = np.linspace(0.0, 1.0, 32)
    for name, conn in nets.items():
        net = tvb_net if name == "76" else None
        if conn is not None:
            node = me.nodes.Hopf(a=-0.05, w=2 * np.pi * 0.04, initial={"x": 0.1})
            net = me.Network(node, weights=conn.weights, distances=conn.distances, speed=10.0, k=0.1)
        if net is None:
            continue
        for layout in ("dense", "sparse", "ell"):
            out["N_at_batch32"][f"{name}_{layout}"] = measure(net, ks, 200.0, 0.1, layout)["region_steps_per_s"]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-k", type=int, default=32)
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--scaling", action="store_true", help="also throughput vs batch size and N (200 ms runs)")
    args = parser.parse_args()
    w, d, name = connectome()
    node = me.nodes.Hopf(a=-0.05, w=2 * np.pi * 0.04, initial={"x": 0.1})
    net = me.Network(node, weights=w, distances=d, speed=10.0, coupling="diffusive", k=0.1)
    result = {
        "connectome": name,
        "n_regions": net.n_regions,
        "max_delay_ms": round(net.max_delay, 2),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "jax": f"{jax.__version__} {jax.default_backend()}",
        "density": round(float((w != 0).mean()), 3),
    }
    ks = np.linspace(0.0, 1.0, args.n_k)
    for layout in ("dense", "sparse", "ell", "auto"):
        result[f"single_run_{layout}"] = measure(net, None, args.duration, 0.1, layout)
        result[f"sweep_{layout}"] = measure(net, ks, args.duration, 0.1, layout)
    if args.scaling:
        result["scaling"] = scaling(net)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
