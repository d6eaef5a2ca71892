"""Connectomes: the bundled example, TVB's connectivities from an installed ``tvb-data``,
and the user's own files.

Only licence-clean data is bundled: the 8-region example connectome (synthetic, from
brainmass, Apache-2.0; see ``data/example_connectome/README.md``). TVB's connectivities are
GPL-3.0+ and the HCP-derived sets carry the HCP data-use terms, so they are read from the
user's own copy: ``pip install massengine[tvb]`` (installs ``tvb-data``), a TVB zip, or files.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from ..connectivity import Connectome, synthetic_connectome
from ..parameters import closest
from .loaders import load_files, load_tvb_zip, read_labels, read_matrix

TVB_SIZES = (66, 68, 76, 96, 192)
BUNDLED = ("example_connectome",)


def names() -> tuple[str, ...]:
    """Names ``load`` accepts (besides paths)."""
    return BUNDLED + tuple(f"tvb_{n}" for n in TVB_SIZES)


def _example() -> Connectome:
    folder = resources.files(__name__) / "data" / "example_connectome"
    return Connectome(
        weights=np.load(folder / "weights.npy"),
        distances=np.load(folder / "distances_mm.npy"),
        labels=tuple((folder / "labels.txt").read_text().split()),
        name="example_connectome",
        source="brainmass 0.1.1 example_connectome (synthetic)",
        attribution="brainmass, Copyright 2026 BrainX Ecosystem Limited, Apache-2.0",
    )


def _tvb(n: int) -> Connectome:
    try:
        zip_path = resources.files("tvb_data") / "connectivity" / f"connectivity_{n}.zip"
    except ModuleNotFoundError:
        raise ValueError(
            f"'tvb_{n}' is read from the tvb-data package (GPL-3.0+, not bundled): install it "
            "with `pip install massengine[tvb]`, or load a TVB zip with load('path/to.zip')."
        ) from None
    return load_tvb_zip(Path(str(zip_path)), name=f"tvb_{n}")


def load(name: str) -> Connectome:
    """Load a connectome by name or path.

    - ``"example_connectome"``: bundled, 8 regions, weights + distances (mm) + labels.
    - ``"tvb_66"``, ``"tvb_68"``, ``"tvb_76"``, ``"tvb_96"``, ``"tvb_192"``: from tvb-data.
    - a path to a TVB ``.zip``, or to a folder with ``weights`` and optionally
      ``tract_lengths``/``distances`` and ``region_labels``/``labels`` files
      (``.npy``, ``.csv``, ``.tsv`` or ``.txt``).
    """
    if name == "example_connectome":
        return _example()
    if name in {f"tvb_{n}" for n in TVB_SIZES}:
        return _tvb(int(name.split("_")[1]))
    path = Path(name)
    if path.suffix == ".zip" and path.exists():
        return load_tvb_zip(path)
    if path.is_dir():
        return _load_dir(path)
    raise ValueError(
        f"unknown connectome {name!r}: give one of {', '.join(names())}, a TVB .zip, or a "
        "folder holding a weights file." + closest(name, names())
    )


def _find(folder: Path, stems) -> Path | None:
    for stem in stems:
        for suffix in (".npy", ".csv", ".tsv", ".txt"):
            if (folder / f"{stem}{suffix}").is_file():
                return folder / f"{stem}{suffix}"
    return None


def _load_dir(folder: Path) -> Connectome:
    weights = _find(folder, ("weights",))
    if weights is None:
        raise ValueError(
            f"folder {str(folder)!r} has no weights file (weights.npy/.csv/.tsv/.txt)."
        )
    distances = _find(folder, ("tract_lengths", "distances_mm", "distances"))
    labels = _find(folder, ("region_labels", "labels"))
    return load_files(weights, distances, labels, name=folder.name)


__all__ = ["load", "names", "load_files", "load_tvb_zip", "read_matrix", "read_labels",
           "synthetic_connectome", "Connectome"]
