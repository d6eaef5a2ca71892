"""Mutation check: plant each bug of MUTANTS in a scratch copy of the repository, run the
fast tests that should catch it, and report which were killed (a test failed) and which
survived (every test passed: a bug users could hit that the suite would not see).

Run before a release, from the repository root (it never touches the working tree):

    .venv/bin/python tests/mutation/run_mutants.py            # stop each run at its first failure
    .venv/bin/python tests/mutation/run_mutants.py --all --write  # every failing test; update RESULTS.md
    .venv/bin/python tests/mutation/run_mutants.py heun_predictor_noise report_best_k_argmin  # some only

Each mutant is an exact text replacement; if the code it targets has changed, the script
says so (``stale``) instead of silently testing nothing: update the mutant with the code.
Exit status: 0 if every mutant was killed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).with_name("RESULTS.md")

ENGINE_TESTS = ("tests/test_delay_direction.py", "tests/test_noise_drift.py")


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str  # the bug, in words
    file: str
    old: str  # exact text, found exactly once in ``file``
    new: str
    tests: tuple[str, ...]  # pytest arguments: the fast tests that should kill it


MUTANTS = [
    # ---- the four of issue 17, which survived every test before it --------------------------
    # (Not in CouplingTerm.__post_init__: Network re-creates each term once more, so a
    # transposition there is applied twice and cancels: an equivalent mutant.)
    Mutant("delays_transposed", "delays transposed when the network is built (delays[i, j] read as [j, i])",
           "massengine/network.py",
           "return CouplingTerm(coupling, weights, delays, coupled_var, target, params)",
           "return CouplingTerm(coupling, weights, None if delays is None else np.transpose(delays), coupled_var, "
           "target, params)",
           ENGINE_TESTS),
    Mutant("delay_rounding_ignored", "delay_rounding ignored by simulate/sweep (always ceil), validation kept",
           "massengine/simulate.py",
           "else delay_steps(term.delays, s.dt, s.delay_rounding)",
           'else delay_steps(term.delays, s.dt, "ceil" if s.delay_rounding in ("ceil", "round", "floor") '
           "else s.delay_rounding)",
           ENGINE_TESTS),
    Mutant("heun_predictor_noise", "stochastic Heun predictor without the noise term",
           "massengine/integrators.py",
           "predictor = x + dt * slope + noise",
           "predictor = x + dt * slope",
           ENGINE_TESTS),
    Mutant("report_best_k_argmin", "report's best k by nanargmin instead of nanargmax",
           "massengine/report.py",
           "i = int(np.nanargmax(v.values))",
           "i = int(np.nanargmin(v.values))",
           ("tests/test_report_logic.py",)),
    # ---- more plausible bugs -----------------------------------------------------------------
    Mutant("lags_transposed_in_build", "lags transposed when the engine's arrays are built",
           "massengine/simulate.py",
           "else delay_steps(term.delays, s.dt, s.delay_rounding)",
           "else delay_steps(term.delays, s.dt, s.delay_rounding).T",
           ENGINE_TESTS),
    Mutant("sparse_lags_transposed", "edge-list layout reads each edge's lag transposed",
           "massengine/simulate.py",
           '"lags": _cast(lags[targets, sources], np.int32)',
           '"lags": _cast(lags[sources, targets], np.int32)',
           ENGINE_TESTS),
    Mutant("lag_off_by_one", "delayed read one step too old (x_{n - lag - 1})",
           "massengine/history.py",
           "starts = jnp.stack([jnp.mod(n - lags, horizon), sources], axis=-1)",
           "starts = jnp.stack([jnp.mod(n - lags - 1, horizon), sources], axis=-1)",
           ENGINE_TESTS),
    Mutant("diffusive_self_term_sign", "diffusive coupling adds k*deg*x_i instead of subtracting it",
           "massengine/couplings.py",
           "summed = summed - d * x_self",
           "summed = summed + d * x_self",
           ENGINE_TESTS),
    Mutant("laplacian_sign", "Laplacian built as W - D instead of D - W",
           "massengine/connectivity.py",
           "return xp.diag(degree) - w",
           "return w - xp.diag(degree)",
           ("tests/test_reference_simulator.py", "-k", "laplacian")),
    Mutant("history_rows_reversed", "user history array read in reverse time order",
           "massengine/history.py",
           "ring = jnp.roll(rows, 1, axis=0).at[0].set(signal0)",
           "ring = jnp.roll(rows[::-1], 1, axis=0).at[0].set(signal0)",
           ("tests/test_reference_simulator.py", "-k", "history")),
    Mutant("sample_one_step_late", "samples taken one step after their time (transient one step long)",
           "massengine/engine.py",
           "blocks, rest = divmod(spec.n_transient, spec.period)",
           "blocks, rest = divmod(spec.n_transient + 1, spec.period)",
           ENGINE_TESTS),
    Mutant("noise_scaled_by_dt", "noise increment sigma*dt*z instead of sigma*sqrt(dt)*z",
           "massengine/engine.py",
           'noise = params["sigma"][..., None] * jnp.sqrt(dt) * z',
           'noise = params["sigma"][..., None] * dt * z',
           ("tests/test_noise_drift.py",)),
    Mutant("noise_key_not_per_step", "every step draws the same normals (key not folded with the step)",
           "massengine/engine.py",
           "jax.random.normal(jax.random.fold_in(key, m), shape[:-1], dtype)",
           "jax.random.normal(jax.random.fold_in(key, 0), shape[:-1], dtype)",
           ("tests/test_noise_drift.py",)),
    Mutant("synchrony_crossing_no_interpolation", "synchrony crossing reported at the grid k, not interpolated",
           "massengine/report.py",
           "out[str(coupling)] = float(ks[i - 1] + frac * (ks[i] - ks[i - 1]))",
           "out[str(coupling)] = float(ks[i])",
           ("tests/test_report_logic.py",)),
    Mutant("report_ignores_target_fc", "best k always fitted to the SC, even with a target FC",
           "massengine/report.py",
           'metric = "fc_target_corr" if np.isfinite(summary["fc_target_corr"].values).any() else "fc_sc_corr"',
           'metric = "fc_sc_corr"',
           ("tests/test_report_logic.py",)),
    Mutant("ell_padding_weighted", "padded in-neighbour lists: padding slots keep the target's own weight",
           "massengine/engine.py",
           'a = jnp.where(numbers["slots"], a[targets, numbers["sources"]], 0)',
           'a = a[targets, numbers["sources"]]',
           ("tests/test_engine.py",)),
    Mutant("ell_slot_lags_from_source_row", "padded in-neighbour lists read the lag of the reverse edge",
           "massengine/simulate.py",
           "ell_lags[targets, slot] = lags[targets, sources]",
           "ell_lags[targets, slot] = lags[sources, targets]",
           ("tests/test_engine.py", "tests/test_reference_simulator.py")),
]


def tracked_files(root: Path) -> list[str]:
    """The files a clone would have, plus new files not ignored (what the tests see)."""
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, text=True, check=True).stdout
    return [f for f in out.split("\0") if f and (root / f).is_file()]


def scratch_copy(root: Path, dest: Path) -> None:
    for rel in tracked_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)


def run_tests(copy: Path, args, stop_first: bool, timeout: int) -> tuple[str, list[str], float]:
    """``(outcome, failing tests, seconds)``: outcome ``passed``, ``failed``, ``timeout`` or
    ``error`` (pytest could not run the tests: collection or usage error)."""
    env = {**os.environ, "PYTHONPATH": str(copy)}  # the copy's massengine, not the installed one
    env.pop("MASSENGINE_TEST_FAULT", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", *(["-x"] if stop_first else []),
           *args]
    start = time.perf_counter()
    try:
        run = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", [], time.perf_counter() - start
    seconds = time.perf_counter() - start
    failing = sorted(set(re.findall(r"^(?:FAILED|ERROR) (\S+)", run.stdout, re.M)))
    outcome = {0: "passed", 1: "failed"}.get(run.returncode, "error")
    if outcome == "error":
        failing = [run.stdout[-1500:] + run.stderr[-1500:]]
    return outcome, failing, seconds


def check_import_location(copy: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(copy)}
    where = subprocess.run([sys.executable, "-c", "import massengine; print(massengine.__file__)"], cwd=copy,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(where).resolve().is_relative_to(copy.resolve()):
        sys.exit(f"the tests would import massengine from {where}, not from the scratch copy {copy}")


def machine() -> str:
    import jax

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (f"{platform.node()}, {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"jax {jax.__version__} ({jax.default_backend()}); commit {commit}{' + local changes' if dirty else ''}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--all", action="store_true", help="run every test of a mutant (list every killer)")
    parser.add_argument("--write", action="store_true", help=f"record the result in {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per mutant (default 600)")
    opts = parser.parse_args(argv)
    unknown = set(opts.names) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"unknown mutant(s) {', '.join(sorted(unknown))}; known: {', '.join(m.name for m in MUTANTS)}")
    chosen = [m for m in MUTANTS if not opts.names or m.name in opts.names]

    rows = []
    with tempfile.TemporaryDirectory(prefix="massengine-mutants-") as tmp:
        copy = Path(tmp) / "repo"
        scratch_copy(ROOT, copy)
        check_import_location(copy)
        # the selections must pass on the unmutated code, or a "kill" means nothing
        for args in dict.fromkeys(m.tests for m in chosen):
            outcome, failing, _ = run_tests(copy, args, True, opts.timeout)
            if outcome != "passed":
                print(f"baseline {' '.join(args)}: {outcome}\n" + "\n".join(failing), file=sys.stderr)
                return 2
        print(f"baseline passed; {len(chosen)} mutant(s)", flush=True)
        for m in chosen:
            path = copy / m.file
            original = path.read_text()
            count = original.count(m.old)
            if count != 1:
                rows.append((m, f"stale ({count} matches)", [], 0.0))
                print(f"{m.name}: stale: its target text occurs {count} times in {m.file}", flush=True)
                continue
            path.write_text(original.replace(m.old, m.new))
            try:
                outcome, failing, seconds = run_tests(copy, m.tests, not opts.all, opts.timeout)
            finally:
                path.write_text(original)
            verdict = {"failed": "killed", "passed": "SURVIVED", "timeout": "killed (timeout)"}.get(outcome, "error")
            rows.append((m, verdict, failing, seconds))
            print(f"{m.name}: {verdict} in {seconds:.0f} s" + "".join(f"\n    {f}" for f in failing[:8]), flush=True)

    killed = sum(r[1].startswith("killed") for r in rows)
    print(f"{killed} of {len(rows)} mutants killed")
    if opts.write:
        write_results(rows, opts)
    return 0 if killed == len(rows) else 1


def write_results(rows, opts) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Mutation check: last result",
        "",
        f"Run {now} on {machine()}, by `tests/mutation/run_mutants.py"
        f"{' --all' if opts.all else ''}` (mutants and their tests are listed there).",
        "",
        f"**{sum(r[1].startswith('killed') for r in rows)} of {len(rows)} killed.**",
        "",
        "| mutant | planted bug | tests run | result | failing tests | s |",
        "|---|---|---|---|---|---|",
    ]
    for m, verdict, failing, seconds in rows:
        tests = " ".join(a.removeprefix("tests/") for a in m.tests)
        fails = "<br>".join(f"`{f.removeprefix('tests/')}`" for f in failing) if verdict != "error" else "(see output)"
        lines.append(f"| `{m.name}` | {m.what} | {tests} | {verdict} | {fails} | {seconds:.0f} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
