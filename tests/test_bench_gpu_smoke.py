"""benchmarks/gpu/bench_gpu.py end to end on the CPU, massengine only, tiny sizes: each
measurement runs in its own process, and what the time budget leaves out is recorded as skipped.
No speed is asserted (benchmarks/ measures speed); this guards the script the GPU run needs."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_gpu_smoke_records_measured_and_skipped(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu" / "bench_gpu.py"), "--smoke", "--engines", "massengine",
           "--budget-s", "12", "--out-dir", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "results_cpu-smoke.json").read_text())
    first, *rest = result["records"]
    assert (first["engine"], first["case_id"], first["layout"]) == ("massengine", "sweep32", "auto")
    assert first["runs_timed"] == 32 and first["n_regions"] == 76 and first["card"] == "cpu"
    assert first["region_steps_per_s"] > 0 and first["device_region_steps_per_s"] > 0
    # The whole smoke schedule needs far more than 12 s: what did not fit is recorded, not lost.
    assert all("region_steps_per_s" in r or "time budget" in r.get("skipped", "") for r in rest)
    assert any("skipped" in r for r in rest)
    assert (tmp_path / "throughput_cpu-smoke.png").stat().st_size > 0
    assert len((tmp_path / "records-smoke.jsonl").read_text().splitlines()) == len(result["records"])
    assert not (tmp_path / "jax-cache").exists()


def test_run_engine_refuses_a_named_connectome_it_does_not_have(tmp_path):
    """A table labelled with TVB's 76 regions never holds a synthetic network's numbers."""
    env = {**os.environ, "BENCH_SHARED_DATA": str(tmp_path / "nothing")}
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "peers" / "run_engine.py"), "massengine", "single",
                          "--out", str(tmp_path / "r.json")], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode != 0 and "76 regions means the tvb_connectivity_76 connectome" in run.stderr
    assert not (tmp_path / "r.json").exists()
