"""Content-addressed simulate jobs: a chunk of k values is named by what determines its
output, so a finished chunk is found again, whatever grid it was first part of.

A chunk's identity is the hash of the simulation's config slice (model, connectome,
coupling and its parameters, grid axes, seeds, duration, dt, integrator, precision...;
:func:`massengine.config.stage_config`), the connectome's contents and its k values. Not
the massengine version: a new version reuses the stores of an older one. Its store,
``simulations/<coupling>/<id>.zarr``, records both (attributes ``chunk_key``, ``chunk_k``).
Planning a campaign first reuses every finished store of the same slice whose k values
are all still wanted (extending a grid from 16 to 31 values, or refining it, keeps every
finished point), then cuts the k values left into new chunks of ``k_per_job``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from . import atomic
from .io import MANIFEST


def slice_key(sim_slice: Mapping, connectome_digest: str = "") -> str:
    """The hash of a simulate job's config slice (keys sorted) and of the connectome's
    contents (:func:`connectome_digest`: the slice names a file, whose contents may change)."""
    text = json.dumps({"slice": sim_slice, "connectome": connectome_digest}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def connectome_digest(conn) -> str:
    """A hash of a connectome's weights, tract lengths and labels, as loaded."""
    digest = hashlib.sha256()
    for array in (conn.weights, conn.distances):
        if array is not None:
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    digest.update(json.dumps([str(label) for label in conn.labels]).encode())
    return digest.hexdigest()[:16]


def chunk_id(key: str, ks: Sequence[float]) -> str:
    """The name of the chunk of ``ks`` simulated under the slice hash ``key``."""
    text = json.dumps({"slice": key, "k": [float(k) for k in ks]})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def finished(directory) -> dict[str, list[float]]:
    """``{chunk id: k values}`` of the complete stores in ``directory`` (those with a
    manifest, written last), read from their attributes without opening them as zarr."""
    found = {}
    for store in sorted(Path(directory).glob("*.zarr")):
        if not (store / MANIFEST).is_file():
            continue
        try:
            attrs = json.loads((store / "zarr.json").read_text()).get("attributes", {})
            found[store.name[: -len(".zarr")]] = {"key": attrs["chunk_key"], "k": json.loads(attrs["chunk_k"])}
        except (OSError, ValueError, KeyError):  # not a chunk store of this layout: ignored
            continue
    return found


def plan(ks: Sequence[float], size: int, key: str, directory,
         found: dict | None = None) -> list[tuple[str, list[float]]]:
    """``[(chunk id, k values), ...]`` covering ``ks`` once: the finished stores of slice
    ``key`` in ``directory`` (or ``found``, :func:`finished` read earlier) whose k values are
    all wanted, then the rest in chunks of at most ``size`` (sorted). The planner records
    each chunk's k values (:func:`register`): a job reads them there instead of planning
    again, which could cut differently once a reused store is being redone."""
    wanted = {float(k) for k in ks}
    chunks, covered = [], set()
    for name, store in (finished(directory) if found is None else found).items():
        values = {float(k) for k in store["k"]}
        if store["key"] == key and values <= wanted and not values & covered and name == chunk_id(key, store["k"]):
            chunks.append((name, [float(k) for k in store["k"]]))
            covered |= values
    rest = sorted(wanted - covered)
    for i in range(0, len(rest), size):
        part = rest[i : i + size]
        chunks.append((chunk_id(key, part), part))
    return sorted(chunks, key=lambda chunk: chunk[1][0])


def register(directory, chunks: Sequence[tuple[str, list[float]]]) -> None:
    """Record each chunk's k values as ``<directory>/<id>.json`` (written once: an id fixes
    its k values)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, ks in chunks:
        path = directory / f"{name}.json"
        if registered(directory, name) is None:  # absent, or unreadable (truncated): written again
            atomic.write_text(path, json.dumps({"k": [float(k) for k in ks]}), "chunk registry entry")


def registered(directory, name: str) -> list[float] | None:
    """The k values :func:`register` recorded for chunk ``name`` (``None`` if none, or if
    the record is unreadable: the planner then writes it again)."""
    path = Path(directory) / f"{name}.json"
    try:
        ks = json.loads(path.read_text())["k"]
        return [float(k) for k in ks]
    except (OSError, ValueError, KeyError, TypeError):
        return None

