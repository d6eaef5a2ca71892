"""Run the benchmark work on one engine, inside that engine's own virtual environment.

    <venv>/bin/python benchmarks/peers/run_engine.py ENGINE CASE [options] --out result.json

ENGINE: massengine, massengine_heun, brainmass, neurolib, tvb, vbjax, tvboptim. CASE:

- ``single``: one run at k = 0.1;
- ``sweep``: ``--n-k`` values of k in [0, 0.3] (the compared runs);
- ``noise``: the same k values times ``--n-seeds`` seeds, additive noise on x and y;
- ``batch``: ``--batch`` runs of ``--duration`` ms (scaling in batch size);
- ``regions``: a ``--batch``-run sweep on the ``--n-regions`` connectome (scaling in N).

The work (issue 5): Hopf, a = -0.05, w = 2 pi 0.04 rad/ms, diffusive coupling of x into x,
tract lengths / 10 mm/ms rounded to steps (TVB's and neurolib's rule), dt = 0.1 ms, float32
where the engine allows it, constant history equal to the initial state, samples of x every
1 ms. ``--max-runs`` caps the runs a slow engine does per case; it reports the throughput of
those (neurolib and TVB loop over runs; vbjax is as fast per run at batch 1 as at 32).

Prints and writes JSON: wall time of the first call (compile included) and of a warm call,
region·steps/s of the warm call, peak RSS of this process, the JAX device it ran on, and with
``--traj`` saves the x samples (runs, samples, N) of the first ``--n-traj`` runs for the
agreement check. massengine only: ``--layout`` forces the coupling layout (default ``auto``),
``--device-time`` also times ``engine.advance_runs`` alone (the compiled time loop, outputs left
on the device: no host copy, no dataset). Any engine: ``--compilation-cache DIR`` turns on
JAX's persistent compilation cache in DIR (a second process then finds its programs there).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

PROCESS_START = time.perf_counter()  # fallback where /proc is missing: after the imports above


def process_age_s() -> float:
    """Seconds since this process started (the interpreter's start-up included), from /proc."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        return float(Path("/proc/uptime").read_text().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - PROCESS_START

# The connectomes (GPL data, never bundled): ../shared/data beside the checkout, or the folder
# named by BENCH_SHARED_DATA (the GPU machine gets a copy carried along: benchmarks/gpu/README.md),
# else by MASSENGINE_DATA (where the tests find them).
SHARED = Path(os.environ.get("BENCH_SHARED_DATA") or os.environ.get("MASSENGINE_DATA")
              or Path(__file__).resolve().parents[3] / "shared" / "data")
A, OMEGA, SPEED, DT, SIGMA = -0.05, 2 * np.pi * 0.04, 10.0, 0.1, 0.01
SAMPLE_EVERY = 10  # steps per recorded sample (1 ms)


def connectome(n_regions: int):
    """Weights (max-normalised, no self-connections) and tract lengths (mm) for N regions:
    TVB's 76- and 192-region sets and the 8-region example from ../shared/data (refused when
    missing: a table labelled "TVB 76" must not hold a synthetic network's numbers), or a
    seeded synthetic network at 10 % density for other N (named so in every result)."""
    folder = {76: ("tvb_connectivity_76", "tract_lengths.npy"), 192: ("tvb_connectivity_192", "tract_lengths.npy"),
              8: ("brainmass_example_connectome", "distances_mm.npy")}
    name, lengths = folder.get(n_regions, ("", ""))
    if name and not (SHARED / name / "weights.npy").exists():
        raise SystemExit(f"run_engine: {n_regions} regions means the {name} connectome, and "
                         f"{SHARED / name / 'weights.npy'} is not there. Set BENCH_SHARED_DATA to the folder holding "
                         f"{name}/ (benchmarks/README.md), or choose another --n-regions for a seeded synthetic "
                         "network (recorded as synthetic_<N>_10pct).")
    if name:
        w, d = np.load(SHARED / name / "weights.npy"), np.load(SHARED / name / lengths)
        connectome.name = name
    else:
        connectome.name = f"synthetic_{n_regions}_10pct"
        rng = np.random.default_rng(n_regions)
        w = rng.random((n_regions, n_regions)) * (rng.random((n_regions, n_regions)) < 0.1)
        pos = rng.random((n_regions, 3)) * 100.0
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    w = np.array(w, dtype=np.float64)
    np.fill_diagonal(w, 0.0)
    return w / w.max(), np.asarray(d, np.float64)


def initial_state(n_regions: int):
    i = np.arange(n_regions)
    return 0.1 * np.cos(i), 0.1 * np.sin(i)


def lags(d):
    return np.rint(d / SPEED / DT).astype(int)


# --------------------------------------------------------------------------- engines
# Each returns run(ks, seeds) -> x samples (runs, n_samples, N) as NumPy, plus its dtype.


def massengine_runner(w, d, duration, noise, integrator="euler", layout="auto"):
    import jax

    import massengine as me

    x0, y0 = initial_state(len(w))
    node = me.nodes.Hopf(a=A, w=OMEGA, initial={"x": x0, "y": y0})
    net = me.Network(node, weights=w, distances=d, speed=SPEED, coupling="diffusive", k=0.1)
    kw = dict(duration=duration, dt=DT, sample_every=SAMPLE_EVERY, record=["x"], integrator=integrator,
              history="initial", delay_rounding="round", noise=SIGMA if noise else None)
    if layout != "auto":
        kw["layout"] = layout

    def run(ks, seeds):
        # One vmapped call for the whole grid: every (k, seed) pair is one run of the batch.
        # End to end: the samples end up in an xarray dataset in host memory.
        out = me.sweep(net, k=ks, seeds=seeds if noise else None, **kw)
        return out.x.values.reshape(-1, *out.x.shape[-2:])

    run.device_call = lambda ks, seeds: massengine_device_call(net, kw, ks, seeds if noise else [0])
    assert not jax.config.jax_enable_x64
    return run, "float32"


def massengine_device_call(net, kw, ks, seeds):
    """A function that runs the compiled time loop (``engine.advance_runs``) alone on the
    sweep's (k, seed) grid and waits for it: the device time of ``me.sweep`` without the
    host copy and the dataset. It calls massengine's internals (``simulate._resolve``,
    ``build``, ``engine.start``) as ``simulate._sweep_segments`` does in one segment; if
    they change, this is the one place to follow them."""
    import importlib

    import jax

    from massengine import engine

    sim = importlib.import_module("massengine.simulate")  # massengine.simulate is also a function

    settings = dict(kw)
    s = sim._resolve(net, settings.pop("duration"), settings)
    grid_k = np.repeat(np.asarray(ks, np.float64), len(seeds))
    grid_seed = np.tile(np.asarray(seeds, np.int64), len(ks))
    if len(grid_k) == 1:  # sweep pads a batch of one to two (simulate._sweep_segments)
        grid_k, grid_seed = np.repeat(grid_k, 2), np.repeat(grid_seed, 2)
    with sim._precision(s.precision):
        spec, params, x0, rows = sim.build(net, s)
        carry, keys = engine.start(spec, params, x0, rows, grid_seed)
        ks_dev = jax.device_put(sim._cast(grid_k, params["dt"].dtype))
        jax.block_until_ready((carry, keys, ks_dev))

    def call():
        with sim._precision(s.precision):
            return jax.block_until_ready(engine.advance_runs(spec, params, carry, ks_dev, keys))

    programs = engine.advance_runs._cache_size()
    call.compiled = lambda: engine.advance_runs._cache_size() > programs  # since this function was made
    return call


def brainmass_runner(w, d, duration, noise):
    import brainmass
    import brainstate
    import braintools
    import brainunit as u
    import jax.numpy as jnp

    n = len(w)
    x0, y0 = initial_state(n)
    n_steps = int(round(duration / DT))

    def one(k, key):
        # brainmass's own idiom: build the network inside the traced function, jit(vmap(...)).
        with brainstate.environ.context(dt=DT * u.ms):
            return _one(k, key)

    def _one(k, key):
        noise_x = brainmass.GaussianNoise(n, sigma=SIGMA) if noise else None
        noise_y = brainmass.GaussianNoise(n, sigma=SIGMA) if noise else None
        node = brainmass.HopfStep(n, a=A, w=OMEGA, method="euler", noise_x=noise_x, noise_y=noise_y,
                                  init_x=braintools.init.Constant(x0), init_y=braintools.init.Constant(y0))
        net = brainmass.Network(node, conn=w, distance=d, speed=SPEED, coupled_var="x", k=k,
                                delay_init=braintools.init.Constant(x0))
        if noise:
            brainstate.random.seed(key)
        # Its sample_every keeps the first step of each block: a transient of 9 steps puts
        # the samples on steps 10, 20, ... like the other engines.
        res = brainmass.Simulator(net, dt=DT * u.ms).run(
            (n_steps + SAMPLE_EVERY - 1) * DT * u.ms, monitors=lambda m: m.node.x.value,
            sample_every=SAMPLE_EVERY, transient=SAMPLE_EVERY - 1)
        return res["output"]

    # brainstate's own transforms track the State containers the model writes.
    batched = brainstate.transform.jit(brainstate.transform.vmap(one))

    def run(ks, seeds):
        grid_k = np.repeat(ks, len(seeds)).astype(np.float32)
        keys = np.tile(np.asarray(seeds, np.uint32), len(ks))
        return np.asarray(batched(jnp.asarray(grid_k), jnp.asarray(keys)))

    return run, "float32"


def neurolib_runner(w, d, duration, noise):
    from neurolib.models.hopf import HopfModel

    x0, y0 = initial_state(len(w))
    model = HopfModel(Cmat=w, Dmat=d)
    model.params.update(duration=duration, dt=DT, signalV=SPEED, a=A, w=OMEGA, coupling="diffusive",
                        xs_init=x0[:, None], ys_init=y0[:, None], sigma_ou=SIGMA if noise else 0.0)

    def run(ks, seeds):
        out = []
        for k in ks:  # neurolib's idiom: one numba-compiled run per parameter point
            for seed in seeds:
                model.params.update(K_gl=float(k), seed=int(seed))
                model.run()
                out.append(model.x[:, SAMPLE_EVERY - 1::SAMPLE_EVERY].T)
        return np.asarray(out)

    return run, "float64"


def tvb_runner(w, d, duration, noise):
    from tvb.datatypes.connectivity import Connectivity
    from tvb.simulator import coupling, integrators, models, monitors, simulator
    from tvb.simulator import noise as tvb_noise

    class HopfX(models.SupHopf):
        """SupHopf with only x coupled (TVB's SupHopf couples x and y): the same equations
        as the other engines."""

        cvar = np.array([0], dtype=np.int32)

        def dfun(self, state, c, local_coupling=0.0):
            x, y = state[0], state[1]
            growth = self.a - x * x - y * y
            return np.stack([growth * x - self.omega * y + c[0], growth * y + self.omega * x])

    n = len(w)
    x0, y0 = initial_state(n)
    conn = Connectivity(weights=w, tract_lengths=d, speed=np.array([SPEED]), centres=np.zeros((n, 3)),
                        region_labels=np.array([f"R{i}" for i in range(n)]))
    conn.configure()
    # TVB starts counting steps at len(history) - 1 and samples when step % 10 == 0: a
    # history of 10 m + 1 rows (>= the horizon) puts its samples on the same steps as ours.
    rows = -(-int(lags(d).max()) // SAMPLE_EVERY) * SAMPLE_EVERY + 1
    history = np.zeros((rows, 2, n, 1))
    history[:, 0, :, 0], history[:, 1, :, 0] = x0, y0

    def run(ks, seeds):
        out = []
        for k in ks:  # TVB's idiom: one simulator per parameter point
            for seed in seeds:
                if noise:
                    integ = integrators.EulerStochastic(
                        dt=DT, noise=tvb_noise.Additive(nsig=np.array([SIGMA ** 2 / 2]),
                                                        random_stream=np.random.RandomState(seed)))
                else:
                    integ = integrators.EulerDeterministic(dt=DT)
                sim = simulator.Simulator(
                    model=HopfX(a=np.array([A]), omega=np.array([OMEGA]), variables_of_interest=("x",)),
                    connectivity=conn, coupling=coupling.Difference(a=np.array([k])), integrator=integ,
                    monitors=(monitors.SubSample(period=SAMPLE_EVERY * DT),), initial_conditions=history,
                    simulation_length=duration)
                sim.configure()
                (_, data), = sim.run()
                out.append(data[:, 0, :, 0])
        return np.asarray(out)

    return run, "float64"


def vbjax_runner(w, d, duration, noise):
    import jax
    import jax.numpy as jnp
    import vbjax as vb

    n = len(w)
    x0, y0 = initial_state(n)
    lag = lags(d)
    nh = int(lag.max())
    n_steps = int(round(duration / DT))
    wj, rows = jnp.asarray(w, jnp.float32), jnp.asarray(w.sum(1), jnp.float32)
    src = jnp.broadcast_to(jnp.arange(n)[None, :], (n, n))
    var0 = jnp.zeros((n, n), jnp.int32)

    def dfun(buf, x, t, k):
        # vbjax's idiom: the whole history lives in buf; the delayed read is one gather at
        # t - lag (all three indices as arrays: buf[t - lag, 0, src] first copies buf[:, 0]).
        xd = buf[t - lag, var0, src]
        c = k * (jnp.sum(wj * xd, axis=1) - rows * x[0])
        growth = A - x[0] ** 2 - x[1] ** 2
        return jnp.stack([growth * x[0] - OMEGA * x[1] + c, growth * x[1] + OMEGA * x[0]])

    _, loop = vb.make_sdde(DT, nh, dfun, SIGMA if noise else 0.0)
    # make_sdde keeps the whole run in its buffer, and each step then costs in proportion
    # to it (1000 ms: 3 s per run instead of 0.3 s). vbjax's remedy for long runs
    # (make_continuation) is to integrate chunks and roll the buffer; done here in a scan.
    chunk = min(1000, n_steps)
    n_chunks = n_steps // chunk

    def one(k, key):
        hist = jnp.broadcast_to(jnp.stack([x0, y0]).astype(jnp.float32), (nh + 1, 2, n))
        shape = (n_chunks, chunk, 2, n)
        zs = jax.random.normal(key, shape, jnp.float32) if noise else jnp.zeros(shape, jnp.float32)

        def run_chunk(buf, z):
            buf, xs = loop(buf.at[nh + 1:].set(z), k)
            return jnp.roll(buf, -chunk, axis=0), xs[SAMPLE_EVERY - 1::SAMPLE_EVERY, 0]

        _, xs = jax.lax.scan(run_chunk, jnp.concatenate([hist, zs[0]]), zs)
        return xs.reshape(-1, n)

    batched = jax.jit(jax.vmap(one))

    def run(ks, seeds):
        grid_k = jnp.asarray(np.repeat(ks, len(seeds)), jnp.float32)
        keys = jax.vmap(jax.random.key)(jnp.asarray(np.tile(seeds, len(ks))))
        return np.asarray(batched(grid_k, keys))

    return run, "float32"


def tvboptim_runner(w, d, duration, noise, graph="sparse", buffer="circular", samples="fold"):
    """tvboptim's network_dynamics (``Network`` + ``prepare``), swept with its parameter
    axes: ``DataAxis`` on the coupling strength ``G`` (and on the noise key), ``Space`` in
    zip mode and ``ParallelExecution`` with ``n_vmap`` = all runs, i.e. one ``jax.vmap`` (with
    ``--every-core``: ``n_pmap`` = the host devices, each vmapping its share).

    Same equations and numerics as massengine's Euler run (agreement ~2e-7, float32
    summation order): ``DelayedDifferenceCoupling`` is k sum_j w_ij (x_j(t - tau_ij) -
    x_i(t)); delays (tract length / speed, in ms) are read at ``rint(tau / dt)`` steps, like
    ``delay_rounding="round"``; ``Euler``; additive noise sigma sqrt(dt) z on x and y. Its
    ``SupHopf`` takes a 2-D delayed input (x and y both coupled), so, as for TVB, a subclass
    declares one delayed input and adds it to x only. Its history is the model's default
    initial state; the config (a pytree, meant to be edited) gets our per-region initial
    state and the constant history of x. Its Heun would hold the coupling within the step
    like massengine's (``recompute_coupling_per_stage=False``), unlike vbjax.

    The defaults are its fastest documented options (``tvboptim_options.py`` measures all
    eight; ``results_tvboptim_options.json``): ``graph="sparse"`` (``SparseDelayGraph``, an
    edge list, vs ``DenseDelayGraph``), ``buffer="circular"`` (vs its default ``"roll"``,
    which shifts the whole delay buffer every step) and ``samples="fold"``: the 1-ms samples
    kept by a streaming ``reduce=`` fold over blocks of 10 steps (the form of its streaming
    BOLD monitor) rather than ``"stack"``: every step stacked, every 10th taken afterwards as
    its ``SubSampling`` monitor does (10x the memory). With a block size, its noise is drawn
    per block inside the scan (fold_in of the key and the block index).
    """
    import jax
    import jax.numpy as jnp
    from tvboptim.execution import ParallelExecution
    from tvboptim.experimental.network_dynamics import Network, prepare
    from tvboptim.experimental.network_dynamics.coupling import DelayedDifferenceCoupling
    from tvboptim.experimental.network_dynamics.dynamics.tvb import SupHopf
    from tvboptim.experimental.network_dynamics.graph import DenseDelayGraph, SparseDelayGraph
    from tvboptim.experimental.network_dynamics.noise import AdditiveNoise
    from tvboptim.experimental.network_dynamics.solvers import Euler
    from tvboptim.types.spaces import DataAxis, Space

    class HopfX(SupHopf):
        """SupHopf with one delayed input, added to x only (the others' equations)."""

        COUPLING_INPUTS = {"delayed": 1}

        def dynamics(self, t, state, params, coupling, external):
            x, y = state[0], state[1]
            growth = params.a - x * x - y * y
            return jnp.stack([growth * x - params.omega * y + coupling.delayed[0],
                              growth * y + params.omega * x])

    n = len(w)
    x0, y0 = initial_state(n)
    n_steps = int(round(duration / DT))
    n_samples = n_steps // SAMPLE_EVERY
    graph_cls = {"sparse": SparseDelayGraph, "dense": DenseDelayGraph}[graph]
    network_graph = graph_cls(jnp.asarray(w, jnp.float32), jnp.asarray(d / SPEED, jnp.float32))
    coupling = DelayedDifferenceCoupling(incoming_states="x", local_states="x", G=0.1, buffer_strategy=buffer)
    net = Network(HopfX(a=A, omega=OMEGA), coupling, network_graph,
                  noise=AdditiveNoise(sigma=SIGMA) if noise else None)

    if samples == "fold":
        def init(template, _n_steps):
            return jnp.zeros((n_samples, n), template.dtype), jnp.array(0)

        def update(acc, block):  # block: (SAMPLE_EVERY steps, variables of interest, N)
            kept, i = acc
            return jax.lax.dynamic_update_slice(kept, block[-1:, 0], (i, 0)), i + 1

        solve, config = prepare(net, Euler(block_size=SAMPLE_EVERY), t0=0.0, t1=duration, dt=DT,
                                reduce=(init, update, lambda acc: acc[0]))
    else:
        full, config = prepare(net, Euler(), t0=0.0, t1=duration, dt=DT)

        def solve(c):
            return full(c).ys[SAMPLE_EVERY - 1::SAMPLE_EVERY, 0]
    config.initial_state.dynamics = jnp.asarray(np.stack([x0, y0]), jnp.float32)
    history = config.initial_state.coupling.delayed.history  # (H, 1, N)
    config.initial_state.coupling.delayed.history = jnp.broadcast_to(
        jnp.asarray(x0, jnp.float32)[None, None], history.shape)
    executors = {}

    def run(ks, seeds):
        key = (tuple(ks), tuple(seeds))
        if key not in executors:  # built once per grid, like a user's sweep script
            grid = config.copy()  # a structural copy: config itself keeps its values
            grid.coupling.delayed.G = DataAxis(np.repeat(ks, len(seeds)).astype(np.float32))
            if noise:
                grid.noise.key = DataAxis(jax.vmap(jax.random.PRNGKey)(jnp.asarray(np.tile(seeds, len(ks)))))
            runs = len(ks) * len(seeds)
            # Every host device (--every-core): its documented pmap over devices, vmap within.
            n_pmap = len(jax.devices()) if runs % len(jax.devices()) == 0 else 1
            executors[key] = ParallelExecution(solve, Space(grid, mode="zip"), n_vmap=runs // n_pmap, n_pmap=n_pmap)
        out = np.asarray(executors[key].run().results)
        return out.reshape(-1, n_samples, n)[: len(ks) * len(seeds)]

    assert not jax.config.jax_enable_x64
    return run, "float32"


RUNNERS = {
    "massengine": massengine_runner,
    "massengine_heun": lambda *a, **kw: massengine_runner(*a, integrator="heun", **kw),
    "brainmass": brainmass_runner,
    "neurolib": neurolib_runner,
    "tvb": tvb_runner,
    "vbjax": vbjax_runner,
    "tvboptim": tvboptim_runner,
}


def device_of(engine: str) -> dict:
    """The device the engine ran on: the JAX engines' first device (its kind names the card)."""
    if engine in ("neurolib", "tvb"):
        return {"device": "cpu", "device_kind": "cpu"}
    import jax

    device = jax.devices()[0]
    return {"device": device.platform, "device_kind": device.device_kind, "n_devices": len(jax.devices()),
            "jax": jax.__version__}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=RUNNERS)
    parser.add_argument("case", choices=("single", "sweep", "noise", "batch", "regions"))
    parser.add_argument("--n-k", type=int, default=32)
    parser.add_argument("--n-seeds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n-regions", type=int, default=76)
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--max-runs", type=int, default=1 << 20,
                        help="most runs timed per case (slow engines: their throughput is flat in runs)")
    parser.add_argument("--repeats", type=int, default=2, help="warm calls; the fastest is reported")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--traj", type=Path, help="save the x samples of the first runs (.npy)")
    parser.add_argument("--n-traj", type=int, default=4)
    parser.add_argument("--layout", default="auto", help="massengine only: the coupling layout")
    parser.add_argument("--device-time", action="store_true",
                        help="massengine only: also time engine.advance_runs alone (no host copy, no dataset)")
    parser.add_argument("--compilation-cache", type=Path, help="JAX persistent compilation cache folder")
    parser.add_argument("--every-core", action="store_true",
                        help="JAX engines: one CPU host device per core (massengine splits its sweep over them, "
                             "tvboptim runs ParallelExecution with n_pmap = the device count)")
    parser.add_argument("--step-by-step", action="store_true",
                        help="massengine only: the time loop without blocks (engine.block_size pinned to 1), "
                             "the loop before issue 23, for A/B measurements")
    args = parser.parse_args()
    if args.step_by_step:
        from massengine import engine

        engine.block_size = lambda *_: 1  # simulate.build asks it; 1 is the plain per-step loop
    if args.every_core:
        import jax

        jax.config.update("jax_num_cpu_devices", len(os.sched_getaffinity(0)))
    if args.compilation_cache:  # the settings of massengine.campaign.enable_compilation_cache
        import jax

        jax.config.update("jax_compilation_cache_dir", str(args.compilation_cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

    n_regions = args.n_regions if args.case == "regions" else 76
    w, d = connectome(n_regions)
    noise = args.case == "noise"
    ks = {
        "single": np.array([0.1]),
        "sweep": np.linspace(0.0, 0.3, args.n_k),
        "noise": np.linspace(0.0, 0.3, args.n_k),
    }.get(args.case, np.linspace(0.0, 0.3, args.batch))
    seeds = np.arange(args.n_seeds) if noise else np.array([0])
    runs_asked = len(ks) * len(seeds)
    if runs_asked > args.max_runs:  # a slow engine's throughput does not depend on the run count
        ks = ks[: max(1, args.max_runs // len(seeds))]
        seeds = seeds[: args.max_runs]
    start = time.perf_counter()
    factory = RUNNERS[args.engine]
    if args.engine.startswith("massengine"):
        run, dtype = factory(w, d, args.duration, noise, layout=args.layout)
    elif args.layout != "auto" or args.device_time:
        raise SystemExit("--layout and --device-time are massengine options.")
    else:
        run, dtype = factory(w, d, args.duration, noise)
    setup_s = time.perf_counter() - start
    first_s, out = timed(lambda: run(ks, seeds))
    first_result_s = process_age_s()
    warm_s = min(timed(lambda: run(ks, seeds))[0] for _ in range(args.repeats))
    runs = len(ks) * len(seeds)
    steps = int(round(args.duration / DT))
    result = {
        "engine": args.engine, "case": args.case, "n_regions": n_regions, "runs_asked": runs_asked,
        "runs_timed": runs, "duration_ms": args.duration, "dtype": dtype, "connectome": connectome.name,
        "setup_s": round(setup_s, 3), "first_call_s": round(first_s, 3), "warm_call_s": round(warm_s, 4),
        "compile_s": round(max(first_s - warm_s, 0.0), 3),
        "time_to_first_result_s": round(setup_s + first_s, 3),
        "process_to_first_result_s": round(first_result_s, 3),
        "region_steps_per_s": n_regions * steps * runs / warm_s,
    }
    if args.engine.startswith("massengine"):
        result["layout"] = args.layout
        result["step_by_step"] = args.step_by_step
    if args.device_time:
        try:  # the sweep's numbers stand even if this fails (e.g. one call too large for the device)
            call = run.device_call(ks, seeds)
            times = [timed(call)[0]]  # compiled by the sweep above unless it cut the run in pieces:
            if call.compiled():  # then this first call compiled and does not count
                times = []
            times += [timed(call)[0] for _ in range(args.repeats - len(times))]
            device_s = min(times)
            result.update(device_call_s=round(device_s, 4),
                          device_region_steps_per_s=n_regions * steps * runs / device_s)
        except Exception as exc:  # recorded in the result, not hidden
            result["device_time_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    if args.compilation_cache:
        result["compilation_cache"] = str(args.compilation_cache)
    result.update(peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  python=sys.version.split()[0], **device_of(args.engine))
    if args.traj:
        np.save(args.traj, np.asarray(out[: args.n_traj], np.float64))
    text = json.dumps(result)
    print(text)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
