"""Peak memory against run length: a 10-second and a 10-minute run, streamed to zarr and in memory.

    python benchmarks/bench_memory.py [--long 600000] [--json benchmarks/results_memory.json]

Work: the 76-region connectome of bench_engine.py (TVB's, or a synthetic stand-in), Hopf,
diffusive, dt = 0.1 ms, x and y recorded every 1 ms, one run (k = 0.1), float32. Each case
runs in a fresh process, which reports its own peak RSS (ru_maxrss), so imports count the
same in every case. "streamed" is ``massengine.sweep_to_store`` (what the workflow runs):
time segments of ~16 MB go to the store as they are computed. "in memory" is
``massengine.sweep`` followed by writing the store, for contrast.
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

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {here!r})
import numpy as np
import massengine as me
from bench_engine import connectome
w, d, name = connectome()
node = me.nodes.Hopf(a=-0.05, w=2 * np.pi * 0.04, initial={{"x": 0.1}})
net = me.Network(node, weights=w, distances=d, speed=10.0, coupling="diffusive", k=0.1)
kw = dict(duration={duration}, dt=0.1, sample_every=10, record=["x", "y"], noise=0.01)
start = time.perf_counter()
if {streamed}:
    me.sweep_to_store(net, [0.1], {out!r}, **kw)
else:
    me.io.write_store(me.io.as_store(me.sweep(net, k=[0.1], **kw)), {out!r})
wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
recorded = 2 * net.n_regions * {duration} * 4 / 2**20  # x and y, float32, a sample per ms
print(json.dumps({{"wall_s": round(wall, 2), "peak_rss_mb": round(rss, 1), "recorded_mb": round(recorded, 1)}}))
"""


def measure(duration: float, streamed: bool, workdir: str) -> dict:
    out = os.path.join(workdir, f"run-{duration:.0f}-{streamed}.zarr")
    code = CHILD.format(here=str(Path(__file__).parent), duration=duration, streamed=streamed, out=out)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{duration / 1000:>6.0f} s {'streamed' if streamed else 'in memory'}: {result}", flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=float, default=10_000.0, help="ms")
    parser.add_argument("--long", type=float, default=600_000.0, help="ms")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as workdir:
        for streamed in (True, False):
            mode = "streamed" if streamed else "in_memory"
            short, long = measure(args.short, streamed, workdir), measure(args.long, streamed, workdir)
            result[mode] = {"short": short, "long": long,
                            "long_over_short_peak_rss": round(long["peak_rss_mb"] / short["peak_rss_mb"], 2)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
