"""The tracker's association seam: associators defined here, outside the package, plug in and are obeyed."""

from __future__ import annotations

import numpy as np
import pytest

from commonsky.core import Plots, SensorKind
from commonsky.core.errors import ConfigError
from commonsky.tracking import Candidates, Hypotheses, TrackerConfig, new_state, picture, run, step

from .synth import FRAME, adsb_sensor, radar_plots, radar_sensor, straight


class NoAssociation:
    """Takes no plot for any track."""

    def associate(self, candidates: Candidates) -> Hypotheses:
        none = np.zeros(0, np.int64)
        return Hypotheses(row=none, missed=np.zeros(0), owner=none, plot=none, weight=np.zeros(0))


class SplitBetweenTwo:
    """Gives each track its first two candidate plots with fixed weights, and a fixed missed weight."""

    def __init__(self, first: float, second: float, missed: float) -> None:
        self.weights = np.array([first, second])
        self.missed = missed

    def associate(self, candidates: Candidates) -> Hypotheses:
        rows, first = np.unique(candidates.row, return_index=True)
        plots = np.stack([candidates.plot[first], candidates.plot[first + 1]], axis=-1)
        assert (candidates.row[first + 1] == rows).all()  # the test's scene gives every track two candidates
        return Hypotheses(
            row=rows,
            missed=np.full(len(rows), self.missed),
            owner=np.repeat(np.arange(len(rows)), 2),
            plot=plots.ravel(),
            weight=np.tile(self.weights, len(rows)),
        )


def _psr_target() -> tuple[list, Plots]:
    """A primary radar (no address, so every plot goes through the associator) seeing one aircraft."""
    psr = radar_sensor("PSR", SensorKind.PSR, period=4.0)
    traj = straight(np.arange(0.0, 120.0, 4.0), -20e3, 5e3, 150.0, 0.0)
    return [psr], radar_plots(traj, psr, np.random.default_rng(5), noise=False)


def test_without_association_no_track_confirms() -> None:
    sensors, plots = _psr_target()
    tracks, state = run(sensors, plots, TrackerConfig(associator=NoAssociation()))
    assert len(tracks) == 0
    assert state.stats.plots_assigned == 0
    assert state.stats.tracks_confirmed == 0
    gnn_tracks, gnn_state = run(sensors, plots, TrackerConfig(associator="gnn"))
    assert len(gnn_tracks) > 0
    assert gnn_state.stats.tracks_confirmed >= 1


def _adsb_at(e: float, n: float, t: float, sensor_id: str = "ADSB") -> Plots:
    """One address-less ADS-B-like position report at (e, n) in the frame, 9000 m high."""
    from commonsky.tracking.measurements import point_from_altitude

    alt = np.array([9000.0])
    u, _ = point_from_altitude(FRAME, np.array([e]), np.array([n]), alt)
    lat, lon, _ = FRAME.enu_to_geodetic(np.array([e]), np.array([n]), u)
    return Plots.build(1, time_s=[t], sensor_id=[sensor_id], lat_deg=lat, lon_deg=lon, altitude_m=alt, mode_s=[-1])


def _track_after(config: TrackerConfig, second: Plots | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """State (x, P, mu) of the track started at the origin at t=0 once `second` (t=1 s) is applied."""
    state = new_state([adsb_sensor(sigma_m=30.0)], config, FRAME)
    state, _ = step(state, _adsb_at(0.0, 0.0, 0.0))
    if second is not None:
        state, _ = step(state, second)
    assert len(state.tracks) == 1
    return state.tracks.x[0], state.tracks.P[0], state.tracks.mu[0]


def test_split_weights_move_the_track_to_the_weighted_mean() -> None:
    # Plots at 100 m and -200 m east, weighted 0.7 / 0.3: the PDA update of a linear measurement is the
    # update by the weighted mean innovation, that is by one plot at 0.7 * 100 - 0.3 * 200 = 10 m east.
    two = Plots.concat([_adsb_at(100.0, 0.0, 1.0), _adsb_at(-200.0, 0.0, 1.0)])
    x, P, _ = _track_after(TrackerConfig(associator=SplitBetweenTwo(0.7, 0.3, 0.0)), two)
    x1, P1, _ = _track_after(TrackerConfig(), _adsb_at(10.0, 0.0, 1.0))
    assert np.allclose(x, x1, rtol=0.0, atol=1e-6)
    # The spread between the two plots stays in the covariance: 0.21 * (300 m * gain)^2 more east variance.
    assert (P[:, 0, 0] > P1[:, 0, 0] + 1000.0).all()
    assert np.allclose(P[:, 1, 1], P1[:, 1, 1])


def test_missed_weight_keeps_part_of_the_prediction() -> None:
    # With half the weight on "missed" the track keeps half its prediction (a new track does not move: its
    # velocity is zero) and moves half as far towards the plots as with none.
    two = Plots.concat([_adsb_at(300.0, 50.0, 1.0), _adsb_at(300.0, -50.0, 1.0)])
    x_half, _, _ = _track_after(TrackerConfig(associator=SplitBetweenTwo(0.25, 0.25, 0.5)), two)
    x_full, _, _ = _track_after(TrackerConfig(associator=SplitBetweenTwo(0.5, 0.5, 0.0)), two)
    x_start, _, _ = _track_after(TrackerConfig(), None)
    assert x_half[:, 0] == pytest.approx(0.5 * (x_start[:, 0] + x_full[:, 0]), abs=1e-6)
    assert (x_full[:, 0] - x_start[:, 0] > 250.0).all()


def test_associator_names_are_checked() -> None:
    assert TrackerConfig.from_dict({"associator": "gnn"}).associator == "gnn"
    with pytest.raises(ConfigError, match="associator"):
        TrackerConfig.from_dict({"associator": "jpda-not-here"})
    assert len(picture(new_state([adsb_sensor()]), 0.0)) == 0
