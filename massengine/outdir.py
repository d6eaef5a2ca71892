"""A campaign's output directory: who writes into it, and whether what is there can be trusted.

The workflow calls :func:`start` when Snakemake reads the Snakefile (in the process that
schedules the jobs, never in a job) and :func:`release` when the run ends:

- **Owner record.** ``<output_dir>/.massengine-owner.json`` names the Snakemake process
  writing the campaign (host, pid and its start time, working directory, config hash). A
  second campaign, or a second Snakemake of the same one from another clone, refuses to
  start while that process is alive (both would delete each other's outputs). A record whose
  process is gone (finished, crashed, ``kill -9``) is taken over; one from another host
  cannot be checked from here, so it is reported with what to do.
- **Stale Snakemake locks.** After a ``kill -9`` Snakemake leaves its lock and would ask for
  ``--unlock``. When the record shows the previous Snakemake of this working directory is
  gone, the lock files that cover only this campaign's outputs are removed, so rerunning the
  same command resumes.
- **Leftovers.** Temporary copies of stores whose writer is gone (this host: dead pid; any
  other host: a job of a previous run, e.g. killed by a walltime) are removed.
- **Only our own folder.** A campaign writes into an empty (or new) folder, or into one of
  its own: ``<output_dir>/.massengine-campaign.json`` marks it. A folder holding anything
  else (a user's files) is refused before anything is written; one holding only what a
  campaign of an older massengine writes is adopted (marked).
- **Verification.** Every store of the campaign's layout (``simulations/*/*.zarr``,
  ``metrics/*/*.zarr``, ``summary.zarr``) that massengine wrote is checked against its
  manifest, checksums included (:func:`massengine.integrity.verify_store`), and so are the
  end products (``summary.csv``, ``report.html``, ``fit.json``, refinement rounds) against
  their sidecar manifests; one that fails (a deleted chunk, a flipped byte, a truncated
  file) is renamed aside to ``<name>.corrupt-<time>`` — nothing is deleted — so Snakemake
  sees it missing and redoes it. Nothing outside that layout is looked at.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

from . import atomic, integrity, io

OWNER = ".massengine-owner.json"
MARKER = ".massengine-campaign.json"  # this folder is a massengine campaign's
# What a campaign writes at the top of its output_dir (older versions: the same, no marker).
CAMPAIGN_ENTRIES = ("simulations", "metrics", "summary.zarr", "summary.csv", "report.html", "fit.json", "logs",
                    "refine", ".chunks", ".cache", OWNER, MARKER)
PRODUCTS = ("summary.csv", "report.html", "fit.json")
_ASIDE = re.compile(r"\.corrupt-\d{8}T\d{6}(-\d+)?$")


class NotACampaign(RuntimeError):
    """The output directory holds files that are not a massengine campaign's."""
# Snakemake options that only inspect the workflow: they must not take the directory over or
# move stores (their Snakefile run cannot tell otherwise: the executor is chosen later).
INSPECT_FLAGS = ("--dry-run", "--dryrun", "--lint", "--unlock", "--list", "--list-rules", "--summary",
                 "--detailed-summary", "--dag", "--rulegraph", "--filegraph", "--d3dag", "--cleanup-metadata",
                 "--list-changes", "--list-code-changes", "--list-input-changes", "--list-params-changes",
                 "--list-untracked", "--delete-all-output", "--delete-temp-output", "--containerize",
                 "--print-compilation", "--archive", "--export-cwl", "--generate-unit-tests", "--report",
                 "--touch")


class OutputDirInUse(RuntimeError):
    """Another live campaign writes into this output directory."""


def inspect_only(argv) -> bool:
    """Whether Snakemake's command line ``argv`` only inspects the workflow (``-n``, ``--lint``...)."""
    for arg in argv:
        if arg.split("=")[0] in INSPECT_FLAGS or arg.startswith("--list-"):
            return True
        if arg.startswith("-") and not arg.startswith("--") and "n" in arg[1:] and arg[1:].isalpha():
            return True  # -n, -np, -pn
    return False


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (guards against a reused pid), if readable."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _record(config_hash: str) -> dict:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_start": _start_time(pid), "workdir": os.getcwd(),
            "config_hash": config_hash, "started": time.strftime("%Y-%m-%d %H:%M:%S")}


def read_owner(out) -> dict | None:
    try:
        record = json.loads((Path(out) / OWNER).read_text())
        return record if isinstance(record, dict) and "pid" in record else None
    except (OSError, ValueError):
        return None


def owner_alive(record: dict) -> bool | None:
    """True/False for a record of this host; None when it names another host (unknown)."""
    if record.get("host") != socket.gethostname():
        return None
    try:
        pid = int(record["pid"])
    except (TypeError, ValueError):  # a record no start wrote: nobody to wait for
        return False
    if not io.pid_alive(pid):
        return False
    start = _start_time(pid)
    return start is None or record.get("pid_start") in (None, start)


def _describe(record: dict) -> str:
    return (f"pid {record.get('pid')} on {record.get('host')}, started {record.get('started')} in "
            f"{record.get('workdir')}, config hash {record.get('config_hash')}")


def check_owner(out, config_hash: str) -> dict | None:
    """Raise :class:`OutputDirInUse` if another live (or unverifiable) process owns ``out``;
    return the previous owner's record when it is gone (None when there was none)."""
    out = Path(out)
    record = read_owner(out)
    if record is None or (record.get("pid") == os.getpid() and record.get("host") == socket.gethostname()):
        return None
    alive = owner_alive(record)
    if alive is False:
        return record
    same = record.get("config_hash") == config_hash
    what = ("another Snakemake is already running this campaign" if same else
            "another campaign (a different config) is writing into it")
    fix = ("wait for it to finish or stop it" if same else
           "give this campaign its own output_dir, or wait for the other one to finish")
    if alive is None:
        fix = (f"if no run is active on {record.get('host')} any more, delete {out / OWNER}; otherwise "
               + fix)
    raise OutputDirInUse(f"output_dir {str(out)!r} is in use: {what} ({_describe(record)}). To proceed, {fix}.")


def claim(out, config_hash: str, log=print) -> dict | None:
    """Make this process the owner of ``out`` (see :func:`check_owner`); return the record of
    a previous owner that is gone. An unreadable record (empty, truncated: written by no
    live start, whose records appear whole by a hard link) is removed, and said so."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / OWNER).exists() and read_owner(out) is None:
        log(f"massengine: the owner record {out / OWNER} is unreadable (empty or truncated, left by a run that "
            "is gone); removed.")
        (out / OWNER).unlink(missing_ok=True)
    previous = check_owner(out, config_hash)
    tmp = atomic.temp_path(out / OWNER)
    tmp.write_text(json.dumps(_record(config_hash), indent=1))
    try:
        if read_owner(out) is not None and previous is None:  # our own record: renew it
            os.replace(tmp, out / OWNER)
            return None
        if previous is not None:  # a gone owner's record: take it away, then race for the name
            (out / OWNER).unlink(missing_ok=True)
        # A hard link creates the name only if nobody holds it: of two starts racing here,
        # exactly one wins; the other finds the winner's record and is refused.
        os.link(tmp, out / OWNER)
    except FileExistsError:
        check_owner(out, config_hash)  # the other start won: refused (it is alive)
        raise OutputDirInUse(f"output_dir {str(out)!r} was claimed by another start at the same moment; "
                             "run again once it has finished.") from None
    finally:
        tmp.unlink(missing_ok=True)
    return previous


def release(out) -> None:
    """Remove the owner record if this process holds it."""
    record = read_owner(out)
    if record and record.get("pid") == os.getpid() and record.get("host") == socket.gethostname():
        (Path(out) / OWNER).unlink(missing_ok=True)


def remove_stale_locks(out, previous: dict | None, workdir=".") -> list[Path]:
    """Snakemake lock files of ``workdir`` left by a previous Snakemake of this campaign that
    is gone (``previous``, a dead owner of this working directory), and covering only files of
    ``out``: removed, and returned."""
    workdir = Path(workdir).resolve()
    if not previous or previous.get("host") != socket.gethostname() or Path(previous.get("workdir", "")) != workdir:
        return []
    out = Path(os.path.realpath(out))  # the lock lines hold the path as written: a link is resolved
    removed = []
    for lock in sorted((workdir / ".snakemake" / "locks").glob("*.lock")):
        try:
            paths = [Path(os.path.realpath(line)) for line in lock.read_text().splitlines() if line.strip()]
        except OSError:
            continue
        if paths and all(p == out or out in p.parents for p in paths):
            lock.unlink(missing_ok=True)
            removed.append(lock)
    return removed


def _known(name: str) -> bool:
    """An entry a campaign (of any version) leaves at the top of its output_dir."""
    base = _ASIDE.sub("", name)
    return (base in CAMPAIGN_ENTRIES or io.is_temporary(name)
            or any(base == integrity.sidecar(p).name for p in PRODUCTS))


def campaign_stores(out) -> list[Path]:
    """The stores of the campaign in ``out``: where its layout puts them (nothing else)."""
    out = Path(out)
    found = [*out.glob("simulations/*/*.zarr"), *out.glob("metrics/*/*.zarr"), out / "summary.zarr"]
    return sorted(p for p in found if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))


def campaign_products(out) -> list[Path]:
    """The campaign's end products (single files with sidecar manifests)."""
    out = Path(out)
    return sorted(p for p in [*(out / name for name in PRODUCTS), *out.glob("refine/*/round*.json")] if p.is_file())


def campaign_folders(out) -> list[Path]:
    """The folders the campaign writes temporary copies into."""
    out = Path(out)
    return [out, *(p for sub in ("simulations", "metrics", "refine", ".chunks") for p in out.glob(f"{sub}/*")
                   if p.is_dir())]


def _ours(store: Path) -> bool:
    """A store of the layout that massengine wrote: it says so (manifest, Conventions), or it
    bears a chunk's name (its metadata may be the part that broke)."""
    return io.is_massengine_store(store) or bool(re.fullmatch(r"[0-9a-f]{16}\.zarr", store.name))


def adopt_or_refuse(out, dry: bool = False, log=print) -> None:
    """Make sure ``out`` is this tool's to write (see the module docstring): an absent or
    empty folder, or a marked one, is; one holding only a campaign's entries (an older
    massengine's) is adopted and marked (``dry``: only said); anything else raises
    :class:`NotACampaign` naming what is there and how to proceed."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotACampaign(f"output_dir {str(out)!r} is a file, not a folder; choose another output_dir.")
    if (out / MARKER).is_file():
        return
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    foreign = [name for name in entries if not _known(name)]
    # Names no user would give, or one of the campaign's stores: a campaign's folder.
    evidence = any(name in (OWNER, ".chunks") for name in entries) or any(_ours(s) for s in campaign_stores(out))
    if foreign or (entries and not evidence):
        shown = ", ".join(foreign[:4] or entries[:4]) + (" ..." if len(foreign or entries) > 4 else "")
        raise NotACampaign(
            f"output_dir {str(out)!r} is not empty and is not a massengine campaign (it holds {shown}). A "
            "campaign writes only into a new or empty folder, or into its own, so as never to touch your files. "
            f"Set output_dir to a new folder (e.g. {str(out / 'campaign')!r}), or move those files away.")
    if dry:
        return
    if entries:
        log(f"massengine: {out} holds a campaign of an older massengine; adopted (marked {MARKER}).")
    atomic.write_text(out / MARKER, json.dumps({"massengine_version": integrity.version(),
                                                "created": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))


def _aside(path: Path, stamp: str, dry: bool) -> Path:
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists() or aside.is_symlink():  # never onto an earlier one of the same second
        aside, n = path.with_name(f"{path.name}.corrupt-{stamp}-{n}"), n + 1
    if not dry:
        os.replace(path, aside)
    return aside


def quarantine(out, dry: bool = False, log=print) -> list[tuple[Path, Path, list[str]]]:
    """Rename each of the campaign's stores (:func:`campaign_stores`) and end products
    (:func:`campaign_products`) that fails verification, checksums included, to
    ``<name>.corrupt-<time>`` (``dry``: only report). Returns ``(path, new name, problems)``
    of each. A store without a manifest (written before manifests existed) is adopted only
    if it holds every chunk of every array (:func:`massengine.integrity.complete_without_manifest`):
    its manifest is written and nothing is recomputed. A store of the layout that massengine
    did not write is left alone (and said so)."""
    out = Path(out)
    if not out.is_dir():
        return []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    moved = []
    for store in campaign_stores(out):
        if not _ours(store):
            log(f"massengine: {store} was not written by massengine; left alone (the campaign does not read it).")
            continue
        problems = io.verify_store(store, checksums="all")
        if problems and not dry and _adopted(store, problems):
            log(f"massengine: {store} had no manifest (written by an older massengine); it is complete, so its "
                "manifest was written and it is kept.")
            continue
        if problems:
            moved.append((store, _aside(store, stamp, dry), problems))
    for product in campaign_products(out):
        problems = integrity.verify_product(product)
        if problems:
            moved.append((product, _aside(product, stamp, dry), problems))
            if not dry:
                integrity.sidecar(product).unlink(missing_ok=True)
    return moved


def _adopted(store: Path, problems: list[str]) -> bool:
    """Give a complete store without a manifest one (see :func:`quarantine`)."""
    if len(problems) != 1 or f"no {io.MANIFEST}" not in problems[0] or not integrity.complete_without_manifest(store):
        return False
    try:
        io.open_store(store, verify=False).close()
    except Exception:  # unreadable: it is moved aside instead
        return False
    integrity.write_manifest(store, sync=True, format=1)  # its chunks have no codec checksum
    return True


def start(out, config_hash: str, argv, log=print) -> None:
    """What the workflow does when Snakemake reads the Snakefile (see the module docstring).
    With ``argv`` only inspecting (a dry run), nothing is claimed or moved: problems are told."""
    if inspect_only(argv):
        adopt_or_refuse(out, dry=True)
        record = read_owner(out)
        if record and owner_alive(record) is not False and record.get("pid") != os.getpid():
            log(f"note: output_dir {str(out)!r} is owned by a running campaign ({_describe(record)}).")
        for path, _, problems in quarantine(out, dry=True, log=log):
            log(f"note: {path} fails verification ({problems[0].split(': ', 1)[-1]}); a real run will move "
                "it aside and redo it.")
        return
    check_owner(out, config_hash)  # a live campaign's folder: say that first
    adopt_or_refuse(out, log=log)
    previous = claim(out, config_hash, log=log)
    if previous is not None:
        log(f"massengine: the previous run writing {out} ({_describe(previous)}) is gone; taking over.")
        for lock in remove_stale_locks(out, previous):
            log(f"massengine: removed Snakemake's stale lock {lock} (its Snakemake was killed).")
    for leftover in io.remove_leftovers(campaign_folders(out), other_hosts=True):
        log(f"massengine: removed {leftover}, the temporary copy of a writer that is gone.")
    for path, aside, problems in quarantine(out, log=log):
        what = "; ".join(p.split(": ", 1)[-1] for p in problems[:2])
        log(f"massengine: {path} failed verification ({what}); moved aside to "
            f"{aside.name}, it will be redone.")
