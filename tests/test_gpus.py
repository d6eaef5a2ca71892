"""One GPU per job (issue 24): concurrent jobs on a multi-GPU host claim distinct GPUs through
lock files, wait when all are claimed, get a crashed job's GPU back, and leave the GPUs a
cluster scheduler assigned alone. No GPU is needed: a stand-in list of ids
(``MASSENGINE_GPUS``) plays the host's GPUs, and what a job would see is its
``CUDA_VISIBLE_DEVICES``."""

import os
import re
import subprocess
import sys
import threading
import time

import pytest

from massengine import gpus

from conftest import TINY, snakemake


@pytest.fixture
def four_gpus(monkeypatch, tmp_path):
    monkeypatch.setenv(gpus.GPUS_ENV, "0,1,2,3")
    monkeypatch.setenv(gpus.LOCKS_ENV, str(tmp_path / "locks"))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv(gpus.VISIBLE, raising=False)
    return ["0", "1", "2", "3"]


def test_concurrent_claims_get_distinct_gpus_and_name_them_to_cuda(four_gpus):
    with gpus.claimed(log=lambda _: None) as first:
        assert os.environ[gpus.VISIBLE] == first
        with gpus.claimed(log=lambda _: None) as second:
            assert os.environ[gpus.VISIBLE] == second
            assert {first, second} <= set(four_gpus) and first != second
        assert os.environ[gpus.VISIBLE] == first  # restored on release
    assert gpus.VISIBLE not in os.environ


def test_a_job_waits_while_every_gpu_is_claimed_and_takes_the_first_freed(four_gpus):
    messages, got = [], []
    with gpus.claimed(log=messages.append), gpus.claimed(log=messages.append), \
            gpus.claimed(log=messages.append), gpus.claimed(log=messages.append):
        waiting = threading.Thread(target=lambda: got.append(_claim_once(messages)))
        waiting.start()
        time.sleep(0.5)
        assert got == [] and any("all 4 GPU(s) of this host are claimed" in m for m in messages)
        # leaving the block releases all four; the waiting job then takes one
    waiting.join(timeout=10)
    assert got and got[0] in four_gpus


def _claim_once(messages):
    with gpus.claimed(log=messages.append, poll_s=0.05) as gpu:
        return gpu


def test_a_crashed_job_gives_its_gpu_back(four_gpus, tmp_path):
    """The kernel drops a dead process's lock: no stale lock file blocks a GPU."""
    code = ("import os, time; from massengine import gpus\n"
            "with gpus.claimed(log=print) as g:\n    print('holding', g, flush=True); time.sleep(60)")
    env = {**os.environ, gpus.GPUS_ENV: "0"}
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        while "holding" not in holder.stdout.readline():
            pass
        assert gpus._try_lock("0") is None  # held by the other process
    finally:
        holder.kill()
        holder.wait()
    handle = gpus._try_lock("0")
    assert handle is not None
    handle.close()


def test_gpus_a_scheduler_assigned_are_left_as_they_are(monkeypatch, tmp_path):
    monkeypatch.delenv(gpus.GPUS_ENV, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv(gpus.VISIBLE, "0")
    monkeypatch.setattr(gpus, "host_gpus", lambda: ["0"])
    messages = []
    with gpus.claimed(log=messages.append) as gpu:
        assert gpu is None and os.environ[gpus.VISIBLE] == "0"
    assert "assigned by the scheduler" in messages[0]


def test_no_gpu_means_nothing_to_claim(monkeypatch):
    monkeypatch.delenv(gpus.GPUS_ENV, raising=False)
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    with gpus.claimed(log=lambda _: None) as gpu:
        assert gpu is None


def test_a_campaign_runs_its_simulate_jobs_one_per_gpu(tmp_path):
    """The tiny campaign's four simulate jobs, on four stand-in GPUs, started together by the
    README's plain command: each job's log names the GPU it claimed, and no two jobs that
    ran at the same time held the same GPU."""
    env = {**os.environ, gpus.GPUS_ENV: "0,1,2,3", gpus.LOCKS_ENV: str(tmp_path / "locks")}
    env.pop("SLURM_JOB_ID", None)
    run = snakemake("--configfile", str(TINY), "--config", f"output_dir={tmp_path}/out", "--cores", "4",
                    "--until", "simulate", workdir=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    logs = sorted((tmp_path / "out" / "logs" / "simulate").glob("*.log"))
    assert len(logs) == 4
    held = []
    for log in logs:
        text = log.read_text()
        claim = re.search(r"claimed GPU (\S+) of 4 \(CUDA_VISIBLE_DEVICES=\1\) at ([\d.]+)", text)
        release = re.search(r"released GPU (\S+) at ([\d.]+)", text)
        assert claim and release and claim[1] == release[1], text[-2000:]
        held.append((claim[1], float(claim[2]), float(release[2])))
    for i, (gpu, start, stop) in enumerate(held):
        for other, start2, stop2 in held[i + 1:]:
            if start < stop2 and start2 < stop:  # overlapping in time
                assert gpu != other, held
    assert sum(start < stop2 and start2 < stop for i, (_, start, stop) in enumerate(held)
               for _, start2, stop2 in held[i + 1:]) >= 1, f"no two jobs ran at once: {held}"
