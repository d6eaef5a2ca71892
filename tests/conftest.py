import sys
from pathlib import Path

import jax
import numpy as np
import pytest

# Shapes must match exactly: a silent broadcast in a kernel is a bug (diffrax's habit).
jax.config.update("jax_numpy_rank_promotion", "raise")

sys.path.insert(0, str(Path(__file__).parent))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def example():
    import massengine as me

    return me.datasets.load("example_connectome")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
