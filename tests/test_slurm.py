"""The tiny campaign through Snakemake's SLURM executor on a real single-node SLURM
(tests/slurm/cluster.sh: Debian's slurmctld/slurmd/munge started directly, no systemd).

Runs in CI (root, Debian packages reachable); elsewhere it skips and says why.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from massengine import io

from conftest import ROOT, TINY, chunk_names

CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
PROFILE = ROOT / "workflow" / "profiles" / "slurm"
pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def slurm():
    if os.geteuid() != 0:
        pytest.skip("starting SLURM daemons needs root")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.skip("no slurmctld and no apt-get to install it (Debian packages)")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.skip("snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    start = subprocess.run(["bash", str(CLUSTER), "start"], capture_output=True, text=True, timeout=600)
    if start.returncode != 0:
        pytest.skip(f"SLURM could not be started here: {start.stderr[-500:]}")
    yield
    subprocess.run(["bash", str(CLUSTER), "stop"], capture_output=True, timeout=60)


def run_on_slurm(workdir, out, env=None):
    cmd = ["timeout", "-k", "20", "900", sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
           "--directory", str(workdir), "--profile", str(PROFILE), "--configfile", str(TINY),
           "--config", f"output_dir={out}", "--set-resources", "simulate:gpu=0", "--cores", "2",
           "--slurm-init-seconds-before-status-checks", "5"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=960)


def test_campaign_on_slurm_equals_the_local_run(slurm, campaign, tmp_path):
    _, reference = campaign
    out = tmp_path / "out"
    run = run_on_slurm(tmp_path, out)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert "submitted with SLURM jobid" in log
    for store in (reference / "simulations").glob("*/*.zarr"):
        got = io.open_store(out / store.relative_to(reference)).load()
        want = io.open_store(store).load()
        np.testing.assert_array_equal(got["x"].values, want["x"].values)
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), pd.read_csv(reference / "summary.csv"))
    assert (out / "report.html").stat().st_size > 10_000


def test_failing_job_is_reported_with_its_log(slurm, tmp_path):
    out = tmp_path / "out"
    first = {c: chunk_names(TINY, c, out)[0] for c in ("diffusive", "tanh")}  # the chunks of the lowest k
    env = {**os.environ, "MASSENGINE_TEST_FAULT": f"{first['tanh']}:crash"}  # exported into the SLURM jobs
    run = run_on_slurm(tmp_path, out, env=env)
    log = run.stdout + run.stderr
    assert run.returncode != 0
    assert "Error in rule simulate" in log or "Error in group sims" in log, log[-3000:]
    assert "logs/simulate/" in log and "slurm_logs" in log  # the job's own log and SLURM's are named
    # the crashed job's log holds its traceback (a group sibling may have been stopped early)
    logs = [p.read_text() for p in (out / "logs" / "simulate").glob(f"tanh_{first['tanh'][:-5]}.log")]
    assert any("OSError: cannot write store" in t and "fault injected" in t for t in logs), logs
    assert not (out / "simulations" / "tanh" / first["tanh"]).exists()
