"""A/B: the engine of two checkouts on the same work, alternated in one run, so that their
ratio is measured side by side on a shared (noisy) machine.

    python benchmarks/bench_ab.py OLD_CHECKOUT NEW_CHECKOUT [--reps 3] [--duration 300] [--json out.json]

Each measurement is a fresh process importing massengine from one checkout (PYTHONPATH);
cases: one run and a 32-k sweep on TVB's 76 regions (bench_engine.py's work), and a 256-run
sweep; the best of the warm calls of each process, the median over repetitions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = {"single": None, "sweep32": 32, "sweep256": 256}
CHILD = """
import json, sys
sys.path.insert(0, {bench!r})
import numpy as np, bench_engine as b, massengine as me
w, d, name = b.connectome()
node = me.nodes.Hopf(a=-0.05, w=2 * np.pi * 0.04, initial={{"x": 0.1}})
net = me.Network(node, weights=w, distances=d, speed=10.0, k=0.1)
n = {n}
ks = None if n is None else np.linspace(0.0, 1.0, n)
print(json.dumps(b.measure(net, ks, {duration}, 0.1, "auto")))
"""


def measure(checkout: Path, n, duration: float) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    code = CHILD.format(bench=str(HERE), n=n, duration=duration)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{checkout} ({n} runs) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["region_steps_per_s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {case: {"old": [], "new": []} for case in CASES}
    for _ in range(args.reps):
        for case, n in CASES.items():
            for side in ("old", "new"):
                results[case][side].append(measure(getattr(args, side), n, args.duration))
    summary = {case: {side: statistics.median(v) for side, v in r.items()} for case, r in results.items()}
    for s in summary.values():
        s["new_over_old"] = round(s["new"] / s["old"], 3)
    text = json.dumps({"old": str(args.old), "new": str(args.new), "raw": results, "median": summary}, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
