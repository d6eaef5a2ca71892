"""The campaign through the real ``snakemake`` (issue 15, items 2-4): Snakemake itself
SIGKILLed resumes with the README's command alone; a store with a deleted chunk is moved
aside and redone by a plain rerun; a second campaign writing the same output directory is
refused while the first is alive."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from massengine import cli, io, outdir
from massengine import config as mecfg

from conftest import ROOT, TINY, chunk_stores, snakemake


def _tiny(out):
    return ["--configfile", str(TINY), "--config", f"output_dir={out}"]


def _assert_complete(out):
    table = pd.read_csv(out / "summary.csv")
    assert len(table) == 6 and not table["mean_fc"].isna().any()  # 2 couplings x 3 k x 1 seed
    assert cli.main(["verify", str(out)]) == 0
    assert not (out / outdir.OWNER).exists()  # released at the end


def test_snakemake_killed_then_the_same_command_resumes_and_a_damaged_store_is_redone(tmp_path, capsys):
    out = tmp_path / "out"
    # The command the README gives, with the tests' cores and campaign; nothing else.
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
           "--cores", "2", *_tiny(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list(out.glob(f"simulations/*/*.zarr/{io.MANIFEST}")):
        time.sleep(0.1)  # until one store is finished: the others are running or waiting
    assert list(out.glob("simulations/*/*.zarr")), "no store appeared"
    os.kill(proc.pid, signal.SIGKILL)  # Snakemake itself, not a job
    proc.communicate(timeout=60)
    assert list((tmp_path / ".snakemake" / "locks").glob("*.lock"))  # what used to need --unlock
    assert not (out / "summary.csv").exists()

    rerun = snakemake(*_tiny(out), workdir=tmp_path)
    log = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, log[-3000:]
    assert "Using workflow specific profile" in log and "is gone; taking over" in log
    _assert_complete(out)
    capsys.readouterr()

    # A deleted chunk file: the next plain rerun moves the store aside and redoes it (and
    # what depends on it); the other stores are untouched.
    damaged = chunk_stores(out, "tanh")[1]
    chunk = next(p for p in (damaged / "x" / "c").rglob("*") if p.is_file())
    chunk.unlink()
    others = {p: p.stat().st_mtime_ns for p in out.glob("simulations/*/*.zarr") if p != damaged}
    rerun = snakemake(*_tiny(out), workdir=tmp_path)
    log = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, log[-3000:]
    assert f"{damaged} failed verification (missing file x/c/" in log
    assert log.count("rule simulate:") == 1 and log.count("rule metrics:") == 1
    aside = list(damaged.parent.glob(f"{damaged.name}.corrupt-*"))
    assert len(aside) == 1 and not (aside[0] / chunk.relative_to(damaged)).exists()  # kept, not deleted
    assert {p: p.stat().st_mtime_ns for p in others} == others
    _assert_complete(out)


def _sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def _fake_owner(out, pid, config_hash, host=None):
    out.mkdir(parents=True, exist_ok=True)
    record = {"host": host or socket.gethostname(), "pid": pid, "pid_start": outdir._start_time(pid),
              "workdir": "/elsewhere/clone", "config_hash": config_hash, "started": "2026-01-01 00:00:00"}
    (out / outdir.OWNER).write_text(json.dumps(record))
    (out / outdir.MARKER).write_text("{}")  # a campaign's folder: its first start marked it


def _tiny_hash(out):
    config = yaml.safe_load(TINY.read_text())
    config["output_dir"] = str(out)
    return config


def test_a_second_campaign_into_a_live_campaigns_output_dir_is_refused(tmp_path):
    out = tmp_path / "out"
    other = _sleeper()  # stands for the Snakemake of a campaign from another clone
    try:
        _fake_owner(out, other.pid, "0123456789abcdef")
        run = snakemake(*_tiny(out), workdir=tmp_path)
        assert run.returncode != 0
        assert (f"output_dir '{out}' is in use: another campaign (a different config) is writing into it "
                f"(pid {other.pid} on {socket.gethostname()}") in run.stderr
        assert "give this campaign its own output_dir, or wait for the other one to finish" in run.stderr
        assert not (out / "simulations").exists()  # refused before any job
        dry = snakemake("-n", *_tiny(out), workdir=tmp_path)  # a dry run only tells
        assert dry.returncode == 0 and "is owned by a running campaign" in dry.stderr
    finally:
        other.kill()
        other.wait()


def test_owner_record_same_config_other_host_and_gone(tmp_path):
    out = tmp_path / "out"
    other = _sleeper()
    try:
        _fake_owner(out, other.pid, "samehash")
        with pytest.raises(outdir.OutputDirInUse, match="another Snakemake is already running this campaign"):
            outdir.claim(out, "samehash")
        _fake_owner(out, other.pid, "samehash", host="another-node")
        with pytest.raises(outdir.OutputDirInUse, match=r"if no run is active on another-node any more, "
                                                        r"delete .*\.massengine-owner\.json"):
            outdir.claim(out, "samehash")
    finally:
        other.kill()
        other.wait()
    _fake_owner(out, other.pid, "differenthash")  # its process is gone: taken over
    assert outdir.claim(out, "mine")["pid"] == other.pid
    assert outdir.read_owner(out)["pid"] == os.getpid()
    outdir.release(out)
    assert not (out / outdir.OWNER).exists()
    assert mecfg.config_hash(_tiny_hash(out))  # the hash the workflow records


@pytest.mark.parametrize(("argv", "inspect"), [(["-n"], True), (["-np", "--cores", "2"], True),
                                               (["--lint"], True), (["--unlock"], True),
                                               (["--cores", "all"], False), (["-p", "--cores", "2"], False)])
def test_inspect_only_command_lines(argv, inspect):
    assert outdir.inspect_only(argv) is inspect


def test_two_starts_racing_for_one_output_dir_let_exactly_one_in(tmp_path, monkeypatch):
    """The other start writes its record between this one's check and its claim: this one
    is refused, the other's record stands."""
    out = tmp_path / "out"
    other = _sleeper()
    real_link = os.link

    def other_start_wins(src, dst):
        _fake_owner(out, other.pid, "otherhash")  # the rival's claim lands first
        return real_link(src, dst)

    try:
        monkeypatch.setattr(os, "link", other_start_wins)
        with pytest.raises(outdir.OutputDirInUse, match="another campaign"):
            outdir.claim(out, "myhash")
        assert outdir.read_owner(out)["pid"] == other.pid
        assert not list(out.glob(f"{outdir.OWNER}.tmp-*"))
    finally:
        other.kill()
        other.wait()
