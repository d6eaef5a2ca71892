"""The four stages of a sweep campaign as plain functions: simulate one (coupling, k chunk),
measure one store, aggregate all, report. The Snakemake scripts are thin wrappers around
these, and the tests call them directly. Stages report through the ``massengine.campaign``
logger; :func:`run_logged` gives a job its log file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from . import config as cfg
from . import gpus, integrity, io
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
    # Jobs share Snakemake's terminal: their progress goes to the log, never as a bar there.
    os.environ["MASSENGINE_PROGRESS"] = "0"
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
                   campaign_config: Mapping | None = None, chunk_key: str | None = None) -> Path:
    """Run every (k, grid point, seed) of one chunk of one coupling in one vmapped call,
    streaming its store to ``out``. ``config`` may be the job's slice
    (:func:`massengine.config.stage_config`); ``campaign_config`` (default: ``config``) is
    what the store's provenance records; ``chunk_key`` (the slice's hash) and the k values
    are recorded too, so that a later plan finds the chunk again (:mod:`massengine.chunks`).
    On a GPU host the job first claims a GPU of its own (:mod:`massengine.gpus`)."""
    with gpus.claimed(logger.info):
        return _simulate_chunk(config, coupling, ks, out, campaign_config, chunk_key)


def _simulate_chunk(config, coupling, ks, out, campaign_config, chunk_key) -> Path:
    start = time.perf_counter()
    logger.info("device: %s", select_device())
    net = cfg.network(config, coupling)
    kwargs = cfg.sweep_kwargs(config)
    kwargs["chunk_samples"] = config["simulation"].get("chunk_samples")
    points = cfg.grid_points(config)
    logger.info("simulate %s: %d k x %d grid point(s) x %d seeds, N = %d, %s ms at dt %s ms", coupling, len(ks),
                points, len(kwargs["seeds"]), net.n_regions, kwargs["duration"], kwargs["dt"])
    # Streamed: each time segment reaches the store as it is computed (memory holds one).
    attrs = provenance_attrs(campaign_config or config, "simulate")
    attrs.update(chunk_key=chunk_key or "none", chunk_k=json.dumps([float(k) for k in ks]))
    # overwrite: the job owns its output (Snakemake removes it before a rerun anyway); a
    # directory there that is not a store is still never deleted.
    _falling_back_to_cpu(lambda: sweep_to_store(net, np.asarray(ks, dtype=float), out, attrs=attrs,
                                                overwrite=True, log=logger.info, **kwargs))
    elapsed = time.perf_counter() - start
    n_div = int(io.open_store(out)["diverged"].sum())
    runs = len(ks) * len(kwargs["seeds"]) * points
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
    target = cfg.empirical_target(config, conn.n_regions)
    if target is not None:
        result = result.merge(fit_scores(traj[variable], target).expand_dims(coupling=result["coupling"].values))
    result.attrs.update({**traj.attrs, **result.attrs, "stage": "metrics"})
    if campaign_config is not None:  # the config now, not the simulation's (metrics may be newer)
        result.attrs.update(provenance_attrs(campaign_config, "metrics"))
    io.write_store(io.label_coords(result), out, consolidated=True, overwrite=True, log=logger.info)
    logger.info("metrics of %s (%s) in %.1f s", store_path, variable, time.perf_counter() - start)
    return Path(out)


# The goodness-of-fit scores of every run (fit.goodness_of_fit), per subject and group.
FIT_SCORES = ("fc_corr", "fc_rmse", "fcd_ks")


def fit_scores(signal: xr.DataArray, target) -> xr.Dataset:
    """:func:`massengine.fit.goodness_of_fit` of every ``(k, seed)`` run of ``signal``
    against ``target``: ``fit_<score>`` ``(k, seed, subject)`` and ``fit_<score>_group``
    ``(k, seed)``. A diverged run, or one with a constant region, scores NaN."""
    from . import fit

    run_dims = [d for d in signal.dims if d not in ("time", "region")]  # k, [grid axes], seed
    signal = signal.transpose(*run_dims, "time", "region")
    shape = tuple(signal.sizes[d] for d in run_dims)
    names = [n for n in FIT_SCORES if n != "fcd_ks" or target.fcd is not None]
    per_subject = {n: np.full(shape + (target.n_subjects,), np.nan) for n in names}
    group = {n: np.full(shape, np.nan) for n in names}
    for i in range(signal.sizes["k"]):
        block = signal.isel(k=i).load()
        for rest in np.ndindex(*shape[1:]):
            run = block[rest]
            run = run.drop_vars([c for c in run.coords if c not in ("time", "region")])
            try:
                scores = fit.goodness_of_fit(run, target)
            except ValueError as err:  # diverged, or flat: no defined FC
                logger.info("k = %g, run %s: no fit score (%s)", float(signal["k"].values[i]),
                            rest, str(err).split(";")[0])
                continue
            for n in names:
                per_subject[n][(i, *rest)] = scores[n].values
                group[n][(i, *rest)] = float(scores[f"{n}_group"])
    coords = {d: signal[d].values for d in run_dims} | {"subject": np.arange(target.n_subjects)}
    out = xr.Dataset(coords=coords)
    for n in names:
        out[f"fit_{n}"] = ((*run_dims, "subject"), per_subject[n])
        out[f"fit_{n}_group"] = (tuple(run_dims), group[n])
    docs = {"fc_corr": "FC correlation (upper triangles) with the empirical FC",
            "fc_rmse": "FC RMSE (upper triangle) to the empirical FC",
            "fcd_ks": "KS distance of the FCD values to the empirical FCD's"}
    for n in names:
        out[f"fit_{n}"].attrs["long_name"] = f"{docs[n]}, per subject"
        out[f"fit_{n}_group"].attrs["long_name"] = f"{docs[n]}, against the group"
    return out


def fit_columns(summary: xr.Dataset) -> list[str]:
    """The summary's per-run fit columns: each ``fit_<score>_group`` and the subjects' mean
    ``fit_<score>_subjects`` (added to ``summary`` here)."""
    columns = []
    for n in FIT_SCORES:
        if f"fit_{n}_group" in summary:
            summary[f"fit_{n}_subjects"] = summary[f"fit_{n}"].mean("subject")
            columns += [f"fit_{n}_group", f"fit_{n}_subjects"]
    return columns


def aggregate(metric_stores: Sequence, out_zarr, out_csv, round_files: Sequence = ()) -> xr.Dataset:
    """Combine every metric store into one summary store and a tidy CSV (one row per
    coupling × k × grid point × seed), streaming through dask rather than loading all at
    once. ``round_files`` (the refinement rounds' JSON) give the variable ``round``
    (coupling, k): 0 for the coarse grid, r for a point refinement round r added, NaN where
    a coupling has no run at that k."""
    from . import metrics

    datasets = [io.open_store(p, verify=True) for p in metric_stores]
    summary = io.combine_chunks(datasets)
    axes = grid_dims(summary)
    summary = summary.transpose("coupling", "k", *axes, "seed", ...)
    summary["round"] = refinement_rounds(summary, round_files)
    summary.attrs["stage"] = "aggregate"
    summary.attrs["grid_axes"] = json.dumps(axes)
    # The campaign's trajectory stores (relative to its output directory): open_campaign reads
    # these, not whatever else lies in simulations/ (stores of an earlier grid are kept for reuse).
    summary.attrs["simulation_stores"] = json.dumps(sorted(
        f"simulations/{Path(p).parent.name}/{Path(p).name}" for p in metric_stores))
    io.describe(summary, "campaign summary: metrics of every run", f"campaign.aggregate({len(datasets)} metric stores)")
    io.write_store(summary.chunk({"k": -1}), out_zarr, consolidated=True, overwrite=True, log=logger.info)
    scored = summary.copy()
    fits = fit_columns(scored)
    table = scored[list(metrics.SCALARS) + fits + ["diverged", "divergence_time"]].to_dataframe().reset_index()
    table = table[["coupling", "k", *axes, "seed", *metrics.SCALARS, *fits, "diverged", "divergence_time"]]
    rounds = summary["round"].to_dataframe().reset_index()
    table = table.merge(rounds, on=["coupling", "k"], how="left")
    table = table[table["round"].notna()]  # a coupling's rows at another coupling's refined k: never run
    table["round"] = table["round"].astype(int)
    integrity.write_product(out_csv, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"), "summary table")
    logger.info("aggregated %d stores: %d runs -> %s, %s", len(datasets), len(table), out_zarr, out_csv)
    return summary


# Dims of a summary or a store that are no swept axis.
NOT_AXES = ("coupling", "k", "seed", "time", "region", "region_j", "window", "window_j", "freq", "subject")


def grid_dims(ds: xr.Dataset) -> list[str]:
    """The parameter-grid axes of a campaign output (dims besides k, seed and the metrics')."""
    return [d for d in ds.dims if d not in NOT_AXES]


def refinement_rounds(summary: xr.Dataset, round_files: Sequence) -> xr.DataArray:
    """(coupling, k): the refinement round that added each point (0: the coarse grid; NaN:
    not run for that coupling), from the rounds' JSON files."""
    ran = summary["diverged"].notnull().any([d for d in summary["diverged"].dims if d not in ("coupling", "k")])
    rounds = xr.where(ran, 0.0, np.nan)
    for path in round_files:
        record = json.loads(Path(path).read_text())
        for k in record["new_k"]:
            if k in summary["k"].values:
                rounds.loc[{"coupling": record["coupling"], "k": k}] = float(record["round"])
    rounds.attrs = {"long_name": "refinement round that added the point (0: coarse grid)", "units": "1"}
    return rounds


def refine_round(metric_stores: Sequence, settings: Mapping, out, round_index: int) -> Path:
    """Refinement round ``round_index`` of one coupling: the new k values (JSON ``new_k``)
    where ``settings["metric"]``, averaged over seeds, crosses ``threshold`` or changes
    fastest (:func:`massengine.refine.plan_round`, every grid point's curve), from the
    coupling's metric stores of the earlier rounds."""
    from . import refine

    summary = io.combine_chunks([io.open_store(p, verify=True)[[settings["metric"]]] for p in metric_stores])
    coupling = str(summary["coupling"].values[0])
    metric = summary[settings["metric"]].isel(coupling=0).mean("seed").transpose("k", ...).load()
    new = refine.plan_round(metric["k"].values, metric.values, threshold=settings["threshold"], tol=settings["tol"],
                            max_points=settings["max_points"], mode=settings["mode"])
    new = [float(f"{k:.12g}") for k in new]  # the config's k values are rounded alike (config.axis_values)
    record = {"coupling": coupling, "round": round_index, "metric": settings["metric"], "new_k": new,
              "settings": dict(settings), "known_k": metric["k"].values.tolist()}
    integrity.write_product_text(out, json.dumps(record, indent=1), "refinement round")
    logger.info("refinement round %d of %s: %d new k %s (from %d known)", round_index, coupling, len(new), new,
                metric.sizes["k"])
    return Path(out)


def stores_by_coupling(paths: Sequence) -> dict[str, list[str]]:
    """Trajectory store paths (``simulations/<coupling>/<chunk>.zarr``) grouped by coupling."""
    grouped: dict[str, list[str]] = {}
    for path in paths:
        grouped.setdefault(Path(path).parent.name, []).append(str(path))
    return grouped


def rank_couplings(summary: xr.Dataset) -> list[dict]:
    """The couplings ranked by their fit to the empirical group FC: each coupling's best k
    (highest ``fit_fc_corr_group``, averaged over seeds) and its scores there, best first.
    A coupling whose every run diverged comes last, with NaN scores."""
    rows = []
    for coupling in summary["coupling"].values:
        sel = summary.sel(coupling=coupling)
        corr = sel["fit_fc_corr_group"].mean("seed").values
        row = {"coupling": str(coupling), "best_k": math.nan}
        if np.isfinite(corr).any():
            i = int(np.nanargmax(corr))
            row["best_k"] = float(summary["k"].values[i])
            for n in FIT_SCORES:
                if f"fit_{n}_group" in sel:
                    row[f"{n}_group"] = float(sel[f"fit_{n}_group"].isel(k=i).mean("seed"))
                    row[f"{n}_subjects"] = float(sel[f"fit_{n}"].isel(k=i).mean(["seed", "subject"]))
        rows.append(row)
    rows.sort(key=lambda r: -r["fc_corr_group"] if math.isfinite(r.get("fc_corr_group", math.nan)) else math.inf)
    best = rows[0].get("fc_corr_group", math.nan)
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
        row["fc_corr_behind_best"] = best - row.get("fc_corr_group", math.nan)
    return rows


def bold_fc_of(config: Mapping, net):
    """The differentiable map :func:`massengine.fit.fit_k` needs with ``monitor: bold``: the
    recorded driving signal (every dt step from t = 0) through :func:`massengine.bold` with
    the campaign's TR and constants, the samples the monitor would drop as transient
    dropped, then the Pearson FC. Returns ``(fc_of, variable, n_samples)``."""
    from . import fit
    from .hemodynamics import bold
    from .simulate import resolve_settings

    kw = cfg.sweep_kwargs(config)
    settings = resolve_settings(net, kw["duration"], kw["dt"], kw["transient"], kw["sample_every"],
                                kw["integrator"], kw["precision"], kw["delay_rounding"], kw["history"],
                                kw["noise"], "bold", None, tr=kw.get("tr"), bold_signal=kw.get("bold_signal"),
                                bold_params=kw.get("bold_params"))
    dt, tr, n = settings.dt, settings.tr, settings.n_samples
    params = dict(settings.bold_params)

    def fc_of(signal):
        return fit.jax_fc(bold(signal, dt, tr, **params)[-n:])

    return fc_of, settings.record[0], n


def fit_stage(config: Mapping, summary_path, out) -> Path:
    """Rank the couplings by their fit to the empirical group FC (:func:`rank_couplings`),
    then refine k by gradient descent (:func:`massengine.fit.fit_k`, from the grid's best k)
    for the best ``fit.refine_top``: with ``monitor: bold`` the differentiable FC is that of
    the BOLD signal (:func:`bold_fc_of`), otherwise that of ``metrics.variable``. Writes
    ``out`` (JSON): the ranking, and per refined coupling the start and fitted k, the loss
    curve, the k path, the fitted FC and its scores. On a GPU host the job first claims a
    GPU of its own (:mod:`massengine.gpus`)."""
    with gpus.claimed(logger.info):
        return _fit_stage(config, summary_path, out)


def _fit_stage(config: Mapping, summary_path, out) -> Path:
    from . import fit

    start = time.perf_counter()
    summary = io.open_store(summary_path, verify=True).load()
    fconf, sim = config["fit"], config["simulation"]
    target = cfg.empirical_target(config)
    ranking = rank_couplings(summary)
    ks = np.sort(summary["k"].values)
    spacing = float(np.min(np.diff(ks))) if ks.size > 1 else max(abs(float(ks[0])), 1e-3)
    lr = fconf.get("refine_learning_rate") or spacing / 2
    kw = cfg.sweep_kwargs(config)
    refined = {}
    for row in ranking[: fconf.get("refine_top", 2)]:
        if not math.isfinite(row["best_k"]):
            continue
        net = cfg.network(config, row["coupling"])
        if sim.get("monitor") == "bold":
            fc_of, variable, _ = bold_fc_of(config, net)
            run = dict(duration=kw["duration"], transient=0.0, sample_every=1)
        else:
            fc_of, variable = None, config["metrics"].get("variable")
            run = dict(duration=kw["duration"], transient=kw["transient"], sample_every=kw["sample_every"])
        logger.info("refine %s from k = %g (grid best): %s, lr %g", row["coupling"], row["best_k"],
                    "FC of the BOLD signal" if fc_of else f"FC of {variable}", lr)
        result = fit.fit_k(net, target, row["best_k"], dt=kw["dt"], variable=variable, noise=kw["noise"],
                           seed=int(config["seeds"][0]), integrator=kw["integrator"], precision=kw["precision"],
                           delay_rounding=kw["delay_rounding"], history=kw["history"], fc_of=fc_of,
                           steps=int(fconf.get("refine_steps", 20)), learning_rate=lr,
                           xtol=lr / 100, **run)  # k is ~1e-3: fit's default xtol (relative to 1 + |k|) is too coarse
        logger.info("%s: %r (%.1f s)", row["coupling"], result, result.seconds)
        refined[row["coupling"]] = {
            "k_start": row["best_k"], "k": result.values["k"], "loss": result.loss.tolist(),
            "k_path": result.path["k"].tolist(), "fc_corr_group": result.fc_corr,
            "fc_corr_group_start": 1.0 - float(result.loss[0]) if result.settings["loss"] == "corr" else None,
            "fc_rmse_group": float(fit.fc_rmse(result.fc, target.group_fc)),
            "fc_corr_subjects": float(np.mean(fit.fc_correlation(result.fc, target.fc))),
            "iterations": result.iterations, "converged": result.converged, "message": result.message,
            "seconds": result.seconds, "signal": "bold" if fc_of else variable, "learning_rate": lr,
            "xtol": lr / 100,
            "fc": np.round(result.fc, 6).tolist(),
        }
    payload = {"ranking": ranking, "refined": refined, "subjects": target.n_subjects,
               "metric": "fc_corr_group", **provenance_attrs(config, "fit")}
    integrity.write_product_text(out, json.dumps(payload, indent=1, default=float, allow_nan=True), "fit result")
    logger.info("fit stage: %d couplings ranked, %d refined, %.1f s -> %s", len(ranking), len(refined),
                time.perf_counter() - start, out)
    return Path(out)


def make_report(config: Mapping, summary_path, stores: Mapping[str, Sequence[str]], out, fit_path=None) -> Path:
    """The HTML comparison report; each coupling's example time series is its run at the k
    that best matches the target FC (or SC). With ``fit_path`` (the fit stage's JSON) it
    opens with the fit to the empirical data."""
    from . import report  # matplotlib: only the report job pays for it

    summary = io.open_store(summary_path, verify=True)
    conn = cfg.load_connectome(config)
    variable = config["metrics"].get("variable") or summary.attrs.get("metrics_variable")
    _, best = report.best_match(summary.load())
    examples = {}
    for coupling, paths in stores.items():
        k_best = best[coupling][0]
        for path in paths:
            traj = io.open_store(path, verify=True)
            ks = traj["k"].values
            if (np.isnan(k_best) and path == paths[0]) or np.any(np.isclose(ks, k_best)):
                var = variable if variable in traj else next(iter(traj.data_vars))
                index = 0 if np.isnan(k_best) else int(np.argmin(np.abs(ks - k_best)))
                first = {d: 0 for d in grid_dims(traj)}  # a grid campaign: its first point on each axis
                examples[coupling] = traj[var].isel(k=index, seed=0, **first).load()
                break
    resolved = cfg.jsonable(config)
    prov = {"config_hash": cfg.config_hash(resolved), "massengine": io.version(),
            "node": config["node"]["model"], "connectome": conn.name, "regions": conn.n_regions}
    fit, empirical_fc = None, None
    if fit_path is not None:
        fit = json.loads(Path(fit_path).read_text())
        empirical_fc = cfg.empirical_target(config, conn.n_regions).group_fc
    path = report.build(summary, conn.weights, conn.labels, examples, out, title=config["report"]["title"],
                        fc_at_k=config["report"].get("fc_at_k"), provenance=prov, fit=fit,
                        empirical_fc=empirical_fc)
    logger.info("report -> %s", path)
    return path
