"""Fused estimates are better than each source and consistent (NEES), also with correlated source errors.

Monte Carlo: 300 aircraft on a 3 km grid, each seen by two owners whose estimates are the truth
plus Gaussian errors drawn from each owner's own covariance (radar-like ellipses from two
directions). One `fuse` call fuses all pairs; every aircraft is one trial. Mean NEES over N trials
times N is chi-square with 4N degrees of freedom for a consistent estimator; covariance
intersection is conservative, so its mean NEES is expected below 4 and must stay below the 95 %
upper bound (two-sided band, upper end).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from commonsky.core.batches import TrackReports
from commonsky.fusion import SystemTracks, fuse

from .helpers import concat, cov4, reports, state, to_enu

N = 300
DIM = 4
UPPER = chi2.ppf(0.975, DIM * N) / N
PA = cov4(250.0, 60.0, 6.0, angle_deg=15.0, corr_pv=0.3)
PB = cov4(250.0, 60.0, 6.0, angle_deg=105.0, corr_pv=0.3)


def _truth(rng: np.random.Generator) -> np.ndarray:
    side = int(np.ceil(np.sqrt(N)))
    g = (np.arange(side) - side / 2) * 3000.0
    e, n = np.meshgrid(g, g)
    x = np.zeros((N, 4))
    x[:, 0] = e.ravel()[:N]
    x[:, 1] = n.ravel()[:N]
    heading = rng.uniform(0, 2 * np.pi, N)
    x[:, 2] = 220.0 * np.sin(heading)
    x[:, 3] = 220.0 * np.cos(heading)
    return x


def _report(owner: str, est: np.ndarray, cov: np.ndarray) -> TrackReports:
    return reports(owner, np.arange(N) + 1, est[:, 0], est[:, 1], est[:, 2], est[:, 3], t=10.0, cov=cov)


def _nees(err: np.ndarray, cov: np.ndarray) -> np.ndarray:
    return np.einsum("ki,kij,kj->k", err, np.linalg.inv(cov), err)


def _fuse_pair(est_a: np.ndarray, est_b: np.ndarray, truth: np.ndarray) -> tuple[SystemTracks, np.ndarray]:
    _, picture = fuse(state(), concat(_report("a", est_a, PA), _report("b", est_b, PB)), 10.0)
    assert len(picture) == N  # one system track per aircraft
    assert (picture.n_sources == 2).all()
    order = np.argsort([_a_track(s) for s in picture.sources])
    picture = picture.take(order)
    e, n = to_enu(picture)
    err = np.stack([e, n, picture.v_east_mps, picture.v_north_mps], axis=-1) - truth
    return picture, err


def _a_track(sources: str) -> int:
    return next(int(item.split(":")[1]) for item in sources.split(";") if item.startswith("a:"))


def test_two_independent_estimates_fuse_into_one_smaller_consistent_track() -> None:
    rng = np.random.default_rng(2024)
    truth = _truth(rng)
    est_a = truth + rng.multivariate_normal(np.zeros(4), PA, N)
    est_b = truth + rng.multivariate_normal(np.zeros(4), PB, N)
    picture, err = _fuse_pair(est_a, est_b, truth)
    cov = picture.covariance()
    traces = np.trace(cov, axis1=1, axis2=2)
    assert (traces < min(np.trace(PA), np.trace(PB))).all()
    assert (np.trace(cov[:, :2, :2], axis1=1, axis2=2) < 0.5 * np.trace(PA[:2, :2])).all()
    nees = _nees(err, cov).mean()
    assert nees <= UPPER
    assert nees <= DIM + 0.5  # CI is conservative: about DIM or below
    # Each source alone is consistent too (sanity of the test itself).
    assert _nees(est_a - truth, np.broadcast_to(PA, (N, 4, 4))).mean() <= UPPER


def test_correlated_estimates_stay_consistent_where_naive_fusion_does_not() -> None:
    """Errors with cross-correlation 0.9 (common process noise, shared sensors): each source is
    marginally consistent, CI stays consistent, the independent-information sum is overconfident."""
    rng = np.random.default_rng(77)
    truth = _truth(rng)
    la, lb = np.linalg.cholesky(PA), np.linalg.cholesky(PB)
    z1 = rng.standard_normal((N, 4))
    z2 = rng.standard_normal((N, 4))
    rho = 0.9
    est_a = truth + z1 @ la.T
    est_b = truth + (rho * z1 + np.sqrt(1 - rho**2) * z2) @ lb.T
    picture, err = _fuse_pair(est_a, est_b, truth)
    assert _nees(err, picture.covariance()).mean() <= UPPER
    # Naive fusion assuming independence: P = (Pa⁻¹ + Pb⁻¹)⁻¹, x = P (Pa⁻¹ xa + Pb⁻¹ xb).
    ia, ib = np.linalg.inv(PA), np.linalg.inv(PB)
    p_naive = np.linalg.inv(ia + ib)
    x_naive = (p_naive @ (ia @ est_a.T + ib @ est_b.T)).T
    naive = _nees(x_naive - truth, np.broadcast_to(p_naive, (N, 4, 4))).mean()
    assert naive > UPPER
