"""The surface domain in the tracker: vessels from AIS and shore radar, kept apart from aircraft.

A vessel and a low aircraft over the same water must make two tracks, never one; an AIS vessel's
MMSI comes out in `mmsi` (not `mode_s`), its track carries the AIS and shore-radar kinds; a dark
vessel (radar only) passing close to an AIS vessel keeps no identity.
"""

from __future__ import annotations

import numpy as np

from commonsky.core import Plots, SensorKind, SensorSpec
from commonsky.core.batches import SENSOR_AIS, SENSOR_PSR, SENSOR_SURFACE_RADAR, Tracks
from commonsky.core.geodesy import sensor_aer
from commonsky.tracking import run
from tests.tracking.synth import FRAME, Trajectory, adsb_plots, adsb_sensor, radar_plots, radar_sensor, straight

MMSI = 243_123_456
SHORE = SensorSpec("SHORE", "p", SensorKind.SURFACE_RADAR, 47.49, 9.5, 20.0, 10.0, 0.3, 1.0, 2.5, 0.95, 12_000.0)
AIS = SensorSpec("AIS", "p", SensorKind.AIS, 47.49, 9.51, 10.0, 10.0, 0.0, 1.0, 10.0, 0.95, 40_000.0)


def ais_plots(traj: Trajectory, rng: np.random.Generator, mmsi: int, every_s: float = 10.0) -> Plots:
    """AIS reports every `every_s` of a vessel on the water (height 0), 5 m noise."""
    k = np.flatnonzero(np.mod(traj.t, every_s) < 1e-9)
    lat, lon, _ = FRAME.enu_to_geodetic(
        traj.e[k] + rng.normal(0, 5.0, len(k)), traj.n[k] + rng.normal(0, 5.0, len(k)), np.zeros(len(k))
    )
    return Plots.build(
        len(k),
        time_s=traj.t[k],
        sensor_id=[AIS.id] * len(k),
        lat_deg=lat,
        lon_deg=lon,
        altitude_m=np.zeros(len(k)),
        mmsi=[mmsi] * len(k),
        callsign=["OMAB"] * len(k),
        nacp=[10] * len(k),
        domain=["surface"] * len(k),
    )


def shore_plots(traj: Trajectory, rng: np.random.Generator) -> Plots:
    """Shore radar plots of a vessel at height 0, one per scan."""
    k = np.flatnonzero(np.mod(traj.t, SHORE.scan_period_s) < 1e-9)
    lat, lon, h = FRAME.enu_to_geodetic(traj.e[k], traj.n[k], np.zeros(len(k)))
    az, _, rho = sensor_aer(SHORE.lat_deg, SHORE.lon_deg, SHORE.alt_m, lat, lon, h)
    return Plots.build(
        len(k),
        time_s=traj.t[k],
        sensor_id=[SHORE.id] * len(k),
        range_m=rho + rng.normal(0, SHORE.sigma_range_m, len(k)),
        azimuth_deg=np.mod(az + rng.normal(0, SHORE.sigma_azimuth_deg, len(k)), 360.0),
        domain=["surface"] * len(k),
    )


def at_end(tracks: Tracks) -> Tracks:
    """The tracks of the picture at its last time."""
    return tracks.take(tracks.time_s == tracks.time_s.max())


def test_a_vessel_under_a_low_aircraft_makes_two_tracks_of_their_own_domains() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(0.0, 300.0, 0.5)
    boat = straight(t, 0.0, 0.0, 4.0, 0.5, alt=0.0)
    plane = straight(t, 0.0, 0.0, 4.0, 0.5, alt=150.0)  # a helicopter over the vessel, same track
    psr = radar_sensor("PSR", SensorKind.PSR, lat=47.45, lon=9.45, period=4.0)
    plots = Plots.concat(
        [
            ais_plots(boat, rng, MMSI),
            shore_plots(boat, rng),
            radar_plots(plane.at(np.arange(0.0, 300.0, 4.0)), psr, rng),
        ]
    )
    tracks, _ = run([SHORE, AIS, psr], plots)
    end = at_end(tracks)
    assert sorted(end.domain.tolist()) == ["air", "surface"]
    vessel = end.take(end.domain == "surface")
    assert vessel.mmsi.tolist() == [MMSI] and vessel.mode_s.tolist() == [-1]
    assert vessel.callsign.tolist() == ["OMAB"] and vessel.on_ground.tolist() == [-1]
    e, n, _ = FRAME.geodetic_to_enu(vessel.lat_deg, np.asarray(vessel.lon_deg), np.zeros(1))
    assert np.hypot(e[0] - boat.e[-1], n[0] - boat.n[-1]) < 50.0
    aircraft = end.take(end.domain == "air")
    assert aircraft.mmsi.tolist() == [-1]


def test_a_vessel_track_reports_the_surface_kinds_and_sits_on_the_water() -> None:
    from commonsky.tracking.report import reports

    rng = np.random.default_rng(2)
    t = np.arange(0.0, 200.0, 0.5)
    boat = straight(t, -500.0, 300.0, 3.0, 0.0, alt=0.0)
    _, state = run([SHORE, AIS], Plots.concat([ais_plots(boat, rng, MMSI), shore_plots(boat, rng)]))
    rep = reports(state, "p", float(t[-1]))
    assert len(rep) == 1
    assert int(rep.sensor_kinds[0]) == SENSOR_AIS | SENSOR_SURFACE_RADAR
    assert not int(rep.sensor_kinds[0]) & SENSOR_PSR
    assert rep.domain.tolist() == ["surface"] and abs(float(rep.alt_m[0])) < 5.0
    assert np.hypot(rep.v_east_mps[0] - 3.0, rep.v_north_mps[0]) < 0.5


def test_a_dark_vessel_passing_close_to_an_ais_vessel_keeps_no_identity() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 400.0, 0.5)
    ais_boat = straight(t, -800.0, 40.0, 4.0, 0.0, alt=0.0)  # eastbound
    dark_boat = straight(t, 800.0, -40.0, -4.0, 0.0, alt=0.0)  # westbound, passes 80 m away at t=200
    plots = Plots.concat([ais_plots(ais_boat, rng, MMSI), shore_plots(ais_boat, rng), shore_plots(dark_boat, rng)])
    tracks, _ = run([SHORE, AIS], plots)
    confirmed = tracks.take(tracks.status != "tentative")
    ids = np.unique(confirmed.track_id)
    heading_east = {int(i): float(np.median(confirmed.v_east_mps[confirmed.track_id == i])) > 0 for i in ids}
    # The dark vessel's track (heading west) never carries the MMSI, before, during or after the pass; the AIS
    # vessel's track keeps it throughout.
    for track_id, east in heading_east.items():
        mmsi = confirmed.mmsi[confirmed.track_id == track_id]
        assert (mmsi == (MMSI if east else -1)).all()
    assert sorted(heading_east.values()) == [False, True]


def test_adsb_plots_never_feed_a_vessel_track() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(0.0, 120.0, 1.0)
    boat = straight(t, 0.0, 0.0, 2.0, 0.0, alt=0.0)
    adsb = adsb_sensor()
    plots = Plots.concat([ais_plots(boat, rng, MMSI), adsb_plots(boat, adsb, rng, 5.0, 0x4B1A2C)])
    tracks, _ = run([AIS, adsb], plots)
    end = at_end(tracks)
    assert sorted(zip(end.domain.tolist(), end.mmsi.tolist(), end.mode_s.tolist(), strict=True)) == [
        ("air", -1, 0x4B1A2C),
        ("surface", MMSI, -1),
    ]


def test_two_vessels_sharing_an_mmsi_where_no_radar_watches_get_a_track_each() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(0.0, 200.0, 0.5)
    near = straight(t, 0.0, 0.0, 3.0, 0.0, alt=0.0)
    far = straight(t, 25_000.0, 0.0, -3.0, 0.0, alt=0.0)  # beyond the shore radar's 12 km
    plots = Plots.concat([ais_plots(near, rng, MMSI), ais_plots(far, rng, MMSI), shore_plots(near, rng)])
    tracks, state = run([SHORE, AIS], plots)
    end = at_end(tracks)
    assert end.mmsi.tolist() == [MMSI, MMSI]
    assert state.stats.tracks_started == 2


def test_a_spoofed_ais_position_under_a_shore_radar_starts_no_track() -> None:
    rng = np.random.default_rng(6)
    t = np.arange(0.0, 300.0, 0.5)
    boat = straight(t, 0.0, 0.0, 3.0, 0.0, alt=0.0)
    spoofed = straight(t, 600.0, 0.0, 3.0, 0.0, alt=0.0)  # the AIS says 600 m east of the radar's echo
    ais = ais_plots(boat, rng, MMSI)
    late = ais.time_s >= 150.0
    spoof = ais_plots(spoofed, rng, MMSI)
    plots = Plots.concat([ais.take(~late), spoof.take(spoof.time_s >= 150.0), shore_plots(boat, rng)])
    tracks, state = run([SHORE, AIS], plots)
    end = at_end(tracks)
    assert len(end) == 1 and end.mmsi.tolist() == [MMSI]
    e, n, _ = FRAME.geodetic_to_enu(end.lat_deg, end.lon_deg, np.zeros(1))
    assert np.hypot(e[0] - boat.e[-1], n[0] - boat.n[-1]) < 50.0
    assert state.stats.address_conflicts > 0


def test_a_real_ais_recording_tracks_one_vessel_per_mmsi() -> None:
    from pathlib import Path

    from commonsky.formats.files import decode_file

    data = Path(__file__).resolve().parents[1] / "data" / "ais" / "gpsd_ais-nmea.log"  # provenance: data/ais
    plots = decode_file(data, "ais", sensor_id="rx").plots
    vessels = plots.take(plots.surface)
    station = SensorSpec.receiver(
        "rx", "local", float(vessels.lat_deg.mean()), float(vessels.lon_deg.mean()), SensorKind.AIS
    )
    tracks, state = run([station], vessels)
    confirmed = tracks.take(tracks.status != "tentative")
    assert (confirmed.domain == "surface").all() and (confirmed.mode_s == -1).all()
    per_track = {int(i): set(confirmed.mmsi[confirmed.track_id == i].tolist()) for i in np.unique(confirmed.track_id)}
    assert all(len(m) == 1 and -1 not in m for m in per_track.values())
    assert len(per_track) == len(np.unique(vessels.mmsi)) == 30
    assert state.stats.address_conflicts == 0
