"""Measurement models: radar slant range and azimuth, ADS-B position, altitude; vectorised over plots.

The track's horizontal state is the east/north component of the aircraft's 3-D position in the
local ENU frame, and its vertical channel is the height above the ellipsoid. A radar measurement
is predicted exactly in 3-D: the aircraft point is rebuilt from (e, n, altitude) on the curved
Earth, then slant range and azimuth are taken from the sensor's own tangent plane. The EKF
Jacobians follow analytically, including the sensitivity to an uncertain altitude, which is how a
primary radar's unknown height enters the measurement noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from commonsky.core.arrays import F64, I64
from commonsky.core.geodesy import EARTH_RADIUS_M, LocalFrame, ecef_to_geodetic, geodetic_to_ecef
from commonsky.core.sensors import DOMAIN_SURFACE, SensorSpec
from commonsky.tracking import kernels

NACP_EPU_M = np.array([np.nan, 18_520.0, 7_408.0, 3_704.0, 1_852.0, 926.0, 555.6, 185.2, 92.6, 30.0, 10.0, 3.0])
"""95 % horizontal position bound (EPU, m) of each NACp value 0..11 (DO-260B); NACp 0 is unknown."""
RAYLEIGH_95 = 2.4477
"""Ratio of the 95 % radius to the per-axis sigma of a circular 2-D Gaussian."""


def nacp_sigma_m(nacp: NDArray[np.int8], fallback_m: F64) -> F64:
    """Per-axis horizontal sigma from NACp (EPU / 2.448), or the sensor's sigma where NACp is unknown."""
    valid = (nacp >= 1) & (nacp <= 11)
    epu = NACP_EPU_M[np.where(valid, nacp, 0)]
    return np.where(valid, epu / RAYLEIGH_95, fallback_m)


@dataclass(frozen=True)
class SensorTable:
    """Sensors as aligned arrays, indexed by a small integer, with their geometry in the local frame."""

    ids: NDArray[np.str_]
    kind: NDArray[np.int8]
    """Each sensor's role (`SensorKind.role.code`): the tracker treats AIS as ADS-B and shore radar as primary radar."""
    surface: NDArray[np.bool_]
    """The sensor watches the surface domain (AIS, shore radar): it covers vessels, not aircraft."""
    position: F64
    """(S,3) sensor position in the frame's ENU axes."""
    to_sensor: F64
    """(S,3,3) rotation from frame axes to the sensor's own ENU axes."""
    sigma_range_m: F64
    sigma_azimuth_rad: F64
    sigma_altitude_m: F64
    scan_period_s: F64
    pd: F64
    """Probability of detection per scan (JPDA's missed-detection weight)."""
    alt_m: F64
    """Antenna height above the ellipsoid: the radar horizon depends on it."""
    max_range_m: F64
    max_elevation_rad: F64
    """Above this elevation a radar sees nothing (its cone of silence)."""
    seen_range_m: F64
    """Farthest plot each sensor has delivered (slant range): its measured coverage, which overrides a
    stated range or horizon that turns out too short (a receiver on a hill, a guessed receiver range)."""
    last_plot_s: F64
    """Time of each sensor's latest plot: a sensor that has stopped delivering does not count a track's silence."""
    frame_origin: F64
    """ECEF position of the frame origin (3,), for the compiled kernels."""
    frame_rotation: F64
    """ECEF-to-frame rotation (3,3), for the compiled kernels."""

    @classmethod
    def build(cls, sensors: Sequence[SensorSpec], frame: LocalFrame) -> SensorTable:
        """Index the sensors and precompute each one's position and axes in the frame."""
        lat = np.array([s.lat_deg for s in sensors])
        lon = np.array([s.lon_deg for s in sensors])
        alt = np.array([s.alt_m for s in sensors])
        position = np.stack(frame.geodetic_to_enu(lat, lon, alt), axis=-1) if sensors else np.zeros((0, 3))
        frame_rot = frame.rotation
        to_sensor = (
            np.stack([LocalFrame(s.lat_deg, s.lon_deg).rotation @ frame_rot.T for s in sensors])
            if sensors
            else np.zeros((0, 3, 3))
        )
        return cls(
            ids=np.array([s.id for s in sensors], dtype="<U24"),
            kind=np.array([s.kind.role.code for s in sensors], dtype=np.int8),
            surface=np.array([s.kind.domain == DOMAIN_SURFACE for s in sensors], dtype=bool),
            position=position,
            to_sensor=to_sensor,
            sigma_range_m=np.array([s.sigma_range_m for s in sensors], dtype=np.float64),
            sigma_azimuth_rad=np.radians([s.sigma_azimuth_deg for s in sensors]).astype(np.float64),
            sigma_altitude_m=np.array([s.sigma_altitude_m for s in sensors], dtype=np.float64),
            scan_period_s=np.array([s.scan_period_s for s in sensors], dtype=np.float64),
            pd=np.array([s.pd for s in sensors], dtype=np.float64),
            alt_m=alt.astype(np.float64),
            max_range_m=np.array([s.max_range_m for s in sensors], dtype=np.float64),
            max_elevation_rad=np.radians([s.max_elevation_deg for s in sensors]).astype(np.float64),
            seen_range_m=np.zeros(len(sensors)),
            last_plot_s=np.full(len(sensors), -np.inf),
            frame_origin=frame.origin_ecef,
            frame_rotation=frame_rot,
        )

    @property
    def kernel_frame(self) -> kernels.Frame:
        """The local frame as the compiled kernels take it."""
        return self.frame_origin, self.frame_rotation

    def index_of(self, sensor_ids: NDArray[np.str_]) -> I64:
        """Integer index of each sensor id; -1 for ids not in the table."""
        order = np.argsort(self.ids)
        sorted_ids = self.ids[order]
        pos = np.clip(np.searchsorted(sorted_ids, sensor_ids), 0, max(len(sorted_ids) - 1, 0))
        if len(sorted_ids) == 0:
            return np.full(len(sensor_ids), -1, dtype=np.int64)
        found = sorted_ids[pos] == sensor_ids
        return np.where(found, order[pos], -1).astype(np.int64)


def point_from_altitude(frame: LocalFrame, e: F64, n: F64, alt: F64) -> tuple[F64, F64]:
    """Frame-up coordinate u of the point above (e, n) at ellipsoid height alt, and the point's up vector.

    Spherical first guess, then Newton steps on the exact ellipsoid height: millimetre-exact over 500 km.
    Returns u (K,) and the local vertical at the point in frame axes (K,3). Compiled: it runs per plot.
    """
    f = np.ascontiguousarray
    return kernels.points_from_altitude(
        frame.origin_ecef, frame.rotation, f(e, dtype=np.float64), f(n, dtype=np.float64), f(alt, dtype=np.float64)
    )


@dataclass(frozen=True)
class RadarPrediction:
    """Predicted slant range and azimuth of track points, with EKF Jacobians."""

    range_m: F64
    azimuth_rad: F64
    H: F64
    """(K,2,2) d(range, azimuth)/d(e, n)."""
    J_alt: F64
    """(K,2) d(range, azimuth)/d(altitude)."""


def radar_predict(
    frame: LocalFrame, sensors: SensorTable, sensor_idx: I64, e: F64, n: F64, alt: F64
) -> RadarPrediction:
    """Slant range (m) and azimuth (rad, clockwise from the sensor's true north) of points (e, n, alt)."""
    u, up = point_from_altitude(frame, e, n, alt)
    d = np.stack([e, n, u], axis=-1) - sensors.position[sensor_idx]
    rot = sensors.to_sensor[sensor_idx]
    ds = np.einsum("kij,kj->ki", rot, d)
    rho = np.linalg.norm(d, axis=-1)
    ground2 = ds[:, 0] ** 2 + ds[:, 1] ** 2
    az = np.arctan2(ds[:, 0], ds[:, 1])
    drho_dp = d / rho[:, None]
    dtheta_dp = (ds[:, 1, None] * rot[:, 0, :] - ds[:, 0, None] * rot[:, 1, :]) / ground2[:, None]
    # Moving (e, n) at constant height moves u by -U_e/U_u, -U_n/U_u; altitude moves u by 1/U_u.
    du_de = -up[:, 0] / up[:, 2]
    du_dn = -up[:, 1] / up[:, 2]
    du_dalt = 1.0 / up[:, 2]
    H = np.empty((len(e), 2, 2))
    for row, grad in enumerate((drho_dp, dtheta_dp)):
        H[:, row, 0] = grad[:, 0] + grad[:, 2] * du_de
        H[:, row, 1] = grad[:, 1] + grad[:, 2] * du_dn
    J_alt = np.stack([drho_dp[:, 2] * du_dalt, dtheta_dp[:, 2] * du_dalt], axis=-1)
    return RadarPrediction(rho, az, H, J_alt)


def radar_to_position(
    frame: LocalFrame, sensors: SensorTable, sensor_idx: I64, rho: F64, az_rad: F64, alt: F64
) -> tuple[F64, F64, F64]:
    """Place radar plots (slant range, azimuth) at a known height: east, north (m) and the (K,2,3) Jacobian.

    The Jacobian is d(e, n)/d(range, azimuth, altitude), used to give a new track its covariance.
    """
    sensor_pos = sensors.position[sensor_idx]
    rot = sensors.to_sensor[sensor_idx]
    # Sensor height above the ellipsoid, from its frame position.
    _, _, h_s = ecef_to_geodetic(*frame.enu_to_ecef(sensor_pos[:, 0], sensor_pos[:, 1], sensor_pos[:, 2]))
    rs = EARTH_RADIUS_M + h_s
    rt = EARTH_RADIUS_M + alt
    sin_el = np.clip((rt * rt - rs * rs - rho * rho) / (2.0 * rho * rs), -1.0, 1.0)
    el = np.arcsin(sin_el)
    e = n = np.zeros_like(rho)
    for _ in range(3):
        local = np.stack([rho * np.cos(el) * np.sin(az_rad), rho * np.cos(el) * np.cos(az_rad), rho * np.sin(el)], -1)
        p = sensor_pos + np.einsum("kji,kj->ki", rot, local)
        e, n = p[:, 0], p[:, 1]
        _, _, h = ecef_to_geodetic(*frame.enu_to_ecef(e, n, p[:, 2]))
        el = el + (alt - h) / (rho * np.cos(el))
    # Jacobian from the forward model at the solution (exact inverse of its 2x2 block).
    pred = radar_predict(frame, sensors, sensor_idx, e, n, alt)
    Hinv = np.linalg.inv(pred.H)
    J = np.empty((len(rho), 2, 3))
    J[:, :, :2] = Hinv
    J[:, :, 2] = -np.einsum("kij,kj->ki", Hinv, pred.J_alt)
    return e, n, J


def adsb_to_position(frame: LocalFrame, lat: F64, lon: F64, alt: F64) -> tuple[F64, F64]:
    """East, north (m) in the frame of ADS-B positions (the 3-D point's horizontal components)."""
    e, n, _ = frame.ecef_to_enu(*geodetic_to_ecef(lat, lon, np.where(np.isfinite(alt), alt, 0.0)))
    return e, n
