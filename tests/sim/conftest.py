"""Small dedicated scenarios and truth-based residual helpers shared by the simulator tests."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from commonsky.core.geodesy import sensor_aer
from commonsky.sim import Scenario, SimulationOutput, Trajectories, parse_scenario, simulate
from commonsky.sim.traffic import meridian_radius_m, prime_vertical_radius_m

START = 1_780_000_000.0

LAB: dict[str, Any] = {
    "scenario": {"name": "lab", "seed": 7, "duration_s": 600, "start_time_s": START},
    "region": {"lat_deg": 47.5, "lon_deg": 9.5, "radius_km": 60},
    "partners": [
        {
            "id": "alpha",
            "name": "Alpha",
            "sensors": [
                {
                    "id": "PSR-A",
                    "kind": "psr",
                    "lat_deg": 47.5,
                    "lon_deg": 9.5,
                    "alt_m": 800,
                    "sigma_range_m": 50,
                    "sigma_azimuth_deg": 0.1,
                    "scan_period_s": 4,
                    "pd": 0.8,
                    "max_range_m": 150_000,
                    "clutter_density_per_km2": 0.0005,
                    "range_bias_m": 200,
                    "azimuth_bias_deg": 0.3,
                    "time_offset_s": 0.5,
                },
                {
                    "id": "SSR-A",
                    "kind": "ssr",
                    "lat_deg": 47.6,
                    "lon_deg": 9.3,
                    "alt_m": 600,
                    "sigma_range_m": 30,
                    "sigma_azimuth_deg": 0.05,
                    "scan_period_s": 5,
                    "pd": 0.9,
                    "max_range_m": 200_000,
                },
            ],
        },
        {
            "id": "beta",
            "name": "Beta",
            "sensors": [
                {
                    "id": "ADSB-B",
                    "kind": "adsb",
                    "lat_deg": 47.4,
                    "lon_deg": 9.7,
                    "alt_m": 500,
                    "pd": 0.9,
                    "max_range_m": 250_000,
                    "nacp": 7,
                }
            ],
        },
    ],
    "traffic": {
        "count": 120,
        "altitude_min_m": 3000,
        "altitude_max_m": 12000,
        "equipage": {"adsb": 0.6, "mode_s": 0.2, "mode_ac": 0.1, "none": 0.1},
    },
}
"""A 120-aircraft, 10-minute scenario: one biased PSR with clutter, one SSR, one ADS-B station."""


def lab_config() -> dict[str, Any]:
    """A fresh, mutable copy of the LAB scenario document."""
    return copy.deepcopy(LAB)


def sensor_config(config: dict[str, Any], sensor_id: str) -> dict[str, Any]:
    """The (mutable) table of one sensor in a scenario document."""
    return next(s for p in config["partners"] for s in p["sensors"] if s["id"] == sensor_id)


def run(config: dict[str, Any], seed: int | None = None) -> SimulationOutput:
    """Validate and simulate a scenario document."""
    return simulate(parse_scenario(config, "test.toml"), seed=seed)


@pytest.fixture(scope="package")
def lab() -> SimulationOutput:
    """The LAB scenario simulated once for the whole test package."""
    return run(lab_config())


def truth_position(
    out: SimulationOutput, truth_id: NDArray[np.int32], t_abs: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """True lat, lon, height of targets at UTC times, interpolated from the truth batch."""
    trajectories = Trajectories.from_truth(out.truth, out.scenario.start_time_s)
    return trajectories.position(truth_id.astype(np.int64) - 1, t_abs - out.scenario.start_time_s)


def radar_residuals(out: SimulationOutput, sensor_id: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Measured minus true slant range (m) and azimuth (deg) of a radar's target plots.

    The true geometry is recomputed with `sensor_aer` at each plot's true time (reported time minus
    the sensor's injected time offset) from the truth of the plot's `truth_id`.
    """
    scenario: Scenario = out.scenario
    sensor = next(s for s in scenario.sensors if s.spec.id == sensor_id)
    p = out.plots
    m = (p.sensor_id == sensor_id) & (p.truth_id >= 0)
    lat, lon, alt = truth_position(out, p.truth_id[m], p.time_s[m] - sensor.time_offset_s)
    az, _, slant = sensor_aer(sensor.spec.lat_deg, sensor.spec.lon_deg, sensor.spec.alt_m, lat, lon, alt)
    return p.range_m[m] - slant, np.mod(p.azimuth_deg[m] - az + 180.0, 360.0) - 180.0


def adsb_residuals_m(out: SimulationOutput, sensor_id: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Reported minus true east and north position (m) of an ADS-B station's reports."""
    p = out.plots
    m = p.sensor_id == sensor_id
    sensor = next(s for s in out.scenario.sensors if s.spec.id == sensor_id)
    lat, lon, alt = truth_position(out, p.truth_id[m], p.time_s[m] - sensor.time_offset_s)
    lat_r = np.radians(lat)
    north = np.radians(p.lat_deg[m] - lat) * (meridian_radius_m(lat_r) + alt)
    dlon = np.mod(p.lon_deg[m] - lon + 180.0, 360.0) - 180.0
    east = np.radians(dlon) * (prime_vertical_radius_m(lat_r) + alt) * np.cos(lat_r)
    return east, north
