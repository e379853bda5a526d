"""Geodesy against pymap3d as an independent oracle, to < 1 mm over 500 km."""

from __future__ import annotations

import numpy as np
import pymap3d
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commonsky.core import geodesy as g

MM = 1e-3
RNG = np.random.default_rng(20261129)
N = 20_000
LAT0, LON0, ALT0 = 47.5, 9.5, 420.0
# Targets within about 500 km of the origin, from the ground to 20 km.
LAT = LAT0 + RNG.uniform(-4.5, 4.5, N)
LON = LON0 + RNG.uniform(-6.5, 6.5, N)
ALT = RNG.uniform(-100.0, 20_000.0, N)


def test_geodetic_to_ecef_matches_oracle() -> None:
    x, y, z = g.geodetic_to_ecef(LAT, LON, ALT)
    ox, oy, oz = pymap3d.geodetic2ecef(LAT, LON, ALT)
    assert np.max(np.abs(np.stack([x - ox, y - oy, z - oz]))) < MM


def test_ecef_to_geodetic_matches_oracle_and_round_trips() -> None:
    x, y, z = g.geodetic_to_ecef(LAT, LON, ALT)
    lat, lon, alt = g.ecef_to_geodetic(x, y, z)
    olat, olon, oalt = pymap3d.ecef2geodetic(x, y, z)
    metres_per_deg = 111_320.0
    assert np.max(np.abs(lat - olat)) * metres_per_deg < MM
    assert np.max(np.abs(lon - olon)) * metres_per_deg < MM
    assert np.max(np.abs(alt - oalt)) < MM
    assert np.max(np.abs(lat - LAT)) * metres_per_deg < MM
    assert np.max(np.abs(alt - ALT)) < MM


def test_enu_matches_oracle_and_round_trips() -> None:
    e, n, u = g.geodetic_to_enu(LAT, LON, ALT, LAT0, LON0, ALT0)
    oe, on, ou = pymap3d.geodetic2enu(LAT, LON, ALT, LAT0, LON0, ALT0)
    assert np.hypot(e, n).max() > 450_000.0  # the test really spans ~500 km
    assert np.max(np.abs(np.stack([e - oe, n - on, u - ou]))) < MM
    lat, lon, alt = g.enu_to_geodetic(e, n, u, LAT0, LON0, ALT0)
    assert np.max(np.abs(lat - LAT)) * 111_320.0 < MM
    assert np.max(np.abs(lon - LON)) * 111_320.0 < MM
    assert np.max(np.abs(alt - ALT)) < MM


def test_sensor_aer_matches_oracle_and_inverts() -> None:
    az, el, rng = g.sensor_aer(LAT0, LON0, ALT0, LAT, LON, ALT)
    oaz, oel, orng = pymap3d.geodetic2aer(LAT, LON, ALT, LAT0, LON0, ALT0)
    # Angular error times range gives the position error in metres.
    assert np.max(np.abs(rng - orng)) < MM
    daz = (az - oaz + 180.0) % 360.0 - 180.0
    assert np.max(np.radians(np.abs(daz)) * rng) < MM
    assert np.max(np.radians(np.abs(el - oel)) * rng) < MM
    lat, lon, alt = g.aer_to_geodetic(LAT0, LON0, ALT0, az, el, rng)
    assert np.max(np.abs(alt - ALT)) < MM
    assert np.max(np.abs(lat - LAT)) * 111_320.0 < MM
    assert np.max(np.abs(lon - LON)) * 111_320.0 < MM


def test_local_frame_vector_rotation_is_orthonormal() -> None:
    frame = g.LocalFrame(LAT0, LON0, ALT0)
    v = RNG.normal(size=(3, 100))
    back = frame.vector_to_ecef(*frame.vector_to_enu(*v))
    assert np.allclose(np.stack(back), v, atol=1e-12)
    assert np.allclose(frame.rotation @ frame.rotation.T, np.eye(3), atol=1e-15)


def test_radar_horizon_textbook_value() -> None:
    # 4/3-Earth rule of thumb: d[km] ~= 4.12 (sqrt(h1[m]) + sqrt(h2[m])).
    d = g.radar_horizon_m(25.0, 10_000.0)
    assert d / 1000.0 == pytest.approx(4.12 * (5.0 + 100.0), rel=0.01)
    assert g.radar_horizon_m(0.0, 0.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.0, 300_000.0),
    st.floats(0.0, 3_000.0),
    st.floats(0.0, 15_000.0),
)
def test_slant_to_ground_range_inverts_the_triangle(ground: float, hs: float, ht: float) -> None:
    re = g.EFFECTIVE_EARTH_FACTOR * g.EARTH_RADIUS_M
    theta = ground / re
    rs, rt = re + hs, re + ht
    slant = np.sqrt((rs - rt) ** 2 + 4.0 * rs * rt * np.sin(theta / 2.0) ** 2)
    assert g.slant_range_to_ground_range(slant, hs, ht) == pytest.approx(ground, abs=0.05)
