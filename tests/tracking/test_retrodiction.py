"""Out-of-sequence plots: a sensor whose plots arrive seconds late still improves the track, consistently,
and the track's state never moves back in time."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from commonsky.core import Plots, SensorKind
from commonsky.tracking import imm, new_state, step

from .synth import FRAME, radar_plots, radar_sensor, straight

DELAY_S = 3.0
"""How late the slow sensor's plots reach the tracker."""
RUNS = 10
WARM_UP_S = 40.0


def _feeds(rng: np.random.Generator) -> tuple[list, Plots, Plots, object]:
    """An on-time 4 s SSR and a second 5 s SSR elsewhere, both seeing one aircraft (with its address)."""
    on_time = radar_sensor("SSR-A", SensorKind.SSR, lat=47.0, lon=9.0, period=4.0)
    slow = radar_sensor("SSR-B", SensorKind.SSR, lat=48.0, lon=10.0, period=5.0)
    truth = straight(np.arange(0.0, 300.0, 0.25), -20e3, 5e3, 180.0, 60.0)
    a = radar_plots(truth.at(np.arange(0.3, 300.0, 4.0)), on_time, rng, mode_s=0x3C4A5B)
    b = radar_plots(truth.at(np.arange(1.1, 300.0, 5.0)), slow, rng, mode_s=0x3C4A5B)
    return [on_time, slow], a, b, truth


def _track(sensors: list, batches: list[Plots], truth: object) -> tuple[list[float], list[float], int]:
    """Feed the batches one a second; after each, the track's position error and NEES (east, north, velocity)."""
    state = new_state(sensors, frame=FRAME)
    errors: list[float] = []
    nees: list[float] = []
    last_time = -np.inf
    for second, batch in enumerate(batches):
        state, _ = step(state, batch, with_updates=False)
        tr = state.tracks
        if len(tr) != 1 or second < WARM_UP_S:
            continue
        assert tr.time_s[0] >= last_time  # a late plot never takes the state back in time
        last_time = float(tr.time_s[0])
        xc, Pc = imm.combine(tr.x, tr.P, tr.mu)
        at = truth.at(np.array([last_time]))  # type: ignore[attr-defined]
        d = xc[0, :4] - np.array([at.e[0], at.n[0], at.ve[0], at.vn[0]])
        errors.append(float(np.hypot(d[0], d[1])))
        nees.append(float(d @ np.linalg.solve(Pc[0, :4, :4], d)))
    return errors, nees, state.stats.plots_late


def _batches(a: Plots, b: Plots, b_delay_s: float | None) -> list[Plots]:
    """One batch per second: A's plots of that second, and B's of `b_delay_s` earlier (None: B left out)."""
    out = []
    for t in range(300):
        parts = [a.take(np.flatnonzero((a.time_s >= t) & (a.time_s < t + 1)))]
        if b_delay_s is not None:
            parts.append(b.take(np.flatnonzero((b.time_s >= t - b_delay_s) & (b.time_s < t + 1 - b_delay_s))))
        out.append(Plots.concat(parts))
    return out


def test_late_plots_improve_the_track_consistently() -> None:
    rmse = {"in order": [], "late": [], "without": []}
    nees: list[float] = []
    late_plots = 0
    for run in range(RUNS):
        sensors, a, b, truth = _feeds(np.random.default_rng(200 + run))
        for name, delay in (("in order", 0.0), ("late", DELAY_S), ("without", None)):
            errors, run_nees, late = _track(sensors, _batches(a, b, delay), truth)
            rmse[name].extend(errors)
            if name == "late":
                nees.extend(run_nees)
                late_plots += late
    assert late_plots > RUNS * 40  # most of B's plots came after a newer plot of A
    score = {name: float(np.sqrt(np.mean(np.square(e)))) for name, e in rmse.items()}
    assert score["late"] < score["without"]  # the late sensor still helps...
    assert score["late"] < 1.15 * score["in order"]  # ...nearly as much as on time
    upper = chi2.ppf(0.975, 4 * len(nees)) / len(nees)
    assert np.mean(nees) < upper  # and retrodiction does not make the track overconfident
