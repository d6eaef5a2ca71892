"""Which of tvboptim's documented options run_engine.py's tvboptim adapter uses, measured.

    benchmarks/peers/.venvs/tvboptim/bin/python benchmarks/peers/tvboptim_options.py \\
        [--json benchmarks/results_tvboptim_options.json]

The adapter (``run_engine.tvboptim_runner``) on the 32-k sweep of 200 ms runs, one process,
warm call, for each graph (``sparse``: ``SparseDelayGraph``; ``dense``: ``DenseDelayGraph``)
x delay buffer (``roll``, its default; ``circular``) x how the 1-ms samples are kept
(``stack``: every step, then every 10th, as its ``SubSampling`` monitor; ``fold``: a
streaming ``reduce=`` fold over blocks of 10 steps). Each variant's samples are compared with
the first's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
from run_engine import DT, connectome, tvboptim_runner


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--duration", type=float, default=200.0)
    parser.add_argument("--runs", type=int, default=32)
    args = parser.parse_args()
    w, d = connectome(76)
    ks, seeds = np.linspace(0.0, 0.3, args.runs), np.array([0])
    steps = int(round(args.duration / DT))
    rows, reference = [], None
    for graph, buffer, samples in itertools.product(("dense", "sparse"), ("roll", "circular"), ("stack", "fold")):
        run, _ = tvboptim_runner(w, d, args.duration, False, graph=graph, buffer=buffer, samples=samples)
        out = run(ks, seeds)  # compiles
        start = time.perf_counter()
        run(ks, seeds)
        warm = time.perf_counter() - start
        reference = out if reference is None else reference
        row = {"graph": graph, "buffer": buffer, "samples": samples, "warm_call_s": round(warm, 4),
               "region_steps_per_s": 76 * steps * len(ks) / warm,
               "max_abs_diff_vs_first": float(np.max(np.abs(out - reference)))}
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.json:
        result = {"duration_ms": args.duration, "runs": args.runs, "connectome": connectome.name, "variants": rows}
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
