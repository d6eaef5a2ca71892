"""Touch only what is ours, trust no byte unchecked (issue 21, items 1-13): each test is one
reproduction of the issue, failing on the code before it."""

import errno
import hashlib
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import massengine as me
from massengine import atomic, chunks, integrity, io, outdir
from massengine import config as mecfg

KW = dict(duration=5.0, dt=0.1)


def _net(a=0.25):
    return me.Network(me.nodes.Hopf(a=a, initial={"x": 0.2}), weights=np.ones((2, 2)))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "s.zarr"
    me.sweep_to_store(_net(), [0.1, 0.2], path, **KW)
    return path


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _user_xarray_store(path):
    xr.Dataset({"v": ("x", np.arange(4.0))}).to_zarr(path, mode="w")
    (path / "NOTES.txt").write_text("my notes")
    return path


def snapshot(root) -> dict:
    """Every path under ``root`` (folders, links, files) with what it is and its content hash."""
    found = {}
    for p in sorted(Path(root).rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            found[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            found[rel] = ("dir",)
        else:
            found[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
    return found


def _chunk_files(path):
    return sorted(p for p in Path(path).rglob("*") if p.is_file() and "c" in p.relative_to(path).parts[:-1])


# ---- 1. a campaign start touches only a campaign's own folder and stores --------------------


def _user_tree(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "report.html").write_text("<p>my report</p>")
    (root / "summary.csv").write_text("a,b\n1,2\n")
    _user_xarray_store(root / "project1" / "data.zarr")
    (root / "project2" / "broken.zarr").mkdir(parents=True)
    (root / "project2" / "broken.zarr" / "readme.txt").write_text("not a store")
    return root


def test_a_campaign_start_refuses_a_folder_of_user_files_and_changes_nothing(tmp_path, store):
    root = _user_tree(tmp_path / "mine")
    other = _copy(store, root / "other" / "simulations" / "tanh" / "old.zarr")  # another campaign's store
    _chunk_files(other)[0].unlink()
    before = snapshot(root)
    for argv in (["--cores", "1"], ["-n"]):
        with pytest.raises(outdir.NotACampaign, match=r"is not empty and is not a massengine campaign .*Set "
                                                      r"output_dir to a new folder"):
            outdir.start(root, "h", argv, log=lambda m: None)
    assert snapshot(root) == before


def test_verification_at_start_looks_only_at_the_campaign_layout(tmp_path, store):
    out = tmp_path / "out"
    outdir.start(out, "h", ["--cores", "1"], log=lambda m: None)  # a new campaign: marked
    assert (out / outdir.MARKER).is_file()
    broken = _copy(store, out / "simulations" / "tanh" / "0123456789abcdef.zarr")
    _chunk_files(broken)[0].unlink()
    user = _user_xarray_store(out / "simulations" / "tanh" / "mine.zarr")  # not massengine's: left alone
    before = snapshot(user)
    messages = []
    outdir.start(out, "h", ["--cores", "1"], log=messages.append)
    assert not broken.exists() and list(broken.parent.glob("0123456789abcdef.zarr.corrupt-*"))
    assert snapshot(user) == before and any("not written by massengine; left alone" in m for m in messages)
    outdir.release(out)


def test_an_older_campaign_without_marker_is_adopted(tmp_path, store):
    out = tmp_path / "old"
    _copy(store, out / "simulations" / "tanh" / "0123456789abcdef.zarr")
    (out / "logs").mkdir()
    messages = []
    outdir.start(out, "h", ["--cores", "1"], log=messages.append)
    assert (out / outdir.MARKER).is_file() and any("adopted" in m for m in messages)
    outdir.release(out)


# ---- 2. output_dir values that would claim someone else's folder ----------------------------


@pytest.mark.parametrize("value", ["", "  ", "/", ".", "..", "./", "../.."])
def test_output_dir_refuses_the_root_the_working_directory_and_above(value):
    with pytest.raises(mecfg.ConfigError, match=r"^output_dir: "):
        mecfg.output_dir({"output_dir": value})


def test_output_dir_expands_home_and_refuses_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mecfg.output_dir({"output_dir": "~/x/"}) == str(tmp_path / "home" / "x")
    (tmp_path / "f").write_text("x")
    for value in (tmp_path / "f", tmp_path / "f" / "sub"):
        with pytest.raises(mecfg.ConfigError, match=r"is a file, not a folder"):
            mecfg.output_dir({"output_dir": str(value)})


# ---- 3. overwrite=True replaces only massengine's own stores --------------------------------


def test_overwrite_never_deletes_a_zarr_folder_massengine_did_not_write(tmp_path):
    user = _user_xarray_store(tmp_path / "user.zarr")
    docs = tmp_path / "docs.zarr"
    docs.mkdir()
    (docs / "zarr.json").write_text("{}")
    (docs / "paper.docx").write_text("draft")
    for target in (user, docs):
        before = snapshot(target)
        with pytest.raises(io.StoreError, match="is not a massengine store; refusing to delete it"):
            me.sweep_to_store(_net(), [0.1], target, overwrite=True, **KW)
        assert snapshot(target) == before


def test_overwrite_refuses_a_massengine_store_holding_a_users_file(tmp_path, store):
    target = _copy(store, tmp_path / "t.zarr")
    (target / "my_notes.txt").write_text("keep")
    with pytest.raises(io.StoreError, match=r"holds files massengine did not write \(my_notes.txt\)"):
        me.sweep_to_store(_net(), [0.1], target, overwrite=True, **KW)
    assert (target / "my_notes.txt").read_text() == "keep"


def test_overwrite_through_a_symlink_keeps_the_link_and_leaves_nothing_behind(tmp_path, store):
    real = _copy(store, tmp_path / "real" / "s.zarr")
    link = tmp_path / "link.zarr"
    link.symlink_to(real, target_is_directory=True)
    with pytest.warns(UserWarning, match="replaced the existing store"):
        me.sweep_to_store(_net(), [0.3], link, overwrite=True, **KW)
    assert link.is_symlink() and io.open_store(link)["k"].values.tolist() == [0.3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.zarr", "real"]
    assert [p.name for p in (tmp_path / "real").iterdir()] == ["s.zarr"]


# ---- 4. a damaged store without a manifest is not adopted -----------------------------------


def test_a_store_without_manifest_is_adopted_only_when_complete(tmp_path, store):
    out = tmp_path / "out"
    (out).mkdir()
    (out / outdir.MARKER).write_text("{}")
    complete = _copy(store, out / "simulations" / "tanh" / "00000000000000aa.zarr")
    damaged = _copy(store, out / "simulations" / "tanh" / "00000000000000bb.zarr")
    for s in (complete, damaged):
        (s / io.MANIFEST).unlink()
    (damaged / "divergence_time" / "c" / "0" / "0").unlink()
    messages = []
    moved = outdir.quarantine(out, log=messages.append)
    assert [m[0] for m in moved] == [damaged] and not damaged.exists()
    assert io.verify_store(complete) == [] and integrity.read_manifest(complete)["format"] == 1


# ---- 5. the manifest is the whole store ------------------------------------------------------


def test_every_chunk_is_written_and_any_change_or_stray_file_is_reported(tmp_path, store):
    path = _copy(store, tmp_path / "s.zarr")
    group = zarr.open_group(str(path), mode="r")
    assert all(a.nchunks_initialized == a.nchunks for _, a in group.arrays())  # fill-value chunks too
    zarr.open_group(str(path), mode="r+")["diverged"][:] = True
    (path / "stray.txt").write_text("x")
    problems = io.verify_store(path)
    assert any("diverged/c/" in p for p in problems)
    assert any("unexpected file stray.txt" in p for p in problems)


# ---- 6. a flipped byte is never read as data -------------------------------------------------


def _flip(path):
    chunk = max(_chunk_files(path), key=lambda f: f.stat().st_size)
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    return chunk


def test_a_flipped_byte_fails_every_reader_and_the_start(tmp_path, store):
    path = _copy(store, tmp_path / "s.zarr")
    _flip(path)
    assert any("checksum mismatch" in p for p in io.verify_store(path))
    with pytest.raises(RuntimeError, match="(?i)checksum"):
        io.open_store(path).load()  # the codec's own checksum, whatever the manifest says
    with pytest.raises(io.StoreError, match="checksum mismatch"):
        io.open_store(path, verify=True)
    out = tmp_path / "out"
    out.mkdir()
    (out / outdir.MARKER).write_text("{}")
    flipped = _copy(store, out / "simulations" / "tanh" / "00000000000000aa.zarr")
    _flip(flipped)
    assert [m[0] for m in outdir.quarantine(out, log=lambda m: None)] == [flipped]


# ---- 7. data files are depended on by their contents -----------------------------------------


def test_a_data_file_overwritten_in_place_changes_what_its_stages_depend_on(tmp_path):
    fc = tmp_path / "fc.npy"
    np.save(fc, np.eye(3))
    config = {"metrics": {"target_fc": str(fc)}, "fit": {"empirical_fc": str(fc)}}
    sliced = {"metrics": dict(config["metrics"]), "fit": dict(config["fit"])}
    first = mecfg.with_input_digests(sliced, config)
    np.save(fc, np.eye(3) * 2)
    second = mecfg.with_input_digests(sliced, config)
    assert set(first["input_digests"]) == {"metrics.target_fc", "fit.empirical_fc"}
    assert first["input_digests"] != second["input_digests"]
    assert mecfg.with_input_digests({"metrics": {"variable": "x"}}, {"metrics": {}}) == {"metrics": {"variable": "x"}}


# ---- 8. open_campaign refuses stores of different settings, verifies before reading ----------


def test_open_campaign_refuses_stores_of_different_settings(tmp_path):
    sims = tmp_path / "simulations" / "tanh"
    me.sweep_to_store(_net(), [0.1], sims / "a.zarr", **KW)
    me.sweep_to_store(_net(), [0.2], sims / "b.zarr", duration=10.0, dt=0.1)
    with pytest.raises(ValueError, match=r"differ in attribute 'duration_ms'"):
        me.open_campaign(tmp_path)
    shutil.rmtree(sims / "b.zarr")
    me.sweep_to_store(_net(a=-0.5), [0.2], sims / "b.zarr", **KW)
    with pytest.raises(ValueError, match=r"differ in attribute 'node_params'"):
        me.open_campaign(tmp_path)


def test_open_campaign_refuses_a_store_with_a_deleted_chunk(tmp_path):
    sims = tmp_path / "simulations" / "tanh"
    me.sweep_to_store(_net(), [0.1], sims / "a.zarr", **KW)
    (sims / "a.zarr" / "x" / "c" / "0" / "0" / "0" / "0").unlink()
    with pytest.raises(io.StoreError, match=r"missing file x/c/0/0/0/0"):
        me.open_campaign(tmp_path)


# ---- 9. the end products are verified too ----------------------------------------------------


def test_a_truncated_summary_or_report_is_moved_aside(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / outdir.MARKER).write_text("{}")
    for name in ("summary.csv", "report.html"):
        integrity.write_product_text(out / name, "x" * 1000)
        assert integrity.verify_product(out / name) == []
        with open(out / name, "r+b") as fh:
            fh.truncate(500)
    moved = outdir.quarantine(out, log=lambda m: None)
    assert sorted(m[0].name for m in moved) == ["report.html", "summary.csv"]
    assert not (out / "summary.csv").exists() and list(out.glob("summary.csv.corrupt-*"))


# ---- 10-13. resume and locks -----------------------------------------------------------------


def test_stale_locks_of_a_symlinked_output_dir_are_removed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text(f"{link}/summary.zarr\n{link}/report.html\n")
    previous = {"host": socket.gethostname(), "pid": 1, "workdir": str(tmp_path)}
    assert outdir.remove_stale_locks(link, previous, workdir=tmp_path) == [locks / "0.output.lock"]


@pytest.mark.parametrize("content", ["", '{"host": "vm", "pi'])
def test_an_unreadable_owner_record_is_stale_and_named(tmp_path, content):
    (tmp_path / outdir.MARKER).write_text("{}")
    (tmp_path / outdir.OWNER).write_text(content)
    messages = []
    outdir.start(tmp_path, "h", ["--cores", "1"], log=messages.append)
    assert outdir.read_owner(tmp_path)["pid"] == os.getpid()
    assert any(f"{tmp_path / outdir.OWNER} is unreadable" in m for m in messages)
    outdir.release(tmp_path)


def test_a_truncated_chunk_registry_heals(tmp_path):
    (tmp_path / "abc.json").write_text('{"k": [0.1, ')
    assert chunks.registered(tmp_path, "abc") is None
    chunks.register(tmp_path, [("abc", [0.1, 0.2])])
    assert chunks.registered(tmp_path, "abc") == [0.1, 0.2]


def test_a_full_disk_at_a_product_gives_one_clear_error_and_leaves_nothing(tmp_path):
    def full(tmp):
        Path(tmp).write_text("<html>")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"^\[Errno 28\] cannot write report '.*report.html': No space left on "
                                      r"device\. Free some space on that disk and run again\.$") as err:
        integrity.write_product(tmp_path / "report.html", full, "report")
    assert err.value.__cause__ is not None and err.value.__cause__.__cause__ is None
    assert list(tmp_path.iterdir()) == []


def test_temporary_names_are_unique_and_old_fixed_names_count_as_stale(tmp_path):
    target = tmp_path / "report.html"
    assert atomic.temp_path(target) != atomic.temp_path(target)
    assert atomic.stale(tmp_path / ".report.html.partial", atomic.temp_base(target))
    (tmp_path / outdir.MARKER).write_text("{}")
    (tmp_path / ".report.html.partial").write_text("half")
    assert io.remove_leftovers([tmp_path]) == [tmp_path / ".report.html.partial"]


def test_a_235_character_store_name_can_be_written(tmp_path):
    path = tmp_path / ("s" * 230 + ".zarr")
    me.sweep_to_store(_net(), [0.1], path, **KW)
    assert io.verify_store(path) == []


def test_a_store_path_under_a_file_says_so(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OSError, match=r"'.*afile' is a file, not a folder; choose another path"):
        me.sweep_to_store(_net(), [0.1], tmp_path / "afile" / "s.zarr", **KW)


def test_provenance_of_a_plain_folder_says_what_it_is_and_advises_no_deletion(tmp_path):
    with pytest.raises(io.StoreError, match=r"is not a zarr store \(no zarr.json in it\)") as err:
        io.provenance_text(tmp_path)
    assert "delete" not in str(err.value)


# ---- done means: no entry point modifies, renames or deletes a file massengine did not write --


def test_no_entry_point_touches_a_tree_of_user_files(tmp_path, store, capsys):
    from massengine import cli

    from conftest import TINY, snakemake

    tree = _user_tree(tmp_path / "mine")
    (tree / "link.txt").symlink_to(tree / "summary.csv")
    other = _copy(store, tree / "campaign_a" / "simulations" / "tanh" / "0123456789abcdef.zarr")
    _chunk_files(other)[0].unlink()  # another campaign's broken store: not ours to move
    before = snapshot(tree)
    config = tmp_path / "c.yaml"
    config.write_text(TINY.read_text().replace("output_dir: results/tiny", f"output_dir: {tree}"))

    run = snakemake("--configfile", str(config), workdir=tmp_path)
    assert run.returncode != 0 and "is not empty and is not a massengine campaign" in run.stdout + run.stderr
    dry = snakemake("-n", "--configfile", str(config), workdir=tmp_path)
    assert dry.returncode != 0 and "is not a massengine campaign" in dry.stdout + dry.stderr
    assert cli.main(["check", str(config)]) == 2
    assert cli.main(["verify", str(tree)]) == 1  # reads, reports
    assert cli.main(["provenance", str(tree / "project1" / "data.zarr")]) == 0
    assert cli.main(["provenance", str(tree / "project2")]) == 2
    for target in (tree / "project1" / "data.zarr", tree / "project2" / "broken.zarr", tree / "report.html"):
        with pytest.raises(io.StoreError):
            me.sweep_to_store(_net(), [0.1], target, overwrite=True, **KW)
    with pytest.raises(ValueError):
        me.open_campaign(tree)
    with pytest.raises(io.StoreError):
        me.open_campaign(tree / "campaign_a")  # a store with a missing chunk is not read as NaN
    with pytest.raises(io.StoreError):
        io.open_store(tree / "project1" / "data.zarr")
    for argv in (["--cores", "1"], ["-n"]):
        with pytest.raises(outdir.NotACampaign):
            outdir.start(tree, "h", argv, log=lambda m: None)
    capsys.readouterr()
    assert snapshot(tree) == before


def test_hidden_user_files_that_look_temporary_are_never_removed(tmp_path):
    names = [".bashrc.old", ".notes.tmp", ".data.partial", ".config.old-2023", ".x.zarr.tmp-laptop"]
    for folder in (tmp_path / "user", tmp_path / "campaign"):
        folder.mkdir()
        for name in names:
            (folder / name).write_text("mine")
        (folder / ".cfg.old").mkdir()
    before = snapshot(tmp_path / "user")
    with pytest.raises(outdir.NotACampaign):  # hidden files are no evidence of a campaign
        outdir.start(tmp_path / "user", "h", ["--cores", "1"], log=lambda m: None)
    assert snapshot(tmp_path / "user") == before
    assert io.remove_leftovers([tmp_path / "campaign"], other_hosts=True) == []


def test_a_host_whose_name_starts_like_ours_is_another_host(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "c")
    copy = tmp_path / ".s.zarr.tmp-c-10234-999999-abcd1234"  # host "c-10234", pid 999999
    copy.mkdir()
    assert not atomic.stale(copy, ".s.zarr.")
    assert io.remove_leftovers([tmp_path]) == [] and copy.exists()


def test_a_target_fc_overwritten_in_place_reruns_what_reads_it(tmp_path):
    import yaml

    from conftest import TINY, snakemake

    fc = tmp_path / "fc.npy"
    rng = np.random.default_rng(0)
    a = rng.standard_normal((8, 8))
    np.save(fc, np.corrcoef(a))
    config = yaml.safe_load(TINY.read_text())
    config["output_dir"] = str(tmp_path / "out")
    config["k"] = [0.0, 0.5]
    config["metrics"]["target_fc"] = str(fc)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert snakemake("--configfile", str(path), workdir=tmp_path).returncode == 0
    assert "Nothing to be done" in snakemake("-n", "--configfile", str(path), workdir=tmp_path).stdout
    np.save(fc, np.corrcoef(rng.standard_normal((8, 8))))  # same path, new contents
    dry = snakemake("-n", "--configfile", str(path), workdir=tmp_path)
    planned = dry.stdout + dry.stderr
    assert dry.returncode == 0 and "metrics" in planned and "report" in planned and "simulate" not in planned.split(
        "Job stats:")[-1].split("total")[0]
