"""One device against every device of the machine, on the same sweep, alternated.

    python benchmarks/bench_devices.py [--runs 1 32 256 512 2048] [--repeats 3]
                                       [--json benchmarks/results_devices.json]

Each measurement is one process of ``benchmarks/peers/run_engine.py massengine batch`` (TVB's
76 regions, Hopf, diffusive, 1 s at dt 0.1 ms, x every 1 ms; ``me.sweep`` end to end, the
samples in an xarray dataset): "one" with the default single CPU device, "all" with
``--every-core`` (one host device per core, the sweep split by its default rule), and, when
its venv exists (``benchmarks/peers/install.sh tvboptim``), tvboptim with ``--every-core``
(its ``ParallelExecution(n_pmap=devices)``) and its fastest documented options. They
alternate (one, all, tvboptim, one, ...) for every run count, ``--repeats`` times; the ratios
of each round and their median and range are recorded with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "peers" / "run_engine.py"


TVBOPTIM = HERE / "peers" / ".venvs" / "tvboptim" / "bin" / "python"


def measure(runs: int, every_core: bool, duration: float, python=sys.executable, engine="massengine") -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MASSENGINE_CPU_DEVICES"}
    env["JAX_PLATFORMS"] = "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        run = subprocess.run([str(python), str(RUNNER), engine, "batch", "--batch", str(runs),
                              "--duration", str(duration), "--repeats", "2", "--out", str(out)]
                             + (["--every-core"] if every_core else []), env=env, capture_output=True, text=True)
        if run.returncode:
            raise SystemExit(f"{engine} failed:\n{run.stderr[-3000:]}")
        return json.loads(out.read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 32, 256, 512, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--json", type=Path, default=HERE / "results_devices.json")
    args = parser.parse_args()
    cases = []
    for runs in args.runs:
        pairs = []
        for _ in range(args.repeats):
            one, every = measure(runs, False, args.duration), measure(runs, True, args.duration)
            pair = {"one_s": one["warm_call_s"], "all_s": every["warm_call_s"], "devices": every["n_devices"],
                    "ratio": one["warm_call_s"] / every["warm_call_s"]}
            if TVBOPTIM.exists():
                peer = measure(runs, True, args.duration, TVBOPTIM, "tvboptim")
                pair.update(tvboptim_all_s=peer["warm_call_s"], vs_tvboptim=peer["warm_call_s"] / every["warm_call_s"])
            pairs.append(pair)
            print(runs, pair, flush=True)
        case = {"runs": runs, "connectome": one["connectome"], "pairs": pairs}
        for name in ("ratio", "vs_tvboptim"):
            values = [p[name] for p in pairs if name in p]
            if values:
                case.update({f"{name}_median": statistics.median(values), f"{name}_min": min(values),
                             f"{name}_max": max(values)})
        cases.append(case)
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                          "jax": one["jax"], "device_kind": one["device_kind"]},
              "work": "TVB 76, Hopf, diffusive, 1 s at dt 0.1 ms, x every 1 ms, me.sweep end to end (warm call)",
              "cases": cases}
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    for case in cases:
        line = (f"{case['runs']:5d} runs: all/one {case['ratio_median']:.2f}x ({case['ratio_min']:.2f}-"
                f"{case['ratio_max']:.2f}) on {case['pairs'][0]['devices']} devices")
        if "vs_tvboptim_median" in case:
            line += (f"; vs tvboptim on every core {case['vs_tvboptim_median']:.2f}x "
                     f"({case['vs_tvboptim_min']:.2f}-{case['vs_tvboptim_max']:.2f})")
        print(line)


if __name__ == "__main__":
    main()
