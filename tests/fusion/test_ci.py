"""Covariance intersection kernel: optimal weights for any number of inputs, smoothing, degenerate inputs."""

from __future__ import annotations

import numpy as np
import pytest

from commonsky.fusion import kernels

from .helpers import cov4


def _random_spd(rng: np.random.Generator) -> np.ndarray:
    a = rng.normal(size=(4, 4)) * rng.uniform(0.1, 10.0, size=4)
    return a @ a.T + 0.01 * np.eye(4)


def _objective(P: np.ndarray, trace: bool) -> float:
    return float(np.trace(P)) if trace else float(np.linalg.slogdet(P)[1])


def _ci(x: np.ndarray, P: np.ndarray, trace: bool = False, smoothing: float = 0.0) -> tuple[np.ndarray, ...]:
    m = len(x)
    xf, Pf, w, ok = kernels.covariance_intersection(
        x, P, np.array([0, m]), np.full(m, np.nan), trace, smoothing, 60, 1e-10
    )
    assert ok.all()
    return xf[0], Pf[0], w


@pytest.mark.parametrize("trace", [False, True])
@pytest.mark.parametrize("m", [2, 3, 5])
def test_weights_minimise_the_criterion_over_the_simplex(trace: bool, m: int) -> None:
    rng = np.random.default_rng(10 + m + 100 * trace)
    for _ in range(25):
        P = np.array([_random_spd(rng) for _ in range(m)])
        x = rng.normal(size=(m, 4))
        xf, Pf, w = _ci(x, P, trace)
        assert w.min() >= 0.0
        assert w.sum() == pytest.approx(1.0)
        info = np.linalg.inv(P)
        # The fused estimate is the CI formula with the returned weights.
        M = np.einsum("k,kij->ij", w, info)
        np.testing.assert_allclose(Pf, np.linalg.inv(M), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(xf, np.linalg.solve(M, np.einsum("k,kij,kj->i", w, info, x)), rtol=1e-7, atol=1e-8)
        # No point of the simplex (vertices, random points, perturbations of w) does better.
        candidates = np.vstack(
            [np.eye(m), rng.dirichlet(np.full(m, 0.5), 2000), np.clip(w + rng.normal(0, 1e-3, (200, m)), 0, None)]
        )
        candidates /= candidates.sum(axis=1, keepdims=True)
        best = min(_objective(np.linalg.inv(np.einsum("k,kij->ij", c, info)), trace) for c in candidates)
        assert _objective(Pf, trace) <= best + 1e-9 * abs(best) + 1e-12


def test_single_input_passes_through_and_groups_are_independent() -> None:
    rng = np.random.default_rng(3)
    P = np.array([_random_spd(rng) for _ in range(4)])
    x = rng.normal(size=(4, 4))
    starts = np.array([0, 1, 4])
    xf, Pf, w, ok = kernels.covariance_intersection(x, P, starts, np.full(4, np.nan), False, 0.0, 60, 1e-10)
    assert ok.all()
    np.testing.assert_array_equal(xf[0], x[0])
    np.testing.assert_array_equal(Pf[0], P[0])
    assert w[0] == 1.0
    xg, Pg, _ = _ci(x[1:], P[1:])
    np.testing.assert_allclose(xf[1], xg)
    np.testing.assert_allclose(Pf[1], Pg)


def test_complementary_inputs_give_a_covariance_smaller_than_either() -> None:
    pa = cov4(300.0, 60.0, 5.0, angle_deg=0.0)
    pb = cov4(300.0, 60.0, 5.0, angle_deg=90.0)
    _, Pf, w = _ci(np.zeros((2, 4)), np.array([pa, pb]))
    assert np.trace(Pf) < min(np.trace(pa), np.trace(pb))
    assert np.trace(Pf[:2, :2]) < 0.5 * min(np.trace(pa[:2, :2]), np.trace(pb[:2, :2]))
    assert w == pytest.approx([0.5, 0.5], abs=1e-6)


def test_duplicate_inputs_are_handled() -> None:
    p = cov4(100.0, 50.0, 4.0, angle_deg=20.0)
    xf, Pf, w = _ci(np.ones((3, 4)), np.array([p, p, p]))
    assert w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(Pf, p, rtol=1e-9)
    np.testing.assert_allclose(xf, np.ones(4), rtol=1e-9)


def test_a_non_positive_definite_input_is_flagged() -> None:
    bad = cov4()
    bad[0, 0] = -1.0
    _, _, _, ok = kernels.covariance_intersection(
        np.zeros((2, 4)), np.array([cov4(), bad]), np.array([0, 2]), np.full(2, np.nan), False, 0.0, 30, 1e-6
    )
    assert not ok[0]


def test_smoothing_makes_the_fused_estimate_continuous_in_the_inputs() -> None:
    """Nearly proportional covariances: the exact optimum jumps from one source to the other as their
    sizes cross; with smoothing the weights, and the fused position, move gradually."""
    p = cov4(100.0, 60.0, 5.0, angle_deg=30.0)
    x = np.array([[0.0, 0.0, 200.0, 0.0], [60.0, 0.0, 200.0, 0.0]])
    scales = np.linspace(0.99, 1.01, 81)

    def fused_east(smoothing: float) -> np.ndarray:
        return np.array([_ci(x, np.array([p, s * p]), smoothing=smoothing)[0][0] for s in scales])

    exact = fused_east(0.0)
    smooth = fused_east(0.1)
    assert np.abs(np.diff(exact)).max() >= 29.0  # jumps from one source to the other
    assert np.abs(np.diff(smooth)).max() < 2.0  # 81 steps across the 60 m between the sources
    # Smoothing costs little: the log det stays within s/2 of the optimum.
    for s in (0.99, 1.01):
        exact_p = _ci(x, np.array([p, s * p]))[1]
        smooth_p = _ci(x, np.array([p, s * p]), smoothing=0.1)[1]
        assert _objective(smooth_p, False) <= _objective(exact_p, False) + 0.05 + 1e-12


def test_warm_start_reaches_the_same_weights() -> None:
    rng = np.random.default_rng(7)
    P = np.array([_random_spd(rng) for _ in range(3)])
    x = rng.normal(size=(3, 4))
    _, _, w = _ci(x, P, smoothing=0.1)
    nudged = np.abs(w + rng.normal(0, 0.05, 3))
    _, _, w2, _ = kernels.covariance_intersection(x, P, np.array([0, 3]), nudged, False, 0.1, 60, 1e-10)
    np.testing.assert_allclose(w2, w, atol=1e-6)
