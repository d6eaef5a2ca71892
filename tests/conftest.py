import os
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

# Shapes must match exactly: a silent broadcast in a kernel is a bug (diffrax's habit).
jax.config.update("jax_numpy_rank_promotion", "raise")
# Four host devices, as massengine.use_cpu_cores(4) gives a user: every default sweep of 16 or
# more runs is then split over devices (massengine/devices.py), and tests/test_devices.py
# compares those splits with one device bit for bit.
N_TEST_DEVICES = 4
jax.config.update("jax_num_cpu_devices", N_TEST_DEVICES)

sys.path.insert(0, str(Path(__file__).parent))

# Real connectomes are not redistributed: the tests that use them look in $MASSENGINE_DATA
# (CI sets it: .ci/run), else in shared/data beside the checkout.
SHARED_DATA = Path(os.environ.get("MASSENGINE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "config" / "test" / "tiny.yaml"


def snakemake(*args, workdir, timeout=600, env=None):
    """Run the real `snakemake` command on the repository's workflow in ``workdir``."""
    import subprocess

    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def campaign(tmp_path_factory):
    """The tiny campaign, run once, uninterrupted: (workdir, output_dir)."""
    work = tmp_path_factory.mktemp("campaign")
    out = work / "out"
    run = snakemake("--configfile", str(TINY), "--config", f"output_dir={out}", workdir=work)
    assert run.returncode == 0, run.stderr[-3000:]
    return work, out


@pytest.fixture(scope="session")
def example():
    import massengine as me

    return me.datasets.load("example_connectome")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def chunk_stores(out, coupling, stage="simulations"):
    """A finished campaign's stores of ``coupling`` (``stage``: simulations or metrics) in k
    order. Stores are named by content (massengine/chunks.py); ``[0]`` is the chunk with
    the smallest k values, as ``chunk0000`` was before."""
    import json

    sims = Path(out) / "simulations" / coupling
    first_k = {}
    for store in sims.glob("*.zarr"):
        attrs = json.loads((store / "zarr.json").read_text())["attributes"]
        first_k[store.name] = json.loads(attrs["chunk_k"])[0]
    return [Path(out) / stage / coupling / name for name in sorted(first_k, key=first_k.get)]


def chunk_names(configfile, coupling, output_dir, **changes):
    """The store names (k order) a fresh campaign of ``configfile`` plans for ``coupling``,
    computed as the workflow does (schema defaults, the simulate slice, massengine.chunks)."""
    import yaml
    from snakemake.utils import validate

    import massengine.chunks as mechunks
    import massengine.config as mecfg

    config = {**yaml.safe_load(Path(configfile).read_text()), "output_dir": str(output_dir), **changes}
    validate(config, str(mecfg.schema_path()))
    digest = mechunks.connectome_digest(mecfg.load_connectome(config))
    key = mechunks.slice_key(mecfg.stage_config(config, "simulate", coupling), digest)
    return [f"{mechunks.chunk_id(key, [float(k) for k in ks])}.zarr" for ks in mecfg.k_chunks(config)]
