"""What a parameter grid costs: the same number of runs as a k-only sweep, as a k x node.a
grid (per-run node parameters) and as a k x speed grid (per-run delays: each delayed read
gathers its own lag per run), on TVB's 76 regions. Cases alternate in one process over
several repetitions, so their ratios are measured side by side on a shared machine.

    python benchmarks/bench_grid.py [--reps 3] [--duration 300] [--layout auto] [--json results_grid.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import jax
import numpy as np
from bench_engine import connectome

import massengine as me

HERE = Path(__file__).resolve().parent


def cases(n_k: int):
    """``{name: grid}`` of ``n_k * 8`` runs each (None: k only, ``n_k * 8`` k values)."""
    return {
        "k_only": None,
        "k_x_node.a": {"node.a": np.linspace(-0.1, 0.1, 8)},
        "k_x_speed": {"speed": np.geomspace(2.0, 32.0, 8)},
    }


def run(net, n_k, grid, duration, layout):
    ks = np.linspace(0.0, 1.0, n_k * (8 if grid is None else 1))
    start = time.perf_counter()
    out = me.sweep(net, k=ks, grid=grid, duration=duration, dt=0.1, sample_every=10, layout=layout,
                   noise=0.01, seeds=[0])
    jax.block_until_ready(out["x"].values)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--n-k", type=int, default=8)
    parser.add_argument("--layout", default="auto")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    w, d, name = connectome()
    net = me.Network(me.nodes.Hopf(a=-0.05, w=2 * np.pi * 0.04, initial={"x": 0.1}), weights=w, distances=d,
                     speed=10.0, k=0.1)
    grids = cases(args.n_k)
    first = {case: run(net, args.n_k, grid, args.duration, args.layout) for case, grid in grids.items()}
    times = {case: [] for case in grids}
    for _ in range(args.reps):
        for case, grid in grids.items():
            times[case].append(run(net, args.n_k, grid, args.duration, args.layout))
    runs = args.n_k * 8
    steps = int(round(args.duration / 0.1))
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {jax.devices()[0].device_kind}, "
                   f"jax {jax.__version__}",
        "connectome": name, "runs_per_case": runs, "duration_ms": args.duration, "layout": args.layout,
        "cases": {case: {"first_call_s": round(first[case], 3), "warm_median_s": round(statistics.median(t), 4),
                         "region_steps_per_s": net.n_regions * steps * runs / statistics.median(t)}
                  for case, t in times.items()},
    }
    base = result["cases"]["k_only"]["warm_median_s"]
    for case in grids:
        result["cases"][case]["time_vs_k_only"] = round(result["cases"][case]["warm_median_s"] / base, 3)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
