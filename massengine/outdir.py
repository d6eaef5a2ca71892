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
- **Verification.** Every store under the output directory is checked against its manifest
  (:func:`massengine.io.verify_store`); one that fails (a deleted chunk, a truncated
  ``zarr.json``) is renamed aside to ``<store>.corrupt-<time>`` — nothing is deleted — so
  Snakemake sees it missing and redoes it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from . import io

OWNER = ".massengine-owner.json"
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
    pid = int(record["pid"])
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


def claim(out, config_hash: str) -> dict | None:
    """Make this process the owner of ``out`` (see :func:`check_owner`); return the record of
    a previous owner that is gone."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    previous = check_owner(out, config_hash)
    tmp = out / f"{OWNER}.tmp-{socket.gethostname()}-{os.getpid()}"
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
    out = Path(out).resolve()
    removed = []
    for lock in sorted((workdir / ".snakemake" / "locks").glob("*.lock")):
        try:
            paths = [Path(os.path.abspath(line)) for line in lock.read_text().splitlines() if line.strip()]
        except OSError:
            continue
        if paths and all(p == out or out in p.parents for p in paths):
            lock.unlink(missing_ok=True)
            removed.append(lock)
    return removed


def quarantine(out, dry: bool = False, log=print) -> list[tuple[Path, Path, list[str]]]:
    """Rename every store under ``out`` that fails verification to ``<store>.corrupt-<time>``
    (``dry``: only report). Returns ``(store, new name, problems)`` of each.

    At every start of the workflow, so only what is cheap: each manifest's files exist with
    their sizes (a deleted or truncated chunk); checksums are verified by the stages that
    read a store and by ``massengine verify``. A store without a manifest (written before
    manifests existed, and renamed into place complete as every store is) that opens is
    adopted: its manifest is written, nothing is recomputed."""
    out = Path(out)
    if not out.is_dir():
        return []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    moved = []
    for store in io.find_stores(out):
        problems = io.verify_store(store, checksums=False)
        if problems and not dry and _adopted(store, problems):
            log(f"massengine: {store} had no manifest (written by an older massengine); it opens, so its "
                "manifest was written and it is kept.")
            continue
        if problems:
            aside = store.with_name(f"{store.name}.corrupt-{stamp}")
            if not dry:
                os.replace(store, aside)
            moved.append((store, aside, problems))
    return moved


def _adopted(store: Path, problems: list[str]) -> bool:
    """Give a complete store without a manifest one (see :func:`quarantine`)."""
    if len(problems) != 1 or f"no {io.MANIFEST}" not in problems[0]:
        return False
    try:
        io.open_store(store).close()
    except Exception:  # unreadable: it is moved aside instead
        return False
    io.write_manifest(store)
    return True


def start(out, config_hash: str, argv, log=print) -> None:
    """What the workflow does when Snakemake reads the Snakefile (see the module docstring).
    With ``argv`` only inspecting (a dry run), nothing is claimed or moved: problems are told."""
    if inspect_only(argv):
        record = read_owner(out)
        if record and owner_alive(record) is not False and record.get("pid") != os.getpid():
            log(f"note: output_dir {str(out)!r} is owned by a running campaign ({_describe(record)}).")
        for store, _, problems in quarantine(out, dry=True):
            log(f"note: {store} fails verification ({problems[0].split(': ', 1)[-1]}); a real run will move "
                "it aside and redo it.")
        return
    previous = claim(out, config_hash)
    if previous is not None:
        log(f"massengine: the previous run writing {out} ({_describe(previous)}) is gone; taking over.")
        for lock in remove_stale_locks(out, previous):
            log(f"massengine: removed Snakemake's stale lock {lock} (its Snakemake was killed).")
    for leftover in io.remove_leftovers(out, other_hosts=True):
        log(f"massengine: removed {leftover}, the temporary copy of a writer that is gone.")
    for store, aside, problems in quarantine(out, log=log):
        what = "; ".join(p.split(": ", 1)[-1] for p in problems[:2])
        log(f"massengine: {store} failed verification ({what}); moved aside to "
            f"{aside.name}, it will be redone.")
