"""GOSPA/OSPA against brute-force definitions, textbook values, and the sparse solver against a dense one."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from commonsky.metrics import gospa, ospa
from commonsky.metrics.set_metrics import MAX_ENUMERATED, candidate_pairs, optimal_pairs

coordinate = st.floats(-10.0, 10.0, allow_nan=False)
point_set = st.lists(st.tuples(coordinate, coordinate), max_size=4).map(lambda pts: np.array(pts).reshape(-1, 2))
cutoff = st.floats(0.5, 20.0)
order = st.sampled_from([1.0, 2.0, 3.0])


def brute_gospa(X: np.ndarray, Y: np.ndarray, c: float, p: float) -> float:
    """GOSPA (alpha=2) from its definition: every partial assignment, distances cut at c."""
    m, n = len(X), len(Y)
    best = math.inf
    for k in range(min(m, n) + 1):
        for xs in itertools.combinations(range(m), k):
            for ys in itertools.permutations(range(n), k):
                loc = sum(min(float(np.linalg.norm(X[i] - Y[j])), c) ** p for i, j in zip(xs, ys, strict=True))
                best = min(best, loc + c**p / 2 * (m + n - 2 * k))
    return float(best ** (1 / p))


def brute_ospa(X: np.ndarray, Y: np.ndarray, c: float, p: float) -> float:
    """OSPA from its definition: every injection of the smaller set into the larger one."""
    if len(X) > len(Y):
        X, Y = Y, X
    m, n = len(X), len(Y)
    if n == 0:
        return 0.0
    best = min(
        sum(min(float(np.linalg.norm(X[i] - Y[j])), c) ** p for i, j in enumerate(ys))
        for ys in itertools.permutations(range(n), m)
    )
    return float(((best + c**p * (n - m)) / n) ** (1 / p))


@settings(max_examples=300, deadline=None)
@given(X=point_set, Y=point_set, c=cutoff, p=order)
def test_gospa_equals_brute_force(X: np.ndarray, Y: np.ndarray, c: float, p: float) -> None:
    res = gospa(X, Y, c, p)
    assert res.total == pytest.approx(brute_gospa(X, Y, c, p), rel=1e-9, abs=1e-9)
    assert res.localisation + res.missed + res.false == pytest.approx(res.total**p, rel=1e-9, abs=1e-9)
    i, j = res.assignment.T
    assert len(set(i)) == len(i) and len(set(j)) == len(j)
    d = np.linalg.norm(X[i] - Y[j], axis=1) if len(i) else np.zeros(0)
    assert np.all(d < c)
    assert res.localisation == pytest.approx(np.sum(d**p), abs=1e-9)
    assert res.missed == pytest.approx(c**p / 2 * (len(X) - len(i)))
    assert res.false == pytest.approx(c**p / 2 * (len(Y) - len(i)))


@settings(max_examples=300, deadline=None)
@given(X=point_set, Y=point_set, c=cutoff, p=order)
def test_ospa_equals_brute_force(X: np.ndarray, Y: np.ndarray, c: float, p: float) -> None:
    assert ospa(X, Y, c, p) == pytest.approx(brute_ospa(X, Y, c, p), rel=1e-9, abs=1e-9)


C = 100.0
TRUTH = np.array([[0.0, 0.0], [1000.0, 0.0], [0.0, 1000.0]])


def test_perfect_estimates_score_zero() -> None:
    res = gospa(TRUTH, TRUTH[::-1], C)
    assert (res.total, res.localisation, res.missed, res.false) == (0.0, 0.0, 0.0, 0.0)
    assert res.assignment.tolist() == [[0, 2], [1, 1], [2, 0]]
    assert ospa(TRUTH, TRUTH, C) == 0.0


def test_one_missed_target_costs_half_c_squared() -> None:
    res = gospa(TRUTH, TRUTH[:2], C)
    assert res.missed == pytest.approx(C**2 / 2) and res.false == 0.0 and res.localisation == 0.0
    assert res.total == pytest.approx(C / math.sqrt(2))


def test_one_false_track_costs_half_c_squared() -> None:
    res = gospa(TRUTH, np.vstack([TRUTH, [[5000.0, 5000.0]]]), C)
    assert res.false == pytest.approx(C**2 / 2) and res.missed == 0.0 and res.localisation == 0.0
    assert res.total == pytest.approx(C / math.sqrt(2))


@pytest.mark.parametrize("distance", [C, 1.5 * C, 1e6])
def test_pair_beyond_cutoff_is_missed_plus_false(distance: float) -> None:
    res = gospa([[0.0, 0.0]], [[distance, 0.0]], C)
    assert len(res.assignment) == 0
    assert res.missed == res.false == pytest.approx(C**2 / 2) and res.localisation == 0.0
    assert res.total == pytest.approx(C)


def test_empty_sets() -> None:
    assert gospa(np.zeros((0, 2)), np.zeros((0, 2)), C).total == 0.0
    assert gospa([], TRUTH, C).total == pytest.approx(C * math.sqrt(3 / 2))
    assert ospa([], [], C) == 0.0
    assert ospa(TRUTH, [], C) == pytest.approx(C)


def test_localisation_part_is_sum_of_squared_distances() -> None:
    res = gospa(TRUTH, TRUTH + np.array([[3.0, 4.0], [0.0, 10.0], [6.0, 8.0]]), C)
    assert res.localisation == pytest.approx(25.0 + 100.0 + 100.0)
    assert res.total == pytest.approx(15.0)


def test_only_alpha_two_is_accepted() -> None:
    with pytest.raises(ValueError, match="alpha"):
        gospa(TRUTH, TRUTH, C, alpha=1)


def dense_objective(X: np.ndarray, Y: np.ndarray, c: float, p: float) -> float:
    """Optimal Σ (min(d, c)^p − c^p) from one dense Hungarian solve over all points."""
    cost = np.minimum(cdist(X, Y), c) ** p - c**p
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum())


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("extent", [3.0, 12.0, 40.0])
def test_components_match_dense_assignment(seed: int, extent: float) -> None:
    """200 + 200 points: the extents give one giant component, many mid-size ones, and mostly singles."""
    rng = np.random.default_rng(seed)
    c, p = 1.0, 2.0
    X = rng.uniform(0, extent, (200, 2))
    Y = np.vstack([X[:150] + rng.normal(0, 0.4, (150, 2)), rng.uniform(0, extent, (rng.integers(0, 100), 2))])
    pairs = optimal_pairs(X, Y, c, p)
    assert len(set(pairs.i)) == len(pairs.i) and len(set(pairs.j)) == len(pairs.j)
    assert np.allclose(np.linalg.norm(X[pairs.i] - Y[pairs.j], axis=1), pairs.distance)
    assert np.sum(pairs.distance**p - c**p) == pytest.approx(dense_objective(X, Y, c, p), rel=1e-9)


def test_dense_cluster_goes_to_hungarian_solver() -> None:
    """A cluster too large to enumerate is still solved exactly (the Hungarian branch)."""
    rng = np.random.default_rng(7)
    X, Y = rng.uniform(0, 2.0, (12, 2)), rng.uniform(0, 2.0, (9, 2))
    assert len(candidate_pairs(X, Y, 5.0).i) == 12 * 9 and math.perm(12, 9) > MAX_ENUMERATED
    pairs = optimal_pairs(X, Y, 5.0)
    assert len(pairs.i) == 9
    assert np.sum(pairs.distance**2 - 25.0) == pytest.approx(dense_objective(X, Y, 5.0, 2.0), rel=1e-12)
