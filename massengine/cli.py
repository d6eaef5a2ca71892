"""Command line: ``massengine provenance STORE``, ``massengine check CONFIG``,
``massengine verify PATH``, ``massengine couplings``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _provenance(args) -> int:
    from .io import provenance_text

    print(provenance_text(args.store))
    return 0


def _verify(args) -> int:
    from .io import find_stores, verify_store

    root = Path(args.path)
    if not root.exists():
        raise ValueError(f"{args.path!r} does not exist; give a store or a campaign output directory.")
    stores = find_stores(root)
    if not stores:
        raise ValueError(f"no zarr store under {args.path!r}.")
    problems = [line for store in stores for line in verify_store(store)]
    for line in problems:
        print(line)
    bad = len({line.split(": ", 1)[0] for line in problems})
    if problems:
        print(f"{bad} of {len(stores)} store(s) failed verification. Move them aside or delete them and rerun "
              "snakemake (its start moves stores that fail verification aside and redoes them).")
        return 1
    print(f"{len(stores)} store(s) verified: complete and intact.")
    return 0


def _check(args) -> int:
    from . import config as mecfg

    try:
        config, problems = mecfg.check_file(args.config, args.schema)
    except Exception as err:  # never a traceback for a config: one line, then out
        config, problems = None, [f"{args.config}: {type(err).__name__}: {err}"]
    if not problems:  # a folder of someone else's files: the run would refuse it (massengine/outdir.py)
        from . import outdir

        try:
            outdir.adopt_or_refuse(mecfg.output_dir(config), dry=True)
        except outdir.NotACampaign as err:
            problems = [f"output_dir: {err}"]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    chunks = mecfg.k_chunks(config)
    points = mecfg.grid_points(config)
    rounds = mecfg.refine_settings(config)["rounds"]
    print(f"{args.config}: valid; {len(config['couplings'])} coupling(s) x {len(chunks)} chunk(s) = "
          f"{len(config['couplings']) * len(chunks)} simulate jobs"
          + (f" of {points} grid point(s) per k" if points > 1 else "")
          + (f", then up to {rounds} refinement round(s)" if rounds else ""))
    return 0


def _couplings(args) -> int:
    from .couplings import COUPLINGS

    for c in COUPLINGS.values():
        params = ", ".join(f"{n}={p.default!r}" for n, p in c.params.items())
        print(f"{c.name}: {c.formula}\n    params: {params}\n    when: {c.when}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="massengine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("provenance", help="print what produced a store")
    p.add_argument("store")
    p.set_defaults(func=_provenance)
    p = sub.add_parser("check", help="validate a campaign config without running it")
    p.add_argument("config")
    p.add_argument("--schema", default=None, help="the JSON Schema (default: the one shipped with massengine)")
    p.set_defaults(func=_check)
    p = sub.add_parser("verify", help="check stores (or every store of a campaign output directory) "
                       "against their manifests: missing, truncated or corrupt files")
    p.add_argument("path")
    p.set_defaults(func=_verify)
    p = sub.add_parser("couplings", help="list every coupling with its formula and parameters")
    p.set_defaults(func=_couplings)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
