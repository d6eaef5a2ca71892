"""Stores are never lost or silently corrupt (issue 15, items 1-3): a directory that is not a
store is never deleted, a store is replaced only when asked, every store carries a manifest
that ``massengine verify`` and the metrics stage check, and temporary copies belong to their
writer."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import massengine as me
from massengine import campaign, cli, io

KW = dict(duration=5.0, dt=0.1)


def _net():
    return me.Network(me.nodes.Hopf(initial={"x": 0.2}), weights=np.ones((2, 2)))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "s.zarr"
    me.sweep_to_store(_net(), [0.1, 0.2], path, **KW)
    return path


def _copy(store, tmp_path):
    import shutil

    target = tmp_path / "copy.zarr"
    shutil.copytree(store, target)
    return target


def test_sweep_to_store_never_deletes_a_directory_that_is_not_a_store(tmp_path):
    folder = tmp_path / "my_thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("years of work")
    with pytest.raises(io.StoreError, match=r"'.*my_thesis' exists and is not a massengine store; refusing "
                                            r"to delete it"):
        me.sweep_to_store(_net(), [0.1], folder, **KW)
    assert (folder / "chapter1.tex").read_text() == "years of work"
    plain = tmp_path / "notes.txt"
    plain.write_text("keep")
    with pytest.raises(io.StoreError, match="not a massengine store"):
        io.write_store(me.simulate(_net(), **KW), plain, overwrite=True)
    assert plain.read_text() == "keep"


def test_an_existing_store_is_replaced_only_with_overwrite(store, tmp_path):
    path = _copy(store, tmp_path)
    before = io.open_store(path).load()
    with pytest.raises(io.StoreError, match=r"already exists; pass overwrite=True to replace it"):
        me.sweep_to_store(_net(), [0.3], path, **KW)
    np.testing.assert_array_equal(io.open_store(path)["k"].values, before["k"].values)
    messages = []
    me.sweep_to_store(_net(), [0.3], path, overwrite=True, log=messages.append, **KW)
    assert io.open_store(path)["k"].values.tolist() == [0.3]
    assert messages == [f"replaced the existing store {str(path)!r} (overwrite=True)"]
    with pytest.warns(UserWarning, match="replaced the existing store"):
        me.sweep_to_store(_net(), [0.4], path, overwrite=True, **KW)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.zarr"]  # nothing left aside
    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    me.sweep_to_store(_net(), [0.1], empty, **KW)  # an empty directory holds nothing to lose
    assert io.verify_store(empty) == []


def test_a_finished_store_verifies(store):
    assert io.verify_store(store) == []
    manifest = json.loads((store / io.MANIFEST).read_text())
    assert "zarr.json" in manifest["files"] and any(f.startswith("x/c/") for f in manifest["files"])


def _first_chunk(path):
    return sorted((path / "x" / "c").rglob("*"), key=str)[-1]


@pytest.mark.parametrize("damage", ["delete_chunk", "flip_chunk", "truncate_metadata"])
def test_verify_names_a_damaged_store_and_how_to_regenerate_it(store, tmp_path, damage, capsys):
    path = _copy(store, tmp_path)
    chunk = _first_chunk(path)
    if damage == "delete_chunk":
        chunk.unlink()
        expect = "missing file x/c/"
    elif damage == "flip_chunk":
        data = bytearray(chunk.read_bytes())
        data[len(data) // 2] ^= 0xFF
        chunk.write_bytes(bytes(data))
        expect = "is corrupt (checksum mismatch)"
    else:
        meta = path / "zarr.json"
        meta.write_text(meta.read_text()[:40])
        expect = "zarr.json has 40 bytes"
    problems = io.verify_store(path)
    assert len(problems) == 1 and str(path) in problems[0] and expect in problems[0]
    assert cli.main(["verify", str(tmp_path)]) == 1  # a directory: every store under it
    out = capsys.readouterr().out
    assert expect in out and "1 of 1 store(s) failed verification" in out and "rerun snakemake" in out
    with pytest.raises(io.StoreError, match=r"is incomplete or corrupt: .* Move it aside or delete it and rerun "
                                            r"snakemake"):
        io.open_store(path, verify=True)
    if damage != "truncate_metadata":  # (that one cannot be opened at all: the test below)
        assert f"integrity: FAILED: {path}" in io.provenance_text(path)


def test_verify_passes_on_intact_stores(store, capsys):
    assert cli.main(["verify", str(store)]) == 0
    assert "1 store(s) verified" in capsys.readouterr().out
    assert "integrity: ok" in io.provenance_text(store)


def test_a_truncated_zarr_json_gives_a_clear_message_not_a_json_error(store, tmp_path):
    path = _copy(store, tmp_path)
    (path / "zarr.json").write_text('{"zarr_format": 3, "node_')
    with pytest.raises(io.StoreError, match=r"incomplete or corrupt: .*zarr.json has 25 bytes, expected"):
        io.open_store(path)  # verified first, by default
    with pytest.raises(io.StoreError, match=r"cannot be read .* metadata is truncated or corrupt\. Move it "
                                            r"aside or delete it and rerun snakemake"):
        io.open_store(path, verify=False)


def test_metrics_fail_on_an_incomplete_store_naming_it(store, tmp_path):
    import yaml

    from conftest import TINY

    config = yaml.safe_load(TINY.read_text())
    config["metrics"].update(fcd_window=1.0, fcd_step=0.5, band=None, target_fc=None)
    path = _copy(store, tmp_path)
    _first_chunk(path).unlink()
    with pytest.raises(io.StoreError, match=rf"store '{path}' is incomplete or corrupt: .*missing file"):
        campaign.metrics_chunk(config, path, tmp_path / "m.zarr")
    assert not (tmp_path / "m.zarr").exists()


def test_temporary_copies_are_owned_by_their_writer(tmp_path):
    """A live writer's temporary copy (even of another process on this host, or any on
    another host) survives another write of the same store; a dead writer's is removed."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        host = socket.gethostname()
        live = tmp_path / f".s.zarr.tmp-{host}-{sleeper.pid}-abcd"
        gone = tmp_path / f".s.zarr.tmp-{host}-{dead.pid}-abcd"
        other_host = tmp_path / f".s.zarr.tmp-elsewhere-{dead.pid}-abcd"
        legacy = tmp_path / f".s.zarr.partial-{dead.pid}"
        for leftover in (live, gone, other_host, legacy):
            leftover.mkdir()
        me.sweep_to_store(_net(), [0.1], tmp_path / "s.zarr", **KW)
        assert live.exists() and other_host.exists()
        assert not gone.exists() and not legacy.exists()
        assert io.verify_store(tmp_path / "s.zarr") == []
    finally:
        sleeper.kill()
        sleeper.wait()
    assert os.path.basename(io.find_stores(tmp_path)[0]) == "s.zarr"  # leftovers are not stores


WRITER = """
import sys
import time
import numpy as np
import massengine as me
net = me.Network(me.nodes.Hopf(initial={"x": 0.2}), weights=np.ones((2, 2)))
me.sweep_to_store(net, [float(sys.argv[2])], sys.argv[1], duration=5.0, dt=0.1, overwrite=True, log=print)
"""


def test_two_writers_of_one_store_do_not_destroy_each_other(tmp_path):
    """Two processes (two clones, two configs) write the same store at once: each keeps its own
    temporary copy, both finish, and the store that survives is complete. (Before: the
    second deleted the first's partial copy, and the first failed.)"""
    target = tmp_path / "s.zarr"
    env = {**os.environ, "MASSENGINE_TEST_FAULT": "s.zarr:pause:4"}  # each holds its copy 4 s before renaming
    first = subprocess.Popen([sys.executable, "-c", WRITER, str(target), "0.1"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".s.zarr.tmp-*")):
        time.sleep(0.05)
    second = subprocess.run([sys.executable, "-c", WRITER, str(target), "0.2"], env=env, capture_output=True,
                            text=True, timeout=300)
    out_first, _ = first.communicate(timeout=300)
    assert first.returncode == 0, out_first[-2000:]
    assert second.returncode == 0, second.stderr[-2000:]
    assert io.verify_store(target) == []
    assert io.open_store(target)["k"].values.tolist() in ([0.1], [0.2])
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]  # no leftovers


def test_a_campaign_start_removes_leftovers_of_gone_writers_on_any_host(tmp_path):
    from massengine import outdir

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = socket.gethostname()
        sims = tmp_path / "simulations" / "tanh"
        sims.mkdir(parents=True)
        (tmp_path / outdir.MARKER).write_text("{}")  # a campaign's folder (the first start marked it)
        live = sims / f".chunk0000.zarr.tmp-{host}-{sleeper.pid}-ab"
        node = sims / f".chunk0001.zarr.tmp-node17-{sleeper.pid}-ab"  # a SLURM job of a killed run
        busy = sims / f".chunk0002.zarr.tmp-node18-{sleeper.pid}-cd"  # a job still streaming into it
        for leftover in (live, node, busy):
            leftover.mkdir()
        idle = time.time() - io.FOREIGN_IDLE_S - 60  # untouched for longer than a live writer would be
        os.utime(node, (idle, idle))
        messages = []
        outdir.start(tmp_path, "hash", ["--cores", "2"], log=messages.append)
        assert live.exists() and busy.exists() and not node.exists()
        assert any(f"removed {node}" in m for m in messages)
        outdir.release(tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
