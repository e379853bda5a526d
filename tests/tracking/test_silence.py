"""End of contact by improbable silence: sensors that were detecting a track, cover it and still deliver
plots end it within seconds; an outage or refused reports do not."""

from __future__ import annotations

import numpy as np

from commonsky.core import Plots, SensorKind, SensorSpec, Tracks
from commonsky.tracking import TrackerConfig, run

from .synth import FRAME, adsb_plots, adsb_sensor, radar_plots, radar_sensor, straight

VANISH_S = 100.0


def _two_aircraft(rng: np.random.Generator, ssr_period: float = 4.0) -> tuple[list[SensorSpec], Plots]:
    """Aircraft A vanishes at VANISH_S, B flies on; both seen by an ADS-B station (1 s) and an SSR."""
    adsb, ssr = adsb_sensor(), radar_sensor(period=ssr_period)
    parts = []
    for address, e0, end in ((0xAAAAAA, -30e3, VANISH_S), (0xBBBBBB, 20e3, 200.0)):
        parts.append(adsb_plots(straight(np.arange(0.0, end, 1.0), e0, 0.0, 200.0, 0.0), adsb, rng, 20.0, address))
        scans = straight(np.arange(0.3, end, ssr_period), e0, 0.0, 200.0, 0.0)
        parts.append(radar_plots(scans, ssr, rng, mode_s=address, squawk=0o4000 + address % 8))
    return [adsb, ssr], Plots.concat(parts)


def _shown_until(tracks: Tracks, track_id: int) -> float:
    return float(tracks.time_s[tracks.track_id == track_id].max())


def test_a_vanished_aircraft_ends_within_seconds_while_its_sensors_deliver() -> None:
    sensors, plots = _two_aircraft(np.random.default_rng(1))
    tracks, state = run(sensors, plots)
    old_rule, _ = run(sensors, plots, TrackerConfig(silence_probability=0.0))
    assert np.unique(tracks.track_id).tolist() == [1, 2]
    assert _shown_until(tracks, 1) <= VANISH_S + 5.0
    assert _shown_until(old_rule, 1) >= VANISH_S + 11.0  # seconds and missed scans alone coast it on
    assert state.stats.tracks_lost == 1  # identified: kept for re-acquisition, not shown
    assert _shown_until(tracks, 2) >= 199.0


def test_an_outage_of_one_sensor_is_no_silence() -> None:
    """The ADS-B station stops for everyone from 100 s to 160 s: the SSR alone (5 s scans) holds both tracks."""
    sensors, plots = _two_aircraft(np.random.default_rng(2), ssr_period=5.0)
    outage = (plots.sensor_id == "ADSB") & (plots.time_s >= 100.0) & (plots.time_s < 160.0)
    tracks, state = run(sensors, plots.take(~outage))
    assert state.stats.tracks_lost == 1  # A, which vanished; B never
    b = tracks.track_id == 2
    assert np.all(np.diff(np.sort(tracks.time_s[b])) <= 1.0 + 1e-9)  # B shown every second throughout


def test_refused_reports_of_an_aircraft_keep_its_track() -> None:
    """From 100 s B's ADS-B positions are 4 km off its radar position (a spoofer): refused, but B is there."""
    rng = np.random.default_rng(3)
    adsb, ssr = adsb_sensor(), radar_sensor(period=5.0)
    radar = radar_plots(straight(np.arange(0.3, 200.0, 5.0), 0.0, 0.0, 200.0, 0.0), ssr, rng, mode_s=0xB0B0B0)
    honest = adsb_plots(straight(np.arange(0.0, VANISH_S, 1.0), 0.0, 0.0, 200.0, 0.0), adsb, rng, 20.0, 0xB0B0B0)
    spoofed = adsb_plots(straight(np.arange(VANISH_S, 200.0, 1.0), 0.0, 4e3, 200.0, 0.0), adsb, rng, 20.0, 0xB0B0B0)
    tracks, state = run([adsb, ssr], Plots.concat([radar, honest, spoofed]))
    assert np.unique(tracks.track_id).tolist() == [1]
    assert state.stats.tracks_lost == 0
    late = tracks.take(tracks.time_s > 150.0)
    truth = straight(late.time_s, 0.0, 0.0, 200.0, 0.0)
    e, n, _ = FRAME.geodetic_to_enu(late.lat_deg, late.lon_deg, 9000.0)
    assert np.all(np.hypot(e - truth.e, n - truth.n) < 1000.0)  # on the radar's aircraft, not the spoofed one


def test_a_transponder_switched_off_under_primary_radar_keeps_its_track() -> None:
    """A's ADS-B and SSR fall silent together at 100 s (B keeps both sensors delivering); the primary radar
    (6 s scans) still sees A."""
    rng = np.random.default_rng(4)
    sensors, plots = _two_aircraft(rng, ssr_period=5.0)
    psr = radar_sensor("PSR", SensorKind.PSR, lat=47.2, lon=9.8, period=6.0)
    a_path = straight(np.arange(2.1, 200.0, 6.0), -30e3, 0.0, 200.0, 0.0)
    plots = Plots.concat([plots, radar_plots(a_path, psr, rng)])
    tracks, state = run([*sensors, psr], plots)
    assert np.unique(tracks.track_id).tolist() == [1, 2]
    assert state.stats.tracks_lost == 0
    assert _shown_until(tracks, 1) >= 194.0  # its last primary plot
    as_if_vanished, _ = run([*sensors, psr], plots, TrackerConfig(transponder_off_probability=1e-9))
    assert len(np.unique(as_if_vanished.track_id)) == 3  # without the shared-transponder cap: cut and restarted
