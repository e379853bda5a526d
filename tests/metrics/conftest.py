"""Scenario builders for the metrics tests: straight-flying targets and tracks derived from them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from commonsky.core import LocalFrame, Tracks, Truth

FRAME = LocalFrame(50.0, 8.0)
"""Scenario origin; targets fly within a few tens of km of it."""


def straight_truth(
    n_targets: int = 3, seconds: int = 30, spacing_m: float = 20_000.0, speed_mps: float = 200.0
) -> Truth:
    """Targets on parallel-ish straight lines (headings differ), `spacing_m` apart, one row per second."""
    k = np.tile(np.arange(n_targets), seconds)
    t = np.repeat(np.arange(seconds, dtype=np.float64), n_targets)
    heading = np.radians(30.0 + 40.0 * k)
    ve, vn, vu = speed_mps * np.sin(heading), speed_mps * np.cos(heading), np.zeros(len(t))
    e, n, u = k * spacing_m + ve * t, vn * t, np.full(len(t), 10_000.0)
    lat, lon, alt = FRAME.enu_to_geodetic(e, n, u)
    # Velocities in each point's own east/north/up axes, as the file contract states them.
    vx, vy, vz = FRAME.vector_to_ecef(ve, vn, vu)
    la, lo = np.radians(lat), np.radians(lon)
    return Truth.build(
        time_s=t,
        target_id=k + 1,
        lat_deg=lat,
        lon_deg=lon,
        alt_m=alt,
        v_east_mps=-np.sin(lo) * vx + np.cos(lo) * vy,
        v_north_mps=-np.sin(la) * np.cos(lo) * vx - np.sin(la) * np.sin(lo) * vy + np.cos(la) * vz,
        v_up_mps=np.cos(la) * np.cos(lo) * vx + np.cos(la) * np.sin(lo) * vy + np.sin(la) * vz,
    )


def tracks_from(truth: Truth, every_s: int = 1, id_offset: int = 100) -> Tracks:
    """A perfect confirmed track per target (track id = target id + id_offset), one row every `every_s` seconds."""
    rows = truth.take(truth.time_s % every_s == 0)
    return Tracks.build(
        time_s=rows.time_s,
        track_id=rows.target_id.astype(np.int64) + id_offset,
        lat_deg=rows.lat_deg,
        lon_deg=rows.lon_deg,
        alt_m=rows.alt_m,
        v_east_mps=rows.v_east_mps,
        v_north_mps=rows.v_north_mps,
        v_up_mps=rows.v_up_mps,
        status=np.full(len(rows), "confirmed"),
    )


@pytest.fixture
def make_truth() -> Callable[..., Truth]:
    """`straight_truth` as a fixture."""
    return straight_truth


@pytest.fixture
def make_tracks() -> Callable[..., Tracks]:
    """`tracks_from` as a fixture."""
    return tracks_from
