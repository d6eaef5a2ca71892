"""massengine against its peers on the same work, in the same run.

    benchmarks/peers/install.sh            # once: brainmass, neurolib, tvb-library, vbjax, tvboptim venvs
    python benchmarks/bench_peers.py [--quick] [--json benchmarks/results_peers.json]
                                     [--plot benchmarks/peers_throughput.png]
                                     [--engines massengine tvboptim ...] [--cases single sweep ...]

Every engine runs in its own process (its own virtual environment, benchmarks/peers/.venvs),
one after the other, through benchmarks/peers/run_engine.py, which defines the work. This
script collects their JSON, checks that the trajectories agree with massengine's where the
equations coincide, computes the ratios massengine / peer of this run, and plots throughput
against batch size and against N (one line per engine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "peers" / "run_engine.py"
CASES = ("single", "sweep", "noise", "batch", "regions")
VENVS = HERE / "peers" / ".venvs"
PEERS = ("brainmass", "neurolib", "tvb", "vbjax", "tvboptim")
# The same scheme as the peer (Euler everywhere; vbjax only integrates with Heun).
OURS_FOR = {"brainmass": "massengine", "neurolib": "massengine", "tvb": "massengine", "vbjax": "massengine_heun",
            "tvboptim": "massengine"}
# Relative agreement (max |x_peer - x_ours| / max |x_ours|) required of each peer, and why.
AGREEMENT = {
    "neurolib": (1e-5, "same equations, delays and Euler; float64 vs float32"),
    "tvb": (1e-5, "same equations, delays and Euler; float64 vs float32"),
    "brainmass": (1e-2, "exact at k = 0; its delayed read differs from a rounded step lag"),
    "vbjax": (2e-2, "exact at k = 0; its Heun corrector re-reads the coupling, ours holds it"),
    "tvboptim": (1e-5, "same equations, rint delays and Euler, float32 both; summation order"),
}
# Most runs a slow engine does per case (its throughput is flat in the number of runs).
CAPS = {"neurolib": 8, "tvb": 4, "vbjax": 32}


def python_of(engine: str) -> str:
    if engine.startswith("massengine"):
        return sys.executable
    python = VENVS / engine / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} is missing: run benchmarks/peers/install.sh {engine} first.")
    return str(python)


def run(engine, case, workdir, traj=False, **options):
    out = Path(workdir) / f"{engine}-{case}-{'-'.join(f'{k}{v}' for k, v in options.items())}.json"
    cmd = [python_of(engine), str(RUNNER), engine, case, "--out", str(out)]
    cmd += ["--max-runs", str(CAPS.get(engine, 1 << 20))]
    for key, value in options.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    if traj:
        cmd += ["--traj", str(out.with_suffix(".npy"))]
    print("$", " ".join(cmd[1:]), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return {"engine": engine, "case": case, "error": done.stderr.strip().splitlines()[-1]}
    result = json.loads(out.read_text())
    if traj:
        result["traj"] = str(out.with_suffix(".npy"))
    print("  ", {k: result[k] for k in ("runs_timed", "warm_call_s", "region_steps_per_s", "peak_rss_mb")},
          flush=True)
    return result


def agreement(results):
    """Max relative difference of each peer's x samples from massengine's (same k, same
    scheme), per compared run."""
    out = {}
    for peer in PEERS:
        mine, theirs = results["sweep"].get(OURS_FOR[peer]), results["sweep"].get(peer)
        if not mine or not theirs or "traj" not in theirs:
            continue
        a, b = np.load(mine["traj"]), np.load(theirs["traj"])
        n = min(len(a), len(b))
        rel = [float(np.max(np.abs(a[i] - b[i])) / np.max(np.abs(a[i]))) for i in range(n)]
        tol, why = AGREEMENT[peer]
        out[peer] = {"compared_with": OURS_FOR[peer], "max_rel_diff_per_run": rel, "tolerance": tol,
                     "agrees": max(rel) <= tol, "why": why}
    return out


def ratios(results):
    """massengine / peer throughput for each case measured above."""
    out = {}
    for case in ("single", "sweep", "noise"):
        for peer in PEERS:
            mine, theirs = results[case].get(OURS_FOR[peer]), results[case].get(peer)
            if mine and theirs and "error" not in theirs:
                out.setdefault(case, {})[peer] = mine["region_steps_per_s"] / theirs["region_steps_per_s"]
    return out


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for ax, case, key, label in ((axes[0], "batch", "runs_asked", "runs per call (batch) at N = 76"),
                                 (axes[1], "regions", "n_regions", "regions N (batch 32)")):
        for engine, points in sorted(results[case].items()):
            pts = sorted((p[key], p["region_steps_per_s"]) for p in points if "error" not in p)
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=engine)
        ax.set(xscale="log", yscale="log", xlabel=label, ylabel="region·steps / s")
        ticks = sorted({p[key] for points in results[case].values() for p in points if key in p})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_title("Throughput vs batch size (200 ms runs)")
    axes[1].set_title("Throughput vs N (200 ms runs)")
    axes[1].legend(fontsize=8)
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=HERE / "results_peers.json")
    parser.add_argument("--plot", type=Path, default=HERE / "peers_throughput.png")
    parser.add_argument("--engines", nargs="+", default=["massengine", "massengine_heun", *PEERS])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES,
                        help="cases to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="100 ms runs, small grids (a smoke test)")
    args = parser.parse_args()
    duration = 100.0 if args.quick else 1000.0
    batches = (1, 4, 16) if args.quick else (1, 4, 16, 64, 256, 1024)
    sizes = (8, 76) if args.quick else (8, 76, 192, 500)
    results = {case: {} for case in ("single", "sweep", "noise")}
    results.update(batch={}, regions={})
    with tempfile.TemporaryDirectory() as workdir:
        for engine in args.engines:
            if "single" in args.cases:
                results["single"][engine] = run(engine, "single", workdir, duration=duration)
            if "sweep" in args.cases:
                results["sweep"][engine] = run(engine, "sweep", workdir, traj=True, duration=duration)
            if "noise" in args.cases and (engine != "massengine_heun" or "vbjax" in args.engines):
                results["noise"][engine] = run(engine, "noise", workdir, duration=duration, repeats=1)
            if engine == "massengine_heun":
                continue
            for batch in batches if "batch" in args.cases else ():
                if engine in CAPS and batch > CAPS[engine] * 2:
                    continue  # flat beyond: runs are independent iterations (see README)
                results["batch"].setdefault(engine, []).append(
                    run(engine, "batch", workdir, batch=batch, duration=200.0, repeats=1))
            for n in sizes if "regions" in args.cases else ():
                results["regions"].setdefault(engine, []).append(
                    run(engine, "regions", workdir, n_regions=n, duration=200.0, repeats=1))
        results["agreement"] = agreement(results)
        for case in ("single", "sweep", "noise"):
            for r in results[case].values():
                r.pop("traj", None)
    results["ratios"] = ratios(results)
    results["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    results["cases"] = args.cases
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    if {"batch", "regions"} & set(args.cases):
        plot(results, args.plot)
    print(json.dumps({"ratios": results["ratios"], "agreement": results["agreement"]}, indent=1))


if __name__ == "__main__":
    main()
