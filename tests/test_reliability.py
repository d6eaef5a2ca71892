"""Faults the way users meet them: killed jobs, failing disks, blow-ups, missing GPUs,
bad connectome files; and reproducibility of what a campaign writes."""

import copy
import errno
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from snakemake.utils import validate

import massengine as me
import massengine.config as mecfg
from massengine import campaign as stages
from massengine import io

from conftest import ROOT, TINY, chunk_names, snakemake

SCHEMA = ROOT / "config" / "schemas" / "config.schema.yaml"


def tiny_config(out, **changes):
    config = yaml.safe_load(TINY.read_text())
    config["output_dir"] = str(out)
    config.update(changes)
    validate(config, str(SCHEMA))
    return config


def store_values(path):
    ds = io.open_store(path).load()
    return {name: ds[name].values for name in ds.data_vars}


def descendants(pid):
    """PIDs of every process below ``pid``, from /proc."""
    parent = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, pp in parent.items() if pp == current]
        found += children
        frontier += children
    return found


def writer_of(pid, marker):
    for child in descendants(pid):
        try:
            if marker in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="ignore"):
                return child
        except OSError:
            continue
    return None


def test_job_killed_mid_write_is_redone_alone_and_outputs_equal_an_uninterrupted_run(campaign, tmp_path):
    _, reference = campaign
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
           "--cores", "2", "--keep-going", "--configfile", str(TINY), "--config", f"output_dir={out}"]
    # --keep-going as in workflow/profiles/default: the other jobs finish. The writer of
    # every second chunk (k = 1.0, one per coupling) holds before its rename for far longer
    # than the test needs to find it (no timing window to hit): each is killed there, and
    # only the first chunks' jobs complete.
    second = {c: chunk_names(TINY, c, out)[1] for c in ("diffusive", "tanh")}
    env = {**os.environ, "MASSENGINE_TEST_FAULT": f"{second['diffusive']},{second['tanh']}:pause:900"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline, killed = time.time() + 600, {}
        while time.time() < deadline and len(killed) < 2:
            for partial in (out / "simulations").glob("*/.*.zarr.tmp-*"):
                if partial.name.split(".zarr.tmp-")[0][1:] + ".zarr" != second[partial.parent.name]:
                    continue
                victim = int(partial.name.rsplit("-", 2)[1])  # .<store>.tmp-<host>-<pid>-<random>: its writer
                if partial.parent.name not in killed and victim in descendants(proc.pid):
                    os.kill(victim, signal.SIGKILL)  # the simulate job dies mid-write
                    killed[partial.parent.name] = partial.parent / second[partial.parent.name]
            time.sleep(0.1)
        assert sorted(killed) == ["diffusive", "tanh"], f"writers killed: {sorted(killed)}"
        first_log, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:  # a failed assertion above: leave no job sleeping behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0 and first_log.count("Error in rule simulate") == 2
    for path in killed.values():
        assert not path.exists()  # nothing that looks complete
    done_before = {p: p.stat().st_mtime_ns for p in (out / "simulations").glob("*/*.zarr")}
    assert sorted(p.name for p in done_before) == sorted(chunk_names(TINY, c, out)[0] for c in ("diffusive", "tanh"))
    rerun = snakemake("--configfile", str(TINY), "--config", f"output_dir={out}", workdir=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = rerun.stdout + rerun.stderr
    # only the killed jobs are redone
    assert log.count("rule simulate:") == 2 and all(str(path) in log for path in killed.values())
    for path, mtime in done_before.items():
        assert path.stat().st_mtime_ns == mtime
    assert not list(out.rglob(".*.zarr.*"))
    for store in (reference / "simulations").glob("*/*.zarr"):
        got = store_values(out / store.relative_to(reference))
        for name, value in store_values(store).items():
            np.testing.assert_array_equal(got[name], value)
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), pd.read_csv(reference / "summary.csv"))


def test_failing_disk_names_the_path_and_leaves_no_store(tmp_path, monkeypatch):
    ds = me.simulate(me.Network(me.nodes.Hopf(initial={"x": 0.2}), weights=np.ones((2, 2))),
                     duration=5.0, dt=0.1)
    target = tmp_path / "out" / "run.zarr"
    real_to_zarr = type(ds).to_zarr

    def full_disk(self, store, **kw):
        real_to_zarr(self.isel(time=slice(0, 2)), store, **kw)  # some files are written...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then the disk is full

    monkeypatch.setattr(type(ds), "to_zarr", full_disk)
    with pytest.raises(OSError, match=r"cannot write store '.*run\.zarr': No space left on device\. "
                                      r"Free some space on that disk and run again\."):
        io.write_store(ds, target)
    assert not target.exists() and not list(target.parent.glob(".run.zarr.*"))


STREAM_KW = dict(duration=50.0, dt=0.1, sample_every=2, noise=0.01)


def _stream_net(example):
    return me.Network(me.nodes.Hopf(initial={"x": 0.1}), weights=example.weights,
                      distances=example.distances, speed=5.0)


def test_streamed_store_equals_the_in_memory_sweep_bit_for_bit(example, tmp_path):
    net, ks = _stream_net(example), [0.1, 0.2, 0.3]
    path = me.sweep_to_store(net, ks, tmp_path / "s.zarr", seeds=[0, 1], chunk_samples=40,
                             attrs={"stage": "test"}, **STREAM_KW)
    got = io.open_store(path)
    want = io.as_store(me.sweep(net, k=ks, seeds=[0, 1], **STREAM_KW))
    for name in ("x", "y", "diverged", "divergence_time"):
        np.testing.assert_array_equal(got[name].values, want[name].values)
    assert got.x.encoding["chunks"] == (1, 1, 40, net.n_regions)  # one zarr chunk per segment
    assert got.attrs["stage"] == "test" and got.attrs["noise_sigma"] == want.attrs["noise_sigma"]
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]


def test_streaming_writes_each_segment_before_the_next_is_computed(example, tmp_path, monkeypatch):
    from massengine import engine

    segments_written = []
    real_advance = engine.advance_runs

    def advance_and_look(*args):
        partial = list(tmp_path.glob(".s.zarr.tmp-*"))
        if partial:  # the chunks already in the store when the next segment starts
            segments_written.append(len(list((partial[0] / "x" / "c").rglob("*"))))
        return real_advance(*args)

    monkeypatch.setattr(engine, "advance_runs", advance_and_look)
    me.sweep_to_store(_stream_net(example), [0.1], tmp_path / "s.zarr", chunk_samples=50, **STREAM_KW)
    # 250 samples in 5 segments. Segment i + 1 is launched before segment i is copied out
    # (the copy overlaps the computation), so the empty store exists before the first two
    # launches, and from the third on each launch finds one more segment written: at most
    # two segments are ever held.
    assert len(segments_written) == 5 and segments_written[:2] == [0, 0]
    assert all(a < b for a, b in zip(segments_written[1:], segments_written[2:], strict=False))


def test_a_stream_that_fails_midway_leaves_no_store(example, tmp_path, monkeypatch):
    from massengine import engine

    calls = []
    real_advance = engine.advance_runs

    def fail_on_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("simulated crash in the third segment")
        return real_advance(*args)

    monkeypatch.setattr(engine, "advance_runs", fail_on_third)
    with pytest.raises(RuntimeError, match="third segment"):
        me.sweep_to_store(_stream_net(example), [0.1], tmp_path / "s.zarr", chunk_samples=50, **STREAM_KW)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_location_names_the_path(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where a directory should be")
    ds = me.simulate(me.Network(me.nodes.Hopf(), weights=np.ones((2, 2))), duration=2.0, dt=0.1)
    with pytest.raises(OSError, match=r"cannot write store '.*not_a_dir/run\.zarr'"):
        io.write_store(ds, blocker / "run.zarr")


def test_diverging_runs_complete_the_campaign_and_are_reported(tmp_path):
    config = tiny_config(tmp_path, couplings={"additive": {"b": 0.0}}, k=[0.1, 30000.0])
    mecfg.check(config)
    sim = stages.simulate_chunk(config, "additive", [0.1, 30000.0], tmp_path / "sim.zarr")
    store = io.open_store(sim)
    assert list(store["diverged"].values[:, 0]) == [False, True]
    t_div = float(store["divergence_time"].values[1, 0])
    assert 0 < t_div < 120.0
    met = stages.metrics_chunk(config, sim, tmp_path / "met.zarr")
    summary = stages.aggregate([met], tmp_path / "summary.zarr", tmp_path / "summary.csv")
    for name in me.metrics.SCALARS:
        assert np.isnan(summary[name].sel(k=30000.0).values).all(), name
    assert np.isfinite(summary["synchrony"].sel(k=0.1).values).all()
    table = pd.read_csv(tmp_path / "summary.csv")
    row = table[table.k == 30000.0].iloc[0]
    assert row["diverged"] and row["divergence_time"] == t_div
    html = stages.make_report(config, tmp_path / "summary.zarr", {"additive": [str(sim)]},
                              tmp_path / "r.html").read_text()
    assert f"<td>additive</td><td>3e+04</td><td>0</td><td>{t_div:.4g}</td>" in html


def test_absent_gpu_falls_back_to_cpu_and_records_it(tmp_path):
    config = tiny_config(tmp_path)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    script = (
        f"import logging, yaml, massengine.campaign as c; logging.basicConfig(level=logging.INFO); "
        f"cfg = yaml.safe_load(open({str(path)!r}));"
        f"c.simulate_chunk(cfg, 'tanh', [0.5], {str(tmp_path / 's.zarr')!r})"
    )
    # Ask for an accelerator platform no host has (a made-up name; "cuda" would be found on a
    # GPU host): JAX fails to initialise it everywhere, as it does for an absent GPU.
    env = {**os.environ, "JAX_PLATFORMS": "absentaccelerator"}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    # The job's messages go through logging (configured to stderr by the script, as
    # run_logged configures a job's log file).
    assert "Unable to initialize backend 'absentaccelerator'" in run.stderr
    assert "falling back to the CPU" in run.stderr and "device: cpu:cpu" in run.stderr
    attrs = io.open_store(tmp_path / "s.zarr").attrs
    assert attrs["jax_device"] == "cpu:cpu" and attrs["jax_backend"] == "cpu"


PROBE = ("import jax\ntry:\n    d = jax.devices()[0]\n    print(f'{d.platform}:{d.device_kind}')\n"
         "except Exception:\n    print('unavailable')")


@pytest.mark.parametrize("platforms", ["cuda", ""])
def test_selected_device_is_the_one_jax_reports(platforms):
    """With a GPU requested (``cuda``) or JAX's own choice (``""``), the job records the
    device JAX itself reports in that environment, or the CPU with the fallback logged if
    JAX cannot initialise it: true on GPU and CPU hosts alike."""
    env = {**os.environ, "JAX_PLATFORMS": platforms}
    probe = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    script = "import massengine.campaign as c; print('selected', c.select_device())"
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0 and run.returncode == 0, probe.stderr[-2000:] + run.stderr[-2000:]
    reported = probe.stdout.strip().splitlines()[-1]
    if reported == "unavailable":
        assert "falling back to the CPU" in run.stderr and "selected cpu:cpu" in run.stdout
    else:
        assert f"selected {reported}" in run.stdout and "falling back" not in run.stderr


def test_same_config_gives_bit_identical_stores(tmp_path):
    config = tiny_config(tmp_path)
    a = stages.simulate_chunk(config, "tanh", [0.0, 0.5], tmp_path / "a.zarr")
    b = stages.simulate_chunk(config, "tanh", [0.0, 0.5], tmp_path / "b.zarr")
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        if str(rel) == "zarr.json":  # the store's attributes: equal but for when it was made
            meta_a, meta_b = (json.loads((s / rel).read_text()) for s in (a, b))
            assert meta_a["attributes"].pop("history") != "" and meta_b["attributes"].pop("history") != ""
            assert meta_a == meta_b
            continue
        if str(rel) == "massengine-manifest.json":  # its zarr.json checksum covers the history time
            man_a, man_b = (json.loads((s / rel).read_text()) for s in (a, b))
            man_a["files"].pop("zarr.json"), man_b["files"].pop("zarr.json")
            assert man_a == man_b
            continue
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_float64_is_reproducible_across_batch_sizes_and_k_per_job(example):
    net = me.Network(me.nodes.Hopf(initial={"x": np.linspace(-0.5, 0.5, 8)}), weights=example.weights,
                     distances=example.distances, speed=10.0, coupling="diffusive")
    ks = np.linspace(0.0, 1.0, 6)
    kw = dict(duration=50.0, dt=0.1, sample_every=10, precision="float64", noise=0.01, seeds=[3])
    whole = me.sweep(net, k=ks, **kw).x.values
    for per_job in (1, 2, 4):
        parts = [me.sweep(net, k=ks[i:i + per_job], **kw).x.values for i in range(0, 6, per_job)]
        np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)


def test_negative_weights_in_a_connectome_file_are_rejected(tmp_path):
    w = np.ones((3, 3))
    w[0, 2] = -0.5
    np.save(tmp_path / "w.npy", w)
    with pytest.raises(ValueError, match=r"weights must be >= 0 .*found -0.5 at index \(0, 2\)"):
        me.datasets.load_files(tmp_path / "w.npy")


def test_coarse_dt_in_a_config_warns(tmp_path):
    config = tiny_config(tmp_path)
    config["simulation"]["dt"] = 5.0
    config["simulation"]["sample_period"] = 5.0
    config["simulation"]["transient"] = 0.0
    with pytest.warns(UserWarning, match=r"dt = 5 ms is longer than the shortest nonzero delay"):
        mecfg.check(config)


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6))

# The schema's bounds (config/schemas/config.schema.yaml): key, its path in the error, rule, message.
SCHEMA_BOUNDS = [
    ("dt", "['simulation']['dt']", lambda v: v <= 0, "is less than or equal to the minimum of 0"),
    ("duration", "['simulation']['duration']", lambda v: v <= 0, "is less than or equal to the minimum of 0"),
    ("transient", "['simulation']['transient']", lambda v: v < 0, "is less than the minimum of 0"),
    ("sample_period", "['simulation']['sample_period']", lambda v: v <= 0,
     "is less than or equal to the minimum of 0"),
    ("k_per_job", "['k_per_job']", lambda v: v < 1, "is less than the minimum of 1"),
]


def expected_check_error(dt, duration, transient, period):
    """The message ``mecfg.check`` must raise for schema-valid numbers (None: the config is
    valid), worked out from the rules in the order the checker applies them."""
    if transient >= duration:
        return f"simulation.transient: {transient} ms must be shorter than simulation.duration ({duration} ms)."
    for key, value in (("dt", dt), ("sample_period", period)):
        if not math.isfinite(value):
            return f"simulation.{key}: must be a finite number of ms, got {value}."
    ratio = period / dt
    steps = round(ratio) if math.isfinite(ratio) else 0
    if steps < 1 or not math.isclose(ratio, steps, rel_tol=1e-9, abs_tol=1e-9):
        return f"simulation.sample_period: {period} ms is not a whole multiple of dt = {dt} ms"
    if not math.isfinite(duration):
        return f"simulation: duration must be a finite number > 0 (ms), got {float(duration)!r}."
    if not math.isfinite(duration / dt):
        return "simulation: dt = "  # too small: the step count overflows
    if not 0 <= transient < duration:
        return "simulation: transient must be >= 0 and shorter than duration"
    if dt > duration:
        return f"simulation: dt = {dt:g} ms is longer than the run"
    for name, value in (("duration", duration), ("transient", transient)):
        ratio = value / dt  # a whole number of steps, up to float rounding of the ratio
        if abs(ratio - round(ratio)) > 1e-6 + 1e-12 * abs(ratio):
            return f"simulation: {name} = {value:g} ms is not a whole number of steps of dt = {dt:g} ms"
    conn = me.datasets.load("example_connectome")
    if conn.distances.max() / 10.0 > duration:  # tiny.yaml: speed 10 mm/ms
        return "simulation: the longest conduction delay"
    n_samples = (round(duration / dt) - round(transient / dt)) // steps
    if n_samples < 1:
        return "simulation: no samples:"
    if max(3, round(30.0 / (steps * dt))) > n_samples:  # tiny.yaml: fcd_window 30 ms
        return "metrics.fcd_window: 30 ms is longer than the recorded data"
    return None


@settings(max_examples=40, deadline=None)
@given(dt=numbers, duration=numbers, transient=numbers, period=numbers, k_per_job=st.integers(-2, 5))
def test_config_validation_never_crashes_on_arbitrary_numbers(dt, duration, transient, period, k_per_job):
    """Whatever numbers a config holds: the schema error of a key it breaks, the ConfigError
    of the first semantic rule it breaks (naming the key), or a valid config."""
    config = copy.deepcopy(tiny_config("/tmp/unused"))
    values = {"dt": dt, "duration": duration, "transient": transient, "sample_period": period,
              "k_per_job": k_per_job}
    config["simulation"].update(dt=dt, duration=duration, transient=transient, sample_period=period)
    config["k_per_job"] = k_per_job
    broken = [(f"On instance{path}", f"{values[key]!r} {reason}") for key, path, rule, reason in SCHEMA_BOUNDS
              if rule(values[key])]
    if broken:
        with pytest.raises(Exception) as info:  # snakemake's WorkflowError wrapping the schema's message
            validate(config, str(SCHEMA))
        # the schema reports one of the broken keys, with that key's own rule
        assert any(where in str(info.value) and why in str(info.value) for where, why in broken), (
            broken, str(info.value))
        return
    validate(config, str(SCHEMA))
    expected = expected_check_error(dt, duration, transient, period)
    if expected is None:
        mecfg.check(config)
    else:
        with pytest.raises(mecfg.ConfigError) as info:
            mecfg.check(config)
        assert str(info.value).startswith(expected), (expected, str(info.value))


def test_a_failing_stage_leaves_its_traceback_in_the_job_log(tmp_path):
    def stage(value):
        logging.getLogger("massengine.test").info("starting")
        raise ValueError(f"bad value {value}")

    with pytest.raises(ValueError, match="bad value 3"):
        stages.run_logged(tmp_path / "job.log", stage, 3)
    text = (tmp_path / "job.log").read_text()
    assert text.startswith("starting") and "Traceback" in text and "ValueError: bad value 3" in text
