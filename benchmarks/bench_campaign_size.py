"""A whole campaign with ``k_per_job: auto`` (the cost model of massengine/job_size.py)
against a fixed ``k_per_job``, alternated, each from an empty output folder.

    python benchmarks/bench_campaign_size.py CONFIGFILE [--fixed 16] [--repeats 2]
                                             [--cores 2] [--json benchmarks/results_campaign_size.json]

Each round runs ``snakemake --cores N --configfile CONFIGFILE`` twice (fixed, then auto; the
order flips every round) into fresh folders under a temporary directory, and records the
wall time and the number of simulate jobs of each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def campaign(configfile: Path, k_per_job: str, out: Path, cores: int) -> dict:
    if out.exists():
        shutil.rmtree(out)
    env = {k: v for k, v in os.environ.items() if k != "MASSENGINE_K_PER_JOB"}
    start = time.perf_counter()
    run = subprocess.run([str(SNAKEMAKE), "--cores", str(cores), "--configfile", str(configfile), "--config",
                          f"k_per_job={k_per_job}", f"output_dir={out}"], cwd=HERE.parent, env=env,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode:
        raise SystemExit(f"k_per_job={k_per_job} failed:\n{run.stderr[-3000:]}")
    jobs = len(list((out / "simulations").glob("*/*.zarr")))
    shutil.rmtree(out)
    return {"s": round(seconds, 1), "simulate_jobs": jobs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configfile", type=Path)
    parser.add_argument("--fixed", default="16")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--json", type=Path, default=HERE / "results_campaign_size.json")
    args = parser.parse_args()
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            order = ("fixed", "auto") if r % 2 == 0 else ("auto", "fixed")
            entry = {name: campaign(args.configfile.resolve(), args.fixed if name == "fixed" else "auto",
                                    Path(tmp) / name, args.cores) for name in order}
            entry["speedup"] = entry["fixed"]["s"] / entry["auto"]["s"]
            rounds.append(entry)
            print(entry, flush=True)
    speedups = [r["speedup"] for r in rounds]
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
              "configfile": str(args.configfile), "cores": args.cores, "fixed_k_per_job": args.fixed,
              "rounds": rounds, "speedup": {"median": statistics.median(speedups), "min": min(speedups),
                                            "max": max(speedups)}}
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"auto against k_per_job={args.fixed}: {result['speedup']['median']:.2f}x "
          f"({min(speedups):.2f}-{max(speedups):.2f})")


if __name__ == "__main__":
    main()
