"""JPDA: marginal association probabilities (against exact enumeration), their use in the tracker, and
the filter's consistency on crossing targets in clutter."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import chi2

from commonsky.core import Plots, SensorKind
from commonsky.tracking import Candidates, Hypotheses, TrackerConfig, imm, new_state, step
from commonsky.tracking.jpda import JPDA, marginals

from .synth import FRAME, radar_plots, radar_sensor, straight


def _exact(ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact JPDA marginals of a dense (targets x measurements) ratio matrix by enumerating joint events."""
    n_t, n_m = ratio.shape
    p = np.zeros((n_t, n_m))
    p_miss = np.zeros(n_t)
    total = 0.0
    for choice in itertools.product(range(-1, n_m), repeat=n_t):
        used = [m for m in choice if m >= 0]
        if len(used) != len(set(used)):
            continue
        weight = np.prod([ratio[t, m] for t, m in enumerate(choice) if m >= 0])
        total += weight
        for t, m in enumerate(choice):
            if m >= 0:
                p[t, m] += weight
            else:
                p_miss[t] += weight
    return p / total, p_miss / total


def _pairs(ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t, m = np.nonzero(ratio)
    return t.astype(np.int64), m.astype(np.int64), ratio[t, m]


def test_marginals_are_exact_on_a_tree() -> None:
    # Two targets competing for one measurement, each with one of its own: no loop, so belief propagation is exact.
    ratio = np.array([[3.0, 0.7, 0.0], [0.0, 2.0, 5.0]])
    t, m, r = _pairs(ratio)
    weight, missed = marginals(t, m, r, 2)
    exact, exact_miss = _exact(ratio)
    np.testing.assert_allclose(weight, exact[t, m], atol=1e-9)
    np.testing.assert_allclose(missed, exact_miss, atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_marginals_sum_to_one_and_stay_close_to_exact_jpda_on_dense_clusters(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ratio = rng.lognormal(0.0, 1.5, (4, 4)) * (rng.random((4, 4)) < 0.8)
    t, m, r = _pairs(ratio)
    weight, missed = marginals(t, m, r, 4)
    np.testing.assert_allclose(np.bincount(t, weight, 4) + missed, 1.0, atol=1e-12)
    assert np.bincount(m, weight).max() <= 1.0 + 1e-9  # no measurement is more than one target's
    exact, exact_miss = _exact(ratio)
    assert np.abs(weight - exact[t, m]).max() < 0.06
    assert np.abs(missed - exact_miss).max() < 0.06


class Recorded:
    """JPDA, keeping every slice's hypotheses for the test to inspect."""

    def __init__(self) -> None:
        self.jpda = JPDA()
        self.seen: list[Hypotheses] = []

    def associate(self, candidates: Candidates) -> Hypotheses:
        hyp = self.jpda.associate(candidates)
        self.seen.append(hyp)
        return hyp


def _crossing(rng: np.random.Generator, clutter_per_scan: int) -> tuple[list, Plots, np.ndarray, np.ndarray]:
    """Two primary targets crossing at 60 degrees 40 km from a 4 s radar, with uniform clutter around the crossing."""
    psr = radar_sensor("PSR", SensorKind.PSR, lat=47.5, lon=9.5, period=4.0)
    t = np.arange(0.5, 240.0, 4.0)
    ve, vn = 200.0 * np.sin(np.radians(30.0)), 200.0 * np.cos(np.radians(30.0))
    one = straight(t, 40e3 - ve * 120.0, -vn * 120.0, ve, vn)  # both at (40 km, 0) at t = 120 s
    two = straight(t, 40e3 + ve * 120.0, -vn * 120.0, -ve, vn)
    plots = [radar_plots(one, psr, rng), radar_plots(two, psr, rng)]
    if clutter_per_scan:
        n = clutter_per_scan * len(t)
        e = rng.uniform(35e3, 45e3, n)
        north = rng.uniform(-5e3, 5e3, n)
        az = np.degrees(np.arctan2(e, north)) % 360.0
        plots.append(
            Plots.build(
                n,
                time_s=np.repeat(t, clutter_per_scan),
                sensor_id=["PSR"] * n,
                range_m=np.hypot(e, north),
                azimuth_deg=az,
                altitude_m=np.full(n, np.nan),
            )
        )
    truth = np.stack(
        [
            np.stack([one.e, one.n, one.ve, one.vn], axis=-1),
            np.stack([two.e, two.n, two.ve, two.vn], axis=-1),
        ]
    )
    return [psr], Plots.concat(plots).sorted_by_time(), t, truth


def test_jpda_weights_in_the_tracker_sum_to_one_per_track() -> None:
    sensors, plots, _, _ = _crossing(np.random.default_rng(1), clutter_per_scan=20)
    recorded = Recorded()
    state = new_state(sensors, TrackerConfig(associator=recorded), FRAME)
    state, _ = step(state, plots)
    hyp = Hypotheses.concat(recorded.seen)
    assert len(hyp) > 100
    total = np.bincount(hyp.owner, hyp.weight, len(hyp)) + hyp.missed
    np.testing.assert_allclose(total, 1.0, atol=1e-9)
    assert (hyp.weight < 1.0).any()  # clutter near a track splits its weights: not GNN in disguise


def test_jpda_is_consistent_on_crossing_targets_in_clutter() -> None:
    """NEES of each target's track (the one nearest it after warm-up, followed by id through the crossing),
    averaged over Monte Carlo runs, stays below the chi-square band's top: clutter does not make JPDA overconfident."""
    runs = 8
    warm_up = 10
    nees: list[float] = []
    for run in range(runs):
        sensors, plots, times, truth = _crossing(np.random.default_rng(100 + run), clutter_per_scan=100)
        state = new_state(sensors, TrackerConfig(associator="jpda"), FRAME)
        followed: list[int] = []
        for k, t in enumerate(times):
            state, _ = step(state, plots.take(np.flatnonzero(np.abs(plots.time_s - t) < 1e-6)), with_updates=False)
            if k < warm_up:
                continue
            tr = state.tracks
            xc, Pc = imm.combine(tr.x, tr.P, tr.mu)
            if not followed:
                followed = [int(tr.track_id[np.argmin(np.hypot(*(xc[:, :2] - x[:2]).T))]) for x in truth[:, k]]
            for target, track_id in zip(truth[:, k], followed, strict=True):
                (row,) = np.flatnonzero(tr.track_id == track_id)  # the track lives on through the crossing
                d = xc[row, :4] - target
                nees.append(float(d @ np.linalg.solve(Pc[row, :4, :4], d)))
    average = float(np.mean(nees))
    upper = chi2.ppf(0.975, 4 * len(nees)) / len(nees)
    assert 0.5 < average < upper  # not overconfident, and not wildly conservative either
