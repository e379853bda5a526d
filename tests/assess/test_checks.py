"""Source consistency checks: address joins, ADS-B against Mode S radar plots, partner against own tracks."""

from __future__ import annotations

import numpy as np
import pytest

from commonsky.assess.checks import adsb_radar_pairs, join_equal, partner_contradictions
from commonsky.core.batches import Plots, TrackReports
from commonsky.core.geodesy import LocalFrame, sensor_aer
from commonsky.core.sensors import SensorKind, SensorSpec

from .helpers import T0

SSR = SensorSpec("SSR", "own", SensorKind.SSR, 47.0, 9.0, 500.0, 30.0, 0.05, 10.0, 4.0, 0.97, 200_000.0)
ADSB = SensorSpec("ADSB", "own", SensorKind.ADSB, 47.2, 9.3, 400.0, 40.0, 0.0, 5.0, 1.0, 0.95, 200_000.0)
PSR = SensorSpec("PSR", "own", SensorKind.PSR, 47.0, 9.0, 500.0, 60.0, 0.1, 0.0, 4.0, 0.9, 100_000.0)
SENSORS = {s.id: s for s in (SSR, ADSB, PSR)}


def test_join_equal_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(-1, 6, 40)
    b = rng.integers(-1, 6, 30)
    ia, ib = join_equal(a, b)
    expected = {(i, j) for i in range(len(a)) for j in range(len(b)) if a[i] == b[j] >= 0}
    assert set(zip(ia.tolist(), ib.tolist(), strict=True)) == expected and len(ia) == len(expected)


def _plots(offset_east_m: float, dt_s: float = 0.3, velocity: float = 200.0) -> Plots:
    """One SSR plot of an aircraft at 47.5/9.4, 9000 m, and one ADS-B report dt_s earlier, offset east."""
    frame = LocalFrame(47.5, 9.4)
    lat, lon, alt = 47.5, 9.4, 9000.0
    az, _, rho = sensor_aer(SSR.lat_deg, SSR.lon_deg, SSR.alt_m, lat, lon, alt)
    # The ADS-B report is from dt_s earlier, when the aircraft (flying east) was further west.
    a_lat, a_lon, _ = frame.enu_to_geodetic(offset_east_m - velocity * dt_s, 0.0, 0.0)
    return Plots.build(
        2,
        time_s=[T0 + dt_s, T0],
        sensor_id=["SSR", "ADSB"],
        range_m=[float(rho), np.nan],
        azimuth_deg=[float(az), np.nan],
        altitude_m=[alt, alt],
        lat_deg=[np.nan, float(a_lat)],
        lon_deg=[np.nan, float(a_lon)],
        mode_s=[0x3C0001, 0x3C0001],
        nacp=[-1, 8],
    )


@pytest.mark.parametrize(("offset", "consistent"), [(0.0, True), (150.0, True), (3000.0, False)])
def test_adsb_radar_pair_is_tested_against_the_combined_uncertainty(offset: float, consistent: bool) -> None:
    pairs = adsb_radar_pairs(_plots(offset), SENSORS, np.array([0x3C0001]), np.array([[200.0, 0.0]]), 1.0, 10.0, 100.0)
    assert len(pairs) == 1
    assert pairs.distance_m[0] == pytest.approx(offset, abs=60.0)
    assert bool(pairs.chi2[0] <= 13.82) is consistent
    assert pairs.lat_deg[0] == pytest.approx(47.5, abs=1e-3) and pairs.lon_deg[0] == pytest.approx(9.4, abs=1e-3)


def test_adsb_pairs_need_a_known_velocity_and_a_close_time() -> None:
    assert len(adsb_radar_pairs(_plots(0.0), SENSORS, np.array([7]), np.array([[1.0, 0.0]]), 1.0, 10.0, 100.0)) == 0
    late = _plots(0.0, dt_s=2.0)
    assert len(adsb_radar_pairs(late, SENSORS, np.array([0x3C0001]), np.array([[200.0, 0.0]]), 1.0, 10.0, 100.0)) == 0


def _reports(owner: str, lat: list[float], lon: list[float], mode_s: list[int], alt: float = 6000.0) -> TrackReports:
    n = len(lat)
    return TrackReports.build(
        n,
        time_s=np.full(n, T0),
        owner=np.full(n, owner),
        track_id=np.arange(n),
        lat_deg=lat,
        lon_deg=lon,
        alt_m=np.full(n, alt),
        v_east_mps=np.zeros(n),
        v_north_mps=np.zeros(n),
        **TrackReports.covariance_columns(np.tile(np.diag([200.0**2, 200.0**2, 25.0, 25.0]), (n, 1, 1))),
        mode_s=mode_s,
    )


def test_partner_track_with_an_own_address_far_from_the_own_track() -> None:
    frame = LocalFrame(47.2, 9.2)
    own = _reports("own", [47.2, 47.3], [9.2, 9.3], [1, 2])
    partner = _reports("p", [47.2005, 47.35, 47.3], [9.2, 9.3, 9.3], [1, 2, -1])
    found = partner_contradictions(frame, own, partner, [], T0, 18.42, 300.0, 3000.0, 0.9)
    assert found.partner_row.tolist() == [1] and found.rule.tolist() == ["same_address_far"]
    assert found.distance_m[0] == pytest.approx(5560, rel=0.01) and found.own_track_id.tolist() == [1]


def test_partner_track_in_own_radar_coverage_that_no_own_track_explains() -> None:
    frame = LocalFrame(47.2, 9.2)
    own = _reports("own", [47.2], [9.2], [-1])
    # Row 0 next to the own track, row 1 alone inside PSR coverage, row 2 alone beyond it (150 km).
    partner = _reports("p", [47.21, 47.4, 48.35], [9.2, 9.4, 9.0], [-1, -1, -1])
    found = partner_contradictions(frame, own, partner, [PSR], T0, 18.42, 300.0, 3000.0, 0.9)
    assert found.partner_row.tolist() == [1]
    assert found.rule.tolist() == ["unexplained_in_coverage"] and found.covering_sensor.tolist() == ["PSR"]
    # Without an own radar that is up, nothing can be claimed.
    assert len(partner_contradictions(frame, own, partner, [], T0, 18.42, 300.0, 3000.0, 0.9).partner_row) == 0
    # A Mode S radar alone vouches only for transponder tracks.
    assert len(partner_contradictions(frame, own, partner, [SSR], T0, 18.42, 300.0, 3000.0, 0.9).partner_row) == 0
