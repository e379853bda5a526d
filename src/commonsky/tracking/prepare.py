"""Plot preparation: a batch converted once into the tracker's terms, registration corrections applied.

Radar plots keep their slant range and azimuth (the EKF predicts them exactly); ADS-B positions
become east/north in the local frame; heights come with the sigma of their source (Mode C
quantisation, or ADS-B). One ADS-B broadcast heard by several stations is kept once.
Surface plots (AIS, shore radar) sit on the water at `TrackerConfig.surface_height_m`; an AIS report's
MMSI is its address in the tracker (MMSIs of vessels lie above every 24-bit Mode S address, and domains
never mix), so identity rules (address association, re-acquisition, silence) serve both pictures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from commonsky.core.arrays import F64, I64, B, Rows
from commonsky.core.batches import Plots
from commonsky.core.sensors import SensorKind
from commonsky.tracking.kernels import PlotColumns
from commonsky.tracking.measurements import SensorTable, adsb_to_position, nacp_sigma_m
from commonsky.tracking.state import TrackerState

PSR, SSR, ADSB = SensorKind.PSR.code, SensorKind.SSR.code, SensorKind.ADSB.code
BROADCAST_COPY_M = 50.0
"""Two reports of one address at one time closer than this are copies of one broadcast."""
MODE_C_SIGMA_M = 30.48 / np.sqrt(12.0)
"""Standard deviation of 100 ft quantisation."""


@dataclass(frozen=True)
class SlicePlots(Rows):
    """Plots of one slice in the tracker's terms: sensor index, measurement vector, altitude."""

    time_s: F64
    sensor: I64
    kind: NDArray[np.int8]
    z: F64
    """(K,3): east, north (m) for ADS-B; slant range (m), azimuth (rad) for radar; then the height (m, 0 if none)."""
    sigma_z: F64
    """(K,3): measurement standard deviations."""
    alt: F64
    """Measured height (Mode C or ADS-B), NaN for primary radar."""
    mode_s: NDArray[np.int32]
    squawk: NDArray[np.int16]
    callsign: NDArray[np.str_]
    on_ground: B
    """An ADS-B surface position: the aircraft is on the ground (and the plot has no height)."""
    vessel: B
    """A plot of the surface domain: it goes to vessel tracks only."""

    def __len__(self) -> int:
        return len(self.time_s)

    def columns(self, sensors: SensorTable) -> PlotColumns:
        """The plots as the compiled kernels take them, with their sensors' positions and axes."""
        return (
            self.z,
            self.sigma_z,
            np.isfinite(self.alt),
            self.kind != ADSB,
            sensors.position[self.sensor],
            sensors.to_sensor[self.sensor],
        )


def _learn_reach(state: TrackerState, sensor: I64, z: F64, radar: B) -> None:
    """Widen each sensor's measured coverage to its farthest plot (radar: slant range; ADS-B: distance in the frame)."""
    sensors = state.sensors
    reach = z[:, 0].copy()
    adsb = ~radar
    if adsb.any():
        s = sensor[adsb]
        ground = np.hypot(z[adsb, 0] - sensors.position[s, 0], z[adsb, 1] - sensors.position[s, 1])
        reach[adsb] = np.hypot(ground, z[adsb, 2] - sensors.alt_m[s])
    np.maximum.at(sensors.seen_range_m, sensor, reach)


def _learn_activity(state: TrackerState, sensor: I64, time_s: F64) -> None:
    """Note each sensor's latest plot, so that track management knows which sensors are delivering."""
    np.maximum.at(state.sensors.last_plot_s, sensor, time_s)


def prepare(state: TrackerState, plots: Plots) -> SlicePlots:
    """Convert a batch to tracker terms once, applying the current registration corrections; sorted by time."""
    sensors = state.sensors
    sidx = sensors.index_of(plots.sensor_id)
    known = sidx >= 0
    state.stats.plots_unknown_sensor += int((~known).sum())
    plots = plots.take(known)
    sidx = sidx[known]
    kind = sensors.kind[sidx]
    radar = kind != ADSB
    vessel = plots.surface
    cfg = state.config
    address = np.where(plots.mmsi >= 0, plots.mmsi, plots.mode_s)
    bias = state.registration.estimate[sidx]
    t = plots.time_s - np.where(radar, bias[:, 2], 0.0)
    z = np.empty((len(plots), 3))
    sigma = np.empty((len(plots), 3))
    z[:, 0] = plots.range_m - bias[:, 0]
    z[:, 1] = np.radians(plots.azimuth_deg) - bias[:, 1]
    sigma[:, 0] = sensors.sigma_range_m[sidx]
    sigma[:, 1] = sensors.sigma_azimuth_rad[sidx]
    if (~radar).any():
        a = ~radar
        height = np.where(vessel[a], cfg.surface_height_m, plots.altitude_m[a])
        e, n = adsb_to_position(state.frame, plots.lat_deg[a], plots.lon_deg[a], height)
        z[a, 0], z[a, 1] = e, n
        s = nacp_sigma_m(plots.nacp[a], sensors.sigma_range_m[sidx[a]])
        sigma[a, 0] = sigma[a, 1] = s
    alt = np.where(vessel, cfg.surface_height_m, np.where(kind == PSR, np.nan, plots.altitude_m))
    alt_sigma = np.where(
        kind == SSR, np.maximum(sensors.sigma_altitude_m[sidx], MODE_C_SIGMA_M), sensors.sigma_altitude_m[sidx]
    )
    alt_sigma = np.where(vessel, cfg.surface_height_sigma_m, alt_sigma)
    z[:, 2] = np.where(np.isfinite(alt), alt, 0.0)
    sigma[:, 2] = np.maximum(alt_sigma, 1.0)
    valid = np.isfinite(z).all(axis=1) & np.isfinite(t)
    _learn_reach(state, sidx[valid], z[valid], radar[valid])
    _learn_activity(state, sidx[valid], t[valid])
    # One ADS-B (or AIS) broadcast heard by several stations is one measurement: keep its first copy. A copy
    # is the same address at the same time and place; the same address elsewhere is another sender.
    adsb_idx = np.flatnonzero(~radar & (address >= 0))
    key = address[adsb_idx].astype(np.int64) * 2**32 + np.round(t[adsb_idx] * 1000.0).astype(np.int64) % 2**32
    _, first, group = np.unique(key, return_index=True, return_inverse=True)
    here = z[adsb_idx, :2]
    same_place = np.hypot(*(here - here[first[group]]).T) < BROADCAST_COPY_M
    repeat = np.flatnonzero(same_place & (np.arange(len(adsb_idx)) != first[group]))
    valid[adsb_idx[repeat]] = False
    state.stats.adsb_duplicates += len(repeat)
    out = SlicePlots(
        time_s=t,
        sensor=sidx,
        kind=kind,
        z=z,
        sigma_z=sigma,
        alt=alt,
        mode_s=address,
        squawk=plots.squawk,
        callsign=plots.callsign,
        on_ground=plots.on_ground & ~radar & ~vessel,
        vessel=vessel,
    )
    out = out.take(valid)
    return out.take(np.argsort(out.time_s, kind="stable"))
