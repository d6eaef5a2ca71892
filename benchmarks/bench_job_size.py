"""What a simulate job costs against its batch size: the measurements behind
``k_per_job: auto`` on a CPU (:mod:`massengine.job_size`).

    python benchmarks/bench_job_size.py [--batches 1 2 4 ...] [--repeats 3]
                                        [--json benchmarks/results_job_size.json]

Work: Hopf (a = 0.25, w = 0.2, the default campaign's node), diffusive, 1 s at dt 0.1 ms, x
every 1 ms, float32, one CPU device, on TVB's 76 regions (``../shared/data``, or
``$BENCH_SHARED_DATA``; refused without it) and on the bundled 8-region example. For each
batch size B, a warm ``me.sweep`` of B k values (the fastest of two calls), in rounds that
alternate the order of the sizes (ascending, descending, ...); per size the median and range
of the rounds. Then the least squares (of relative errors) through every median of both
networks of ``step(B, E) = STEP + STEP_ELEMENT * E + B * (RUN + RUN_ELEMENT * E)``, ``E`` the
network's elements (regions + edges): the constants of :mod:`massengine.job_size`. Also a
job's start-up: a fresh process that imports massengine and runs a 20 ms sweep from a warm
persistent compilation cache (what a simulate job pays besides its steps, Snakemake's own
launch not included).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402
import numpy as np  # noqa: E402

import massengine as me  # noqa: E402

HERE = Path(__file__).resolve().parent
DURATION, DT = 1000.0, 0.1
STEPS = int(round(DURATION / DT))


def networks():
    shared = Path(os.environ.get("BENCH_SHARED_DATA", HERE.parents[1] / "shared" / "data")) / "tvb_connectivity_76"
    if not (shared / "weights.npy").is_file():
        raise SystemExit(f"TVB's 76 regions not found in {shared}: set BENCH_SHARED_DATA to ../shared/data")
    w = np.load(shared / "weights.npy")
    np.fill_diagonal(w, 0)
    yield "tvb_connectivity_76", w / w.max(), np.load(shared / "tract_lengths.npy")
    example = me.datasets.load("example_connectome")
    yield "example_connectome", example.weights, example.distances


def sweep_call(w, d, batch):
    node = me.nodes.Hopf(a=0.25, w=0.2, initial={"x": 0.1 * np.cos(np.arange(len(w))), "y": 0.0})
    net = me.Network(node, weights=w, distances=d, speed=10.0, coupling="diffusive", k=0.0)
    ks = np.linspace(0.0, 0.5, batch)

    def call():
        start = time.perf_counter()
        samples = me.sweep(net, k=ks, duration=DURATION, dt=DT, sample_every=10, record=["x"]).x.values
        assert samples.size
        return time.perf_counter() - start

    call()  # compile
    return lambda: min(call(), call())


def start_up_s(repeats: int) -> dict:
    """Wall time of a fresh process importing massengine and running one short sweep, with
    the persistent compilation cache warmed by a first such process."""
    script = ("import jax, massengine as me; jax.config.update('jax_compilation_cache_dir', {cache!r});"
              "jax.config.update('jax_persistent_cache_min_compile_time_secs', 0);"
              "net = me.Network(me.nodes.Hopf(), weights=me.datasets.load('example_connectome').weights,"
              " distances=me.datasets.load('example_connectome').distances, speed=10.0, coupling='diffusive', k=0.1);"
              "me.sweep(net, k=[0.0, 0.1], duration=20.0, dt=0.1).x.values")
    with tempfile.TemporaryDirectory() as cache:
        command = [sys.executable, "-c", script.format(cache=cache)]
        env = {**os.environ, "JAX_PLATFORMS": "cpu"}
        subprocess.run(command, env=env, check=True)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(command, env=env, check=True)
            times.append(time.perf_counter() - start)
    return summary(times)


def fit_model(cases) -> dict:
    """Least squares of ``predicted / measured - 1`` over every (network, batch) median."""
    rows, names = [], ("STEP", "STEP_ELEMENT", "RUN", "RUN_ELEMENT")
    for case in cases:
        for b, s in case["us_per_step"].items():
            e, b = case["elements"], int(b)
            rows.append(np.array([1.0, e, b, b * e]) / s["median"])
    coef = np.linalg.lstsq(np.array(rows), np.ones(len(rows)), rcond=None)[0]
    predicted = [[round(float((coef[0] + coef[1] * c["elements"] + int(b) * (coef[2] + coef[3] * c["elements"]))
                              / s["median"]), 2) for b, s in c["us_per_step"].items()] for c in cases]
    return {**{f"{n}_us": float(v) for n, v in zip(names, coef, strict=True)}, "predicted_over_measured": predicted}


def summary(values) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=HERE / "results_job_size.json")
    args = parser.parse_args()
    cases = []
    for name, w, d in networks():
        calls = {b: sweep_call(w, d, b) for b in args.batches}
        rounds = {b: [] for b in args.batches}
        for r in range(args.repeats):
            for b in args.batches if r % 2 == 0 else args.batches[::-1]:
                rounds[b].append(1e6 * calls[b]() / STEPS)
        case = {"connectome": name, "regions": len(w), "edges": int(np.count_nonzero(w)),
                "elements": len(w) + int(np.count_nonzero(w)),
                "us_per_step": {str(b): summary(rounds[b]) for b in args.batches}}
        cases.append(case)
        for b in args.batches:
            m = case["us_per_step"][str(b)]["median"]
            print(f"{name}: {b:4d} runs {m:8.2f} us/step ({m / b:.3f} per run)", flush=True)
    fit = fit_model(cases)
    print("fit (us): " + ", ".join(f"{k} {v:.4g}" for k, v in fit.items() if k != "predicted_over_measured"))
    for case, ratios in zip(cases, fit["predicted_over_measured"], strict=True):
        print(f"{case['connectome']}: predicted/measured {ratios}")
    start = start_up_s(args.repeats)
    print(f"job start-up (process, import, cached compile, one short sweep): {start['median']:.2f} s "
          f"({start['min']:.2f}-{start['max']:.2f})")
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                          "jax": jax.__version__, "device_kind": jax.devices()[0].device_kind},
              "work": "Hopf a=0.25 w=0.2, diffusive, 1 s at dt 0.1 ms, x every 1 ms, float32, one CPU device, "
                      "warm me.sweep (fastest of 2), sizes alternated ascending/descending",
              "cases": cases, "fit": fit, "start_up_s": start}
    args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
