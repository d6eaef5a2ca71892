"""The boundary to labelled data: the only module that builds xarray objects (and, with the
workflow, zarr stores). Numeric kernels stay label-agnostic; names, units, coordinates and
provenance are attached here.
"""

from __future__ import annotations

import json
from importlib import metadata

import jax
import numpy as np
import xarray as xr


def version() -> str:
    try:
        return metadata.version("massengine")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


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
    device = jax.devices()[0]
    return {
        "massengine_version": version(),
        "jax_version": jax.__version__,
        "jax_backend": jax.default_backend(),
        "jax_device": f"{device.platform}:{device.device_kind}",
    }


def _variables(data, record, dims, model) -> dict:
    """One data variable per recorded signal; ``data`` has the record axis at -2."""
    units = dict(model.units)
    return {
        name: xr.Variable(dims, np.take(data, i, axis=-2),
                          {"units": units.get(name, "a.u."), "long_name": name})
        for i, name in enumerate(record)
    }


def _divergence_time(steps, dt):
    steps = np.asarray(steps)
    return np.where(steps >= 0, steps * dt, np.nan)


def run_dataset(net, settings, data, divergence_step: int, seed: int) -> xr.Dataset:
    """Dataset (time, region) of one run, with ``diverged``/``divergence_time`` scalars."""
    ds = xr.Dataset(
        _variables(data, settings.record, ("time", "region"), net.node),
        coords={"time": ("time", settings.times, {"units": "ms"}),
                "region": ("region", np.array(net.labels, dtype=object))},
    )
    ds["diverged"] = xr.Variable((), divergence_step >= 0)
    ds["divergence_time"] = xr.Variable((), _divergence_time(divergence_step, settings.dt),
                                        {"units": "ms"})
    ds.attrs.update({**provenance(), **network_attrs(net), **settings.as_attrs(), "seed": seed})
    return ds


def sweep_dataset(results, ks, seeds, settings) -> xr.Dataset:
    """Dataset (coupling, k, [seed,] time, region) from ``[(name, net, data, div), ...]``,
    ``data`` (K, S, n_samples, n_record, N) and ``div`` (K, S) per coupling."""
    names = [name for name, *_ in results]
    data = np.stack([r[2] for r in results])
    div = np.stack([r[3] for r in results])
    if seeds is None:
        data, div = data[:, :, 0], div[:, :, 0]
    run_dims = ("coupling", "k") + (("seed",) if seeds is not None else ())
    net = results[0][1]
    ds = xr.Dataset(
        _variables(data, settings.record, run_dims + ("time", "region"), net.node),
        coords={
            "coupling": ("coupling", np.array(names, dtype=object)),
            "k": ("k", ks),
            "time": ("time", settings.times, {"units": "ms"}),
            "region": ("region", np.array(net.labels, dtype=object)),
        },
    )
    if seeds is not None:
        ds = ds.assign_coords(seed=("seed", np.asarray(seeds, dtype=np.int64)))
    ds["diverged"] = xr.Variable(run_dims, div >= 0)
    ds["divergence_time"] = xr.Variable(run_dims, _divergence_time(div, settings.dt),
                                        {"units": "ms"})
    ds.attrs.update({**provenance(), **settings.as_attrs()})
    ds.attrs["node_model"] = net.node.name
    ds.attrs["node_params"] = network_attrs(net)["node_params"]
    ds.attrs["coupling_terms"] = json.dumps(
        {name: json.loads(network_attrs(variant)["coupling_terms"]) for name, variant, *_ in results}
    )
    return ds
