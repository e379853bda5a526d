"""Reporting: tracks predicted to output times, in WGS-84 with their uncertainty (the `tracks.csv` contract).

Each model of a track is predicted without interaction and the mixture combined; the horizontal
covariance is turned into local east/north axes at the aircraft, so a report does not depend on
the node's frame. A primary-only track reports a height once radar geometry has pinned it down.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from commonsky.core.arrays import F64, I64
from commonsky.core.batches import (
    SENSOR_ADSB,
    SENSOR_AIS,
    SENSOR_PSR,
    SENSOR_SSR,
    SENSOR_SURFACE_RADAR,
    TrackReports,
    Tracks,
)
from commonsky.core.sensors import DOMAIN_AIR, DOMAIN_SURFACE
from commonsky.tracking import kernels
from commonsky.tracking.manage import coasting
from commonsky.tracking.motion import regime
from commonsky.tracking.prepare import ADSB
from commonsky.tracking.state import CONFIRMED, TrackerState
from commonsky.tracking.water import onto_water

REPORTED_BLOCK = np.array([0, 1, 2, 3, 5])
"""The state components whose covariance is reported: [e, n, v_e, v_n, h]."""
AIS_RECENT_S = 30.0
"""A vessel's AIS counts among its recent sensor kinds for this long: three class A reports (one per 10 s
under 14 kn, ITU-R M.1371), whatever the faster shore radar's scan."""
REPORTED_HEIGHT_SIGMA_M = 500.0
"""A primary-only track reports its estimated height once its sigma is below this."""


def _reported_columns(state: TrackerState, rows: I64, time_s: F64) -> dict[str, NDArray[Any]]:
    """Tracks at the given rows predicted to the given times: WGS-84 position, velocity and the
    horizontal covariance in the local east/north axes at each aircraft (frame-independent)."""
    tr = state.tracks
    dt = np.maximum(time_s - tr.time_s[rows], 0.0)
    xc, Pc = kernels.predict_combined(
        tr.x, tr.P, tr.mu, rows, dt, state.models, regime(tr.on_ground[rows], tr.vessel[rows]), REPORTED_BLOCK
    )
    var_h = Pc[:, 4, 4]
    # A height is reported once measured, or once radar geometry has pinned it down; not on the ground,
    # where surface positions carry none and the aircraft's is the aerodrome's.
    ground = tr.on_ground[rows]
    has = (tr.has_alt[rows] | (var_h < REPORTED_HEIGHT_SIGMA_M**2)) & ~ground
    alt = xc[:, 5]
    vessel = tr.vessel[rows]
    e, n = np.ascontiguousarray(xc[:, 0]), np.ascontiguousarray(xc[:, 1])
    if vessel.any():  # a vessel's prediction is reported on the water, however straight it ran
        e[vessel], n[vessel], _ = onto_water(state, e[vessel], n[vessel], alt[vessel])
    lat, lon, up = kernels.geodetic_points(*state.sensors.kernel_frame, e, n, alt)
    # Local east and north unit vectors at each aircraft, in frame axes.
    la, lo = np.radians(lat), np.radians(lon)
    east_ecef = np.stack([-np.sin(lo), np.cos(lo), np.zeros_like(lo)], -1)
    north_ecef = np.stack([-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)], -1)
    rot = state.sensors.frame_rotation
    east = east_ecef @ rot.T
    north = north_ecef @ rot.T
    ve, vn = xc[:, 2], xc[:, 3]
    vrate = xc[:, 6]
    du = (-up[:, 0] * ve - up[:, 1] * vn + vrate) / up[:, 2]
    v_frame = np.stack([ve, vn, du], axis=-1)
    # Horizontal frame components to local components (the up coupling is second order).
    A = np.zeros((len(rows), 4, 4))
    A[:, 0, :2] = A[:, 2, 2:] = east[:, :2]
    A[:, 1, :2] = A[:, 3, 2:] = north[:, :2]
    cov = A @ Pc[:, :4, :4] @ A.transpose(0, 2, 1)
    coast = coasting(state, rows, time_s)
    status = np.where(tr.status[rows] == CONFIRMED, np.where(coast, "coasting", "confirmed"), "tentative")
    sigma = np.sqrt(0.5 * (Pc[:, 0, 0] + Pc[:, 1, 1]))
    recent = 3.0 * tr.expected_period_s[rows]
    recent_self = np.where(vessel, np.maximum(recent, AIS_RECENT_S), recent)
    kinds = (
        (time_s - tr.last_primary_s[rows] < recent) * np.where(vessel, SENSOR_SURFACE_RADAR, SENSOR_PSR)
        + (time_s - tr.last_secondary_s[rows] < recent) * np.where(vessel, 0, SENSOR_SSR)
        + (time_s - tr.last_adsb_s[rows] < recent_self) * np.where(vessel, SENSOR_AIS, SENSOR_ADSB)
    )
    return {
        "time_s": time_s,
        "track_id": tr.track_id[rows],
        "lat_deg": lat,
        "lon_deg": lon,
        "alt_m": np.where(has, alt, np.nan),
        "v_east_mps": np.einsum("ki,ki->k", v_frame, east),
        "v_north_mps": np.einsum("ki,ki->k", v_frame, north),
        "v_up_mps": np.where(has, vrate, np.nan),
        "var_alt_m2": np.where(has, var_h, np.nan),
        **TrackReports.covariance_columns(cov),
        "status": status,
        "quality": 1.0 / (1.0 + sigma / 250.0),
        "sensor_kinds": kinds.astype(np.int8),
        "mode_s": np.where(vessel, -1, tr.mode_s[rows]),
        "mmsi": np.where(vessel, tr.mode_s[rows], -1),
        "squawk": tr.squawk[rows],
        "callsign": tr.callsign[rows],
        "on_ground": np.where(vessel, -1, ground).astype(np.int8),
        "domain": np.where(vessel, DOMAIN_SURFACE, DOMAIN_AIR),
    }


def report(state: TrackerState, rows: I64, time_s: F64) -> Tracks:
    """Tracks at the given rows predicted to the given times, in WGS-84 (the `tracks.csv` contract)."""
    if len(rows) == 0:
        return Tracks.empty()
    columns = _reported_columns(state, rows, time_s)
    return Tracks.build(len(rows), **{k: columns[k] for k in Tracks.DTYPES})


def reports(state: TrackerState, owner: str, time_s: float) -> TrackReports:
    """All confirmed tracks at one time with their uncertainty, as a partner exports them."""
    rows = np.flatnonzero(state.tracks.status == CONFIRMED)
    if len(rows) == 0:
        return TrackReports.empty()
    columns = _reported_columns(state, rows, np.full(len(rows), time_s))
    shared = {k: v for k, v in columns.items() if k in TrackReports.DTYPES}
    return TrackReports.build(len(rows), owner=np.full(len(rows), owner), **shared)


def registration_report(state: TrackerState) -> dict[str, dict[str, float | int | bool]]:
    """Per radar: the registration estimates (range bias m, azimuth bias deg, time offset s), their 1-sigma,
    the plots behind them and whether they are applied yet (enough plots). ADS-B sensors have none."""
    reg = state.registration
    sigma = reg.sigma()
    out: dict[str, dict[str, float | int | bool]] = {}
    for i, sid in enumerate(state.sensors.ids):
        if state.sensors.kind[i] == ADSB:
            continue
        est = reg.estimate[i]
        out[str(sid)] = {
            "range_bias_m": float(est[0]),
            "azimuth_bias_deg": float(np.degrees(est[1])),
            "time_offset_s": float(est[2]),
            "range_bias_sigma_m": float(sigma[i, 0]),
            "azimuth_bias_sigma_deg": float(np.degrees(sigma[i, 1])),
            "time_offset_sigma_s": float(sigma[i, 2]),
            "samples": int(reg.samples[i]),
            "applied": bool(reg.samples[i] >= reg.min_samples),
        }
    return out


def picture(state: TrackerState, time_s: float) -> Tracks:
    """All confirmed tracks predicted to one time: the node's local air picture."""
    rows = np.flatnonzero(state.tracks.status == CONFIRMED)
    return report(state, rows, np.full(len(rows), time_s))
