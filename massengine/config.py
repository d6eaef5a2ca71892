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

from . import datasets, gpus, job_size
from .connectivity import Connectome, normalize_weights
from .couplings import COUPLINGS, get_coupling
from .network import Network
from .nodes import MODELS, get_model
from .nodes.base import initial_values
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


# What a config file may expand to: far more than any campaign needs, far less than what a
# few bytes of nested YAML aliases (&a [*b, *b, ...]) expand to, which would hang the schema's
# validation for minutes.
MAX_CONFIG_VALUES = 200_000


def check_before_defaults(config: Mapping) -> None:
    """Checks of the config as written, before the schema fills in defaults: its size once
    YAML aliases are expanded (:data:`MAX_CONFIG_VALUES`, counted in well under a second),
    and a connectome given both by name and by files."""
    count, stack = 0, [config]
    while stack:
        value = stack.pop()
        if isinstance(value, Mapping):
            children = list(value.values())
        elif isinstance(value, (list, tuple)):
            children = list(value)
        else:
            continue
        count += len(children)
        if count > MAX_CONFIG_VALUES:
            raise ConfigError(f"(top level): the config holds more than {MAX_CONFIG_VALUES:,} values once its YAML "
                              "aliases (*name) are expanded; a campaign needs far fewer. Write the values out, or "
                              "give long lists as {start, stop, num}.")
        stack.extend(children)
    spec = config.get("connectome") if isinstance(config, Mapping) else None
    if isinstance(spec, Mapping) and spec.get("name") and spec.get("weights"):
        _fail("connectome", f"give either name (a bundled connectome, here {spec['name']!r}) or weights (your own "
              "files), not both: remove one of them.")


# ---- reading the pieces -------------------------------------------------------------------


def k_values(config: Mapping) -> np.ndarray:
    """The k grid: a list, ``{start, stop, num}`` (inclusive, like ``numpy.linspace``) or
    ``{log: [low, high], num}`` (geometric)."""
    return axis_values(config["k"], "k")


def axis_values(spec, key: str) -> np.ndarray:
    """The values of a grid axis given as a list, ``{start, stop, num}`` or ``{log: [low,
    high], num}``, each rounded to 12 significant digits: the same point written two ways
    (0.3 in a 16-point grid, 0.30000000000000004 in a 31-point one) is then one run, found
    again when a grid is extended (:mod:`massengine.chunks`)."""
    if isinstance(spec, Mapping):
        if spec.get("num", 0) < 1:
            _fail(f"{key}.num", f"must be >= 1, got {spec.get('num')}.")
        if "log" in spec:
            low, high = spec["log"]
            if not (low > 0 and high > 0):
                _fail(f"{key}.log", f"a log-spaced axis needs bounds > 0, got {list(spec['log'])}.")
            values = np.geomspace(low, high, int(spec["num"]))
        else:
            values = np.linspace(spec["start"], spec["stop"], int(spec["num"]))
    else:
        values = np.atleast_1d(np.asarray(spec, dtype=np.float64))
    if values.ndim != 1 or values.size == 0:
        _fail(key, f"the {key} grid is empty; give a list of values, {{start, stop, num}} or "
              "{log: [low, high], num}.")
    if not np.all(np.isfinite(values)):
        _fail(key, f"every {key} must be finite, got {values.tolist()}.")
    values = np.array([float(f"{v:.12g}") for v in values])
    if len(np.unique(values)) != values.size:
        _fail(key, f"{key} values must be distinct (each names one run), got {values.tolist()}.")
    return values


def grid_axes(config: Mapping) -> dict[str, list[float]]:
    """The campaign's ``grid:`` block resolved: ``{axis: values}`` in the order written
    (axes as in :func:`massengine.sweep`'s ``grid``: speed, noise, node.<p>, coupling.<p>)."""
    return {name: axis_values(spec, f"grid.{name}").tolist() for name, spec in (config.get("grid") or {}).items()}


def grid_points(config: Mapping) -> int:
    """Points of the ``grid:`` block per k value (1 without one)."""
    return math.prod(len(values) for values in grid_axes(config).values())


# Adaptive refinement (massengine.refine), off unless refine.rounds >= 1.
REFINE_DEFAULTS = {"rounds": 0, "metric": "synchrony", "threshold": 0.5, "mode": "crossing", "tol": 0.01,
                   "max_points": 4}


def refine_settings(config: Mapping) -> dict:
    """``refine:`` with its defaults."""
    return {**REFINE_DEFAULTS, **(config.get("refine") or {})}


def gpu_count() -> int:
    """How many NVIDIA GPUs jobs on this host may use, decided without importing JAX (the
    campaign is planned before any job starts): :func:`massengine.gpus.host_gpus`."""
    return len(gpus.host_gpus())


# The head Snakemake resolves ``k_per_job: auto`` once and hands the number to its jobs in
# this environment variable: a job re-reads the Snakefile, possibly on another host (a
# cluster node with or without a GPU), and must cut the k grid exactly as the head did.
K_PER_JOB_ENV = "MASSENGINE_K_PER_JOB"


def k_per_job(config: Mapping, n_k: int, cores: int | None = None) -> int:
    """``k_per_job`` resolved. ``"auto"`` on a host without a GPU: the chunk that the cost
    model of :mod:`massengine.job_size` says finishes the campaign's simulate jobs soonest on
    ``cores`` (default: the cores this process may use) for this connectome, these runs per
    k (seeds x grid points) and steps. On a GPU host, as few jobs as keep every GPU busy (a
    GPU needs thousands of runs per call): one per coupling, or with more GPUs than couplings
    the k grid of each coupling cut into enough jobs for every GPU to get one
    (:mod:`massengine.gpus` gives each concurrent job its own). As the head decided when
    :data:`K_PER_JOB_ENV` is set."""
    size = config.get("k_per_job", "auto")
    if size == "auto":
        decided = os.environ.get(K_PER_JOB_ENV)
        if decided:
            return int(decided)
        n_gpus = gpu_count()
        if not n_gpus:
            return _cpu_k_per_job(config, n_k, cores)
        jobs_per_coupling = -(-n_gpus // max(len(config.get("couplings") or ()), 1))
        return max(-(-n_k // jobs_per_coupling), 1)
    return int(size)


def _cpu_k_per_job(config: Mapping, n_k: int, cores: int | None) -> int:
    conn = load_connectome(config)
    sim = config["simulation"]
    return job_size.cpu_k_per_job(
        n_k, n_couplings=len(config["couplings"]), runs_per_k=len(config["seeds"]) * grid_points(config),
        steps=max(int(round(sim["duration"] / sim["dt"])), 1),
        elements=len(conn.labels) + int(np.count_nonzero(conn.weights)),
        cores=cores if cores is not None else job_size.usable_cores())


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
    repeated = sorted({str(label) for label in conn.labels if list(conn.labels).count(label) > 1})
    if repeated:
        key = "connectome.labels" if spec.get("labels") else "connectome.name"
        _fail(key, f"region labels must be distinct (each names one region of the output); repeated: "
              f"{', '.join(repeated[:5])}. Fix the labels file.")
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
            value = initial_values(value, n, key)
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
        if arr.ndim > 1 or (arr.ndim == 1 and arr.size != n):
            _fail(f"node.params.{key}", f"a list needs one value per region ({n}), got shape {arr.shape}; or give "
                  "one number for every region.")
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
    if speed and conn.distances is None:
        _fail("connectome.speed", f"the connectome {conn.name!r} has no distances (tract lengths), so speed "
              "cannot give delays; add connectome.distances (a file of (N, N) lengths in mm) or set speed: null "
              "for instantaneous coupling.")
    distances = conn.distances if speed else None
    speed = speed if distances is not None else None
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
    for key in ("dt", "sample_period"):
        if not math.isfinite(sim[key]):  # NaN passes the schema's bounds; round() raises on it
            _fail(f"simulation.{key}", f"must be a finite number of ms, got {sim[key]}.")
    if sim.get("monitor") == "bold":
        return 1
    ratio = sim["sample_period"] / sim["dt"]
    steps = round(ratio) if math.isfinite(ratio) else 0
    if steps < 1 or not math.isclose(ratio, steps, rel_tol=1e-9, abs_tol=1e-9):
        _fail("simulation.sample_period", f"{sim['sample_period']} ms is not a whole multiple of "
              f"dt = {sim['dt']} ms; use e.g. {max(steps, 1) * sim['dt']:g}.")
    return steps


# What each stage reads of a campaign config. A job receives only its slice (its Snakemake
# params), so Snakemake reruns a job only when what it reads changed: a new report title
# reruns the report alone, a new FCD window the metrics (then aggregate and report), never a
# simulation. The full config's hash still goes into every store's provenance.
STAGE_KEYS = {
    "simulate": ("connectome", "node", "seeds", "noise", "simulation", "grid"),
    "metrics": ("connectome", "metrics", "fit"),
}
# The keys of ``fit`` the metrics read (the empirical data): the refinement settings rerun
# the fit stage and the report only.
EMPIRICAL_KEYS = ("empirical_fc", "empirical_bold", "empirical_tr")


def stage_config(config: Mapping, stage: str, coupling: str | None = None) -> dict:
    """The slice of ``config`` that stage ``stage`` (``"simulate"`` or ``"metrics"``) reads;
    a simulate job's slice holds its own coupling only (adding a coupling to a campaign
    reruns no other coupling's simulations)."""
    sliced = {key: config[key] for key in STAGE_KEYS[stage] if key in config}
    if stage == "metrics" and "fit" in sliced:
        sliced["fit"] = {key: sliced["fit"][key] for key in EMPIRICAL_KEYS if sliced["fit"].get(key) is not None}
        if not sliced["fit"]:  # no empirical data: the slice of a campaign without them is unchanged
            del sliced["fit"]
    if stage == "simulate":
        sliced["couplings"] = {coupling: config["couplings"][coupling]}
    # Keys sorted: Snakemake compares params as text, and the same settings written in
    # another order in the YAML file must not rerun anything.
    return json.loads(json.dumps(jsonable(sliced), sort_keys=True))


# Config keys naming a data file a stage reads (besides the connectome, which a chunk's id
# hashes as loaded).
INPUT_FILES = ("metrics.target_fc", "fit.empirical_fc", "fit.empirical_bold")


def _file_digest(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()[:16]


def with_input_digests(sliced: Mapping, config: Mapping) -> dict:
    """``sliced`` (a stage's config slice) with a hash of the contents of every data file it
    names (:data:`INPUT_FILES`) as ``input_digests``: a file overwritten in place changes
    what the stage depends on, so Snakemake reruns it. A slice naming no file is returned
    unchanged."""
    digests = {}
    for key in INPUT_FILES:
        section, name = key.split(".")
        if (sliced.get(section) or {}).get(name) and (config.get(section) or {}).get(name):
            path = os.path.expanduser(config[section][name])
            digests[key] = _file_digest(path) if os.path.isfile(path) else "missing"
    return {**sliced, "input_digests": digests} if digests else dict(sliced)


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
        grid=grid_axes(config) or None,
        divergence_bound=sim.get("divergence_bound"),
        **_bold_kwargs(sim),
    )


def output_dir(config: Mapping) -> str:
    """``output_dir`` as the campaign uses it everywhere: ``~`` expanded, no trailing ``/``.
    Refused: empty, the working directory or a folder above it (``.``, ``..``, ``/``: a
    campaign needs a folder of its own), and a path that is, or lies under, a file."""
    raw = config.get("output_dir")
    fix = "name a folder of the campaign's own, e.g. results/my_campaign."
    if not isinstance(raw, str) or not raw.strip():
        _fail("output_dir", f"empty; {fix}")
    path = os.path.expanduser(raw.strip())
    path = path.rstrip("/") or "/"
    resolved, here = Path(path).resolve(), Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        _fail("output_dir", f"{raw!r} is the working directory or a folder above it (the campaign would claim "
              f"and check everything there); {fix}")
    for above in (Path(path), *Path(path).parents):
        if above.exists():
            if not above.is_dir():
                _fail("output_dir", f"{raw!r}: {str(above)!r} is a file, not a folder; {fix}")
            break
    return path


def check(config: Mapping) -> None:
    """Every semantic check, before any job starts. Raises :class:`ConfigError`."""
    output_dir(config)
    sim = config["simulation"]
    if sim["transient"] >= sim["duration"]:
        _fail("simulation.transient", f"{sim['transient']} ms must be shorter than simulation.duration "
              f"({sim['duration']} ms).")
    sample_every(config)
    _bold_kwargs(sim)
    k_chunks(config)
    grid_axes(config)
    if not config["couplings"]:
        _fail("couplings", "no coupling configured; name at least one, e.g. {diffusive: {}}.")
    if not config["seeds"]:
        _fail("seeds", "give at least one seed, e.g. [0].")
    if len(set(config["seeds"])) != len(config["seeds"]):
        _fail("seeds", f"seeds must be distinct (each names one run), got {config['seeds']}.")
    from .simulate import _check_seeds, _sigma

    try:
        _check_seeds(config["seeds"])
    except ValueError as err:
        _fail("seeds", str(err))
    conn = load_connectome(config)
    if config.get("noise") not in (None, 0, {}):
        try:
            _sigma(config["noise"], _node(config, conn.n_regions), conn.n_regions)
        except ValueError as err:
            _fail("noise", str(err))
    settings = None
    for i, name in enumerate(config["couplings"]):
        net = network(config, name, conn, quiet=i > 0)
        try:
            from .simulate import resolve_settings

            kw = sweep_kwargs(config)
            kw.pop("seeds")
            settings = resolve_settings(net, kw["duration"], kw["dt"], kw["transient"], kw["sample_every"],
                                        kw["integrator"], kw["precision"], kw["delay_rounding"], kw["history"],
                                        kw["noise"], kw["monitor"], kw["record"],
                                        divergence_bound=kw["divergence_bound"], tr=kw.get("tr"),
                                        bold_signal=kw.get("bold_signal"), bold_params=kw.get("bold_params"))
        except ValueError as err:
            _fail("simulation", str(err))
        _check_grid(config, name, net, kw)
    _check_metrics(config, settings, conn)
    _check_fit(config, settings, conn)
    _check_refine(config)
    if has_empirical(config) and config.get("grid"):
        _fail("grid", "the fit stage (fit.empirical_fc / empirical_bold) refines k alone and cannot use grid axes "
              "yet: fit a campaign without grid:, or drop the empirical data from this one (the metrics still "
              "give fc_target_corr with metrics.target_fc).")


def _check_grid(config: Mapping, coupling: str, net, kw: Mapping) -> None:
    """The ``grid:`` axes against one coupling's network (names, ranges, speed needs lengths)."""
    from .grid import check_grid

    axes = kw["grid"] or {}
    if "speed" in axes and any(t.distances is None for t in net.terms):
        _fail("grid.speed", "a speed axis recomputes the delays from the tract lengths: use a connectome with "
              "distances (tract lengths) and set connectome.speed (not null).")
    if "noise" in axes and kw["noise"] is not None:
        _fail("grid.noise", f"a noise axis sets the noise sigma of every run: set noise: null (it is "
              f"{config.get('noise')!r}) or drop the axis.")
    try:
        check_grid(kw["grid"], [(coupling, net)], kw["noise"], kw["duration"])
    except ValueError as err:
        _fail("grid", f"{err} (coupling {coupling!r})")


def _check_refine(config: Mapping) -> None:
    from .metrics import SCALARS
    from .refine import MODES

    spec = refine_settings(config)
    if spec["metric"] not in SCALARS:
        _fail("refine.metric", f"{spec['metric']!r} is no scalar metric; one of {', '.join(SCALARS)}.")
    if spec["metric"] == "fc_target_corr" and not (config.get("metrics") or {}).get("target_fc"):
        _fail("refine.metric", "fc_target_corr needs metrics.target_fc (without it the metric is NaN everywhere "
              "and refinement would add nothing); set metrics.target_fc or refine another metric.")
    if spec["mode"] not in MODES:
        _fail("refine.mode", f"must be one of {', '.join(MODES)}, got {spec['mode']!r}.")
    for key, low in (("rounds", 0), ("max_points", 1)):
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            _fail(f"refine.{key}", f"must be an integer >= {low}, got {value!r}.")
    if not (isinstance(spec["tol"], (int, float)) and spec["tol"] > 0):
        _fail("refine.tol", f"must be a number > 0 (the k resolution to refine to), got {spec['tol']!r}.")


def has_empirical(config: Mapping) -> bool:
    """Whether the campaign is fitted to empirical data (``fit.empirical_fc`` or ``_bold``)."""
    spec = config.get("fit") or {}
    return bool(spec.get("empirical_fc") or spec.get("empirical_bold"))


def empirical_target(config: Mapping, n_regions: int | None = None):
    """The campaign's empirical target (:func:`massengine.fit.empirical`) from ``fit.empirical_fc``
    or ``fit.empirical_bold`` (with ``fit.empirical_tr``); BOLD gets its FCD with the same
    windows as the simulated runs (``metrics.fcd_window``, ``metrics.fcd_step``). ``None``
    without empirical data. Every problem is a :class:`ConfigError` naming the key."""
    from . import fit

    spec = config.get("fit") or {}
    fc_path, bold_path, tr = spec.get("empirical_fc"), spec.get("empirical_bold"), spec.get("empirical_tr")
    if fc_path and bold_path:
        _fail("fit.empirical_fc", "give fit.empirical_fc or fit.empirical_bold, not both (from BOLD the FC "
              "and FCD are computed like the simulated ones); remove one of them.")
    if tr is not None and not bold_path:
        _fail("fit.empirical_tr", "is the sampling period of fit.empirical_bold; set empirical_bold or remove it.")
    if not (fc_path or bold_path):
        return None
    key = "fit.empirical_fc" if fc_path else "fit.empirical_bold"
    path = Path(fc_path or bold_path)
    if not path.is_file():
        _fail(key, f"file {str(path)!r} does not exist (relative paths are read from the directory the "
              "workflow runs in); put the data there or give its absolute path.")
    if path.suffix != ".npy":
        _fail(key, f"{str(path)!r} is not a .npy file; save the array with numpy.save.")
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError) as err:
        _fail(key, f"cannot read {str(path)!r} as a NumPy array: {err}.")
    layout = "(N, N) or (S, N, N)" if fc_path else "(N, T) or (S, N, T) (regions by time)"
    if array.ndim not in (2, 3):
        _fail(key, f"shape {array.shape}: expected {layout}.")
    regions = array.shape[-1] if fc_path else array.shape[-2]
    if n_regions is not None and regions != n_regions:
        hint = "" if fc_path or array.shape[-1] != n_regions else " It looks like (T, N): transpose it to (N, T)."
        _fail(key, f"shape {array.shape} has {regions} regions, the connectome {n_regions}: use data "
              f"parcellated like the connectome, {layout}.{hint}")
    if bold_path and tr is None:
        _fail("fit.empirical_tr", "fit.empirical_bold needs its sampling period in ms (e.g. 720 for HCP).")
    try:
        if fc_path:
            return fit.empirical(fc=np.asarray(array))
        mconf = config.get("metrics") or {}
        return fit.empirical(bold=np.asarray(array), tr=float(tr), fcd_window_ms=mconf.get("fcd_window", 50.0),
                             fcd_step_ms=mconf.get("fcd_step", 10.0))
    except ValueError as err:
        _fail(key, f"{path}: {err}")


def _check_fit(config: Mapping, settings, conn: Connectome) -> None:
    """The empirical data (before any simulation): readable, the connectome's region count,
    finite; the simulated signal long enough for the empirical FCD windows."""
    target = empirical_target(config, conn.n_regions)
    if target is None:
        return
    if target.fcd is not None and settings.monitor != "bold":
        _fail("fit.empirical_bold", "the simulated runs must be BOLD too for their FCD to compare with the "
              "empirical one: set simulation.monitor: bold (with tr), or give fit.empirical_fc instead.")
    if target.fcd is not None:
        mconf = config["metrics"]
        period = settings.sample_every * settings.dt
        window = max(3, int(round(mconf["fcd_window"] / period)))
        step = max(1, int(round(mconf["fcd_step"] / period)))
        if (settings.n_samples - window) // step + 1 < 2:
            _fail("metrics.fcd_window", f"{mconf['fcd_window']:g} ms windows every {mconf['fcd_step']:g} ms give fewer "
                  f"than 2 FCD windows in the {settings.n_samples} simulated BOLD samples, so there is no FCD to "
                  "compare with the empirical one: raise simulation.duration or lower metrics.fcd_window.")


def _check_metrics(config: Mapping, settings, conn: Connectome) -> None:
    """What the metrics stage would fail on after every simulation has run: a variable that
    is not recorded, a band the sampling cannot resolve, an FCD window longer than the data,
    a target FC that cannot rank anything."""
    mconf = config["metrics"]
    variable = mconf.get("variable")
    if variable is not None and variable not in settings.outputs:
        _fail("metrics.variable", f"{variable!r} is not recorded; recorded: {', '.join(settings.outputs)}. "
              f"Add it to simulation.record or analyse one of those.")
    period = settings.sample_every * settings.dt  # ms
    nyquist = 1000.0 / period / 2
    band = mconf.get("band")
    if band is not None:
        low, high = band
        if not low < high:
            _fail("metrics.band", f"[{low:g}, {high:g}] Hz is inverted or empty: give [low, high] with low < high.")
        if high >= nyquist:
            _fail("metrics.band", f"the upper edge {high:g} Hz is at or above the Nyquist frequency "
                  f"{nyquist:g} Hz of samples every {period:g} ms; lower it below {nyquist:g} Hz or lower "
                  "simulation.sample_period.")
    window = max(3, int(round(mconf["fcd_window"] / period)))
    if window > settings.n_samples:
        recorded = settings.duration - settings.transient
        _fail("metrics.fcd_window", f"{mconf['fcd_window']:g} ms is longer than the recorded data "
              f"({recorded:g} ms = {settings.n_samples} samples); lower fcd_window or raise simulation.duration.")
    if settings.n_samples < 2:
        _fail("simulation.duration", "the metrics need at least 2 samples; raise duration or lower sample_period.")
    target = mconf.get("target_fc")
    if target:
        fc = datasets.read_matrix(target, "metrics.target_fc") if Path(target).exists() else None
        if fc is None:
            _fail("metrics.target_fc", f"file {target!r} does not exist; give the path of an (N, N) FC matrix.")
        if fc.shape != (conn.n_regions,) * 2:
            _fail("metrics.target_fc", f"shape {fc.shape} does not match the connectome's "
                  f"{conn.n_regions} regions.")
        check_target_fc(fc, "metrics.target_fc")


def check_target_fc(fc, key: str = "target_fc") -> None:
    """:func:`massengine.metrics.check_target_fc` as a :class:`ConfigError` naming ``key``."""
    from .metrics import check_target_fc as check

    try:
        check(fc)
    except ValueError as err:
        _fail(key, str(err))


def check_file(path, schema_file=None) -> tuple[dict | None, list[str]]:
    """Read and check the campaign config file ``path``: ``(config with defaults, [])`` or
    ``(None, problems)``, one line per problem naming the key (or the file) and the fix.
    Never raises for a bad file."""
    import jsonschema
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        return None, [f"{path}: cannot read it ({err.strerror or err})."]
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        what = getattr(err, "problem", None) or str(err).splitlines()[0]
        return None, [f"{path}: not valid YAML{at}: {what}."]
    try:
        check_before_defaults(config)  # first: even a repr of an alias bomb would not end
    except ConfigError as err:
        return None, [str(err)]
    if config is None:
        return None, [f"{path}: the file is empty; a campaign config is a mapping of keys (see config/config.yaml)."]
    if not isinstance(config, Mapping):
        return None, [f"{path}: the top level must be a mapping of keys (output_dir:, node:, couplings:, ...), "
                      f"got a {type(config).__name__}: {str(config)[:60]!r}."]
    schema_file = Path(schema_file) if schema_file else schema_path()
    schema = yaml.safe_load(schema_file.read_text())
    problems = []
    try:
        check_keys(config, schema)
    except ConfigError as err:
        problems.append(str(err))
    validator = jsonschema.validators.validator_for(schema)(schema)
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        if "Additional properties" in error.message and problems:
            continue  # already named, with a suggestion, by check_keys
        problems.append(f"{key}: {error.message}.")
    if problems:
        return None, problems
    from snakemake.utils import validate

    validate(config, str(schema_file))  # fills the schema's defaults, as the workflow does
    try:
        check(config)
    except ConfigError as err:
        return None, [str(err)]
    return config, []


def config_hash(config: Mapping) -> str:
    """A short stable hash of the resolved config, stored in every output's provenance."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def jsonable(config: Any) -> Any:
    """The config as plain JSON types (Snakemake hands over its own mapping classes)."""
    return json.loads(json.dumps(config, default=str))
