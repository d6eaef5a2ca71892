"""Campaign configuration: semantic checks and the translation into explicit engine arguments.

The workflow validates the config's *shape* with the JSON Schema shipped in the package
(``massengine/schemas/config.schema.yaml``, :func:`schema_path`; ``config/schemas/`` holds
a copy for readers of the workflow);
this module checks what a schema cannot (unknown node/coupling/parameter names, readable
connectome files, consistent times) and turns the config into ``Network`` objects and
``sweep`` keywords. The engine itself never reads a config.

Every error is a :class:`ConfigError` whose message starts with the offending key
(``couplings.tanh.scael: ...``) and says what would fix it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from . import datasets
from .connectivity import Connectome, normalize_weights
from .couplings import COUPLINGS, get_coupling
from .network import Network
from .nodes import MODELS, get_model
from .parameters import closest


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key and the fix."""


def schema_path() -> Path:
    """The JSON Schema of a campaign config, as shipped inside the installed package."""
    return Path(str(resources.files("massengine") / "schemas" / "config.schema.yaml"))


def _fail(key: str, message: str):
    raise ConfigError(f"{key}: {message}")


# ---- unknown keys, with suggestions -------------------------------------------------------


def check_keys(config: Mapping, schema: Mapping, prefix: str = "") -> None:
    """Reject keys the schema does not know, suggesting the closest valid one.

    JSON Schema's own message for ``additionalProperties: false`` neither names the path nor
    suggests a fix; this walks the schema's ``properties`` and does both.
    """
    props = schema.get("properties")
    if not isinstance(config, Mapping) or props is None:
        return
    for key, value in config.items():
        path = f"{prefix}{key}"
        if key in props:
            check_keys(value, props[key], path + ".")
        elif schema.get("additionalProperties", True) is False:
            valid = ", ".join(props)
            _fail(path, f"unknown key; valid keys here: {valid}.{closest(str(key), props)}")


# ---- reading the pieces -------------------------------------------------------------------


def k_values(config: Mapping) -> np.ndarray:
    """The k grid: a list, or ``{start, stop, num}`` (inclusive, like ``numpy.linspace``)."""
    grid = config["k"]
    if isinstance(grid, Mapping):
        if grid["num"] < 1:
            _fail("k.num", f"must be >= 1, got {grid['num']}.")
        values = np.linspace(grid["start"], grid["stop"], int(grid["num"]))
    else:
        values = np.asarray(grid, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        _fail("k", "the k grid is empty; give a list of values or {start, stop, num}.")
    if not np.all(np.isfinite(values)):
        _fail("k", f"every k must be finite, got {values.tolist()}.")
    if len(np.unique(values)) != values.size:
        _fail("k", "k values must be distinct (each names one run).")
    return values


# k values per simulate job on a CPU: fewer, bigger jobs pay the per-job start-up (~2 s)
# less often, while two jobs still run at once on 2 cores (benchmarks/README.md).
CPU_K_PER_JOB = 16


def gpu_visible() -> bool:
    """Whether this host has an NVIDIA GPU that JAX may use, decided without importing JAX
    (the campaign is planned before any job starts): a device node, not hidden by
    ``CUDA_VISIBLE_DEVICES`` or ``JAX_PLATFORMS``."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms and not any(p in platforms for p in ("cuda", "gpu")):
        return False
    return Path("/dev/nvidiactl").exists() or Path("/dev/nvidia0").exists()


def k_per_job(config: Mapping, n_k: int) -> int:
    """``k_per_job`` resolved: ``"auto"`` gives one job per coupling on a GPU host (a GPU
    needs thousands of runs per call to be busy) and :data:`CPU_K_PER_JOB` elsewhere."""
    size = config.get("k_per_job", "auto")
    if size == "auto":
        return max(n_k, 1) if gpu_visible() else CPU_K_PER_JOB
    return int(size)


def k_chunks(config: Mapping) -> list[np.ndarray]:
    """The k grid cut into jobs of ``k_per_job`` values."""
    ks = k_values(config)
    size = k_per_job(config, ks.size)
    if size < 1:
        _fail("k_per_job", f"must be >= 1, got {size}.")
    return [ks[i : i + size] for i in range(0, ks.size, size)]


def load_connectome(config: Mapping) -> Connectome:
    """The configured connectome, normalised as asked."""
    spec = config["connectome"]
    try:
        if spec.get("weights"):
            conn = datasets.load_files(spec["weights"], spec.get("distances"), spec.get("labels"))
        else:
            conn = datasets.load(spec.get("name", "example_connectome"))
    except ValueError as err:
        key = "connectome.weights" if spec.get("weights") else "connectome.name"
        _fail(key, str(err))
    if spec.get("normalize"):
        conn = Connectome(
            weights=normalize_weights(conn.weights, spec["normalize"]), distances=conn.distances,
            labels=conn.labels, centres=conn.centres, name=conn.name, source=conn.source,
        )
    return conn


def _initial(config: Mapping, model, n: int) -> dict:
    """Initial values: scalar, list of N, or ``{uniform: [low, high], seed: s}``."""
    out = {}
    for var, value in (config["node"].get("initial") or {}).items():
        key = f"node.initial.{var}"
        if var not in model.state_vars:
            _fail(key, f"unknown state variable; {model.name} has {', '.join(model.state_vars)}."
                  + closest(var, model.state_vars))
        if isinstance(value, Mapping):
            low, high = value["uniform"]
            value = np.random.default_rng(value.get("seed", 0)).uniform(low, high, n)
        elif isinstance(value, list) and len(value) != n:
            _fail(key, f"a list needs one value per region ({n}), got {len(value)}.")
        out[var] = np.asarray(value, dtype=np.float64)
    return out


def _node(config: Mapping, n: int):
    name = config["node"]["model"]
    if name not in MODELS:
        _fail("node.model", f"unknown model {name!r}; valid: {', '.join(MODELS)}." + closest(name, MODELS))
    model = get_model(name)
    params = dict(config["node"].get("params") or {})
    for key, value in params.items():
        if key not in model.parameters:
            _fail(f"node.params.{key}", f"unknown parameter of {name}; valid: "
                  f"{', '.join(model.parameters)}." + closest(key, model.parameters))
        spec = model.parameters[key]
        arr = np.asarray(value, dtype=np.float64)
        if (spec.low is not None and np.any(arr < spec.low)) or (spec.high is not None and np.any(arr > spec.high)):
            _fail(f"node.params.{key}", f"{value!r} is outside the valid range [{spec.low}, {spec.high}] "
                  f"({spec.doc}, {spec.units or 'dimensionless'}).")
    return model(initial=_initial(config, model, n), **params)


def coupling_params(config: Mapping, name: str) -> dict:
    """Shape parameters configured for coupling ``name`` (validated against the registry)."""
    if name not in COUPLINGS:
        _fail(f"couplings.{name}", f"unknown coupling; valid: {', '.join(COUPLINGS)}." + closest(name, COUPLINGS))
    params = dict(config["couplings"][name] or {})
    kind = get_coupling(name)
    for key in params:
        if key == "k":
            _fail(f"couplings.{name}.k", "k is swept: set the grid in the top-level 'k' key.")
        if key not in kind.params:
            valid = ", ".join(p for p in kind.params if p != "k")
            _fail(f"couplings.{name}.{key}", f"unknown parameter of {name}; valid: {valid}."
                  + closest(key, kind.params))
    if name == "laplacian" and isinstance(params.get("laplacian"), str):
        params["laplacian"] = datasets.read_matrix(params["laplacian"], "couplings.laplacian.laplacian")
    return params


def network(config: Mapping, coupling: str, conn: Connectome | None = None, quiet: bool = True) -> Network:
    """The network of one coupling of the campaign (k is set per run by the sweep).
    ``quiet`` silences the isolated-region warning (``check`` gives it once per campaign)."""
    conn = conn or load_connectome(config)
    sim = config["connectome"]
    node = _node(config, conn.n_regions)
    speed = sim.get("speed")
    distances = conn.distances if speed else None
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", UserWarning)
        try:
            return Network(node, weights=conn.weights, distances=distances, speed=speed,
                           coupling=coupling, labels=conn.labels, k=0.0,
                           **coupling_params(config, coupling))
        except ConfigError:
            raise
        except ValueError as err:
            _fail(f"couplings.{coupling}", str(err))


def sample_every(config: Mapping) -> int:
    """Sample period in steps, from ``simulation.sample_period`` (ms); with ``monitor:
    bold`` the period is ``simulation.tr`` and ``sample_period`` is not used."""
    sim = config["simulation"]
    if sim.get("monitor") == "bold":
        return 1
    ratio = sim["sample_period"] / sim["dt"]
    steps = round(ratio)
    if steps < 1 or not math.isclose(ratio, steps, rel_tol=1e-9, abs_tol=1e-9):
        _fail("simulation.sample_period", f"{sim['sample_period']} ms is not a whole multiple of "
              f"dt = {sim['dt']} ms; use e.g. {max(steps, 1) * sim['dt']:g}.")
    return steps


def _bold_kwargs(sim: Mapping) -> dict:
    """``tr``, ``bold_signal``, ``bold_params`` of ``monitor: bold`` (checked: tr a multiple of dt)."""
    if sim.get("monitor") != "bold":
        for key in ("tr", "bold_signal", "bold_params"):
            if sim.get(key) is not None:
                _fail(f"simulation.{key}", f"applies to monitor: bold only (monitor is {sim.get('monitor')!r}); "
                      "set simulation.monitor: bold or remove the key.")
        return {}
    if sim.get("tr") is not None:
        from .hemodynamics import steps_per_sample

        try:
            steps_per_sample(sim["tr"], sim["dt"])
        except ValueError as err:
            _fail("simulation.tr", str(err))
    return {"tr": sim.get("tr"), "bold_signal": sim.get("bold_signal"), "bold_params": sim.get("bold_params")}


def sweep_kwargs(config: Mapping) -> dict:
    """Keywords of :func:`massengine.sweep` (everything but the network, k and couplings)."""
    sim = config["simulation"]
    noise = config.get("noise")
    return dict(
        duration=sim["duration"], dt=sim["dt"], transient=sim["transient"],
        sample_every=sample_every(config), record=sim.get("record"),
        integrator=sim["integrator"], history=sim["history"], precision=sim["precision"],
        delay_rounding=sim["delay_rounding"], monitor=sim["monitor"],
        noise=None if noise in (None, 0, {}) else noise, seeds=list(config["seeds"]),
        **_bold_kwargs(sim),
    )


def check(config: Mapping) -> None:
    """Every semantic check, before any job starts. Raises :class:`ConfigError`."""
    sim = config["simulation"]
    if sim["transient"] >= sim["duration"]:
        _fail("simulation.transient", f"{sim['transient']} ms must be shorter than simulation.duration "
              f"({sim['duration']} ms).")
    sample_every(config)
    _bold_kwargs(sim)
    k_chunks(config)
    if not config["couplings"]:
        _fail("couplings", "no coupling configured; name at least one, e.g. {diffusive: {}}.")
    if not config["seeds"]:
        _fail("seeds", "give at least one seed, e.g. [0].")
    conn = load_connectome(config)
    for i, name in enumerate(config["couplings"]):
        net = network(config, name, conn, quiet=i > 0)
        try:
            from .simulate import resolve_settings

            kw = sweep_kwargs(config)
            kw.pop("seeds")
            resolve_settings(net, kw["duration"], kw["dt"], kw["transient"], kw["sample_every"],
                             kw["integrator"], kw["precision"], kw["delay_rounding"], kw["history"],
                             kw["noise"], kw["monitor"], kw["record"], tr=kw.get("tr"),
                             bold_signal=kw.get("bold_signal"), bold_params=kw.get("bold_params"))
        except ValueError as err:
            _fail("simulation", str(err))
    target = config["metrics"].get("target_fc")
    if target:
        fc = datasets.read_matrix(target, "metrics.target_fc") if Path(target).exists() else None
        if fc is None:
            _fail("metrics.target_fc", f"file {target!r} does not exist; give the path of an (N, N) FC matrix.")
        if fc.shape != (conn.n_regions,) * 2:
            _fail("metrics.target_fc", f"shape {fc.shape} does not match the connectome's "
                  f"{conn.n_regions} regions.")


def config_hash(config: Mapping) -> str:
    """A short stable hash of the resolved config, stored in every output's provenance."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def jsonable(config: Any) -> Any:
    """The config as plain JSON types (Snakemake hands over its own mapping classes)."""
    return json.loads(json.dumps(config, default=str))
