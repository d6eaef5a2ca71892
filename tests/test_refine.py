"""Adaptive refinement: bisection finds known crossings, budgets hold, bad arguments are named."""

import math

import numpy as np
import pytest

from massengine import refine

COARSE = np.linspace(0.0, 1.5, 16)  # step 0.1


def sigmoid(k, centre=0.37, width=0.02):
    return 1.0 / (1.0 + np.exp(-(np.asarray(k) - centre) / width))


def run_rounds(metric, k0, *, tol, max_points, mode="crossing", threshold=0.5, max_rounds=200):
    """Refine until next_points returns nothing: (k, values, rounds run, points added per round)."""
    k = np.asarray(k0, dtype=float)
    added = []
    for rounds in range(1, max_rounds + 1):
        new = refine.next_points(k, metric(k), threshold=threshold, tol=tol, max_points=max_points, mode=mode)
        check_proposal(new, k, max_points)
        if new.size == 0:
            return k, metric(k), rounds, added
        added.append(new.size)
        k = np.sort(np.concatenate([k, new]))
    raise AssertionError(f"no convergence in {max_rounds} rounds")


def check_proposal(new, k, max_points):
    assert new.dtype == np.float64 and new.ndim == 1
    assert new.size <= max_points
    assert np.all(np.diff(new) > 0), "sorted and distinct"
    near = np.min(np.abs(new[:, None] - np.asarray(k)[None, :]), axis=1) if new.size else new
    assert np.all(near > 1e-12 * np.maximum(1.0, np.abs(new))), "a proposed k equals an existing one"


# ---- bisection -------------------------------------------------------------------------------


@pytest.mark.parametrize("tol", [1e-3, 3e-4, 0.07])
def test_bisection_finds_the_sigmoid_threshold(tol):
    k, values, rounds, added = run_rounds(sigmoid, COARSE, tol=tol, max_points=2)
    (bracket,) = refine.crossings(k, values, 0.5)
    lo, hi = bracket
    assert lo <= 0.37 <= hi
    assert hi - lo <= tol
    initial = 0.1  # the coarse bracket (0.3, 0.4)
    assert rounds <= math.ceil(math.log2(initial / tol)) + 1
    assert sum(added) <= (rounds - 1) * 2
    assert k.size == COARSE.size + sum(added)
    # one crossing: bisection adds exactly one point per round
    assert added == [1] * (rounds - 1)


def test_step_function_is_bisected_to_its_edge():
    edge = 0.537

    def step(k):
        return (np.asarray(k) >= edge).astype(float)

    tol = 1e-4
    k, values, rounds, _ = run_rounds(step, COARSE, tol=tol, max_points=3)
    ((lo, hi),) = refine.crossings(k, values, 0.5)
    assert lo < edge <= hi and hi - lo <= tol
    assert rounds <= math.ceil(math.log2(0.1 / tol)) + 1


def test_falling_crossing_and_value_equal_to_threshold():
    k = [0.0, 1.0, 2.0, 3.0]
    assert refine.crossings(k, [0.9, 0.8, 0.2, 0.1], 0.5) == [(1.0, 2.0)]
    # 0.5 has reached 0.5: the crossing is below it, not above
    assert refine.crossings(k, [0.1, 0.5, 0.9, 0.9], 0.5) == [(0.0, 1.0)]
    assert refine.crossings(k, [0.1, 0.4, 0.5, 0.9], 0.5) == [(1.0, 2.0)]
    # two crossings, both reported, ascending
    assert refine.crossings(k, [0.1, 0.9, 0.9, 0.2], 0.5) == [(0.0, 1.0), (2.0, 3.0)]


# ---- undefined (NaN) values ------------------------------------------------------------------


def test_nan_inside_a_bracket_is_spanned():
    k = np.linspace(0.0, 1.0, 11)
    values = sigmoid(k, centre=0.45)
    values[[4, 5]] = np.nan
    assert refine.crossings(k, values, 0.5) == [(pytest.approx(0.3), pytest.approx(0.6))]
    # the end gaps of the bracket are bisected, not its NaN middle
    new = refine.next_points(k, values, tol=0.01, max_points=4)
    np.testing.assert_allclose(new, [0.35, 0.55])
    # leading / trailing NaN belong to no interval
    values = np.array([np.nan, 0.1, 0.9, np.nan])
    assert refine.crossings([0, 1, 2, 3], values, 0.5) == [(1.0, 2.0)]
    assert refine.crossings([0, 1, 2], [np.nan, np.nan, np.nan], 0.5) == []
    assert refine.crossings([0, 1, 2], [0.1, np.inf, 0.2], 0.5) == []


def test_diverged_stretch_over_the_crossing_is_bracketed_to_its_edges():
    """The metric is NaN on (0.42, 0.47), where it crosses: refinement locates the edges."""

    def metric(k):
        k = np.asarray(k)
        return np.where((k > 0.42) & (k < 0.47), np.nan, sigmoid(k, centre=0.45))

    tol = 1e-3
    k, values, rounds, _ = run_rounds(metric, COARSE, tol=tol, max_points=2)
    ((lo, hi),) = refine.crossings(k, values, 0.5)
    assert 0.42 - tol <= lo <= 0.42 and 0.47 <= hi <= 0.47 + tol
    # it did not fill the undefined stretch at resolution tol
    inside = k[(k > 0.42) & (k < 0.47)]
    assert inside.size <= 2 * math.ceil(math.log2(0.1 / tol))
    assert rounds <= 2 * math.ceil(math.log2(0.1 / tol)) + 1


# ---- no crossing, steepest -------------------------------------------------------------------


def test_no_crossing_gives_nothing_in_crossing_mode_but_steepest_proposes():
    values = 0.4 * sigmoid(COARSE, centre=0.83)  # all below 0.5, steepest over (0.8, 0.9)
    assert refine.crossings(COARSE, values, 0.5) == []
    assert refine.next_points(COARSE, values, tol=1e-3, max_points=5).size == 0
    ((lo, hi),) = refine.steepest(COARSE, values, 1)
    assert (lo, hi) == (pytest.approx(0.8), pytest.approx(0.9))
    new = refine.next_points(COARSE, values, tol=1e-3, max_points=1, mode="steepest")
    np.testing.assert_allclose(new, [0.85])
    new = refine.next_points(COARSE, values, tol=1e-3, max_points=1, mode="both")
    np.testing.assert_allclose(new, [0.85])
    # a flat metric has nothing to refine in any mode
    flat = np.full(COARSE.shape, 0.2)
    for mode in refine.MODES:
        assert refine.next_points(COARSE, flat, tol=1e-3, max_points=5, mode=mode).size == 0


def test_steepest_ranks_by_change_ties_by_lower_k_and_skips_narrow_and_flat():
    k = [0.0, 1.0, 2.0, 2.05, 3.0, 4.0]
    values = [0.0, 0.25, 0.25, 0.75, 0.5, 0.75]
    # changes (exact in binary): 0.25, 0, 0.5, 0.25, 0.25
    assert refine.steepest(k, values, 3) == [(2.0, 2.05), (0.0, 1.0), (2.05, 3.0)]
    assert refine.steepest(k, values, 10, tol=0.1) == [(0.0, 1.0), (2.05, 3.0), (3.0, 4.0)]
    assert refine.steepest(k, values, 0) == []
    # flat intervals are never proposed
    assert refine.steepest(k, [0.2] * 6, 3) == []
    # NaN is skipped: the interval spans it
    assert refine.steepest([0, 1, 2, 3], [0.0, np.nan, 0.5, 0.6], 1) == [(0.0, 2.0)]


def test_both_mode_puts_crossings_first_then_steepest():
    k = np.array([0.0, 1.0, 2.0, 3.0])
    values = np.array([0.0, 0.45, 0.55, 1.0])  # crossing (1, 2) has the smallest change
    np.testing.assert_allclose(refine.next_points(k, values, tol=0.01, max_points=1, mode="both"), [1.5])
    np.testing.assert_allclose(refine.next_points(k, values, tol=0.01, max_points=2, mode="both"), [0.5, 1.5])
    np.testing.assert_allclose(refine.next_points(k, values, tol=0.01, max_points=2, mode="steepest"), [0.5, 2.5])
    np.testing.assert_allclose(refine.next_points(k, values, tol=0.01, max_points=9, mode="both"), [0.5, 1.5, 2.5])


# ---- budgets and proposals -------------------------------------------------------------------


def test_max_points_keeps_the_largest_changes_and_zero_switches_refinement_off():
    k = np.arange(8.0)
    values = np.array([0.0, 0.6, 0.0, 0.9, 0.1, 0.55, 0.45, 1.0])  # crossings in every interval
    changes = np.abs(np.diff(values))
    for m in range(1, 8):
        new = refine.next_points(k, values, tol=0.5, max_points=m)
        check_proposal(new, k, m)
        assert new.size == m
        want = np.sort(np.argsort(-changes, kind="stable")[:m] + 0.5)
        np.testing.assert_allclose(new, want)
    assert refine.next_points(k, values, tol=0.5, max_points=0).size == 0
    # wider than every gap: nothing left
    assert refine.next_points(k, values, tol=1.0, max_points=5).size == 0


def test_nothing_equal_to_an_existing_k_even_at_float_resolution():
    a = 1.0
    b = np.nextafter(np.nextafter(a, 2.0), 2.0)  # two ulps apart: the midpoint is one ulp away
    assert refine.next_points([0.0, a, b], [0.0, 0.0, 1.0], tol=1e-300, max_points=3).size == 0
    c = np.nextafter(a, 2.0)  # one ulp: the midpoint rounds to an end
    assert refine.next_points([a, c], [0.0, 1.0], tol=1e-300, max_points=3).size == 0


def test_repeated_rounds_never_repeat_a_point():
    rng = np.random.default_rng(3)
    k = np.sort(rng.uniform(0, 2, 12))

    def metric(x):
        return 0.5 + 0.5 * np.sin(4 * np.asarray(x))

    seen = k
    for _ in range(6):
        new = refine.next_points(seen, metric(seen), tol=1e-3, max_points=4, mode="both")
        check_proposal(new, seen, 4)
        seen = np.sort(np.concatenate([seen, new]))


# ---- several axes ----------------------------------------------------------------------------


def test_plan_round_refines_every_speed_slice():
    speeds = {3.0: 0.37, 10.0: 0.91}  # speed -> where its synchrony crosses 0.5
    metric = lambda k: np.stack([sigmoid(k, centre=c) for c in speeds.values()], axis=1)  # (n_k, speed)
    k = COARSE
    tol = 1e-3
    for _ in range(30):
        new = refine.plan_round(k, metric(k), tol=tol, max_points=2)
        check_proposal(new, k, 2)
        if new.size == 0:
            break
        k = np.sort(np.concatenate([k, new]))
    else:
        raise AssertionError("did not converge")
    values = metric(k)
    for j, centre in enumerate(speeds.values()):
        ((lo, hi),) = refine.crossings(k, values[:, j], 0.5)
        assert lo <= centre <= hi and hi - lo <= tol
    added = np.setdiff1d(k, COARSE)
    assert np.any(np.abs(added - 0.37) < 0.01) and np.any(np.abs(added - 0.91) < 0.01)
    assert np.all((np.abs(added - 0.37) < 0.1) | (np.abs(added - 0.91) < 0.1))


def test_plan_round_caps_by_the_largest_change_and_unions_shared_gaps():
    k = np.arange(4.0)
    values = np.array(
        [[0.0, 0.0, 0.0],
         [0.6, 0.9, 0.0],
         [0.6, 0.9, 0.0],
         [0.6, 0.9, 0.7]]
    )  # (k, speed, ...): crossings (0,1) in two slices, (2,3) in the third
    np.testing.assert_allclose(refine.plan_round(k, values, tol=0.1, max_points=1), [0.5])
    np.testing.assert_allclose(refine.plan_round(k, values, tol=0.1, max_points=5), [0.5, 2.5])
    # more than one other axis
    np.testing.assert_allclose(refine.plan_round(k, values.reshape(4, 3, 1), tol=0.1, max_points=5), [0.5, 2.5])
    # a 1-D curve is next_points
    np.testing.assert_allclose(refine.plan_round(k, values[:, 2], tol=0.1, max_points=5), [2.5])


# ---- validation ------------------------------------------------------------------------------

K = [0.0, 1.0, 2.0]
V = [0.1, 0.6, 0.9]


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: refine.next_points([[0.0, 1.0]], [[0.1, 0.9]], tol=0.1, max_points=1), "k must be 1-D"),
        (lambda: refine.next_points([0.0, 2.0, 1.0], V, tol=0.1, max_points=1), "k must be sorted"),
        (lambda: refine.next_points([0.0, 1.0, 1.0], V, tol=0.1, max_points=1), "k must not contain duplicates"),
        (lambda: refine.next_points([0.0, np.nan, 1.0], V, tol=0.1, max_points=1), "k must be finite"),
        (lambda: refine.next_points(["a", "b", "c"], V, tol=0.1, max_points=1), "k must be"),
        (lambda: refine.next_points(K, [0.1, 0.2], tol=0.1, max_points=1), "values must have the shape of k"),
        (lambda: refine.next_points(K, [[0.1]] * 3, tol=0.1, max_points=1), "values must have the shape of k"),
        (lambda: refine.plan_round(K, np.zeros((2, 3)), tol=0.1, max_points=1), "values must have shape"),
        (lambda: refine.plan_round(K, 0.5, tol=0.1, max_points=1), "values must have shape"),
        (lambda: refine.crossings(K, [0.1, 0.2]), "values must have the shape of k"),
        (lambda: refine.steepest(K, [0.1, 0.2], 1), "values must have the shape of k"),
        (lambda: refine.next_points(K, V, tol=0.0, max_points=1), "tol must be > 0"),
        (lambda: refine.next_points(K, V, tol=-1.0, max_points=1), "tol must be > 0"),
        (lambda: refine.next_points(K, V, tol=np.nan, max_points=1), "tol must be > 0"),
        (lambda: refine.next_points(K, V, tol="0.1", max_points=1), "tol must be a real number"),
        (lambda: refine.steepest(K, V, 1, tol=0.0), "tol must be > 0"),
        (lambda: refine.next_points(K, V, tol=0.1, max_points=-1), "max_points must be >= 0"),
        (lambda: refine.next_points(K, V, tol=0.1, max_points=1.5), "max_points must be an integer"),
        (lambda: refine.next_points(K, V, tol=0.1, max_points=True), "max_points must be an integer"),
        (lambda: refine.plan_round(K, V, tol=0.1, max_points=-2), "max_points must be >= 0"),
        (lambda: refine.steepest(K, V, -1), "n must be >= 0"),
        (lambda: refine.steepest(K, V, 2.0), "n must be an integer"),
        (lambda: refine.crossings(K, V, np.nan), "threshold must be finite"),
        (lambda: refine.next_points(K, V, threshold=None, tol=0.1, max_points=1), "threshold must be a real number"),
    ],
)
def test_validation_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("fn", [refine.next_points, refine.plan_round])
def test_unknown_mode_lists_the_valid_ones(fn):
    with pytest.raises(ValueError, match="mode must be one of") as err:
        fn(K, V, tol=0.1, max_points=1, mode="bisect")
    for mode in refine.MODES:
        assert repr(mode) in str(err.value)
    assert "'bisect'" in str(err.value)


def test_numpy_integers_and_int_values_are_accepted():
    new = refine.next_points(np.array([0, 1, 2]), np.array([0, 0, 1]), tol=np.float32(0.1), max_points=np.int64(1))
    np.testing.assert_allclose(new, [1.5])
