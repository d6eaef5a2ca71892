"""``k_per_job: auto`` on a CPU: the cost model's choice is the fastest chunk it models, and
its decisions in the cases worked out by hand below."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from massengine import config as mecfg
from massengine import job_size

ROOT = Path(__file__).resolve().parents[1]


def brute_force(n_k, n_couplings, runs_per_k, steps, elements, cores):
    """The fastest modelled time over every chunk size 1..n_k (balanced or not) that keeps
    a job under MAX_JOB_S (or the smallest chunk when none does)."""
    sizes = [s for s in range(1, n_k + 1)
             if job_size.job_seconds(s * runs_per_k, steps, elements) <= job_size.MAX_JOB_S]
    return min(job_size.campaign_seconds(s, n_k, n_couplings, runs_per_k, steps, elements, cores) for s in sizes or [1])


@pytest.mark.parametrize("n_k", [1, 7, 16, 33, 100])
@pytest.mark.parametrize("cores", [1, 2, 16, 64])
@pytest.mark.parametrize("steps, elements, runs_per_k", [(3000, 64, 1), (600_000, 1570, 1), (100_000, 1570, 8)])
def test_the_choice_is_the_fastest_modelled_chunk(n_k, cores, steps, elements, runs_per_k):
    chosen = job_size.cpu_k_per_job(n_k, 6, runs_per_k, steps, elements, cores)
    assert 1 <= chosen <= n_k
    assert job_size.campaign_seconds(chosen, n_k, 6, runs_per_k, steps, elements, cores) == pytest.approx(
        brute_force(n_k, 6, runs_per_k, steps, elements, cores), rel=1e-12)


def test_short_runs_put_every_k_of_a_coupling_in_one_job():
    # 300 ms of 8 regions: a job is ~2 s of start-up whatever its size; 6 jobs on 2 cores are
    # 3 rounds, and any split adds rounds.
    assert job_size.cpu_k_per_job(16, 6, 1, 3000, 64, 2) == 16


def test_many_cores_with_long_runs_get_one_job_per_core():
    # 60 s of TVB 76 (600 000 steps): a job of s runs is 2 + 1.44 + 0.127 s seconds. 16 cores,
    # 6 couplings x 32 k: s = 32 is 6 jobs in one round (7.5 s); s = 16 is 12 jobs in one
    # round (5.5 s); s <= 15 needs 18+ jobs, two rounds (>= 9.6 s).
    assert job_size.cpu_k_per_job(32, 6, 1, 600_000, 1570, 16) == 16
    assert job_size.cpu_k_per_job(32, 6, 1, 600_000, 1570, 2) == 32  # 3 rounds of 7.5 s < 6 of 5.5 s


def test_a_job_stays_under_the_longest_job_when_it_can():
    # 1000 k x 10 seeds of 60 s TVB 76 on one core: all in one job would take ~21 min; under
    # 10 min a job holds at most 469 k, and the biggest balanced chunk below is 334 (3 jobs of ~7 min).
    chosen = job_size.cpu_k_per_job(1000, 1, 10, 600_000, 1570, 1)
    assert chosen == 334
    assert job_size.job_seconds(chosen * 10, 600_000, 1570) <= job_size.MAX_JOB_S
    # A single run longer than the limit still gets a job of one k.
    assert job_size.cpu_k_per_job(5, 1, 1, 10**9, 1570, 1) == 1


def test_auto_on_a_cpu_reads_the_campaign(monkeypatch):
    monkeypatch.delenv(mecfg.K_PER_JOB_ENV, raising=False)
    monkeypatch.setattr(mecfg, "gpu_count", lambda: 0)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    validate(config, str(ROOT / "config" / "schemas" / "config.schema.yaml"))
    # The default campaign (6 couplings x 16 k, 300 ms, 8 regions): start-up bound, one job
    # per coupling on 2 cores as on 6.
    assert mecfg.k_per_job(config, 16, cores=2) == 16
    # 60 s on 12 cores, 2 couplings x 24 k: the runs' work matters; the choice is the model's.
    config = {**config, "couplings": {"tanh": {}, "additive": {}},
              "simulation": {**config["simulation"], "duration": 60_000.0}}
    chunk = mecfg.k_per_job(config, 24, cores=12)
    conn = mecfg.load_connectome(config)
    elements = len(conn.labels) + int((conn.weights != 0).sum())
    assert chunk == job_size.cpu_k_per_job(24, 2, 1, 600_000, elements, 12) < 24
    assert math.ceil(24 / chunk) * 2 <= 12  # one round: every job on a core of its own
