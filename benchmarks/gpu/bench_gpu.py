"""Issue 12's cases for massengine and its JAX peers on one machine (the GPU one), same run.

    python benchmarks/gpu/bench_gpu.py [--budget-s 330] [--out-dir benchmarks/gpu] [--smoke]
                                       [--engines massengine brainmass vbjax tvboptim]

Every measurement is one process of ``benchmarks/peers/run_engine.py`` (one engine, one case,
the work defined there: TVB 76 regions, Hopf, diffusive, 1 000 ms, dt 0.1 ms, float32, x every
1 ms), run one after the other, most important first, until the time budget is spent; what
is left is recorded as skipped, with the reason. Cases (issue 12's table and targets):

- ``single``: one run; ``sweep32``: the 32-k sweep; ``batch256``, ``batch2048``,
  ``batch16384``, ``batch65536``: that many runs; ``n500_1024``: N = 500 synthetic 10 %,
  1 024 runs; ``noise2048``: 2 048 runs with noise (32 k x 64 seeds).
- massengine: every layout of ``massengine.simulate.LAYOUTS`` (``auto``, ``dense``,
  ``sparse`` and ``ell``), each with the warm ``me.sweep`` end to
  end (dataset in host memory: ``region_steps_per_s``) and ``engine.advance_runs`` alone
  (``device_region_steps_per_s``); massengine's Heun beside vbjax (vbjax has only Heun).
- ``compile_cold`` / ``compile_warm``: the 32-k sweep in a fresh process with JAX's persistent
  compilation cache in ``<out-dir>/jax-cache``, twice: the second finds its programs there
  (``process_to_first_result_s``: process start to the first result). The cache is removed
  right after (the device tool brings back at most 8 files from $OUT).

Writes ``<out-dir>/results_<card>.json`` (one record per engine and case, with run_engine's
fields and the card's name, plus the targets of issue 12 as measured) and
``<out-dir>/throughput_<card>.png``; ``<out-dir>/records.jsonl`` gets each record as it comes.
Peers run from ``benchmarks/gpu/site/<peer>`` (wheels installed by ``install_wheels.sh``) or
else ``benchmarks/peers/.venvs/<peer>``; massengine from this checkout (``PYTHONPATH``).
``--smoke``: tiny sizes and one run of each kind of measurement, a CPU check (< 1 min).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNNER = ROOT / "benchmarks" / "peers" / "run_engine.py"
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_peers import AGREEMENT, OURS_FOR  # noqa: E402  (the peers' agreement rules, one place)

PEERS = ("brainmass", "vbjax", "tvboptim")
# case id -> (run_engine case, options); --smoke shrinks them (SMOKE).
CASES = {
    "single": ("single", {}),
    "sweep32": ("sweep", {"n_k": 32}),
    "batch256": ("batch", {"batch": 256}),
    "batch2048": ("batch", {"batch": 2048}),
    "batch16384": ("batch", {"batch": 16384, "repeats": 1}),
    "batch65536": ("batch", {"batch": 65536, "repeats": 1}),
    "n500_1024": ("regions", {"n_regions": 500, "batch": 1024}),
    "noise2048": ("noise", {"n_k": 32, "n_seeds": 64, "repeats": 1}),
}
SMOKE = {
    "sweep32": {}, "batch256": {"batch": 4}, "batch2048": {"batch": 8},  # sweep32: the agreement runs
    "batch16384": {"batch": 16}, "batch65536": {"batch": 32},
    "n500_1024": {"n_regions": 40, "batch": 4}, "noise2048": {"n_k": 2, "n_seeds": 2},
}
TARGET_CASES = ("sweep32", "batch2048", "n500_1024", "batch16384")


def layouts() -> list[str]:
    """massengine's layouts, read from the checkout (``dense``, ``sparse``, ``ell``)."""
    code = "from massengine.simulate import LAYOUTS; print(' '.join(LAYOUTS))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=engine_env("massengine"))
    if done.returncode != 0:
        raise SystemExit(f"cannot import massengine from {ROOT}:\n{done.stderr[-2000:]}")
    return done.stdout.split()


def engine_env(engine: str) -> dict:
    env = dict(os.environ)
    data = HERE / "data"
    if data.is_dir() and "BENCH_SHARED_DATA" not in env:
        env["BENCH_SHARED_DATA"] = str(data)  # the connectomes carried to the GPU machine
    if engine.startswith("massengine"):
        path = [str(ROOT)]
    else:
        site = HERE / "site" / engine
        path = [str(site)] if site.is_dir() else []
    env["PYTHONPATH"] = os.pathsep.join(path + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def python_of(engine: str) -> str | None:
    """The interpreter for ``engine``: this one for massengine and for peers installed from
    wheels (benchmarks/gpu/site/<peer>, on PYTHONPATH), else the peer's own venv."""
    if engine.startswith("massengine") or (HERE / "site" / engine).is_dir():
        return sys.executable
    venv = ROOT / "benchmarks" / "peers" / ".venvs" / engine / "bin" / "python"
    return str(venv) if venv.exists() else None


class Plan:
    """Runs processes in order while the budget lasts; records every outcome."""

    def __init__(self, budget_s: float, per_process_s: float, workdir: Path, duration: float, log: Path,
                 dry: bool = False):
        self.dry = dry  # --list: print the runs in order, run nothing
        self.deadline = time.monotonic() + budget_s
        self.per_process_s, self.workdir, self.duration = per_process_s, workdir, duration
        self.records: list[dict] = []
        self.seen: set = set()
        self.log = log  # every record as it comes (JSON lines), in case the run is cut short
        log.write_text("")

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, engine, case_id, options, layout="auto", extra=(), label=None, traj=False):
        label = label or case_id
        key = (engine, label, layout)
        if key in self.seen:
            return None
        self.seen.add(key)
        base = {"engine": engine, "case_id": label, "layout": layout if engine.startswith("massengine") else None}
        python = python_of(engine)
        if python is None:
            return self._add({**base, "skipped": f"{engine} is not installed (benchmarks/gpu/README.md)"})
        if self.left() < 10:
            return self._add({**base, "skipped": f"time budget spent ({self.left():.0f} s left)"})
        case, opts = options
        out = self.workdir / f"{engine}-{label}-{layout}.json"
        cmd = [python, str(RUNNER), engine, case, "--out", str(out), "--duration", str(self.duration)]
        for name, value in opts.items():
            cmd += [f"--{name.replace('_', '-')}", str(value)]
        if engine.startswith("massengine"):
            cmd += ["--layout", layout]
        if traj:
            cmd += ["--traj", str(out.with_suffix(".npy"))]
        cmd += list(extra)
        if self.dry:
            print(f"{engine:<16}{label:<14}{base['layout'] or '':<8}", " ".join(cmd[3:4] + cmd[7:]))
            return None
        timeout = max(1.0, min(self.per_process_s, self.left()))
        print(f"[{self.left():5.0f} s left] {engine} {label} {layout if engine.startswith('massengine') else ''}",
              flush=True)
        start = time.monotonic()
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=engine_env(engine))
        except subprocess.TimeoutExpired:
            return self._add({**base, "error": f"timed out after {timeout:.0f} s", "wall_s": round(timeout, 1)})
        wall = round(time.monotonic() - start, 1)
        if done.returncode != 0 or not out.exists():
            lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
            err = next((ln for ln in reversed(lines) if "Error" in ln or "error" in ln), lines[-1])
            print("   ", err[:300], flush=True)
            return self._add({**base, "error": err[:500], "returncode": done.returncode, "wall_s": wall})
        rec = {**base, **json.loads(out.read_text()), "wall_s": wall}
        if traj:
            rec["traj"] = str(out.with_suffix(".npy"))
        keys = ("runs_timed", "warm_call_s", "region_steps_per_s", "device_region_steps_per_s",
                "process_to_first_result_s")
        print("    " + ", ".join(f"{k} {rec[k]:.4g}" for k in keys if k in rec), flush=True)
        return self._add(rec)

    def _add(self, rec):
        if "skipped" in rec:
            print(f"    skipped: {rec['skipped']}", flush=True)
        self.records.append(rec)
        with self.log.open("a") as f:
            f.write(json.dumps({k: v for k, v in rec.items() if k != "traj"}) + "\n")
        return rec


def compile_pair(plan: Plan, sweep, cache_dir: Path):
    """The 32-k sweep in two fresh processes sharing a persistent compilation cache that
    starts empty: the second is compile + first result with a warm cache. The cache is then
    removed (under $OUT on the GPU machine, which brings back at most 8 files)."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    try:
        for label in ("compile_cold", "compile_warm"):
            plan.run("massengine", "sweep32", sweep, label=label,
                     extra=["--compilation-cache", str(cache_dir), "--repeats", "1"])
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


def schedule(plan: Plan, engines, layout_list, smoke: bool, cache_dir: Path):
    """The runs, most important first: issue 12's targets, then the layouts, then the rest."""
    def case(cid):
        kind, opts = CASES[cid]
        return kind, {**opts, **(SMOKE.get(cid, {}) if smoke else {})}

    me = "massengine" in engines
    dev = ["--device-time"]
    peers = [p for p in PEERS if p in engines]
    if smoke:  # every kind of measurement once, in under a minute on 2 CPU cores
        for cid in ("sweep32", "n500_1024", "noise2048"):
            if me:
                plan.run("massengine", cid, case(cid), extra=dev, traj=cid == "sweep32")
        if me:
            compile_pair(plan, case("sweep32"), cache_dir)
        for layout in layout_list if me else ():
            plan.run("massengine", "batch2048", case("batch2048"), layout=layout, extra=dev)
        for peer in peers:
            if peer == "vbjax" and me:
                plan.run("massengine_heun", "sweep32", case("sweep32"), extra=dev, traj=True)
            plan.run(peer, "sweep32", case("sweep32"), traj=True)
        return
    # 1. The targets: massengine (auto layout) and each peer on the target cases.
    for cid in ("sweep32", "batch2048", "n500_1024"):
        if me:
            plan.run("massengine", cid, case(cid), extra=dev, traj=cid == "sweep32")
        for peer in peers:
            if peer == "vbjax" and cid == "n500_1024":
                continue  # its dense (N, N) gather per step; not in issue 12's table
            if peer == "vbjax" and me:
                plan.run("massengine_heun", cid, case(cid), extra=dev, traj=cid == "sweep32")
            plan.run(peer, cid, case(cid), traj=cid == "sweep32")
        if cid == "sweep32" and me:
            compile_pair(plan, case("sweep32"), cache_dir)
    if me:
        plan.run("massengine", "batch16384", case("batch16384"), extra=dev)
    # 2. Every layout on the target cases.
    for cid in ("sweep32", "batch2048", "n500_1024", "batch16384"):
        for layout in layout_list:
            if me:
                plan.run("massengine", cid, case(cid), layout=layout, extra=dev)
    # 3. The other cases of the table, then the peers' largest batch, then 65 536 runs.
    for cid in ("single", "batch256", "noise2048"):
        if me:
            plan.run("massengine", cid, case(cid), extra=dev)
        for peer in peers:
            plan.run(peer, cid, case(cid))
    for peer in peers:
        plan.run(peer, "batch16384", case("batch16384"))
    for cid in ("single", "batch256", "noise2048"):
        for layout in layout_list:
            if me:
                plan.run("massengine", cid, case(cid), layout=layout, extra=dev)
    for engine in (["massengine"] if me else []) + peers:
        plan.run(engine, "batch65536", case("batch65536"), extra=dev if engine == "massengine" else ())
    if me:
        for layout in layout_list:
            plan.run("massengine", "batch65536", case("batch65536"), layout=layout, extra=dev)


def best(records, engine, case_id, key="region_steps_per_s", layouts_ok=None):
    vals = [r for r in records if r["engine"] == engine and r["case_id"] == case_id and key in r
            and (layouts_ok is None or r.get("layout") in layouts_ok)]
    return max(vals, key=lambda r: r[key]) if vals else None


def targets(records) -> dict:
    """Issue 12's targets as measured in this run (None where a side is missing)."""
    out = {}

    def ratio(cid, peer, key="region_steps_per_s", need=3.0):
        mine = best(records, "massengine", cid, key, ["auto"])
        theirs = best(records, peer, cid)
        if mine and theirs:
            value = mine[key] / theirs["region_steps_per_s"]
            return {"massengine_auto": mine[key], peer: theirs["region_steps_per_s"], "ratio": value,
                    "needed": need, "met": value >= need}
        return None

    out["sweep32_vs_brainmass"] = ratio("sweep32", "brainmass")
    out["batch2048_device_vs_brainmass"] = ratio("batch2048", "brainmass", key="device_region_steps_per_s")
    out["batch2048_sweep_vs_brainmass"] = ratio("batch2048", "brainmass")
    out["n500_1024_vs_brainmass"] = ratio("n500_1024", "brainmass")
    r = best(records, "massengine", "batch2048", "device_call_s", ["auto"])
    if r:
        value = r["warm_call_s"] / r["device_call_s"]
        out["batch2048_sweep_over_device_time"] = {"sweep_s": r["warm_call_s"], "device_s": r["device_call_s"],
                                                   "ratio": value, "needed": "<= 1.5", "met": value <= 1.5}
    big, ref = best(records, "massengine", "batch16384", layouts_ok=["auto"]), best(
        records, "massengine", "batch2048", layouts_ok=["auto"])
    if ref:
        failed = next((r for r in records if r["engine"] == "massengine" and r["case_id"] == "batch16384"
                       and r.get("layout") == "auto" and "error" in r), None)
        out["batch16384_completes"] = {
            "completed": big is not None, "error": failed and failed["error"],
            "region_steps_per_s": big and big["region_steps_per_s"], "batch2048": ref["region_steps_per_s"],
            "met": bool(big and big["region_steps_per_s"] >= ref["region_steps_per_s"])}
    warm = next((r for r in records if r["case_id"] == "compile_warm" and "process_to_first_result_s" in r), None)
    if warm:
        value = warm["process_to_first_result_s"]
        out["compile_first_result_warm_cache_s"] = {"value": value, "needed": "<= 2", "met": value <= 2.0}
    return out


def agreement(records) -> dict:
    """max |x_peer - x_ours| / max |x_ours| over the first runs of the 32-k sweep (bench_peers' rule)."""
    out = {}
    def traj(engine):
        return next((r for r in records if r["engine"] == engine and r["case_id"] == "sweep32" and "traj" in r
                     and r.get("layout") in (None, "auto")), None)

    for peer in PEERS:
        mine, theirs = traj(OURS_FOR[peer]), traj(peer)
        if not mine or not theirs:
            continue
        a, b = np.load(mine["traj"]), np.load(theirs["traj"])
        rel = [float(np.max(np.abs(a[i] - b[i])) / np.max(np.abs(a[i]))) for i in range(min(len(a), len(b)))]
        tol, why = AGREEMENT[peer]
        out[peer] = {"compared_with": OURS_FOR[peer], "max_rel_diff_per_run": rel, "tolerance": tol,
                     "agrees": max(rel) <= tol, "why": why}
    return out


def plot(records, path: Path, card: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [c for c in CASES if any(r["case_id"] == c and "region_steps_per_s" in r for r in records)]
    series = {}  # label -> {case: value}
    for r in records:
        if "region_steps_per_s" not in r or r["case_id"] not in CASES:
            continue
        if r["engine"].startswith("massengine"):
            name = r["engine"] + ("" if r.get("layout") == "auto" else f" [{r['layout']}]")
            series.setdefault(name + " sweep", {})[r["case_id"]] = r["region_steps_per_s"]
            if "device_region_steps_per_s" in r:
                series.setdefault(name + " device", {})[r["case_id"]] = r["device_region_steps_per_s"]
        else:
            series.setdefault(r["engine"], {})[r["case_id"]] = r["region_steps_per_s"]
    if not cases:
        return
    fig, ax = plt.subplots(figsize=(max(8, 1.8 * len(cases)), 5.0), constrained_layout=True)
    names = sorted(series)
    colors = {name: plt.cm.tab20(i % 20) for i, name in enumerate(names)}
    width = 0.9 / max(1, max(sum(c in v for v in series.values()) for c in cases))
    for j, c in enumerate(cases):  # the engines measured on case c, side by side around x = j
        present = [n for n in names if c in series[n]]
        for i, name in enumerate(present):
            x = j + (i - (len(present) - 1) / 2) * width
            ax.bar(x, series[name][c], width, color=colors[name], label=name if j == min(
                k for k, cc in enumerate(cases) if cc in series[name]) else None)
    ax.set_xticks(range(len(cases)), cases)
    ax.set(yscale="log", ylabel="region·steps / s (warm call)",
           title=f"Throughput per case, {card}: massengine 'sweep' = me.sweep end to end, 'device' = advance_runs")
    ax.title.set_fontsize(9)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.savefig(path, dpi=110)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=330.0, help="total time for all processes")
    parser.add_argument("--per-process-s", type=float, default=120.0, help="timeout of one process")
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--engines", nargs="+", default=["massengine", *PEERS])
    parser.add_argument("--layouts", nargs="+", help="massengine layouts besides auto (default: all in LAYOUTS)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (30 ms runs, a handful of runs): a CPU check")
    parser.add_argument("--list", action="store_true", help="print the runs in their order and exit")
    args = parser.parse_args()
    started = time.monotonic()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    layout_list = [x for x in (args.layouts or (layouts() if "massengine" in args.engines else [])) if x != "auto"]
    if args.list:
        plan = Plan(args.budget_s, args.per_process_s, Path("."), 30.0 if args.smoke else 1000.0,
                    log=Path(os.devnull), dry=True)
        return schedule(plan, args.engines, layout_list, args.smoke, args.out_dir / "jax-cache")
    with tempfile.TemporaryDirectory() as workdir:
        plan = Plan(args.budget_s, args.per_process_s, Path(workdir), 30.0 if args.smoke else 1000.0,
                    log=args.out_dir / ("records-smoke.jsonl" if args.smoke else "records.jsonl"))
        schedule(plan, args.engines, layout_list, args.smoke, args.out_dir / "jax-cache")
        agree = agreement(plan.records)
        for r in plan.records:
            r.pop("traj", None)
    kinds = [r["device_kind"] for r in plan.records if "device_kind" in r and r["engine"].startswith("massengine")]
    kinds = kinds or [r["device_kind"] for r in plan.records if "device_kind" in r]
    card = kinds[0] if kinds else "unknown"
    for r in plan.records:
        r["card"] = r.get("device_kind", card)
    name = slug(card) + ("-smoke" if args.smoke else "")
    result = {
        "card": card, "smoke": args.smoke, "budget_s": args.budget_s,
        "elapsed_s": round(time.monotonic() - started, 1),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "layouts": ["auto", *layout_list], "targets": targets(plan.records), "agreement": agree,
        "records": plan.records,
    }
    json_path, png_path = args.out_dir / f"results_{name}.json", args.out_dir / f"throughput_{name}.png"
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    plot(plan.records, png_path, card)
    print(table(plan.records))
    print(json.dumps({"card": card, "elapsed_s": result["elapsed_s"], "targets": result["targets"],
                      "agreement": {k: v["agrees"] for k, v in agree.items()}}, indent=1))
    print(f"wrote {json_path} and {png_path}")


def table(records) -> str:
    """One line per record: what the device tool's reply (the end of the output) shows."""
    lines = [f"{'engine':<16}{'case':<14}{'layout':<8}{'runs':>7}{'sweep r·s/s':>13}{'device r·s/s':>14}"
             f"{'first res. s':>13}  note"]
    def num(r, key, fmt=".3g"):
        return format(r[key], fmt) if key in r else "-"

    for r in records:
        note = r.get("skipped") or r.get("error") or r.get("device_time_error") or ""
        lines.append(f"{r['engine']:<16}{r['case_id']:<14}{r.get('layout') or '':<8}{num(r, 'runs_timed', 'd'):>7}"
                     f"{num(r, 'region_steps_per_s'):>13}{num(r, 'device_region_steps_per_s'):>14}"
                     f"{num(r, 'process_to_first_result_s', '.2f'):>13}  {note[:60]}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
