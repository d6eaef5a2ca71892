"""The boundary to labelled data: the only module that builds xarray objects (and, with the
workflow, zarr stores). Numeric kernels stay label-agnostic; names, units, coordinates and
provenance are attached here.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import secrets
import shutil
import socket
import time
import warnings
import zlib
from pathlib import Path

import jax
import numpy as np
import xarray as xr


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


MANIFEST = "massengine-manifest.json"  # written last into a store, before its atomic rename
_IGNORED = (".snakemake",)  # Snakemake's timestamp file inside directory outputs


class StoreError(ValueError):
    """A store that is missing, incomplete or corrupt; the message names it and the fix."""


def _regenerate_hint(path: Path) -> str:
    return (f"Move it aside or delete it and rerun snakemake (a campaign's snakemake run moves a "
            f"store that fails verification aside to {path.name}.corrupt-<time> and redoes it), or "
            f"rewrite it with sweep_to_store(..., overwrite=True).")


def _files(root: Path):
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root).as_posix()
        if f.is_file() and rel != MANIFEST and not rel.startswith(_IGNORED):
            yield rel, f


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            crc = zlib.crc32(block, crc)
    return crc


def write_manifest(root) -> Path:
    """Record every file of the store ``root`` (size and CRC-32) in its manifest."""
    root = Path(root)
    files = {rel: {"size": f.stat().st_size, "crc32": _crc32(f)} for rel, f in _files(root)}
    manifest = {"format": 1, "massengine_version": version(), "files": files}
    target = root / MANIFEST
    target.write_text(json.dumps(manifest, indent=0, sort_keys=True))
    return target


def verify_store(path, checksums: bool = True) -> list[str]:
    """Problems of the store ``path`` (empty when it is complete and intact).

    Every file listed in the store's manifest must exist with its size and (``checksums``)
    its CRC-32: a deleted chunk, a truncated or edited ``zarr.json`` or a store written
    before manifests existed is reported, one line each, naming the store."""
    path = Path(path)
    name = str(path)
    if not path.is_dir():
        return [f"{name}: not a directory (no store here)."]
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files = manifest["files"]
    except FileNotFoundError:
        return [f"{name}: no {MANIFEST} (incomplete, not written by massengine, or written by a "
                f"massengine older than manifests): cannot be verified."]
    except (ValueError, KeyError, TypeError):
        return [f"{name}: {MANIFEST} is corrupt."]
    problems = []
    for rel, expected in files.items():
        f = path / rel
        if not f.is_file():
            problems.append(f"{name}: missing file {rel}.")
        elif f.stat().st_size != expected["size"]:
            problems.append(f"{name}: {rel} has {f.stat().st_size} bytes, expected {expected['size']} "
                            "(truncated or overwritten).")
        elif checksums and _crc32(f) != expected["crc32"]:
            problems.append(f"{name}: {rel} is corrupt (checksum mismatch).")
    return problems


def check_store(path, checksums: bool = True) -> None:
    """Raise :class:`StoreError` (naming the store and how to regenerate it) unless the store
    ``path`` verifies."""
    problems = verify_store(path, checksums)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise StoreError(f"store {str(path)!r} is incomplete or corrupt: " + " ".join(problems[:3])
                         + more + " " + _regenerate_hint(Path(path)))


def find_stores(root) -> list[Path]:
    """Every store under ``root`` (``root`` itself if it is one): directories holding a
    ``zarr.json`` or a manifest at their top, skipping temporary and set-aside copies."""
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
    return path.is_dir() and not any(f for f in path.iterdir() if not f.name.startswith(_IGNORED))


def check_target(path, overwrite: bool = False) -> None:
    """Refuse, before any work, to write a store over something it may not replace: a file or
    a directory that is not a massengine store (never deleted), or an existing store unless
    ``overwrite``."""
    path = Path(path)
    if not path.exists() or _is_empty_dir(path):
        return
    if not _is_store(path):
        raise StoreError(f"{str(path)!r} exists and is not a massengine store; refusing to delete it. "
                         "Choose another path, or move it away yourself.")
    if not overwrite:
        raise StoreError(f"store {str(path)!r} already exists; pass overwrite=True to replace it, or "
                         "choose another path.")


def _owner_tag() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _stale(leftover: Path, base: str) -> bool:
    """A temporary copy of a writer that is gone: named ``.<store>.<kind>-<host>-<pid>-<rand>``
    by :func:`write_store` (``.<store>.partial-<pid>`` by older versions), with that host being
    this one and that pid dead. Another live writer's copy (or another host's) is left alone."""
    kind, _, owner = leftover.name[len(base):].partition("-")
    host = socket.gethostname()
    if kind in ("tmp", "old") and owner.startswith(host + "-"):
        pid = owner[len(host) + 1:].split("-")[0]
    elif kind == "partial":  # older naming: .<store>.partial-<pid>
        pid = owner
    else:
        return False
    return pid.isdigit() and not pid_alive(int(pid))


# A temporary copy written on another host (a cluster job) counts as abandoned once nothing
# in it changed for this long: a job of the previous run may still be streaming into it after
# its Snakemake was killed (it writes every segment), and must not lose its work.
FOREIGN_IDLE_S = 3600.0


def _idle_for(path: Path) -> float:
    newest = max((f.stat().st_mtime for f in path.rglob("*")), default=path.stat().st_mtime)
    return time.time() - max(newest, path.stat().st_mtime)


def remove_leftovers(root, other_hosts: bool = False) -> list[Path]:
    """Remove the temporary copies (``.<store>.tmp-...``, ``.old-...``, ``.partial-...``) under
    ``root`` whose writer is gone (this host, dead pid) — and, with ``other_hosts``, those of
    other hosts too once untouched for :data:`FOREIGN_IDLE_S` (a job of a killed run on a
    cluster node may still be writing: its pid cannot be checked from here). Returns what
    was removed."""
    removed = []
    host = socket.gethostname()
    for leftover in sorted(Path(root).rglob(".*.zarr.*")):
        name = leftover.name
        base = name[: name.index(".zarr.") + len(".zarr.")]
        kind, _, owner = name[len(base):].partition("-")
        if not leftover.is_dir() or kind not in ("tmp", "old", "partial"):
            continue
        foreign = kind != "partial" and not owner.startswith(host + "-")
        if _stale(leftover, base) or (other_hosts and foreign and _idle_for(leftover) > FOREIGN_IDLE_S):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


def write_store(ds: xr.Dataset, path, stream=None, overwrite: bool = False, log=None,
                consolidated: bool = False) -> Path:
    """Write ``ds`` to the zarr store ``path`` atomically and verifiably.

    The store is written beside its target under a temporary name owned by its writer
    (``.<name>.tmp-<host>-<pid>-<random>``), gets a manifest of its files (sizes and CRC-32,
    see :func:`verify_store`) and is renamed into place only when complete, so a killed job
    never leaves a store that looks finished. Leftovers of writers that are gone (same host,
    dead pid) are removed; those of live writers are not touched. A failure (full or
    read-only disk) removes the partial copy and names the path.

    ``path`` must not exist, be an empty directory, or (with ``overwrite=True``) be a
    massengine store, which is then replaced (and ``log`` says so): a directory that is not a
    store is never deleted (:class:`StoreError`).

    With ``stream``, ``ds`` is a template whose lazy (dask) variables are not computed: only
    its layout, coordinates and attributes are written, then each ``(region, piece)`` of the
    iterable ``stream`` is written into its region as it comes (a long run's segments).

    ``consolidated=True`` adds consolidated metadata (all of the store's metadata in its
    root ``zarr.json``), so a remote reader opens it with one request: for the metric and
    summary stores, which are read from elsewhere.
    """
    path = Path(path)
    check_target(path, overwrite)
    base = f".{path.name}."
    tmp = path.with_name(f"{base}tmp-{_owner_tag()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in path.parent.glob(f"{glob.escape(base)}*"):
            if _stale(leftover, base):
                shutil.rmtree(leftover, ignore_errors=True)
        ds.to_zarr(tmp, mode="w", consolidated=False, compute=stream is None)
        for region, piece in stream or ():
            piece.to_zarr(tmp, region=region, consolidated=False)
        if consolidated:
            _consolidate(tmp)
        write_manifest(tmp)
        _fault_injection(path)
        _move_into_place(tmp, path, overwrite, log)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):
            raise OSError(f"cannot write store {str(path)!r}: {err.strerror or err}. Check that the "
                          "output directory is writable and has free space.") from err
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
        return
    check_target(path, overwrite)
    if _is_empty_dir(path):
        shutil.rmtree(path)
        os.replace(tmp, path)
        return
    old = path.with_name(f".{path.name}.old-{_owner_tag()}")
    os.replace(path, old)
    os.replace(tmp, path)
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


def open_store(path, verify: bool = False) -> xr.Dataset:
    """Open a store written by :func:`write_store` (lazily, dask-backed). With ``verify``,
    first check it against its manifest (:func:`check_store`). A store whose metadata cannot
    be read raises :class:`StoreError` naming it and how to regenerate it."""
    path = Path(path)
    if verify:
        check_store(path)
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
    problems = verify_store(path)
    attrs = open_store(path).attrs
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


def combine_chunks(datasets) -> xr.Dataset:
    """Datasets of chunks (each one coupling, as a length-1 ``coupling`` dim, and some k
    values) as one ``(coupling, k, ...)`` dataset: each coupling's chunks joined along ``k``
    in k order (chunks of a refined or extended grid interleave), couplings padded with NaN
    where one has a k another has not."""
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
    stores = [open_store(p).expand_dims("coupling") for p in paths]
    ds = combine_chunks(stores).transpose("coupling", "k", ..., "seed", "time", "region", missing_dims="ignore")
    return describe(ds, f"campaign {Path(output_dir).name}: all trajectories",
                    _call("open_campaign", output_dir=str(output_dir)))
