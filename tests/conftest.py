import os
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

# Shapes must match exactly: a silent broadcast in a kernel is a bug (diffrax's habit).
jax.config.update("jax_numpy_rank_promotion", "raise")

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
