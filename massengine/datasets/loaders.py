"""Reading connectomes from files: ``.npy``, ``.csv``/``.tsv``/``.txt`` matrices, label lists,
and The Virtual Brain's connectivity ``.zip``. Every failure names the file and the fix."""

from __future__ import annotations

import bz2
import io
import zipfile
from pathlib import Path

import numpy as np

from ..connectivity import Connectome


def read_matrix(path, what: str = "matrix") -> np.ndarray:
    """A 2-D float array from ``.npy``, ``.csv`` (commas), ``.tsv`` or ``.txt`` (whitespace)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} file {str(path)!r} does not exist (or is not a file).")
    try:
        if path.suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            delimiter = {".csv": ",", ".tsv": "\t"}.get(path.suffix)
            array = np.loadtxt(path, delimiter=delimiter, ndmin=2)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"cannot read {what} file {str(path)!r}: {err}. Expected a numeric (N, N) matrix in "
            ".npy, .csv, .tsv or whitespace-separated .txt."
        ) from None
    return np.asarray(array, dtype=np.float64)


def read_labels(path) -> tuple[str, ...]:
    """Region labels: ``.npy`` array of strings or a text file with one label per line."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"labels file {str(path)!r} does not exist (or is not a file).")
    if path.suffix == ".npy":
        return tuple(str(x) for x in np.load(path, allow_pickle=False))
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())


def load_files(weights, distances=None, labels=None, name: str | None = None) -> Connectome:
    """A connectome from a weights file and optional tract lengths (mm) and labels files."""
    return Connectome(
        weights=read_matrix(weights, "weights"),
        distances=None if distances is None else read_matrix(distances, "distances"),
        labels=() if labels is None else read_labels(labels),
        name=name or Path(weights).parent.name or "connectome",
        source=str(weights),
    )


def _zip_members(archive: zipfile.ZipFile) -> dict[str, str]:
    """Map the stem of every member (``weights`` for ``weights.txt.bz2``) to its name."""
    members = {}
    for member in archive.namelist():
        stem = Path(member).name.split(".")[0]
        if stem:
            members.setdefault(stem, member)
    return members


def _zip_text(archive: zipfile.ZipFile, member: str) -> str:
    raw = archive.read(member)
    return (bz2.decompress(raw) if member.endswith(".bz2") else raw).decode()


def load_tvb_zip(path, name: str | None = None) -> Connectome:
    """A TVB connectivity zip: ``weights.txt``, ``tract_lengths.txt`` and ``centres.txt``
    (``label x y z`` per line); members may be bz2-compressed (``.txt.bz2``)."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"cannot open TVB connectivity zip {str(path)!r}: {err}.") from None
    with archive:
        members = _zip_members(archive)
        needed = {"weights": "weights", "tract_lengths": "tract_lengths", "centres": "centres"}
        if "centres" not in members and "centers" in members:
            needed["centres"] = "centers"
        missing = [stem for stem in needed.values() if stem not in members]
        if missing:
            raise ValueError(
                f"TVB connectivity zip {str(path)!r} lacks member {missing[0]}.txt; it holds "
                f"{', '.join(sorted(archive.namelist()))}. A TVB zip needs weights.txt, "
                "tract_lengths.txt and centres.txt."
            )
        text = {key: _zip_text(archive, members[stem]) for key, stem in needed.items()}
    try:
        weights = np.loadtxt(io.StringIO(text["weights"]), ndmin=2)
        lengths = np.loadtxt(io.StringIO(text["tract_lengths"]), ndmin=2)
        rows = [line.split() for line in text["centres"].splitlines() if line.strip()]
        labels = tuple(row[0] for row in rows)
        centres = np.array([[float(v) for v in row[1:4]] for row in rows])
    except (ValueError, IndexError) as err:
        raise ValueError(f"malformed member in TVB zip {str(path)!r}: {err}.") from None
    return Connectome(weights=weights, distances=lengths, labels=labels, centres=centres,
                      name=name or path.stem, source=str(path))
