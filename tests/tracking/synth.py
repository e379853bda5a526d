"""Hand-built targets and plots for tracker tests, independent of the scenario simulator.

Trajectories are given in the tracker's own coordinates (east/north of the aircraft's 3-D point in
a local frame, height above the ellipsoid), so a test states exactly what the tracker should see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from commonsky.core import LocalFrame, Plots, SensorKind, SensorSpec
from commonsky.core.geodesy import sensor_aer
from commonsky.tracking.measurements import point_from_altitude

F64 = NDArray[np.float64]
FRAME = LocalFrame(47.5, 9.5, 0.0)


def adsb_sensor(sensor_id: str = "ADSB", sigma_m: float = 30.0) -> SensorSpec:
    """An ADS-B ground station at the frame origin."""
    return SensorSpec(sensor_id, "p", SensorKind.ADSB, 47.5, 9.5, 500.0, sigma_m, 0.0, 8.0, 1.0, 0.99, 400e3)


def radar_sensor(
    sensor_id: str = "SSR", kind: SensorKind = SensorKind.SSR, lat: float = 47.0, lon: float = 9.0, period: float = 5.0
) -> SensorSpec:
    """A radar south-west of the origin."""
    return SensorSpec(sensor_id, "p", kind, lat, lon, 600.0, 40.0, 0.08, 9.0, period, 0.95, 300e3)


@dataclass(frozen=True)
class Trajectory:
    """Sampled truth in the frame: times and (e, n, alt), with velocities."""

    t: F64
    e: F64
    n: F64
    alt: F64
    ve: F64
    vn: F64

    def at(self, times: F64) -> Trajectory:
        """Linear interpolation of the samples at other times."""
        return Trajectory(times, *(np.interp(times, self.t, getattr(self, k)) for k in ("e", "n", "alt", "ve", "vn")))

    def geodetic(self) -> tuple[F64, F64, F64]:
        """Latitude, longitude, height of the samples."""
        u, _ = point_from_altitude(FRAME, self.e, self.n, self.alt)
        return FRAME.enu_to_geodetic(self.e, self.n, u)


def straight(t: F64, e0: float, n0: float, ve: float, vn: float, alt: float = 9000.0) -> Trajectory:
    """Constant velocity in the frame."""
    return Trajectory(t, e0 + ve * t, n0 + vn * t, np.full_like(t, alt), np.full_like(t, ve), np.full_like(t, vn))


def adsb_plots(
    traj: Trajectory, sensor: SensorSpec, rng: np.random.Generator, sigma_m: float, mode_s: int, nacp: int = -1
) -> Plots:
    """ADS-B reports at the trajectory's samples with Gaussian horizontal noise of sigma_m per axis."""
    u, _ = point_from_altitude(FRAME, traj.e, traj.n, traj.alt)
    e = traj.e + rng.normal(0.0, sigma_m, len(traj.t)) if sigma_m > 0 else traj.e
    n = traj.n + rng.normal(0.0, sigma_m, len(traj.t)) if sigma_m > 0 else traj.n
    lat, lon, _ = FRAME.enu_to_geodetic(e, n, u)
    k = len(traj.t)
    return Plots.build(
        k,
        time_s=traj.t,
        sensor_id=[sensor.id] * k,
        lat_deg=lat,
        lon_deg=lon,
        altitude_m=traj.alt,
        mode_s=[mode_s] * k,
        nacp=[nacp] * k,
    )


def radar_plots(
    traj: Trajectory,
    sensor: SensorSpec,
    rng: np.random.Generator,
    noise: bool = True,
    mode_s: int = -1,
    squawk: int = -1,
    range_bias_m: float = 0.0,
    azimuth_bias_deg: float = 0.0,
    time_offset_s: float = 0.0,
) -> Plots:
    """Radar plots at the trajectory's samples (slant range, azimuth; Mode C and identity for SSR)."""
    lat, lon, h = traj.geodetic()
    az, _, rng_m = sensor_aer(sensor.lat_deg, sensor.lon_deg, sensor.alt_m, lat, lon, h)
    k = len(traj.t)
    if noise:
        rng_m = rng_m + rng.normal(0.0, sensor.sigma_range_m, k)
        az = az + rng.normal(0.0, sensor.sigma_azimuth_deg, k)
    ssr = sensor.kind is SensorKind.SSR
    return Plots.build(
        k,
        time_s=traj.t + time_offset_s,
        sensor_id=[sensor.id] * k,
        range_m=rng_m + range_bias_m,
        azimuth_deg=np.mod(az + azimuth_bias_deg, 360.0),
        altitude_m=traj.alt if ssr else np.full(k, np.nan),
        mode_s=[mode_s if ssr else -1] * k,
        squawk=[squawk if ssr else -1] * k,
    )
