"""Goodness of fit against SciPy / NumPy hand computations, empirical inputs and their errors,
ranking a sweep, and the gradient fit of k on a synthetic ground truth."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import massengine as me
from massengine import fit, metrics


def test_ks_distance_equals_scipy_ks_2samp(rng):
    for n1, n2 in [(50, 50), (37, 120), (5, 300)]:
        x, y = rng.normal(size=n1), rng.normal(loc=0.3, scale=1.5, size=n2)
        assert fit.ks_distance(x, y) == pytest.approx(stats.ks_2samp(x, y).statistic, abs=1e-12)
    ties_x, ties_y = rng.integers(0, 5, 40).astype(float), rng.integers(0, 7, 60).astype(float)
    assert fit.ks_distance(ties_x, ties_y) == pytest.approx(stats.ks_2samp(ties_x, ties_y).statistic, abs=1e-12)
    assert fit.ks_distance(x, x) == 0.0
    assert np.isnan(fit.ks_distance([np.nan], x))


def test_fcd_ks_is_neurolibs_matrix_kolmogorov(rng):
    """neurolib: ks_2samp of the two matrices' strict upper triangles (np.triu_indices k=1)."""
    a, b = rng.uniform(-1, 1, (12, 12)), rng.uniform(-0.5, 1, (9, 9))
    want = stats.ks_2samp(a[np.triu_indices(12, 1)], b[np.triu_indices(9, 1)]).statistic
    assert fit.fcd_ks(a, b) == pytest.approx(want, abs=1e-12)


def test_fc_scores_by_hand(rng):
    x, y = rng.normal(size=(200, 6)), rng.normal(size=(150, 6))
    a, b = np.corrcoef(x.T), np.corrcoef(y.T)
    iu = np.triu_indices(6, 1)
    assert float(fit.fc_correlation(a, b)) == pytest.approx(np.corrcoef(a[iu], b[iu])[0, 1], abs=1e-12)
    assert float(fit.fc_rmse(a, b)) == pytest.approx(np.sqrt(np.mean((a[iu] - b[iu]) ** 2)), abs=1e-12)
    stack = np.stack([a, b, a])
    np.testing.assert_allclose(fit.fc_rmse(a, stack), [0.0, float(fit.fc_rmse(a, b)), 0.0], atol=1e-12)


def test_jax_fc_and_loss_equal_the_numpy_scores(rng):
    x = rng.normal(size=(300, 5)) + rng.normal(size=(300, 1))
    fc = np.asarray(fit.jax_fc(jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(fc, np.corrcoef(x.T), atol=1e-5)
    target = np.corrcoef(rng.normal(size=(300, 5)).T)
    want_corr = 1 - float(fit.fc_correlation(np.corrcoef(x.T), target))
    assert float(fit.jax_fc_loss(jnp.asarray(fc), target)) == pytest.approx(want_corr, abs=1e-5)
    assert float(fit.jax_fc_loss(jnp.asarray(fc), target, "rmse")) == pytest.approx(
        float(fit.fc_rmse(np.corrcoef(x.T), target)), abs=1e-5)


def bold_like(rng, subjects=3, n=6, t=240):
    shared = rng.normal(size=(subjects, 1, t))
    return rng.normal(size=(subjects, n, t)) + 0.7 * shared


def test_empirical_from_bold_computes_fc_and_fcd_like_the_simulated_side(rng):
    bold = bold_like(rng)
    target = fit.empirical(bold=bold, tr=720.0, fcd_window_ms=30 * 720.0, fcd_step_ms=5 * 720.0)
    assert target.n_subjects == 3 and target.n_regions == 6
    for s in range(3):
        np.testing.assert_allclose(target.fc[s], np.corrcoef(bold[s]), atol=1e-12)
        np.testing.assert_allclose(target.fcd[s], metrics.fcd(bold[s].T, 30, 5), atol=1e-12)
    np.testing.assert_allclose(target.group_fc, np.mean([np.corrcoef(b) for b in bold], axis=0), atol=1e-12)
    one = fit.empirical(bold=bold[0], tr=720.0)
    assert one.fc.shape == (1, 6, 6) and one.fcd is None


def test_goodness_of_fit_per_subject_and_group(rng):
    bold = bold_like(rng)
    target = fit.empirical(bold=bold, tr=720.0, fcd_window_ms=30 * 720.0, fcd_step_ms=5 * 720.0)
    simulated = bold_like(rng, subjects=1, t=300)[0].T  # (time, region) at the same TR
    gof = fit.goodness_of_fit(simulated, target, sample_period=720.0)
    sim_fc, iu = np.corrcoef(simulated.T), np.triu_indices(6, 1)
    sim_fcd = metrics.fcd(simulated, 30, 5)
    for s in range(3):
        fc = np.corrcoef(bold[s])
        assert float(gof.fc_corr[s]) == pytest.approx(np.corrcoef(sim_fc[iu], fc[iu])[0, 1], abs=1e-12)
        assert float(gof.fc_rmse[s]) == pytest.approx(np.sqrt(np.mean((sim_fc[iu] - fc[iu]) ** 2)), abs=1e-12)
        want = stats.ks_2samp(sim_fcd[np.triu_indices_from(sim_fcd, 1)],
                              target.fcd[s][np.triu_indices_from(target.fcd[s], 1)]).statistic
        assert float(gof.fcd_ks[s]) == pytest.approx(want, abs=1e-12)
    group = target.group_fc
    assert float(gof.fc_corr_group) == pytest.approx(np.corrcoef(sim_fc[iu], group[iu])[0, 1], abs=1e-12)
    pooled = np.concatenate([f[np.triu_indices_from(f, 1)] for f in target.fcd])
    assert float(gof.fcd_ks_group) == pytest.approx(
        stats.ks_2samp(sim_fcd[np.triu_indices_from(sim_fcd, 1)], pooled).statistic, abs=1e-12)
    # a subject against itself: perfect scores
    self_fit = fit.goodness_of_fit(bold[1].T, target, sample_period=720.0)
    assert float(self_fit.fc_corr[1]) == pytest.approx(1.0) and float(self_fit.fc_rmse[1]) < 1e-12
    assert float(self_fit.fcd_ks[1]) == 0.0
    # an FC-only target gives FC scores only
    fc_only = fit.goodness_of_fit(simulated, np.corrcoef(bold[0]))
    assert set(fc_only.data_vars) == {"fc_corr", "fc_rmse", "fc_corr_group", "fc_rmse_group"}


@pytest.mark.parametrize("kwargs,match", [
    ({"fc": np.ones((4, 5))}, r"fc must have shape \(N, N\) or \(S, N, N\)"),
    ({"fc": np.full((4, 4), np.nan)}, "fc contains 16 non-finite"),
    ({"fc": np.triu(np.ones((4, 4)))}, "fc must be symmetric"),
    ({"bold": np.ones((4, 100))}, "bold needs tr="),
    ({"bold": np.ones(100), "tr": 720.0}, r"bold must have shape \(N, T\) or \(S, N, T\)"),
    ({"bold": np.where(np.eye(4, 100) > 0, np.nan, 1.0), "tr": 720.0}, "bold contains 4 non-finite"),
    ({"bold": np.ones((4, 100)), "tr": 720.0}, "region 0 of subject 0 is constant"),
    ({}, "give exactly one of fc="),
])
def test_empirical_rejects_bad_input_with_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit.empirical(**kwargs)


def test_goodness_of_fit_rejects_mismatches(rng):
    target = fit.empirical(bold=bold_like(rng), tr=720.0, fcd_window_ms=30 * 720.0, fcd_step_ms=5 * 720.0)
    with pytest.raises(ValueError, match="region-count mismatch: simulated has 7 regions"):
        fit.goodness_of_fit(rng.normal(size=(300, 7)), target, sample_period=720.0)
    with pytest.raises(ValueError, match="sample_period="):
        fit.goodness_of_fit(rng.normal(size=(300, 6)), target)
    with pytest.raises(ValueError, match="simulated contains"):
        fit.goodness_of_fit(np.full((300, 6), np.nan), target, sample_period=720.0)
    with pytest.raises(ValueError, match="longer than the simulated run"):
        fit.goodness_of_fit(rng.normal(size=(20, 6)), target, sample_period=720.0)


# ---- the synthetic ground truth: Hopf on the example connectome, k = 0.5 ------------------

TRUTH = 0.5
RUN = dict(duration=2000.0, dt=0.2, transient=100.0, sample_every=5, noise=0.02)


@pytest.fixture(scope="module")
def hopf(example):
    return me.Network(me.nodes.Hopf(a=-0.05, w=0.2), weights=example.weights, distances=example.distances,
                      speed=10.0, k=TRUTH)


@pytest.fixture(scope="module")
def truth_fc(hopf):
    return metrics.functional_connectivity(me.simulate(hopf, seed=1, **RUN).x.values)


def test_best_k_of_a_sweep_is_the_true_k(hopf):
    target = metrics.functional_connectivity(me.simulate(hopf, seed=0, **RUN).x.values)
    sw = me.sweep(hopf, k=[0.1, 0.3, 0.5, 0.7, 0.9], **RUN)
    score = fit.score_sweep(sw, target)
    assert score.dims == ("coupling", "k") and float(score.sel(k=0.5).squeeze()) == pytest.approx(1.0, abs=1e-6)
    assert fit.best_k(sw, target) == 0.5
    assert fit.best_k(sw, target, metric="fc_rmse") == 0.5
    with pytest.raises(ValueError, match="region-count mismatch"):
        fit.score_sweep(sw, np.eye(5))


def test_gradient_fit_recovers_the_true_k_from_a_distant_start(hopf, truth_fc):
    """k = 0.5 recovered from k0 = 0.1 (5x off) to within 1 %, with the same noise seed
    (about 10 s on two shared CPU cores, most of it compiling the gradient)."""
    result = me.fit_k(hopf, truth_fc, k0=0.1, seed=1, steps=40, learning_rate=0.05, **RUN)
    assert result.values["k"] == pytest.approx(TRUTH, rel=0.01), result
    assert result.converged and result.iterations < 40
    assert result.loss[0] > 0.2 and result.loss[-1] < 1e-4
    assert result.fc_corr > 0.999 and result.fc.shape == (8, 8)
    assert result.path["k"][0] == 0.1 and len(result.path["k"]) == len(result.loss)


def test_fit_parameters_rejects_bad_requests(hopf, truth_fc):
    with pytest.raises(ValueError, match="cannot fit 'alpha'"):
        fit.fit_parameters(hopf, truth_fc, ("alpha",), duration=100.0)
    with pytest.raises(ValueError, match="region-count mismatch: the network has 8 regions"):
        fit.fit_k(hopf, np.eye(5), duration=100.0)
    with pytest.raises(ValueError, match="loss must be 'corr' or 'rmse'"):
        fit.fit_k(hopf, truth_fc, duration=100.0, loss="mse")
    with pytest.raises(ValueError, match="fitting 'noise' needs its start value"):
        fit.fit_parameters(hopf, truth_fc, ("noise",), duration=100.0)


def test_loss_gradient_matches_finite_differences_for_k_a_and_noise(hopf, truth_fc):
    """jax.grad of fc_loss (float64) against central differences, for every fittable kind."""
    loss = me.fc_loss(hopf, truth_fc, ("k", "a", "noise"), seed=1, precision="float64",
                      **{**RUN, "duration": 600.0})
    point = {"k": 0.3, "a": -0.05, "noise": 0.02}
    with jax.enable_x64(True):
        grad = jax.grad(loss)({n: jnp.asarray(v, jnp.float64) for n, v in point.items()})
        for name, h in [("k", 1e-5), ("a", 1e-6), ("noise", 1e-6)]:
            up, down = dict(point), dict(point)
            up[name] += h
            down[name] -= h
            fd = (float(loss(up)) - float(loss(down))) / (2 * h)
            assert float(grad[name]) == pytest.approx(fd, rel=1e-4, abs=1e-7), name


def test_joint_fit_of_k_and_a_lowers_the_loss(hopf, truth_fc):
    result = me.fit_parameters(hopf, truth_fc, ("k", "a"), init={"k": 0.2, "a": -0.1}, seed=1, steps=6,
                               learning_rate=0.03, **RUN)
    assert result.loss[-1] < 0.5 * result.loss[0]
    assert set(result.values) == {"k", "a"} and -5.0 <= result.values["a"] <= 5.0


def test_fc_loss_value_with_a_custom_fc_of_equals_the_numpy_computation(hopf, truth_fc):
    """The hook a BOLD fit uses: fc_of maps the recorded signal to an FC; here squaring the
    signal, recomputed independently in NumPy from integrate's output."""
    settings = dict(RUN, duration=600.0)
    loss = me.fc_loss(hopf, truth_fc, ("k",), seed=1, fc_of=lambda x: fit.jax_fc(x**2), **settings)
    x = np.asarray(me.integrate(hopf.replace(k=0.3), seed=1, **settings)["x"], np.float64)
    want = 1 - float(fit.fc_correlation(np.corrcoef((x**2).T), truth_fc))
    assert float(loss({"k": 0.3})) == pytest.approx(want, abs=1e-5)


def test_a_step_into_divergence_is_undone_and_the_step_size_halved(hopf, truth_fc):
    """At dt = 0.5 ms the diffusive Hopf network diverges (Euler) above k ~ 0.8: a big first
    step from 0.4 lands there; the fit backs off instead of returning NaN."""
    settings = dict(duration=600.0, dt=0.5, transient=50.0, sample_every=2, noise=0.02)
    assert me.simulate(hopf.replace(k=2.0), **settings).diverged.item()
    result = me.fit_k(hopf, truth_fc, k0=0.4, seed=1, steps=5, learning_rate=1.0, **settings)
    assert np.all(np.isfinite(result.loss)) and np.all(result.path["k"] < 2.0)
    assert len(result.loss) < result.iterations + 1  # some steps were undone
