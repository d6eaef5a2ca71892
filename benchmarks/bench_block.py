"""The blocked time loop (issue 23) against the step-by-step loop and tvboptim, alternated.

    python benchmarks/bench_block.py [--runs 1 32 512] [--repeats 3]
                                     [--json benchmarks/results_block.json]

Each measurement is one process of ``benchmarks/peers/run_engine.py ENGINE batch`` (TVB's 76
regions, Hopf, diffusive, 1 s at dt 0.1 ms, x every 1 ms, one CPU device; ``me.sweep`` end to
end, samples in an xarray dataset, plus massengine's compiled loop alone, ``--device-time``):
massengine as built (blocks of ``engine.block_size`` steps: 5 here, the shortest lag being 5
steps), massengine ``--step-by-step`` (blocks of 1, the loop before), and tvboptim 0.4.0 with its
fastest documented options when its venv exists (``benchmarks/peers/install.sh tvboptim``).
They alternate (blocked, step, tvboptim, blocked, ...) for every run count, ``--repeats``
times; per round the ratios, then their median and range, are recorded with the machine.
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


def measure(runs: int, duration: float, engine="massengine", python=sys.executable, flags=()) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MASSENGINE_CPU_DEVICES"}
    env["JAX_PLATFORMS"] = "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        run = subprocess.run([str(python), str(RUNNER), engine, "batch", "--batch", str(runs),
                              "--duration", str(duration), "--repeats", "3", "--out", str(out), *flags],
                             env=env, capture_output=True, text=True)
        if run.returncode:
            raise SystemExit(f"{engine} {flags} failed:\n{run.stderr[-3000:]}")
        return json.loads(out.read_text())


def summary(values) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 32, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--json", type=Path, default=HERE / "results_block.json")
    args = parser.parse_args()
    steps = int(round(args.duration / 0.1))
    cases = []
    for runs in args.runs:
        rounds = []
        for _ in range(args.repeats):
            blocked = measure(runs, args.duration, flags=("--device-time",))
            step = measure(runs, args.duration, flags=("--device-time", "--step-by-step"))
            entry = {"blocked_s": blocked["warm_call_s"], "step_s": step["warm_call_s"],
                     "blocked_loop_s": blocked.get("device_call_s"), "step_loop_s": step.get("device_call_s"),
                     "speedup": step["warm_call_s"] / blocked["warm_call_s"]}
            if entry["blocked_loop_s"] and entry["step_loop_s"]:
                entry["loop_speedup"] = entry["step_loop_s"] / entry["blocked_loop_s"]
                entry["us_per_step_blocked_loop"] = 1e6 * entry["blocked_loop_s"] / steps
                entry["us_per_step_step_loop"] = 1e6 * entry["step_loop_s"] / steps
            if TVBOPTIM.exists():
                peer = measure(runs, args.duration, "tvboptim", TVBOPTIM)
                entry.update(tvboptim_s=peer["warm_call_s"], vs_tvboptim=peer["warm_call_s"] / blocked["warm_call_s"],
                             step_vs_tvboptim=peer["warm_call_s"] / step["warm_call_s"])
            rounds.append(entry)
            print(runs, entry, flush=True)
        case = {"runs": runs, "connectome": blocked["connectome"], "rounds": rounds}
        for name in ("speedup", "loop_speedup", "vs_tvboptim", "step_vs_tvboptim", "us_per_step_blocked_loop",
                     "us_per_step_step_loop"):
            values = [r[name] for r in rounds if name in r]
            if values:
                case[name] = summary(values)
        cases.append(case)
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                          "jax": blocked["jax"], "device_kind": blocked["device_kind"]},
              "work": "TVB 76, Hopf, diffusive, 1 s at dt 0.1 ms, x every 1 ms, one CPU device, warm calls",
              "cases": cases}
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    for case in cases:
        line = f"{case['runs']:5d} runs: blocked/step-by-step {_fmt(case['speedup'])} end to end"
        if "loop_speedup" in case:
            line += (f", {_fmt(case['loop_speedup'])} in the loop ({case['us_per_step_blocked_loop']['median']:.2f} "
                     f"against {case['us_per_step_step_loop']['median']:.2f} us/step)")
        if "vs_tvboptim" in case:
            line += f"; vs tvboptim {_fmt(case['vs_tvboptim'])} (step-by-step: {_fmt(case['step_vs_tvboptim'])})"
        print(line)


def _fmt(s: dict) -> str:
    return f"{s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f})"


if __name__ == "__main__":
    main()
