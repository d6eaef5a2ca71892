"""Whether what massengine wrote is still what it wrote: manifests of stores and products.

- **Stores.** A store's manifest (``massengine-manifest.json``, written last, before the
  store's atomic rename) lists *every* file of the store with its size and CRC-32: a
  deleted, truncated or edited file is reported, and so is a file that is not listed (a
  chunk written into the store afterwards, a user's note). Stores are written with every
  chunk present (also those equal to the fill value, which zarr would otherwise leave out),
  so that the listed set is the whole store, and with zstd's own checksum, so that a reader
  that bypasses the manifest still fails on a flipped byte instead of reading it as data.
- **Products** (``summary.csv``, ``report.html``, ``fit.json``, refinement rounds): each has
  a sidecar manifest ``.<name>.manifest.json`` with its size and CRC-32, written after it.

:func:`verify_store` and :func:`verify_product` report problems one line each, naming the
path; the campaign's start (:mod:`massengine.outdir`) and ``massengine verify`` use them.
"""

from __future__ import annotations

import json
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import atomic

MANIFEST = "massengine-manifest.json"  # written last into a store, before its atomic rename
FORMAT = 2  # 1: the files present when it was written; 2: every chunk of every array present
IGNORED = (".snakemake_timestamp",)  # Snakemake's timestamp file inside directory outputs


def version() -> str:
    from ._version import __version__

    return __version__


def store_files(root: Path):
    """``(relative name, path)`` of every file of the store ``root`` but its manifest."""
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root).as_posix()
        if f.is_file() and rel != MANIFEST and not rel.startswith(IGNORED):
            yield rel, f


def crc32(path: Path, sync: bool = False) -> int:
    """The CRC-32 of the file ``path``; with ``sync``, the file is also flushed to the disk."""
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            crc = zlib.crc32(block, crc)
        if sync:
            os.fsync(fh.fileno())
    return crc


def _entry(path: Path, sync: bool = False) -> dict:
    return {"size": path.stat().st_size, "crc32": crc32(path, sync)}


def write_manifest(root, sync: bool = False, format: int = 1) -> Path:
    """Record every file of the store ``root`` (size and CRC-32) in its manifest. With
    ``sync`` (a writer about to rename the store into place) every file, folder and the
    manifest are flushed to the disk first: after a power loss the store is whole or absent.
    ``format``: 1 (the default) for a store whose chunks may carry no codec checksum (an
    older store adopted; any store not written by :func:`massengine.io.write_store`): readers
    then check every chunk's CRC-32; :data:`FORMAT` only for a store written with every chunk
    present and checksummed."""
    root = Path(root)
    found = list(store_files(root))
    files = {rel: _entry(f, sync) for rel, f in found}
    manifest = {"format": format, "massengine_version": version(), "files": files}
    target = root / MANIFEST
    target.write_text(json.dumps(manifest, indent=0, sort_keys=True))
    if sync:
        atomic.fsync_path(target)
        for folder in sorted({f.parent for _, f in found} | {root}):
            atomic.fsync_path(folder)
    return target


def read_manifest(root) -> dict | None:
    """A store's manifest, or ``None`` when it has none or it is unreadable."""
    try:
        manifest = json.loads((Path(root) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    return manifest if isinstance(files, dict) else None


def has_manifest(root) -> bool:
    return read_manifest(root) is not None


def is_chunk(rel: str) -> bool:
    """Whether the store file ``rel`` is a chunk (zarr 3: ``<array>/c/<i>/<j>``; of a
    zero-dimensional array: ``<array>/c``)."""
    parts = rel.split("/")
    return "c" in parts[:-1] or (len(parts) > 1 and parts[-1] == "c")


def _file_problems(name: str, rel: str, f: Path, expected, checksum: bool) -> list[str]:
    if not f.is_file():
        return [f"{name}: missing file {rel}."]
    try:
        size, want = f.stat().st_size, int(expected["size"])
    except (KeyError, TypeError, ValueError):
        return [f"{name}: {MANIFEST} is corrupt (entry of {rel})."]
    if size != want:
        return [f"{name}: {rel} has {size} bytes, expected {want} (truncated or overwritten)."]
    if checksum and crc32(f) != expected.get("crc32"):
        return [f"{name}: {rel} is corrupt (checksum mismatch)."]
    return []


# What verify_store reads: "all" files' checksums; "metadata": those of the metadata only,
# the chunks being checked by their codec's own checksum when they are read (stores of
# format 2; an older store's chunks have none, so they are read here too); "none": sizes.
CHECKSUMS = ("all", "metadata", "none")


def verify_store(path, checksums="all") -> list[str]:
    """Problems of the store ``path`` (empty when it is complete and intact).

    Every file listed in the store's manifest must exist with its size and its CRC-32 (see
    :data:`CHECKSUMS`; ``True``/``False`` mean ``"all"``/``"none"``), and no other file may
    be there: a deleted chunk, a truncated or edited file, a chunk added after the store was
    written, or a store without a manifest is reported, one line each, naming the store."""
    checksums = {True: "all", False: "none"}.get(checksums, checksums)
    if checksums not in CHECKSUMS:
        raise ValueError(f"checksums must be one of {CHECKSUMS}, got {checksums!r}.")
    path = Path(path)
    name = str(path)
    if not path.is_dir():
        return [f"{name}: not a directory (no store here)."]
    if not (path / MANIFEST).exists():
        return [f"{name}: no {MANIFEST} (incomplete, not written by massengine, or written by a "
                f"massengine older than manifests): cannot be verified."]
    manifest = read_manifest(path)
    if manifest is None:
        return [f"{name}: {MANIFEST} is corrupt."]
    files = manifest["files"]
    fmt = manifest.get("format", 1)
    codec_checked = checksums == "metadata" and isinstance(fmt, int) and fmt >= 2

    def problems_of(item):
        rel, expected = item
        checksum = checksums == "all" or (checksums == "metadata" and not (codec_checked and is_chunk(rel)))
        return _file_problems(name, rel, path / rel, expected, checksum)

    with ThreadPoolExecutor(max_workers=4) as pool:  # zlib releases the GIL: checksums in parallel
        problems = [line for lines in pool.map(problems_of, sorted(files.items())) for line in lines]
    stray = [rel for rel, _ in store_files(path) if rel not in files]
    problems += [f"{name}: unexpected file {rel} (not in the manifest: written into the store afterwards)."
                 for rel in stray]
    return problems


def _expected_chunks(meta: dict) -> int:
    shape = meta["shape"]
    chunk = meta["chunk_grid"]["configuration"]["chunk_shape"]
    count = 1
    for size, step in zip(shape, chunk, strict=True):
        count *= -(-int(size) // int(step))
    return count


def complete_without_manifest(path) -> bool:
    """Whether a store without a manifest (written by a massengine older than manifests)
    holds every chunk of every array: only such a store can be trusted (a missing chunk
    would be read as the fill value, NaN or False, unnoticed). Read from the arrays'
    ``zarr.json`` and the chunk files present (no zarr API whose meaning may change)."""
    root = Path(path)
    arrays = 0
    try:
        for meta_file in root.rglob("zarr.json"):
            meta = json.loads(meta_file.read_text())
            if meta.get("node_type") != "array":
                continue
            arrays += 1
            folder = meta_file.parent
            present = sum(1 for f in folder.rglob("*")
                          if f.is_file() and is_chunk(f"{folder.name}/{f.relative_to(folder).as_posix()}"))
            if present != _expected_chunks(meta):
                return False
    except (OSError, ValueError, KeyError, TypeError):  # unreadable or unknown metadata: not complete
        return False
    return arrays > 0


# ---- products: single files with a sidecar manifest ---------------------------------------


def sidecar(path) -> Path:
    """The manifest of the product ``path``: ``.<name>.manifest.json`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.manifest.json")


def write_product(path, writer, what: str = "file") -> Path:
    """Write the product ``path`` atomically (``writer(tmp)`` writes it, see
    :func:`massengine.atomic.write_with`), then its sidecar manifest."""
    path = atomic.write_with(path, writer, what)
    atomic.write_text(sidecar(path), json.dumps({"format": 1, **_entry(path)}), what)
    return path


def write_product_text(path, text: str, what: str = "file") -> Path:
    return write_product(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), what)


def verify_product(path) -> list[str]:
    """Problems of the product ``path`` against its sidecar manifest (none without one: a
    product of an older massengine cannot be checked)."""
    path = Path(path)
    try:
        expected = json.loads(sidecar(path).read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return [f"{path}: its manifest {sidecar(path).name} is corrupt."]
    return _file_problems(str(path), path.name, path, expected, checksum=True)
