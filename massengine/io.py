"""The boundary to labelled data: the only module that builds xarray objects (and, with the
workflow, zarr stores). Numeric kernels stay label-agnostic; names, units, coordinates and
provenance are attached here.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import re
import shutil
import socket
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import xarray as xr

from . import atomic, integrity


def version() -> str:
    from ._version import __version__

    return __version__


# ---- conventions: coordinate labels and dataset-level attributes --------------------------

# ``units`` and ``long_name`` of every coordinate massengine writes ("1": dimensionless).
COORD_ATTRS = {
    "coupling": {"long_name": "coupling function", "units": "1"},
    "k": {"long_name": "global coupling strength", "units": "1"},
    "seed": {"long_name": "noise seed", "units": "1"},
    "time": {"long_name": "time since the start of the run", "units": "ms"},
    "region": {"long_name": "brain region", "units": "1"},
    "region_j": {"long_name": "brain region (columns of a region x region matrix)", "units": "1"},
    "window": {"long_name": "start time of the FCD window", "units": "ms"},
    "window_j": {"long_name": "index of the second FCD window", "units": "1"},
    "freq": {"long_name": "frequency", "units": "Hz"},
    # parameter-grid axes (massengine.grid); node.<p> and coupling.<p> keep their own names
    "speed": {"long_name": "conduction speed (delays = tract length / speed)", "units": "mm/ms"},
    "noise": {"long_name": "noise sigma of every state variable", "units": "1"},
}
# Not CF: data variables carry "a.u." units and the time axis is relative to the run's
# start. "massengine-1" names this layout: docs/semantics.md, "Stores and datasets".
CONVENTIONS = "massengine-1"


def label_coords(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the ``units`` and ``long_name`` of :data:`COORD_ATTRS` on every coordinate
    it has (attributes already there are kept)."""
    for name in ds.coords:
        if name in COORD_ATTRS:
            ds[name].attrs = {**COORD_ATTRS[name], **ds[name].attrs}
    return ds


def history_line(call: str) -> str:
    """One line of a ``history`` attribute: UTC time, massengine version, what was called."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{now} massengine {version()}: {call}"


def describe(ds: xr.Dataset, title: str, call: str) -> xr.Dataset:
    """Label ``ds``'s coordinates and set ``Conventions``, ``title`` and ``history`` (the
    new line appended to any history ``ds`` already has)."""
    label_coords(ds)
    previous = ds.attrs.get("history")
    line = history_line(call)
    ds.attrs.update({"Conventions": CONVENTIONS, "title": title,
                     "history": f"{previous}\n{line}" if previous else line})
    return ds


def _call(name: str, **args) -> str:
    return f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"


def _jsonable(value):
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    array = np.asarray(value)
    if array.ndim == 0:
        return array.item()
    if array.ndim == 1:
        return array.tolist()
    return f"array{array.shape}"


def network_attrs(net) -> dict:
    """What the network was: model, its parameters, and each coupling term."""
    terms = [
        {
            "coupling": t.coupling,
            "coupled_var": t.coupled_var,
            "target": t.target,
            "params": {n: _jsonable(v) for n, v in t.params.items()},
            "max_delay_ms": t.max_delay,
        }
        for t in net.terms
    ]
    return {
        "node_model": net.node.name,
        "node_params": json.dumps({n: _jsonable(v) for n, v in net.node.params.items()}),
        "coupling_terms": json.dumps(terms),
    }


def provenance() -> dict:
    """Versions and the device runs execute on (``jax.default_device`` when one is set)."""
    device = jax.config.jax_default_device or jax.devices()[0]
    return {
        "massengine_version": version(),
        "jax_version": jax.__version__,
        "jax_backend": jax.default_backend(),
        "jax_device": f"{device.platform}:{device.device_kind}",
    }


# The data variable of monitor="bold".
BOLD_ATTRS = {"units": "1", "long_name": "BOLD signal (fractional signal change, Balloon-Windkessel model)"}


def _variables(data, settings, dims, model) -> dict:
    """One data variable per recorded signal (or ``bold``); ``data`` has the record axis
    first (each variable is then a view of it, not a copy)."""
    if settings.monitor == "bold":
        attrs = {**BOLD_ATTRS, "driven_by": settings.record[0]}
        return {"bold": xr.Variable(dims, data[0], attrs)}
    units = dict(model.units)
    return {
        name: xr.Variable(dims, data[i], {"units": units.get(name, "a.u."), "long_name": name})
        for i, name in enumerate(settings.record)
    }


# The engine checks for a non-finite state once per sample period (and per period of the
# transient): the time is that of the first check that found one.
DIVERGENCE_ATTRS = {"units": "ms", "description": "time of the first sample at which the state was non-finite "
                    "or beyond divergence_bound"}


def _divergence_time(steps, dt):
    steps = np.asarray(steps)
    return np.where(steps >= 0, np.round(steps * dt, 9), np.nan)  # 68 * 0.1 -> 6.8, not 6.800000000000001


def divergence_variables(steps, dt, dims) -> dict:
    """``diverged`` and ``divergence_time`` (ms) variables from the engine's divergence steps."""
    return {"diverged": xr.Variable(dims, np.asarray(steps) >= 0),
            "divergence_time": xr.Variable(dims, _divergence_time(steps, dt), DIVERGENCE_ATTRS)}


def run_dataset(net, settings, data, divergence_step: int, seed: int) -> xr.Dataset:
    """Dataset (time, region) of one run from ``data`` (n_record, n_samples, N), with
    ``diverged``/``divergence_time`` scalars."""
    ds = xr.Dataset(
        _variables(data, settings, ("time", "region"), net.node),
        coords={"time": ("time", settings.times, {"units": "ms"}),
                "region": ("region", np.array(net.labels, dtype=object))},
    )
    ds.update(divergence_variables(divergence_step, settings.dt, ()))
    ds.attrs.update({**provenance(), **network_attrs(net), **settings.as_attrs(), "seed": seed})
    return describe(ds, f"{net.node.name} network of {net.n_regions} regions, one run",
                    _call("simulate", duration=settings.duration, dt=settings.dt, seed=seed))


def sweep_dataset(variants, data, div, ks, seeds, settings, axes=()) -> xr.Dataset:
    """Dataset (coupling, k, *axes, [seed,] time, region) from ``variants`` ``[(name, net),
    ...]``, ``data`` (n_record, coupling, K, *axes, S, n_samples, N) and divergence steps
    ``div`` (coupling, K, *axes, S); ``axes`` ``((name, values), ...)`` are the parameter
    grid's axes. The arrays are wrapped, not copied."""
    names = [name for name, _ in variants]
    if seeds is None:
        data, div = data[..., 0, :, :], div[..., 0]
    run_dims = ("coupling", "k", *(name for name, _ in axes)) + (("seed",) if seeds is not None else ())
    net = variants[0][1]
    ds = xr.Dataset(
        _variables(data, settings, run_dims + ("time", "region"), net.node),
        coords={
            "coupling": ("coupling", np.array(names, dtype=object)),
            "k": ("k", ks),
            **{name: (name, values) for name, values in axes},
            "time": ("time", settings.times, {"units": "ms"}),
            "region": ("region", np.array(net.labels, dtype=object)),
        },
    )
    if seeds is not None:
        ds = ds.assign_coords(seed=("seed", np.asarray(seeds, dtype=np.int64)))
    ds.update(divergence_variables(div, settings.dt, run_dims))
    ds.attrs.update({**provenance(), **settings.as_attrs()})
    if axes:
        ds.attrs["grid_axes"] = json.dumps([name for name, _ in axes])
    if "noise" in dict(axes):
        ds.attrs["noise_sigma"] = "per run: the noise coordinate"
    ds.attrs["node_model"] = net.node.name
    ds.attrs["node_params"] = network_attrs(net)["node_params"]
    ds.attrs["coupling_terms"] = json.dumps(
        {name: json.loads(network_attrs(variant)["coupling_terms"]) for name, variant in variants}
    )
    ds = label_coords(ds)
    return describe(ds, f"{net.node.name} network of {net.n_regions} regions, k sweep",
                    _call("sweep", couplings=names, k=f"{len(ks)} values", seeds=seeds,
                          duration=settings.duration, dt=settings.dt))


# ---- zarr stores --------------------------------------------------------------------------


def as_store(sweep: xr.Dataset, extra_attrs: dict | None = None, time_chunk: int | None = None) -> xr.Dataset:
    """A one-coupling sweep as a trajectory store layout: dims ``(k, seed, time, region)``,
    ``coupling`` a scalar coordinate, zarr chunks of one run and ``time_chunk`` samples
    (default: the whole time axis)."""
    if sweep.sizes.get("coupling", 1) != 1:
        raise ValueError("a store holds one coupling; select it first.")
    ds = sweep.isel(coupling=0) if "coupling" in sweep.dims else sweep
    if "seed" not in ds.dims:
        ds = ds.expand_dims(seed=np.array([int(ds.attrs.get("seed", 0))]))
    ds = ds.assign_coords(coupling=((), np.array(str(ds["coupling"].values), dtype=object)))
    ds = ds.transpose("k", ..., "seed", "time", "region", missing_dims="ignore")
    for var in ds.data_vars.values():
        if var.dims[-2:] == ("time", "region"):
            runs, (n_time, n_region) = var.ndim - 2, var.shape[-2:]
            var.encoding["chunks"] = (1,) * runs + (min(time_chunk or n_time, n_time), n_region)
    ds.attrs.update(extra_attrs or {})
    return label_coords(ds)


# Manifests (every file of a store, sizes and CRC-32) and temporary names live in their own
# modules; these names stay importable from here.
MANIFEST = integrity.MANIFEST
write_manifest = integrity.write_manifest
verify_store = integrity.verify_store
pid_alive = atomic.pid_alive


class StoreError(ValueError):
    """A store that is missing, incomplete or corrupt; the message names it and the fix."""


def _regenerate_hint(path: Path) -> str:
    return (f"Move it aside or delete it and rerun snakemake (a campaign's snakemake run moves a "
            f"store that fails verification aside to {path.name}.corrupt-<time> and redoes it), or "
            f"rewrite it with sweep_to_store(..., overwrite=True).")


def check_store(path, checksums=True) -> None:
    """Raise :class:`StoreError` (naming the store and how to regenerate it) unless the store
    ``path`` verifies (``checksums``: see :func:`massengine.integrity.verify_store`)."""
    problems = verify_store(path, checksums)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise StoreError(f"store {str(path)!r} is incomplete or corrupt: " + " ".join(problems[:3])
                         + more + " " + _regenerate_hint(Path(path)))


def find_stores(root) -> list[Path]:
    """Every store under ``root`` (``root`` itself if it is one): directories holding a
    ``zarr.json`` or a manifest at their top, skipping temporary and set-aside copies. For
    reading only (``massengine verify``): a campaign's start touches only its own stores
    (:func:`massengine.outdir.campaign_stores`)."""
    root = Path(root)
    if _is_store(root):
        return [root]
    found = []
    for sub in sorted(root.rglob("*.zarr")):
        if sub.is_dir() and not any(part.startswith(".") for part in sub.relative_to(root).parts):
            found.append(sub)
    return found


def _is_store(path: Path) -> bool:
    return path.is_dir() and ((path / "zarr.json").exists() or (path / MANIFEST).exists()
                              or (path / ".zgroup").exists())


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(f for f in path.iterdir() if not f.name.startswith(integrity.IGNORED))


def store_attrs(path) -> dict | None:
    """The root attributes of the zarr store ``path`` (its ``zarr.json``), or ``None``."""
    try:
        attrs = json.loads((Path(path) / "zarr.json").read_text()).get("attributes", {})
    except (OSError, ValueError, AttributeError):
        return None
    return attrs if isinstance(attrs, dict) else None


def is_massengine_store(path) -> bool:
    """Whether the directory ``path`` is a store massengine wrote: it has a readable
    manifest, or its attributes carry massengine's ``Conventions`` (a store of a version
    older than manifests)."""
    path = Path(path)
    return path.is_dir() and (integrity.read_manifest(path) is not None
                              or (store_attrs(path) or {}).get("Conventions") == CONVENTIONS)


def foreign_files(path) -> list[str]:
    """Files in the massengine store ``path`` that massengine did not write: not in its
    manifest, or (a store without one) not zarr metadata or chunks."""
    manifest = integrity.read_manifest(path)
    if manifest is not None:
        return [rel for rel, _ in integrity.store_files(Path(path)) if rel not in manifest["files"]]
    zarr_names = ("zarr.json", ".zgroup", ".zattrs", ".zarray", ".zmetadata")
    return [rel for rel, _ in integrity.store_files(Path(path))
            if rel.rsplit("/", 1)[-1] not in zarr_names and not integrity.is_chunk(rel)]


def check_target(path, overwrite: bool = False) -> None:
    """Refuse, before any work, to write a store over something it may not replace: a file,
    a directory that is not a massengine store, or a massengine store holding files it did
    not write (none of them is ever deleted); an existing store unless ``overwrite``."""
    path = Path(path)
    if not path.exists() or _is_empty_dir(path):
        return
    if not path.is_dir():
        raise StoreError(f"{str(path)!r} exists and is a file, not a massengine store; refusing to replace it. "
                         "Choose another path, or move it away yourself.")
    if not is_massengine_store(path):
        raise StoreError(f"{str(path)!r} exists and is not a massengine store; refusing to delete it (it has "
                         f"no {MANIFEST} and no Conventions={CONVENTIONS!r}). Choose another path, or move it "
                         "away yourself.")
    foreign = foreign_files(path)
    if foreign:
        listed = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise StoreError(f"store {str(path)!r} holds files massengine did not write ({listed}); refusing to "
                         "delete them. Move them out (or the store away) yourself, or choose another path.")
    if not overwrite:
        raise StoreError(f"store {str(path)!r} already exists; pass overwrite=True to replace it, or "
                         "choose another path.")


# A temporary copy written on another host (a cluster job) counts as abandoned once nothing
# in it changed for this long: a job of the previous run may still be streaming into it after
# its Snakemake was killed (it writes every segment), and must not lose its work.
FOREIGN_IDLE_S = 3600.0


def _idle_for(path: Path) -> float:
    try:
        files = path.rglob("*") if path.is_dir() else ()
        newest = max((f.stat().st_mtime for f in files), default=path.stat().st_mtime)
        return time.time() - max(newest, path.stat().st_mtime)
    except OSError:  # renamed or removed meanwhile (its writer finished): not idle
        return 0.0


# The temporary names massengine gives (massengine.atomic): ".<target>.tmp-<host>-<pid>-<8 hex>"
# and ".old-..."; and those of older versions, which only stores and the campaign's products
# had: ".<store>.zarr.partial-<pid>" and ".<product>.partial". Nothing else is ever removed.
_TEMPORARY = re.compile(r"^(\..+\.)(tmp|old)-(.+-\d+-[0-9a-f]+)$")
_OLDER_TEMPORARY = re.compile(
    r"^(\..+\.zarr\.)partial-(\d+)$|^(\.(?:summary\.csv|report\.html|fit\.json|round\d+\.json)\.)partial$")


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary name massengine gives a file or store it writes."""
    return bool(_TEMPORARY.match(name) or _OLDER_TEMPORARY.match(name))


def _temporary_base(name: str) -> str | None:
    match = _TEMPORARY.match(name)
    if match:
        return match.group(1)
    match = _OLDER_TEMPORARY.match(name)
    return (match.group(1) or match.group(3)) if match else None


def remove_leftovers(directories, other_hosts: bool = False) -> list[Path]:
    """Remove the temporary copies (``.<name>.tmp-<host>-<pid>-<random>``, ``.old-...``, and
    older versions' ``.partial`` names: stores and files) directly in each of
    ``directories`` whose writer is gone (this host, dead pid) — and, with ``other_hosts``,
    those of other hosts too once untouched for :data:`FOREIGN_IDLE_S` (a job of a killed
    run on a cluster node may still be writing: its pid cannot be checked from here). Only
    the folders named are looked at, not their subfolders. Returns what was removed."""
    if isinstance(directories, (str, os.PathLike)):
        directories = [directories]
    removed = []
    host = socket.gethostname()
    for directory in directories:
        directory = Path(directory)
        for leftover in sorted(directory.glob(".*")) if directory.is_dir() else ():
            base = _temporary_base(leftover.name)
            if base is None:
                continue
            tag = atomic.owner_of(leftover.name[len(base):].partition("-")[2])
            foreign = tag is not None and tag[0] != host
            if atomic.stale(leftover, base) or (other_hosts and foreign and _idle_for(leftover) > FOREIGN_IDLE_S):
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
                removed.append(leftover)
    return removed


def _remove_stale_copies(target: Path) -> None:
    base = atomic.temp_base(target)
    for leftover in target.parent.glob(f"{glob.escape(base)}*"):
        if atomic.stale(leftover, base):
            shutil.rmtree(leftover, ignore_errors=True)


# Every variable's chunks: zstd (zarr's default codec) with its own checksum of each chunk,
# so that a reader fails on a flipped byte instead of reading it as data.
def _checksummed(ds: xr.Dataset) -> xr.Dataset:
    from zarr.codecs import ZstdCodec

    ds = ds.copy(deep=False)  # the caller's variables keep their encoding
    for var in ds.variables.values():
        var.encoding["compressors"] = (ZstdCodec(level=0, checksum=True),)
        var.encoding.pop("compressor", None)
    return ds


def write_store(ds: xr.Dataset, path, stream=None, overwrite: bool = False, log=None,
                consolidated: bool = False) -> Path:
    """Write ``ds`` to the zarr store ``path`` atomically and verifiably.

    The store is written beside its target under a temporary name owned by its writer
    (``.<name>.tmp-<host>-<pid>-<random>``, :mod:`massengine.atomic`), with every chunk
    present (also those holding only the fill value) and checksummed by its codec, gets a
    manifest of all its files (sizes and CRC-32, :mod:`massengine.integrity`), is flushed to
    the disk and only then renamed into place, so a killed job never leaves a store that
    looks finished. Leftovers of writers that are gone (same host, dead pid) are removed;
    those of live writers are not touched. A failure (full or read-only disk) removes the
    partial copy and names the path. A symbolic link at ``path`` stays: the store it points
    to is written.

    ``path`` must not exist, be an empty directory, or (with ``overwrite=True``) be a
    massengine store holding only its own files, which is then replaced (and ``log`` says
    so): nothing massengine did not write is ever deleted (:class:`StoreError`).

    With ``stream``, ``ds`` is a template whose lazy (dask) variables are not computed: only
    its layout, coordinates and attributes are written, then each ``(region, piece)`` of the
    iterable ``stream`` is written into its region as it comes (a long run's segments).

    ``consolidated=True`` adds consolidated metadata (all of the store's metadata in its
    root ``zarr.json``), so a remote reader opens it with one request: for the metric and
    summary stores, which are read from elsewhere.
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    check_target(target, overwrite)
    tmp = atomic.temp_path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_copies(target)
        _checksummed(ds).to_zarr(tmp, mode="w", consolidated=False, compute=stream is None,
                                 write_empty_chunks=True)
        for region, piece in stream or ():
            piece.to_zarr(tmp, region=region, consolidated=False, write_empty_chunks=True)
        if consolidated:
            _consolidate(tmp)
        write_manifest(tmp, sync=True, format=integrity.FORMAT)  # every chunk, each checksummed
        _fault_injection(path)
        _move_into_place(tmp, target, overwrite, log)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError) and not isinstance(err, StoreError):
            raise atomic.failure(target, err, "store") from err
        raise
    return path


def _consolidate(path: Path) -> None:
    import zarr

    with warnings.catch_warnings():
        # zarr 3 says consolidated metadata is not (yet) in the v3 spec; xarray and zarr-python
        # read it, and readers that do not just see the ordinary metadata.
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(str(path))


def _move_into_place(tmp: Path, path: Path, overwrite: bool, log) -> None:
    """Rename ``tmp`` to ``path``; an existing store there (checked again: it may have
    appeared meanwhile) is first renamed aside, then deleted, so no moment has neither."""
    if not path.exists():
        os.replace(tmp, path)
        atomic.fsync_path(path.parent)
        return
    check_target(path, overwrite)
    if _is_empty_dir(path):
        shutil.rmtree(path)
        os.replace(tmp, path)
        atomic.fsync_path(path.parent)
        return
    old = atomic.temp_path(path, "old")
    os.replace(path, old)
    os.replace(tmp, path)
    atomic.fsync_path(path.parent)
    if foreign_files(old):  # a file was put into the old store meanwhile: kept, not deleted
        warnings.warn(f"the replaced store {str(path)!r} held files massengine did not write; it is kept as "
                      f"{str(old)!r}: move out what you need, then delete it.", UserWarning, stacklevel=3)
    else:
        shutil.rmtree(old, ignore_errors=True)
    message = f"replaced the existing store {str(path)!r} (overwrite=True)"
    if log is not None:
        log(message)
    else:
        warnings.warn(message, UserWarning, stacklevel=3)


def _fault_injection(path: Path) -> None:
    """Tests break a job in the middle of a write: ``MASSENGINE_TEST_FAULT="<store name>:pause:
    <seconds>"`` holds that store's writer just before the rename (to kill it there), and
    ``"<store name>:crash"`` fails it there, as a disk error would; several store names may
    be given, separated by commas."""
    spec = os.environ.get("MASSENGINE_TEST_FAULT")
    if not spec:
        return
    name, action, *arg = spec.split(":")
    if path.name not in name.split(","):
        return
    if action == "pause":
        time.sleep(float(arg[0]))
    elif action == "crash":
        raise OSError(f"fault injected by MASSENGINE_TEST_FAULT={spec}")


def _check_is_store(path: Path) -> None:
    if not path.exists():
        raise StoreError(f"{str(path)!r} does not exist; give the path of a store massengine wrote "
                         "(e.g. <output_dir>/simulations/<coupling>/<chunk>.zarr).")
    if not _is_store(path):
        raise StoreError(f"{str(path)!r} is not a zarr store (no zarr.json in it); give the path of a store "
                         "massengine wrote (e.g. <output_dir>/simulations/<coupling>/<chunk>.zarr).")


def open_store(path, verify="metadata") -> xr.Dataset:
    """Open a store written by :func:`write_store` (lazily, dask-backed), after checking it
    against its manifest (:func:`check_store`): by default every file there with its size,
    nothing else there, the metadata's checksums; the chunks' own checksums are checked by
    their codec as they are read (a flipped byte raises instead of being read as data).
    ``verify=True`` also reads every chunk's CRC-32 now; ``verify=False`` checks nothing (a
    store without a manifest: one not written by massengine, or by a version older than
    manifests). A store that fails, or whose metadata cannot be read, raises
    :class:`StoreError` naming it and how to regenerate it."""
    path = Path(path)
    _check_is_store(path)
    if verify is not False:
        check_store(path, "all" if verify is True else verify)
    if not (path / "zarr.json").exists() and not (path / ".zgroup").exists():
        raise StoreError(f"{str(path)!r} is not a complete massengine store (no zarr metadata). "
                         + _regenerate_hint(path))
    try:
        with warnings.catch_warnings():
            # Snakemake leaves a timestamp file inside directory outputs; zarr need not mind it.
            warnings.filterwarnings("ignore", message=r"Object at \.snakemake_timestamp")
            warnings.filterwarnings("ignore", message=rf"Object at {MANIFEST}")
            return xr.open_zarr(path, consolidated=False)
    except (ValueError, KeyError, OSError) as err:  # JSONDecodeError is a ValueError
        raise StoreError(f"store {str(path)!r} cannot be read ({type(err).__name__}: {err}); its "
                         "metadata is truncated or corrupt. " + _regenerate_hint(path)) from err


def provenance_text(path) -> str:
    """Human-readable provenance of a store: what produced it, with which settings, and
    whether it verifies against its manifest (:func:`verify_store`)."""
    path = Path(path)
    _check_is_store(path)
    problems = verify_store(path)
    attrs = open_store(path, verify=False).attrs
    integrity = "ok (every file matches the manifest)" if not problems else "FAILED: " + " ".join(problems)
    lines = [f"store: {path}", f"integrity: {integrity}"]
    for key in sorted(attrs):
        value = attrs[key]
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = json.dumps(json.loads(value), indent=2, sort_keys=True)
            except ValueError:
                pass
        lines.append(f"{key}: {value}")
    return "\n".join(lines)


# What every chunk of one campaign shares: stores differing in any of these (another
# campaign's, an older config's) cannot be joined into one dataset.
SHARED_ATTRS = ("duration_ms", "dt_ms", "transient_ms", "sample_every_steps", "integrator", "precision",
                "delay_rounding", "delay_history", "noise_sigma", "monitor", "divergence_bound", "tr_ms",
                "bold_signal", "bold_params", "node_model", "node_params", "grid_axes")


def _mismatch(ds: xr.Dataset, first: xr.Dataset) -> str | None:
    """What ``ds`` has that differs from ``first`` (settings, time axis, regions, seeds,
    grid-axis values), or ``None``."""
    for key in SHARED_ATTRS:
        if ds.attrs.get(key) != first.attrs.get(key):
            return f"attribute {key!r} ({ds.attrs.get(key)!r} vs {first.attrs.get(key)!r})"
    for name in first.coords:
        if name in ("k", "coupling") or first[name].ndim != 1:
            continue
        if name not in ds.coords or not np.array_equal(ds[name].values, first[name].values):
            return f"coordinate {name!r}"
    return None


def combine_chunks(datasets, names=None) -> xr.Dataset:
    """Datasets of chunks (each one coupling, as a length-1 ``coupling`` dim, and some k
    values) as one ``(coupling, k, ...)`` dataset: each coupling's chunks joined along ``k``
    in k order (chunks of a refined or extended grid interleave), couplings padded with NaN
    where one has a k another has not. Chunks differing in their settings
    (:data:`SHARED_ATTRS`), time axis, regions, seeds or grid axes are refused (``names``,
    one per dataset, name them in the message)."""
    datasets = list(datasets)
    names = list(names) if names is not None else [f"dataset {i}" for i in range(len(datasets))]
    for ds, name in zip(datasets[1:], names[1:], strict=True):
        what = _mismatch(ds, datasets[0])
        if what:
            raise ValueError(f"{name} and {names[0]} differ in {what}: they are not chunks of one campaign "
                             "and cannot be combined. Open each campaign's stores separately.")
    by_coupling: dict[str, list] = {}
    for ds in datasets:
        by_coupling.setdefault(str(ds["coupling"].values[0]), []).append(ds)
    for coupling, parts in by_coupling.items():
        ks = np.concatenate([np.atleast_1d(ds["k"].values) for ds in parts])
        values, counts = np.unique(ks, return_counts=True)
        twice = values[counts > 1]
        if twice.size:
            raise ValueError(f"coupling {coupling!r}: k = {twice.tolist()} in more than one chunk: stores of two "
                             "grids are mixed (a campaign keeps its earlier grid's stores for reuse). Open a "
                             "finished campaign (its summary.zarr lists its own stores) or pass only one grid's.")
    joined = [xr.concat(parts, dim="k", data_vars="all", coords="different", compat="equals",
                        combine_attrs="drop_conflicts", join="outer").sortby("k")
              for parts in by_coupling.values()]
    if len(joined) == 1:
        return joined[0]
    return xr.concat(joined, dim="coupling", data_vars="all", coords="different", compat="equals",
                     combine_attrs="drop_conflicts", join="outer")


def open_campaign(output_dir) -> xr.Dataset:
    """Every trajectory store of a campaign (``<output_dir>/simulations/<coupling>/<chunk>.zarr``)
    as one lazy dataset ``(coupling, k, [grid axes,] seed, time, region)``.

    The stores are those the campaign's summary lists (``summary.zarr``): stores of an
    earlier grid, kept so that a changed campaign can reuse them, are left out. Without a
    summary (a campaign that has not finished) every store found is read. Chunks of one
    coupling are joined along ``k``; couplings whose k grids differ are padded with NaN where
    a (coupling, k) was not run.
    """
    root = Path(output_dir)
    summary = root / "summary.zarr"
    listed = None
    if (summary / "zarr.json").is_file():
        listed = json.loads((summary / "zarr.json").read_text()).get("attributes", {}).get("simulation_stores")
    if listed is not None:
        paths = [root / rel for rel in json.loads(listed)]
    else:  # no summary yet, or one older than the list
        paths = sorted((root / "simulations").glob("*/*.zarr"))
    if not paths:
        raise ValueError(f"no trajectory stores under {str(root / 'simulations')!r} (simulations/<coupling>/"
                         "<chunk>.zarr); run the campaign first, or check output_dir.")
    stores = [open_store(p).expand_dims("coupling") for p in paths]  # each one verified
    ds = combine_chunks(stores, names=[str(p) for p in paths])
    ds = ds.transpose("coupling", "k", ..., "seed", "time", "region", missing_dims="ignore")
    return describe(ds, f"campaign {Path(output_dir).name}: all trajectories",
                    _call("open_campaign", output_dir=str(output_dir)))
