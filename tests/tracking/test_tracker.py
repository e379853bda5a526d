"""Tracker behaviour on hand-built cases: accuracy, clutter, crossing targets, deletion, registration."""

from __future__ import annotations

import numpy as np
import pytest

from commonsky.core import Plots, SensorKind
from commonsky.core.errors import ConfigError
from commonsky.tracking import TrackerConfig, imm, maintain, new_state, picture, run, step
from commonsky.tracking.measurements import point_from_altitude

from .synth import FRAME, adsb_plots, adsb_sensor, radar_plots, radar_sensor, straight


def _track_error_m(
    tracks_lat: np.ndarray, tracks_lon: np.ndarray, traj_e: np.ndarray, traj_n: np.ndarray, alt: np.ndarray
) -> np.ndarray:
    e, n, _ = FRAME.geodetic_to_enu(tracks_lat, tracks_lon, alt)
    u, _ = point_from_altitude(FRAME, traj_e, traj_n, alt)
    lat, lon, _ = FRAME.enu_to_geodetic(traj_e, traj_n, u)
    te, tn, _ = FRAME.geodetic_to_enu(lat, lon, alt)
    return np.hypot(e - te, n - tn)


def test_noiseless_straight_target_is_tracked_to_under_a_metre() -> None:
    rng = np.random.default_rng(1)
    adsb, ssr = adsb_sensor(), radar_sensor()
    t = np.arange(0.0, 300.0, 1.0) + 0.3
    traj = straight(t, -40e3, 10e3, 200.0, 50.0)
    radar_traj = straight(np.arange(0.1, 300.0, 5.0), -40e3, 10e3, 200.0, 50.0)
    plots = Plots.concat(
        [
            adsb_plots(traj, adsb, rng, 0.0, 0xABC123),
            radar_plots(radar_traj, ssr, rng, noise=False, mode_s=0xABC123, squawk=1234),
        ]
    )
    tracks, state = run([adsb, ssr], plots)
    assert np.unique(tracks.track_id).tolist() == [1]
    late = tracks.time_s > 100.0
    truth = straight(tracks.time_s[late], -40e3, 10e3, 200.0, 50.0)
    err = _track_error_m(tracks.lat_deg[late], tracks.lon_deg[late], truth.e, truth.n, tracks.alt_m[late])
    assert err.max() < 1.0
    assert np.allclose(tracks.alt_m[late], 9000.0, atol=0.5)
    assert state.stats.plots_assigned == len(plots) - 1  # every plot but the one that started the track


def test_covariances_stay_symmetric_positive_definite() -> None:
    rng = np.random.default_rng(2)
    adsb, psr = adsb_sensor(), radar_sensor("PSR", SensorKind.PSR, period=4.0)
    t = np.arange(0.0, 400.0, 1.0)
    # A turning target: the CT model carries a non-zero turn rate.
    w = np.radians(2.0)
    e = (200.0 / w) * np.sin(w * t)
    n = -(200.0 / w) * (1.0 - np.cos(w * t))
    from .synth import Trajectory

    traj = Trajectory(t, e, n, np.full_like(t, 7000.0), 200.0 * np.cos(w * t), -200.0 * np.sin(w * t))
    plots = Plots.concat(
        [adsb_plots(traj, adsb, rng, 30.0, 0x123), radar_plots(traj.at(np.arange(0.2, 400.0, 4.0)), psr, rng)]
    )
    state = new_state([adsb, psr], None, FRAME)
    for lo in range(0, 400, 10):
        state, _ = step(state, plots.take((plots.time_s >= lo) & (plots.time_s < lo + 10)))
        P = state.tracks.P
        assert np.allclose(P, P.transpose(0, 1, 3, 2), atol=1e-6 * np.abs(P).max())
        assert (np.linalg.eigvalsh(P) > 0).all()


def test_clutter_alone_confirms_almost_no_tracks() -> None:
    rng = np.random.default_rng(3)
    psr = radar_sensor("PSR", SensorKind.PSR, period=4.0)
    scans = 150  # 10 minutes
    per_scan = 60
    times = np.sort(np.repeat(np.arange(scans) * 4.0, per_scan) + rng.uniform(0, 4.0, scans * per_scan))
    k = len(times)
    plots = Plots.build(
        k,
        time_s=times,
        sensor_id=[psr.id] * k,
        range_m=np.sqrt(rng.uniform(5e3**2, 250e3**2, k)),
        azimuth_deg=rng.uniform(0.0, 360.0, k),
    )
    tracks, state = run([psr], plots)
    assert state.stats.tracks_started > 1000
    assert state.stats.tracks_confirmed <= 3
    assert len(np.unique(tracks.track_id)) <= 3


def test_crossing_aircraft_with_distinct_addresses_keep_their_ids() -> None:
    rng = np.random.default_rng(4)
    adsb, ssr = adsb_sensor(), radar_sensor()
    t = np.arange(0.0, 240.0, 1.0)
    # Two aircraft cross at the same point and altitude at t = 120 s, at right angles.
    a = straight(t, -24e3, 0.0, 200.0, 0.0)
    b = straight(t, 0.0, -24e3, 0.0, 200.0)
    radar_t = np.arange(0.4, 240.0, 5.0)
    plots = Plots.concat(
        [
            adsb_plots(a, adsb, rng, 30.0, 0xAAAAAA),
            adsb_plots(b, adsb, rng, 30.0, 0xBBBBBB),
            radar_plots(a.at(radar_t), ssr, rng, mode_s=0xAAAAAA, squawk=1111),
            radar_plots(b.at(radar_t), ssr, rng, mode_s=0xBBBBBB, squawk=2222),
        ]
    )
    tracks, _ = run([adsb, ssr], plots)
    for address in (0xAAAAAA, 0xBBBBBB):
        ids = np.unique(tracks.track_id[tracks.mode_s == address])
        assert len(ids) == 1
    assert len(np.unique(tracks.track_id)) == 2


def test_crossing_primary_targets_are_not_swapped_by_gnn() -> None:
    """Without identity the IMM + GNN must still follow two crossing primary-only targets."""
    rng = np.random.default_rng(5)
    psr = radar_sensor("PSR", SensorKind.PSR, period=4.0)
    t = np.arange(0.0, 400.0, 4.0) + 0.5
    a = straight(t, -40e3, -20e3, 200.0, 100.0, alt=6000.0)
    b = straight(t, -40e3, 20e3, 200.0, -100.0, alt=6000.0)
    plots = Plots.concat([radar_plots(a, psr, rng), radar_plots(b, psr, rng)])
    tracks, _ = run([psr], plots)
    first = tracks.time_s == tracks.time_s[tracks.time_s > 60].min()
    last = tracks.time_s == tracks.time_s.max()
    # The track that starts north stays north of the one that starts south after they cross.
    start_north = tracks.track_id[first][np.argmax(tracks.lat_deg[first])]
    end_north = tracks.track_id[last][np.argmax(tracks.lat_deg[last])]
    assert len(np.unique(tracks.track_id)) == 2
    assert start_north != end_north


def test_target_leaving_coverage_is_deleted_and_a_returning_one_gets_a_new_id() -> None:
    rng = np.random.default_rng(6)
    adsb = adsb_sensor()
    first = straight(np.arange(0.0, 120.0, 1.0), 0.0, 0.0, 200.0, 0.0)
    # The same aircraft reappears 2 minutes later (after deletion), far away.
    second = straight(np.arange(240.0, 360.0, 1.0), -100e3, 50e3, 200.0, 0.0)
    plots = Plots.concat([adsb_plots(first, adsb, rng, 30.0, 0x777777), adsb_plots(second, adsb, rng, 30.0, 0x777777)])
    tracks, state = run([adsb], plots)
    ids_first = np.unique(tracks.track_id[tracks.time_s <= 121.0])
    ids_second = np.unique(tracks.track_id[tracks.time_s >= 241.0])
    assert len(ids_first) == 1 and len(ids_second) == 1
    assert ids_second[0] > ids_first[0]
    gap = (tracks.time_s > 150.0) & (tracks.time_s < 240.0)
    assert not gap.any()  # deleted while out of coverage, not coasted forever
    assert state.stats.tracks_deleted >= 1


@pytest.mark.parametrize(("missed", "kept"), [(2, True), (3, False)])
def test_primary_track_survives_two_missed_scans_but_not_three(missed: int, kept: bool) -> None:
    rng = np.random.default_rng(8)
    psr = radar_sensor("PSR", SensorKind.PSR, period=4.0)
    scans = np.arange(0.5, 200.0, 4.0)
    scans = np.delete(scans, np.arange(25, 25 + missed))  # no plot for `missed` scans in a row from t = 100.5
    tracks, _ = run([psr], radar_plots(straight(scans, -20e3, 20e3, 150.0, 0.0, alt=6000.0), psr, rng))
    late = tracks.time_s > 100.0 + 4.0 * (missed + 2)
    assert (len(np.unique(tracks.track_id)) == 1) is kept
    assert len(np.unique(tracks.track_id[late])) == 1


def test_maintain_ages_out_tracks_while_no_plot_arrives() -> None:
    rng = np.random.default_rng(9)
    adsb = adsb_sensor()
    plots = adsb_plots(straight(np.arange(0.0, 60.0, 1.0), 0.0, 0.0, 200.0, 0.0), adsb, rng, 30.0, 0x4B1A2C)
    state, _ = step(new_state([adsb]), plots)
    assert len(state.tracks) == 1
    state = maintain(state, 65.0)
    assert len(state.tracks) == 1  # 6 s of silence: coasting
    state = maintain(state, 75.0)
    assert len(picture(state, 75.0)) == 0  # contact ended: an addressed track is lost, no longer shown
    assert state.stats.tracks_lost == 1
    state = maintain(state, 59.0 + state.config.reacquire_within_s + 1.0)
    assert len(state.tracks) == 0
    assert state.stats.tracks_deleted == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_late_and_repeated_reports_are_predicted_back_to_not_dragging_the_track(seed: int) -> None:
    """Merged receiver feeds: every report twice, delivered up to 1 s out of order, in small batches."""
    rng = np.random.default_rng(seed)
    adsb = adsb_sensor()
    reports = adsb_plots(straight(np.arange(0.0, 60.0, 0.5), 0.0, 0.0, 200.0, 0.0), adsb, rng, 30.0, 0xABCDEF)
    both = Plots.concat([reports, reports.replace(time_s=reports.time_s + rng.uniform(-1e-3, 1e-3, len(reports)))])
    both = both.take(np.argsort(both.time_s + rng.uniform(-1.0, 1.0, len(both))))
    state = new_state([adsb])
    for k in range(0, len(both), 4):
        state, _ = step(state, both.take(np.arange(k, min(k + 4, len(both)))))
    tracks = picture(state, 60.0)
    assert tracks.track_id.tolist() == [1]
    assert np.hypot(tracks.v_east_mps[0] - 200.0, tracks.v_north_mps[0]) < 25.0  # taken as current: ~60 m/s off
    assert state.stats.plots_late > 20


def test_registration_recovers_injected_radar_biases() -> None:
    rng = np.random.default_rng(7)
    adsb, ssr = adsb_sensor(), radar_sensor(period=4.0)
    plots = [Plots.empty()]
    duration = 300.0
    for k in range(40):
        heading = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(150, 250)
        traj = straight(
            np.arange(rng.uniform(0, 1), duration, 1.0),
            rng.uniform(-120e3, 120e3),
            rng.uniform(-120e3, 120e3),
            speed * np.sin(heading),
            speed * np.cos(heading),
            alt=rng.uniform(3000, 11000),
        )
        address = 0x400000 + k
        plots.append(adsb_plots(traj, adsb, rng, 20.0, address))
        radar_t = np.arange(rng.uniform(0, 4), duration, 4.0)
        plots.append(
            radar_plots(
                traj.at(radar_t), ssr, rng, mode_s=address, range_bias_m=200.0, azimuth_bias_deg=0.3, time_offset_s=0.5
            )
        )
    _, state = run([adsb, ssr], Plots.concat(plots))
    est = state.registration.estimate[state.sensors.index_of(np.array(["SSR"]))[0]]
    assert est[0] == pytest.approx(200.0, rel=0.1)
    assert np.degrees(est[1]) == pytest.approx(0.3, rel=0.1)
    assert est[2] == pytest.approx(0.5, rel=0.1)


def test_config_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        TrackerConfig.from_dict({"gate": 3})
    with pytest.raises(ConfigError, match="positive number"):
        TrackerConfig.from_dict({"gate_chi2": -1.0})
    assert TrackerConfig.from_dict({"gate_chi2": 12}).gate_chi2 == 12


def test_imm_combine_is_the_moment_match() -> None:
    x = np.array([[[0.0, 0, 0, 0, 0], [2.0, 0, 0, 0, 0]]])
    P = np.tile(np.eye(5), (1, 2, 1, 1))
    xc, Pc = imm.combine(x, P, np.array([[0.5, 0.5]]))
    assert xc[0, 0] == pytest.approx(1.0)
    assert Pc[0, 0, 0] == pytest.approx(2.0)  # 1 + spread of the means (1^2)
