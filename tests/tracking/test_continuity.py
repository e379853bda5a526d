"""Track continuity: identified tracks survive reception gaps, tracks leaving coverage end at once,
good ADS-B confirms at once."""

from __future__ import annotations

import numpy as np
import pytest

from commonsky.core import Plots, SensorKind, SensorSpec
from commonsky.tracking import TrackerConfig, maintain, new_state, picture, run, step

from .synth import adsb_plots, adsb_sensor, radar_plots, radar_sensor, straight


def _with_gap(t0: float, t1: float, gap: tuple[float, float], step: float = 1.0) -> np.ndarray:
    t = np.arange(t0, t1, step)
    return t[(t < gap[0]) | (t >= gap[1])]


def test_addressed_aircraft_keeps_its_id_through_a_60_s_gap() -> None:
    rng = np.random.default_rng(1)
    adsb = adsb_sensor()
    times = _with_gap(0.0, 200.0, (60.0, 120.0))
    plots = adsb_plots(straight(times, 0.0, 0.0, 220.0, 10.0), adsb, rng, 30.0, 0x3C6DD2)
    tracks, state = run([adsb], plots)
    assert np.unique(tracks.track_id).tolist() == [1]
    shown = np.unique(np.round(tracks.time_s))
    assert not ((shown > 60.0 + 14.0) & (shown < 120.0)).any()  # lost: neither shown nor scored in the gap
    assert shown.max() >= 199.0
    assert state.stats.tracks_lost == 1 and state.stats.tracks_reacquired == 1
    after = tracks.time_s >= 125.0
    assert np.all(np.hypot(tracks.v_east_mps[after] - 220.0, tracks.v_north_mps[after] - 10.0) < 30.0)


def test_an_address_back_where_the_aircraft_could_not_be_starts_a_new_track() -> None:
    rng = np.random.default_rng(2)
    adsb = adsb_sensor()
    first = adsb_plots(straight(np.arange(0.0, 60.0, 1.0), 0.0, 0.0, 200.0, 0.0), adsb, rng, 30.0, 0x3C6DD2)
    # 40 s later, 60 km away: farther than 320 m/s could fly (a corrupted address, or a spoofer).
    second = adsb_plots(straight(np.arange(100.0, 130.0, 1.0), 12e3, 60e3, 200.0, 0.0), adsb, rng, 30.0, 0x3C6DD2)
    tracks, state = run([adsb], Plots.concat([first, second]))
    assert len(np.unique(tracks.track_id[tracks.time_s < 60.5])) == 1
    assert len(np.unique(tracks.track_id[tracks.time_s > 105.0])) == 1
    assert len(np.unique(tracks.track_id)) == 2
    assert state.stats.tracks_reacquired == 0


@pytest.mark.parametrize(("squawk", "kept"), [(4521, True), (7000, False)])
def test_a_distinctive_mode_a_code_bridges_a_gap_a_conspicuity_code_does_not(squawk: int, kept: bool) -> None:
    rng = np.random.default_rng(3)
    ssr = radar_sensor("SSR", SensorKind.SSR, period=4.0)
    scans = _with_gap(0.5, 240.0, (100.0, 140.0), step=4.0)
    plots = radar_plots(straight(scans, -30e3, 10e3, 150.0, 20.0), ssr, rng, squawk=squawk)
    tracks, _ = run([ssr], plots)
    assert (len(np.unique(tracks.track_id)) == 1) is kept


def test_reacquisition_can_be_switched_off() -> None:
    rng = np.random.default_rng(1)
    adsb = adsb_sensor()
    plots = adsb_plots(straight(_with_gap(0.0, 200.0, (60.0, 120.0)), 0.0, 0.0, 220.0, 10.0), adsb, rng, 30.0, 0x3C6DD2)
    tracks, _ = run([adsb], plots, TrackerConfig(reacquire_within_s=0.0))
    assert len(np.unique(tracks.track_id)) == 2


def test_a_track_leaving_coverage_is_deleted_within_one_scan() -> None:
    rng = np.random.default_rng(4)
    period = 4.0
    psr = SensorSpec("PSR", "p", SensorKind.PSR, 47.0, 9.0, 600.0, 40.0, 0.08, 9.0, period, 0.95, 80e3)
    truth = straight(np.arange(0.5, 600.0, period), -20e3, 10e3, 200.0, 0.0, alt=6000.0)
    plots = radar_plots(truth, psr, rng)
    plots = plots.take(np.flatnonzero(plots.range_m <= psr.max_range_m))  # what the radar really sees
    last_plot = float(plots.time_s.max())
    state, _ = step(new_state([psr]), plots)
    assert len(picture(maintain(state, last_plot + 1.0), last_plot + 1.0)) == 1
    gone = last_plot + period + 1.0
    assert len(picture(maintain(state, gone), gone)) == 0  # not coasted for the usual 12-14 s
    assert state.stats.tracks_left_coverage == 1


def test_a_track_inside_coverage_still_coasts_through_missed_scans() -> None:
    rng = np.random.default_rng(5)
    period = 4.0
    psr = SensorSpec("PSR", "p", SensorKind.PSR, 47.0, 9.0, 600.0, 40.0, 0.08, 9.0, period, 0.95, 200e3)
    scans = _with_gap(0.5, 200.0, (100.0, 108.0), step=period)  # two scans missed well inside coverage
    tracks, state = run([psr], radar_plots(straight(scans, -20e3, 20e3, 150.0, 0.0, alt=6000.0), psr, rng))
    assert len(np.unique(tracks.track_id)) == 1
    assert state.stats.tracks_left_coverage == 0


def test_one_good_adsb_report_confirms_a_track() -> None:
    adsb = adsb_sensor(sigma_m=30.0)
    one = adsb_plots(straight(np.array([0.2]), 0.0, 0.0, 200.0, 0.0), adsb, np.random.default_rng(6), 0.0, 0x3C6DD2)
    tracks, _ = run([adsb], one)
    assert tracks.track_id.tolist() == [1]
    vague = adsb_sensor(sigma_m=120.0)  # a poor position: the usual two hits
    tracks, _ = run([vague], one.replace(sensor_id=np.array([vague.id])))
    assert len(tracks) == 0
