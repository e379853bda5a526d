"""Fusion of the surface domain: vessels never fuse with aircraft, a vessel's MMSI comes out in `mmsi`, and an AIS
position that a partner's shore radar contradicts stays out of the common picture."""

from __future__ import annotations

from commonsky.core.batches import SENSOR_AIS, SENSOR_PSR, SENSOR_SURFACE_RADAR, TrackReports
from commonsky.fusion import fuse
from tests.fusion.helpers import concat, cov4, reports, state

MMSI = 243011906
VESSEL = {"domain": "surface", "alt_m": 0.0, "var_alt_m2": 1.0}
SMALL = cov4(20.0, 20.0, 0.5, 0.5)


def vessel(owner: str, track_id: int, e: float, n: float, kinds: int, mmsi: int = -1) -> TrackReports:
    """One vessel report at 4 m/s east."""
    return reports(owner, track_id, e, n, ve=4.0, cov=SMALL, sensor_kinds=kinds, mmsi=mmsi, **VESSEL)


def test_a_vessel_and_an_aircraft_at_one_place_stay_two_system_tracks() -> None:
    batch = concat(
        vessel("a", 1, 0.0, 0.0, SENSOR_SURFACE_RADAR | SENSOR_AIS, MMSI),
        reports("b", 2, 0.0, 0.0, ve=4.0, cov=SMALL, sensor_kinds=SENSOR_PSR),  # a slow helicopter over it
    )
    _, pic = fuse(state(), batch, 0.0)
    assert sorted(pic.domain.tolist()) == ["air", "surface"]
    boat = pic.take(pic.domain == "surface")
    assert boat.mmsi.tolist() == [MMSI] and boat.mode_s.tolist() == [-1] and boat.n_sources.tolist() == [1]


def test_two_banks_reports_of_one_vessel_fuse_with_its_mmsi() -> None:
    batch = concat(
        vessel("a", 1, 0.0, 0.0, SENSOR_SURFACE_RADAR),
        vessel("b", 7, 15.0, -10.0, SENSOR_AIS | SENSOR_SURFACE_RADAR, MMSI),
    )
    _, pic = fuse(state(), batch, 0.0)
    assert len(pic) == 1 and pic.mmsi.tolist() == [MMSI]
    assert int(pic.sensor_kinds[0]) == SENSOR_AIS | SENSOR_SURFACE_RADAR


def test_an_ais_position_a_radar_contradicts_stays_out_of_the_picture() -> None:
    batch = concat(
        vessel("a", 1, 0.0, 0.0, SENSOR_SURFACE_RADAR | SENSOR_AIS, MMSI),  # radar and AIS agree here
        vessel("b", 9, 500.0, 0.0, SENSOR_AIS, MMSI),  # the other bank hears the spoofed position only
    )
    fusion, pic = fuse(state(), batch, 0.0)
    assert len(pic) == 1  # the radar-fed vessel only
    assert pic.sources.tolist() == ["a:1"]
    assert fusion.stats.ais_refuted == 1


def test_a_second_vessel_on_one_mmsi_far_away_is_kept() -> None:
    batch = concat(
        vessel("a", 1, 0.0, 0.0, SENSOR_SURFACE_RADAR | SENSOR_AIS, MMSI),
        vessel("b", 9, 16_000.0, 0.0, SENSOR_AIS, MMSI),  # beyond any radar's reach of the first
    )
    fusion, pic = fuse(state(), batch, 0.0)
    assert sorted(pic.sources.tolist()) == ["a:1", "b:9"] and pic.mmsi.tolist() == [MMSI, MMSI]
    assert fusion.stats.ais_refuted == 0
