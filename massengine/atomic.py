"""Writing a file or a store so that nobody ever sees half of it.

Every writer of massengine goes through here: the output is written under a temporary name
beside its target, owned by its writer (``.<name>.tmp-<host>-<pid>-<random>``), flushed to
the disk (``fsync``) and only then renamed into place, and the rename itself is flushed
(the directory's ``fsync``). A crash, a kill or a power loss leaves the old file or the new
one, never a truncated one under the final name; a failure (full or read-only disk) removes
the temporary copy and raises one :class:`OSError` that names the path and what to do.

Temporary names carry their writer (host, pid) so that a later start can tell an abandoned
copy (its writer is gone: :func:`stale`) from one that a live writer is still filling.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

# Longest file name most file systems take (ext4, xfs, btrfs, tmpfs: NAME_MAX = 255 bytes).
NAME_MAX = 255
# What a temporary name adds to its base: "tmp-" + host (<= 64) + "-" + pid + "-" + 8 hex.
_OWNER_MAX = 4 + 64 + 1 + 10 + 1 + 8


def owner_tag() -> str:
    """``<host>-<pid>-<random>``: who writes a temporary copy (see :func:`stale`)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def temp_base(path) -> str:
    """The prefix of every temporary name of ``path``: ``.<name>.``, or, for a name so long
    that a temporary name would pass :data:`NAME_MAX`, its start with a hash of the whole
    name (the suffix, e.g. ``.zarr``, kept: leftovers are found by it)."""
    name = Path(path).name
    base = f".{name}."
    if len(base.encode()) + _OWNER_MAX <= NAME_MAX:
        return base
    suffix = Path(name).suffix if len(Path(name).suffix) <= 8 else ""
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    keep = NAME_MAX - _OWNER_MAX - len(suffix) - len(digest) - 4
    return f".{name.encode()[:keep].decode(errors='ignore')}~{digest}{suffix}."


def temp_path(path, kind: str = "tmp") -> Path:
    """A fresh temporary name beside ``path``, owned by this process (``kind``: ``tmp``
    while writing, ``old`` for a replaced store on its way out)."""
    path = Path(path)
    return path.with_name(f"{temp_base(path)}{kind}-{owner_tag()}")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


_TAG = re.compile(r"^(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]+$")


def owner_of(tag: str) -> tuple[str, int] | None:
    """``(host, pid)`` of an :func:`owner_tag` (``None`` for anything else); the host may
    itself hold dashes, the pid and the random part never do."""
    match = _TAG.match(tag)
    return (match["host"], int(match["pid"])) if match else None


def stale(leftover: Path, base: str) -> bool:
    """Whether ``leftover``, a temporary name of the target whose :func:`temp_base` is
    ``base``, belongs to a writer that is gone: this host (exactly) and a dead pid
    (``.partial-<pid>`` and ``.partial``: the naming of older versions, by a pid or by
    nobody). Another live writer's copy, or another host's, is not stale."""
    kind, _, owner = leftover.name[len(base):].partition("-")
    if kind in ("tmp", "old"):
        tag = owner_of(owner)
        return tag is not None and tag[0] == socket.gethostname() and not pid_alive(tag[1])
    if kind == "partial":
        return owner == "" or (owner.isdigit() and not pid_alive(int(owner)))
    return False


def fsync_path(path) -> None:
    """Flush ``path`` (a file or a directory entry list) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory; the data is flushed anyway
        if not Path(path).is_dir():
            raise
    finally:
        os.close(fd)


def _error(errno: int | None, message: str) -> OSError:
    """``OSError(errno, message)``; without an errno, the message alone (no "[Errno None]")."""
    return OSError(errno, message) if errno is not None else OSError(message)


def failure(path, err: OSError, what: str = "file") -> OSError:
    """One clear :class:`OSError` for a write of ``path`` that failed with ``err``."""
    reason = err.strerror or str(err)
    parent = Path(path).parent
    for above in (parent, *parent.parents):
        if above.exists():
            if not above.is_dir():
                return _error(err.errno, f"cannot write {what} {str(path)!r}: {str(above)!r} is a file, not a "
                              "folder; choose another path.")
            break
    hint = {28: "free some space on that disk and run again",  # ENOSPC
            30: "the disk is read-only: choose a writable folder",  # EROFS
            13: "you may not write there: choose a folder you own",  # EACCES
            36: "the name is too long for the file system: choose a shorter one"}.get(err.errno)
    return _error(err.errno, f"cannot write {what} {str(path)!r}: {reason}. "
                  + (hint[0].upper() + hint[1:] + "." if hint else
                     "Check that the output directory is writable and has free space."))


@contextmanager
def replacing(path, what: str = "file"):
    """Write ``path`` atomically: yields a temporary path for the caller to write (a file;
    flushed here), then renames it into place; on any failure the temporary copy is gone and
    an :class:`OSError` names ``path`` (:func:`failure`)."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(path.parent)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise failure(path, err, what) from err
        raise


def write_text(path, text: str, what: str = "file") -> Path:
    """Write ``text`` to ``path`` atomically (:func:`replacing`)."""
    with replacing(path, what) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_with(path, writer: Callable[[Path], object], what: str = "file") -> Path:
    """``writer(tmp)`` writes the file; it lands at ``path`` atomically (:func:`replacing`)."""
    with replacing(path, what) as tmp:
        writer(tmp)
    return Path(path)
