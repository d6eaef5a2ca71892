"""Scale checks of the campaign machinery (issue 6):

1. plan (dry-run) a campaign of 6 couplings x 1000 k with k_per_job = 1 (12 003 jobs);
2. aggregate 1000 metric stores (copies of one real store at 1000 k values) into the summary.

    python benchmarks/bench_scale.py [--stores 1000] [--json out.json]

Reports wall time and peak RSS of each, measured in child processes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def child(code: str) -> dict:
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if run.returncode:
        raise RuntimeError(run.stderr[-2000:])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # max over children so far
    return {"wall_s": round(wall, 1), "peak_rss_mb_so_far": round(peak_kb / 1024), "stdout": run.stdout.strip()}


def plan(tmp: Path) -> dict:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config.update(k={"start": 0.0, "stop": 1.5, "num": 1000}, k_per_job=1, output_dir=str(tmp / "plan"))
    path = tmp / "scale.yaml"
    path.write_text(yaml.safe_dump(config))
    code = (f"import subprocess, sys; r = subprocess.run([sys.executable, '-m', 'snakemake', '-s', "
            f"{str(ROOT / 'Snakefile')!r}, '--directory', {str(tmp)!r}, '--configfile', {str(path)!r}, '-n', "
            f"'--quiet', 'rules'], capture_output=True, text=True); print(r.returncode); "
            f"print(r.stdout[-400:] + r.stderr[-400:])")
    return child(code)


def aggregate(tmp: Path, n_stores: int) -> dict:
    from massengine import campaign, io

    src = tmp / "src"
    config = yaml.safe_load((ROOT / "config" / "test" / "tiny.yaml").read_text())
    from snakemake.utils import validate

    validate(config, str(ROOT / "config" / "schemas" / "config.schema.yaml"))
    campaign.simulate_chunk(config, "diffusive", [0.5], src / "sim.zarr")
    campaign.metrics_chunk(config, src / "sim.zarr", src / "met.zarr")
    base = io.open_store(src / "met.zarr").load()
    paths = []
    for i, k in enumerate(np.linspace(0, 1.5, n_stores)):
        path = tmp / "metrics" / f"chunk{i:04d}.zarr"
        io.write_store(base.assign_coords(k=[k]), path)
        paths.append(str(path))
    code = (f"from massengine import campaign; s = campaign.aggregate({paths!r}, {str(tmp / 'summary.zarr')!r}, "
            f"{str(tmp / 'summary.csv')!r})")
    return child(code)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {"plan_12003_jobs": plan(Path(tmp))}
        result[f"aggregate_{args.stores}_stores"] = aggregate(Path(tmp), args.stores)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
