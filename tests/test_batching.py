"""Sweeps sized to memory: batches and segments planned from the free memory give the same
numbers as one call, and a run that fits nowhere is refused with what it needs."""

import io

import numpy as np
import pytest

import massengine as me
from massengine import batching, engine

KW = dict(duration=30.0, dt=0.1, transient=5.0, sample_every=5)


def net_of(example):
    node = me.nodes.Hopf(a=0.1, w=0.3, initial={"x": np.linspace(-0.4, 0.4, 8)})
    return me.Network(node, weights=example.weights, distances=example.distances, speed=5.0)


def test_plan_keeps_whole_runs_when_they_fit_and_shortens_segments_before_batches():
    fp = batching.Footprint(fixed=1000, per_sample=10)
    assert batching.plan(64, 500, fp, budget=64 * 6000) == (64, 500)  # everything fits
    # 64 runs x 500 samples need 384 kB; with 200 kB the segments shrink, not the batch.
    batch, chunk = batching.plan(64, 500, fp, budget=200_000)
    assert batch == 64 and chunk == (200_000 // 64 - 1000) // 10
    assert fp.bytes(batch, chunk) <= 200_000
    # When even one sample per run is too much for the whole batch, the batch shrinks.
    batch, chunk = batching.plan(64, 500, fp, budget=30_000)
    assert chunk == 1 and batch == 30_000 // 1010
    # The caller's choices are kept; a cap (a GPU's) bounds the batch.
    assert batching.plan(64, 500, fp, budget=10**9, chunk_samples=50, batch_size=8) == (8, 50)
    assert batching.plan(64, 500, fp, budget=10**9, max_batch=16) == (16, 500)


def test_a_run_that_fits_in_no_batch_is_refused_with_what_it_needs():
    fp = batching.Footprint(fixed=3 * 2**30, per_sample=4)
    with pytest.raises(MemoryError, match=r"one run needs about 3\.00 GiB .* 1\.00 GiB is available"):
        batching.plan(10, 100, fp, budget=2**30)


@pytest.mark.parametrize("shape, batch", [((5, 2), 4), ((5, 2), 3), ((3, 4), 3), ((3, 4), 1), ((2, 3), 100),
                                          ((2, 3, 4), 5), ((2, 3, 4), 13), ((3, 1, 2, 2), 3), ((4,), 3)])
def test_batch_ranges_tile_the_grid_in_store_regions(shape, batch):
    ranges = batching.batch_ranges(shape, batch)
    runs = [r for a, b in ranges for r in range(a, b)]
    assert runs == list(range(int(np.prod(shape))))  # every run once, in order
    grid = np.arange(int(np.prod(shape))).reshape(shape)
    for a, b in ranges:
        assert 0 < b - a <= max(batch, 1)
        region = batching.grid_region(a, b, shape)
        assert sorted(grid[region].ravel()) == list(range(a, b))  # a rectangle holding exactly these runs


@pytest.mark.parametrize("batch_size", [1, 3, 4])
def test_sweep_in_batches_is_bit_identical_to_one_call(example, batch_size):
    net = net_of(example)
    kw = dict(k=[0.0, 0.3, 0.6, 1.2], seeds=[3, 4], noise=0.02, **KW)
    whole = me.sweep(net, **kw)
    split = me.sweep(net, batch_size=batch_size, **kw)
    for name in ("x", "y", "diverged", "divergence_time"):
        np.testing.assert_array_equal(split[name].values, whole[name].values)


def test_sweep_splits_itself_when_memory_is_short(example, monkeypatch):
    net = net_of(example)
    kw = dict(k=np.linspace(0, 1, 6), **KW)
    whole = me.sweep(net, **kw)
    spec_bytes = {}
    real_plan = batching.plan

    def spy(n_runs, n_samples, fp, budget, **options):
        spec_bytes["one run"] = fp.bytes(1, n_samples)
        return real_plan(n_runs, n_samples, fp, budget, **options)

    monkeypatch.setattr(batching, "plan", spy)
    me.sweep(net, **kw)
    one_run = spec_bytes["one run"]
    # Room for two whole runs only (SAFETY halves the free memory): the sweep is split.
    monkeypatch.setattr(batching, "free_bytes", lambda device: int(2 * one_run / batching.SAFETY))

    calls, real_start = [], engine.start
    monkeypatch.setattr(engine, "start", lambda spec, p, x0, rows, seeds, runs: calls.append(len(seeds))
                        or real_start(spec, p, x0, rows, seeds, runs))
    split = me.sweep(net, **kw)
    assert len(calls) > 1  # (a batch of one run is padded to two: sizes are 2 or more)
    np.testing.assert_array_equal(split.x.values, whole.x.values)
    # Room for less than one run: a clear refusal, before anything runs.
    monkeypatch.setattr(batching, "free_bytes", lambda device: 100)
    with pytest.raises(MemoryError, match="one run needs about"):
        me.sweep(net, **kw)


def test_streamed_store_in_batches_equals_the_sweep(example, tmp_path):
    net = net_of(example)
    kw = dict(seeds=[1, 2, 3], noise=0.02, **KW)
    want = me.sweep(net, k=[0.1, 0.5], **kw)
    # batch 2 < 3 seeds: each batch is a slice of one k row's seeds; 20-sample segments.
    path = me.sweep_to_store(net, [0.1, 0.5], tmp_path / "s.zarr", batch_size=2, chunk_samples=20, **kw)
    got = me.io.open_store(path)
    np.testing.assert_array_equal(got.x.values, want.x.isel(coupling=0).values)
    np.testing.assert_array_equal(got.diverged.values, want.diverged.isel(coupling=0).values)


def test_k_per_job_auto_gives_enough_jobs_for_every_gpu(monkeypatch):
    """On a GPU host (the CPU's cost model: tests/test_job_size.py)."""
    from massengine import config as cfg

    monkeypatch.delenv(cfg.K_PER_JOB_ENV, raising=False)
    config = {"k": {"start": 0.0, "stop": 1.0, "num": 40}, "k_per_job": "auto",
              "couplings": {"tanh": {}, "additive": {}}}
    monkeypatch.setattr(cfg, "gpu_count", lambda: 1)  # one job per coupling
    assert [len(c) for c in cfg.k_chunks(config)] == [40]
    monkeypatch.setattr(cfg, "gpu_count", lambda: 2)
    assert [len(c) for c in cfg.k_chunks(config)] == [40]
    monkeypatch.setattr(cfg, "gpu_count", lambda: 8)  # 2 couplings x 4 jobs: one job per GPU
    assert [len(c) for c in cfg.k_chunks(config)] == [10, 10, 10, 10]
    assert [len(c) for c in cfg.k_chunks({**config, "k_per_job": 32})] == [32, 8]


def test_gpus_honour_platform_choices_and_need_a_driver(monkeypatch):
    from massengine import config as cfg
    from massengine import gpus

    monkeypatch.delenv(gpus.GPUS_ENV, raising=False)
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert cfg.gpu_count() == 0
    monkeypatch.delenv("JAX_PLATFORMS")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cfg.gpu_count() == 0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(gpus.Path, "exists", lambda self: False)  # a host without NVIDIA's driver
    assert cfg.gpu_count() == 0


def test_a_single_run_longer_than_memory_is_integrated_in_segments(example, monkeypatch):
    net = net_of(example)
    whole = me.simulate(net, **KW)

    fp = []
    real_plan = batching.plan
    monkeypatch.setattr(batching, "plan", lambda *a, **o: fp.append(a[2]) or real_plan(*a, **o))
    calls, real_advance = [], engine.advance_jit
    monkeypatch.setattr(engine, "advance_jit", lambda *a: calls.append(a[0].n_samples) or real_advance(*a))
    # Room for the run's state and a third of its samples.
    monkeypatch.setattr(batching, "free_bytes", lambda device: 10**12)
    me.simulate(net, **KW)
    one = fp[-1]
    n = whole.sizes["time"]
    monkeypatch.setattr(batching, "free_bytes",
                        lambda device: int((one.fixed + one.per_sample * n // 3) / batching.SAFETY))
    calls.clear()
    cut = me.simulate(net, **KW)
    assert len(calls) >= 3 and sum(calls) == n
    np.testing.assert_array_equal(cut.x.values, whole.x.values)


def test_a_sweep_logs_its_progress(example, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="massengine.progress"):
        me.sweep(net_of(example), k=[0.1, 0.2, 0.3, 0.4], batch_size=2, chunk_samples=20, **KW)
    # 2 batches x 3 segments (50 samples: 20 + 20 + 10); the last message: the whole sweep done.
    last = [r.getMessage() for r in caplog.records if r.name == "massengine.progress"][-1]
    assert "4 runs in 2 batch(es) on cpu:0: 6/6 segments (100%)" in last and "ETA 0.0 s" in last


class _Terminal:
    """A stand-in for a terminal's standard error: collects what is written."""

    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_progress_draws_a_bar_on_a_terminal_only(monkeypatch):
    from massengine.progress import Progress

    term = _Terminal()
    progress = Progress("hopf x tanh", 4, 25.0, stream=term)
    for _ in range(4):
        progress.advance()
    lines = term.text.split("\r")[1:]
    assert len(lines) == 4 and lines[1].startswith("hopf x tanh [" + "#" * 15 + "." * 15 + "]  50%")
    assert term.text.endswith("\n") and "ETA 0 s" in lines[-1]
    monkeypatch.setenv("MASSENGINE_PROGRESS", "0")
    assert not Progress("x", 4, 1.0, stream=_Terminal()).bar
    monkeypatch.delenv("MASSENGINE_PROGRESS")
    assert not Progress("x", 1, 1.0, stream=_Terminal()).bar  # one piece: nothing to watch move
    assert not Progress("x", 4, 1.0, stream=io.StringIO()).bar  # a log file, not a terminal


def test_long_batches_are_cut_into_segments_that_show_progress(example, monkeypatch):
    """Work above PROGRESS_WORK region-steps per batch runs in >= PROGRESS_SEGMENTS time
    segments (the progress moves), with the same numbers as one call."""
    import importlib

    simulate = importlib.import_module("massengine.simulate")  # the module, not me.simulate
    assert simulate._progress_chunk(500, 1000, 1e12) == 50 and simulate._progress_chunk(500, 1000, 1e6) == 500
    net = net_of(example)
    kw = dict(k=[0.1, 0.4], noise=0.02, seeds=[1], **KW)
    whole = me.sweep(net, **kw)
    calls, real = [], engine.advance_runs
    monkeypatch.setattr(engine, "advance_runs", lambda *a: calls.append(a[0].n_samples) or real(*a))
    monkeypatch.setattr(simulate, "PROGRESS_WORK", 10.0)
    cut = me.sweep(net, **kw)
    n = whole.sizes["time"]
    assert len(calls) >= simulate.PROGRESS_SEGMENTS and sum(calls) == n
    np.testing.assert_array_equal(cut.x.values, whole.x.values)


def test_jobs_cut_the_k_grid_as_the_head_decided(monkeypatch):
    """A job on another host (a GPU node under a CPU head, or the reverse) uses the head's
    k_per_job, handed down in the environment."""
    from massengine import config as cfg

    config = {"k": {"start": 0.0, "stop": 1.0, "num": 40}, "k_per_job": "auto"}
    monkeypatch.setattr(cfg, "gpu_count", lambda: 1)
    monkeypatch.setenv(cfg.K_PER_JOB_ENV, "16")
    assert [len(c) for c in cfg.k_chunks(config)] == [16, 16, 8]


def test_streamed_chunks_keep_a_minimum_size_with_many_runs():
    from massengine.simulate import MIN_CHUNK_BYTES, SEGMENT_BYTES, Settings, _samples_per_segment

    s = Settings(1800.0, 1.0, 0.0, 1, "euler", "float32", "ceil", "zeros", None, "sample", ("x", "y"))
    assert _samples_per_segment(32, s, 76) == SEGMENT_BYTES // (32 * 2 * 76 * 4)  # 862: by memory
    # 8 000 runs: 16 MB would give 3-sample chunks (millions of files); 64 kB chunks instead.
    assert _samples_per_segment(8000, s, 76) == -(-MIN_CHUNK_BYTES // (76 * 4)) == 216
