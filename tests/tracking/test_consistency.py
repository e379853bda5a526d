"""Filter consistency: normalised estimation error squared (NEES) over Monte Carlo runs.

Truth follows each motion model exactly (with the filter's own white-acceleration noise) and is
observed by ADS-B at 1 Hz. A model-matched filter must give an average NEES inside the 95 %
chi-square band. The full IMM mixes a noisier model in, so on a single-model target it is
conservative by design: its NEES must not exceed the band (it is never overconfident).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from commonsky.tracking import TrackerConfig, imm, new_state, step

from .synth import FRAME, Trajectory, adsb_plots, adsb_sensor

RUNS = 24
STEPS = 120
WARM_UP = 20
DIM = 4  # east, north, v_east, v_north
SIGMA_M = 30.0


def _truth(rng: np.random.Generator, q: float, turn_rate_dps: float) -> np.ndarray:
    """States [e, n, ve, vn] at 1 s steps: exact CV or CT motion plus white acceleration q."""
    w = np.radians(turn_rate_dps)
    x = np.array([-20e3, 0.0, 200.0, 30.0])
    q1 = q * q * np.array([[1 / 3, 1 / 2], [1 / 2, 1.0]])
    states = []
    for _ in range(STEPS):
        states.append(x.copy())
        if w:
            s, c = np.sin(w), np.cos(w)
            ve, vn = x[2], x[3]
            x = np.array(
                [
                    x[0] + s / w * ve - (1 - c) / w * vn,
                    x[1] + (1 - c) / w * ve + s / w * vn,
                    c * ve - s * vn,
                    s * ve + c * vn,
                ]
            )
        else:
            x = x + np.array([x[2], x[3], 0.0, 0.0])
        for axis in (0, 1):
            a = rng.multivariate_normal([0.0, 0.0], q1)
            x[axis] += a[0]
            x[axis + 2] += a[1]
    return np.array(states)


def _average_nees(config: TrackerConfig, turn_rate_dps: float) -> np.ndarray:
    """Run-averaged NEES of the combined IMM estimate at each step after the warm-up."""
    sensor = adsb_sensor(sigma_m=SIGMA_M)
    nees = np.zeros((RUNS, STEPS))
    for run in range(RUNS):
        rng = np.random.default_rng(1000 + run)
        xs = _truth(rng, config.q_cv_mps2, turn_rate_dps)
        t = np.arange(STEPS, dtype=float)
        traj = Trajectory(t, xs[:, 0], xs[:, 1], np.full(STEPS, 9000.0), xs[:, 2], xs[:, 3])
        plots = adsb_plots(traj, sensor, rng, SIGMA_M, 0xABCDEF)
        state = new_state([sensor], config, FRAME)
        for k in range(STEPS):
            state, _ = step(state, plots.take([k]), with_updates=False)
            tr = state.tracks
            xc, Pc = imm.combine(tr.x, tr.P, tr.mu)
            d = xc[0, :DIM] - xs[k]
            nees[run, k] = d @ np.linalg.solve(Pc[0, :DIM, :DIM], d)
    return nees.mean(axis=0)[WARM_UP:]


BAND = chi2.ppf([0.025, 0.975], DIM * RUNS) / RUNS


def test_constant_velocity_filter_is_consistent_on_a_cv_target() -> None:
    cv_only = TrackerConfig(q_cv_mps2=0.5, cv_mean_sojourn_s=1e6, ct_mean_sojourn_s=0.01)
    avg = _average_nees(cv_only, turn_rate_dps=0.0)
    assert BAND[0] < avg.mean() < BAND[1]
    assert np.mean((avg > BAND[0]) & (avg < BAND[1])) > 0.8


def test_coordinated_turn_filter_is_consistent_on_a_ct_target() -> None:
    ct_only = TrackerConfig(
        q_cv_mps2=0.5, q_ct_mps2=0.5, q_turn_rate_dps=0.01, cv_mean_sojourn_s=0.01, ct_mean_sojourn_s=1e6
    )
    avg = _average_nees(ct_only, turn_rate_dps=2.0)
    assert BAND[0] < avg.mean() < BAND[1]
    assert np.mean((avg > BAND[0]) & (avg < BAND[1])) > 0.7


def test_default_imm_is_never_overconfident() -> None:
    defaults = TrackerConfig(q_cv_mps2=0.5)
    for turn in (0.0, 2.0):
        avg = _average_nees(defaults, turn_rate_dps=turn)
        assert avg.mean() < BAND[1]
        assert np.mean(avg > BAND[1]) < 0.1
