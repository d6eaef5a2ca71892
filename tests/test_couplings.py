"""Coupling kernels against hand-written double loops (tests/reference.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import massengine as me

from reference import coupling_loop, sjr

KERNEL_PARAMS = {
    "diffusive": {},
    "additive": {"b": 0.3},
    "laplacian": {},
    "tanh": {"scale": 1.7},
    "sigmoidal": {"a": 1.3, "b": -0.2, "slope": 2.5, "midpoint": 0.4},
    "sigmoidal_jansen_rit": {"cmin": 0.001, "cmax": 0.006, "midpoint": 5.0, "r": 0.6},
    "kuramoto": {},
}


def random_network(rng, n, symmetric):
    w = rng.random((n, n)) * (rng.random((n, n)) < 0.6)
    if symmetric:
        w = (w + w.T) / 2
    np.fill_diagonal(w, 0.0)
    return w


def delayed_read(rng, n, delayed, scale=1.0):
    """(xd, x_self): with delays every read differs; without, xd[i, j] = x[j]."""
    x = rng.normal(size=n) * scale
    if delayed:
        return rng.normal(size=(n, n)) * scale, x
    return np.broadcast_to(x, (n, n)).copy(), x


@pytest.mark.parametrize("kind", sorted(KERNEL_PARAMS))
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("delayed", [True, False])
def test_kernel_matches_double_loop(kind, symmetric, delayed, rng):
    for _ in range(3):
        n = int(rng.integers(2, 9))
        w = random_network(rng, n, symmetric)
        scale = 8.0 if kind == "sigmoidal_jansen_rit" else 1.0
        xd, x = delayed_read(rng, n, delayed, scale)
        k = float(rng.uniform(0.1, 2.0))
        params = KERNEL_PARAMS[kind]
        kernel = getattr(me.couplings, kind)
        got = np.asarray(kernel(xd, x, w, k=k, **params), dtype=np.float64)
        want = coupling_loop(kind, xd, x, w, k, **params)
        # float32 kernels: 1e-5 relative to the size of the terms summed.
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * (1 + np.abs(want).max()))


@pytest.mark.parametrize("normalize", [None, "sym", "rw"])
def test_laplacian_variants_match_loop(normalize, rng):
    w = random_network(rng, 7, symmetric=False)
    xd, x = delayed_read(rng, 7, True)
    got = me.couplings.laplacian(xd, x, w, k=0.7, normalize=normalize)
    want = coupling_loop("laplacian", xd, x, w, 0.7, normalize=normalize)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


def test_laplacian_with_normalize_none_equals_diffusive_exactly(rng):
    for _ in range(5):
        w = random_network(rng, 9, symmetric=False)
        xd, x = delayed_read(rng, 9, True)
        lap = me.couplings.laplacian(xd, x, w, k=0.9)
        dif = me.couplings.diffusive(xd, x, w, k=0.9)
        np.testing.assert_array_equal(np.asarray(lap), np.asarray(dif))


def test_precomputed_laplacian_is_used(rng):
    w = random_network(rng, 6, symmetric=True)
    lap = me.laplacian_connectivity(w, normalize="sym")
    xd, x = delayed_read(rng, 6, True)
    got = me.couplings.laplacian(xd, x, w, k=0.5, laplacian=lap)
    want = me.couplings.laplacian(xd, x, w, k=0.5, normalize="sym")
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
    # an L unrelated to w proves the precomputed one is read
    other = me.laplacian_connectivity(random_network(rng, 6, True))
    np.testing.assert_allclose(
        np.asarray(me.couplings.laplacian(xd, x, w, k=0.5, laplacian=other)),
        coupling_loop("laplacian", xd, x, w, 0.5, laplacian=other), rtol=1e-5, atol=1e-6)


def test_sjr_on_linear_ramp_is_weights_times_sigmoid(rng):
    n = 10
    w = random_network(rng, n, symmetric=False)
    ramp = np.linspace(-5.0, 15.0, n)
    xd = np.broadcast_to(ramp, (n, n))
    got = me.couplings.sigmoidal_jansen_rit(xd, ramp, w, k=1.3)
    np.testing.assert_allclose(np.asarray(got), 1.3 * w @ sjr(ramp), rtol=1e-5)


def test_sjr_current_is_bounded_by_cmin_cmax(rng):
    w = random_network(rng, 8, symmetric=False)
    xd = rng.normal(scale=50.0, size=(8, 8))
    got = np.asarray(me.couplings.sigmoidal_jansen_rit(xd, xd[0], w, k=2.0, cmin=0.001, cmax=0.005))
    rows = w.sum(axis=1)
    assert np.all(got >= 2.0 * 0.001 * rows - 1e-7) and np.all(got <= 2.0 * 0.005 * rows + 1e-7)


@pytest.mark.parametrize("kind", sorted(KERNEL_PARAMS))
def test_wrong_source_shape_names_expected_shape(kind):
    kernel = getattr(me.couplings, kind)
    w = np.ones((4, 4))
    with pytest.raises(ValueError, match=r"shape \(N, N\) = \(4, 4\).*got \(4,\)"):
        kernel(np.ones(4), np.ones(4), w)
    with pytest.raises(ValueError, match=r"weights must have shape \(4, 4\)"):
        kernel(np.ones((4, 4)), np.ones(4), np.ones((3, 3)))


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown parameter 'scael' for coupling 'tanh'; "
                                         r"valid parameters: k, scale\. Did you mean 'scale'\?"):
        me.couplings.tanh(np.ones((2, 2)), np.ones(2), np.ones((2, 2)), scael=1.0)


def test_unknown_coupling_lists_valid_names():
    with pytest.raises(ValueError, match="unknown coupling 'difusive'; valid couplings: diffusive, "
                                         "additive.*Did you mean 'diffusive'"):
        me.apply_coupling("difusive", np.ones((2, 2)), np.ones(2), np.ones((2, 2)))


def test_kernel_signature_and_doc_come_from_the_registry():
    import inspect

    sig = inspect.signature(me.couplings.sigmoidal)
    assert list(sig.parameters) == ["xd", "x_self", "weights", "k", "a", "b", "slope", "midpoint"]
    assert sig.parameters["slope"].default == 1.0
    assert "sigmoid(slope * (a * S_i + b - midpoint))" in me.couplings.sigmoidal.__doc__


finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(sorted(KERNEL_PARAMS)), n=st.integers(1, 5), data=st.data())
def test_finite_inputs_give_finite_currents(kind, n, data):
    """Arbitrary finite reads and weights never produce an exception or a silent NaN."""
    xd = data.draw(arrays(np.float64, (n, n), elements=finite))
    x = data.draw(arrays(np.float64, (n,), elements=finite))
    w = data.draw(arrays(np.float64, (n, n), elements=st.floats(0, 10, width=32)))
    out = np.asarray(getattr(me.couplings, kind)(xd, x, w, k=0.5))
    assert out.shape == (n,) and np.all(np.isfinite(out))
