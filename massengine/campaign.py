"""The four stages of a sweep campaign as plain functions: simulate one (coupling, k chunk),
measure one store, aggregate all, report. The Snakemake scripts are thin wrappers around
these, and the tests call them directly. Stages report through the ``massengine.campaign``
logger; :func:`run_logged` gives a job its log file.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from . import config as cfg
from . import io
from .datasets import read_matrix
from .simulate import sweep_to_store

logger = logging.getLogger(__name__)


def run_logged(log_path, stage, *args, **kwargs):
    """Run ``stage(*args, **kwargs)`` as one job, its log in ``log_path``: massengine's
    messages (logger ``"massengine"``, INFO and up), other libraries' warnings and log
    records, Python warnings, and any traceback. The exception still propagates, so
    Snakemake reports the failure (and names the log)."""
    handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    root, package = logging.getLogger(), logging.getLogger("massengine")
    saved_level = package.level
    root.addHandler(handler)
    package.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings():  # restores warnings.showwarning afterwards
            warnings.showwarning = _log_warning
            return stage(*args, **kwargs)
    except BaseException:
        logger.error("%s failed", getattr(stage, "__name__", "stage"), exc_info=True)
        raise
    finally:
        package.setLevel(saved_level)
        root.removeHandler(handler)
        handler.close()


def _log_warning(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` for a job: the warning goes to the log, as
    ``logging.captureWarnings`` would send it (logger ``"py.warnings"``)."""
    text = warnings.formatwarning(message, category, filename, lineno, line).rstrip()
    logging.getLogger("py.warnings").warning("%s", text)


def enable_compilation_cache(directory) -> None:
    """Share compiled programs between jobs: every job after the first with the same shapes
    loads its program from disk instead of recompiling it."""
    import jax

    Path(directory).mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def select_device() -> str:
    """The device JAX will run on. An accelerator that cannot be initialised (absent, or its
    driver failing) never fails a job: JAX is switched to the CPU and the log says so."""
    import jax
    import jax.extend.backend

    try:
        device = jax.devices()[0]
    except Exception as err:  # RuntimeError or AssertionError, depending on how the backend failed
        logger.warning("accelerator unavailable (%s: %s); falling back to the CPU", type(err).__name__, err)
        # Public API only: name the platform, then drop whatever the failed start left behind.
        jax.config.update("jax_platforms", "cpu")
        jax.extend.backend.clear_backends()
        device = jax.devices()[0]
    return f"{device.platform}:{device.device_kind}"


def _falling_back_to_cpu(run):
    """``run()``; if the accelerator runs out of memory (busy GPU), run it on the CPU instead."""
    import jax

    try:
        return run()
    except Exception as err:  # jaxlib's XlaRuntimeError (its class is not public API), or our MemoryError
        out_of_memory = isinstance(err, MemoryError) or "RESOURCE_EXHAUSTED" in str(err)
        if not out_of_memory or jax.default_backend() == "cpu":
            raise
        logger.warning("accelerator out of memory (%s); rerunning this chunk on the CPU", str(err)[:200])
        with jax.default_device(jax.devices("cpu")[0]):
            return run()


def provenance_attrs(config: Mapping, stage: str) -> dict:
    """The campaign config (whole: a job may receive only its slice) and its hash."""
    resolved = cfg.jsonable(config)
    return {"config_hash": cfg.config_hash(resolved), "config": json.dumps(resolved, sort_keys=True),
            "stage": stage}


def simulate_chunk(config: Mapping, coupling: str, ks: Sequence[float], out,
                   campaign_config: Mapping | None = None) -> Path:
    """Run every (k, seed) of one chunk of one coupling in one vmapped call, streaming its
    store to ``out``. ``config`` may be the job's slice (:func:`massengine.config.stage_config`);
    ``campaign_config`` (default: ``config``) is what the store's provenance records."""
    start = time.perf_counter()
    logger.info("device: %s", select_device())
    net = cfg.network(config, coupling)
    kwargs = cfg.sweep_kwargs(config)
    kwargs["chunk_samples"] = config["simulation"].get("chunk_samples")
    logger.info("simulate %s: %d k x %d seeds, N = %d, %s ms at dt %s ms", coupling, len(ks),
                len(kwargs["seeds"]), net.n_regions, kwargs["duration"], kwargs["dt"])
    # Streamed: each time segment reaches the store as it is computed (memory holds one).
    attrs = provenance_attrs(campaign_config or config, "simulate")
    # overwrite: the job owns its output (Snakemake removes it before a rerun anyway); a
    # directory there that is not a store is still never deleted.
    _falling_back_to_cpu(lambda: sweep_to_store(net, np.asarray(ks, dtype=float), out, attrs=attrs,
                                                overwrite=True, log=logger.info, **kwargs))
    elapsed = time.perf_counter() - start
    n_div = int(io.open_store(out)["diverged"].sum())
    runs = len(ks) * len(kwargs["seeds"])
    steps = int(round(kwargs["duration"] / kwargs["dt"]))
    logger.info("wrote %s in %.1f s; %d diverged run(s); %.3g region-steps/s (%d runs x %d steps x %d "
                "regions, start-up and compilation included)", out, elapsed, n_div,
                runs * steps * net.n_regions / elapsed, runs, steps, net.n_regions)
    return Path(out)


def metrics_chunk(config: Mapping, store_path, out, threads: int = 1,
                  campaign_config: Mapping | None = None) -> Path:
    """Every metric of one trajectory store, computed by dask (one task per run)."""
    from . import metrics  # imported by the stages that use it: scipy costs every job ~0.7 s

    start = time.perf_counter()
    mconf = config["metrics"]
    traj = io.open_store(store_path, verify=True)  # a missing chunk would read as NaN
    variable = mconf.get("variable") or next(v for v in traj.data_vars if traj[v].dims[-2:] == ("time", "region"))
    if variable not in traj:
        cfg._fail("metrics.variable", f"{variable!r} was not recorded; recorded: {', '.join(traj.data_vars)}.")
    conn = cfg.load_connectome(config)
    target = mconf.get("target_fc")
    target_fc = None if not target else read_matrix(target, "metrics.target_fc")
    lazy = metrics.compute(traj, variable, conn.weights, mconf["fcd_window"], mconf["fcd_step"],
                           mconf.get("band"), target_fc)
    lazy = lazy.expand_dims(coupling=[str(traj["coupling"].values)])
    if mconf.get("dask_scheduler"):
        from distributed import Client  # optional: only for a running dask cluster

        with Client(mconf["dask_scheduler"]):
            result = lazy.compute()
    else:
        result = lazy.compute(scheduler="threads", num_workers=threads)
    result.attrs.update({**traj.attrs, **result.attrs, "stage": "metrics"})
    if campaign_config is not None:  # the config now, not the simulation's (metrics may be newer)
        result.attrs.update(provenance_attrs(campaign_config, "metrics"))
    io.write_store(io.label_coords(result), out, consolidated=True, overwrite=True, log=logger.info)
    logger.info("metrics of %s (%s) in %.1f s", store_path, variable, time.perf_counter() - start)
    return Path(out)


def aggregate(metric_stores: Sequence, out_zarr, out_csv) -> xr.Dataset:
    """Combine every metric store into one summary store and a tidy CSV (one row per
    coupling × k × seed), streaming through dask rather than loading all at once."""
    from . import metrics

    datasets = [io.open_store(p, verify=True) for p in metric_stores]
    summary = xr.combine_by_coords(datasets, combine_attrs="drop_conflicts", data_vars="all",
                                   coords="different", join="outer", compat="no_conflicts")
    summary = summary.transpose("coupling", "k", "seed", ...)
    summary.attrs["stage"] = "aggregate"
    io.describe(summary, "campaign summary: metrics of every run", f"campaign.aggregate({len(datasets)} metric stores)")
    io.write_store(summary.chunk({"k": -1}), out_zarr, consolidated=True, overwrite=True, log=logger.info)
    table = summary[list(metrics.SCALARS) + ["diverged", "divergence_time"]].to_dataframe().reset_index()
    table = table[["coupling", "k", "seed", *metrics.SCALARS, "diverged", "divergence_time"]]
    tmp = Path(out_csv).with_name(f".{Path(out_csv).name}.partial")
    table.to_csv(tmp, index=False, float_format="%.6g")
    os.replace(tmp, out_csv)
    logger.info("aggregated %d stores: %d runs -> %s, %s", len(datasets), len(table), out_zarr, out_csv)
    return summary


def make_report(config: Mapping, summary_path, stores: Mapping[str, Sequence[str]], out) -> Path:
    """The HTML comparison report; each coupling's example time series is its run at the k
    that best matches the target FC (or SC)."""
    from . import report  # matplotlib: only the report job pays for it

    summary = io.open_store(summary_path)
    conn = cfg.load_connectome(config)
    variable = config["metrics"].get("variable") or summary.attrs.get("metrics_variable")
    _, best = report.best_match(summary.load())
    examples = {}
    for coupling, paths in stores.items():
        k_best = best[coupling][0]
        for path in paths:
            traj = io.open_store(path)
            ks = traj["k"].values
            if (np.isnan(k_best) and path == paths[0]) or np.any(np.isclose(ks, k_best)):
                var = variable if variable in traj else next(iter(traj.data_vars))
                index = 0 if np.isnan(k_best) else int(np.argmin(np.abs(ks - k_best)))
                examples[coupling] = traj[var].isel(k=index, seed=0).load()
                break
    resolved = cfg.jsonable(config)
    prov = {"config_hash": cfg.config_hash(resolved), "massengine": io.version(),
            "node": config["node"]["model"], "connectome": conn.name, "regions": conn.n_regions}
    path = report.build(summary, conn.weights, conn.labels, examples, out, title=config["report"]["title"],
                        fc_at_k=config["report"].get("fc_at_k"), provenance=prov)
    logger.info("report -> %s", path)
    return path
