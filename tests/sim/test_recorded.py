"""Recorded flights as the simulator's traffic: resampling, lifetimes, identities, and sensors seeing them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from commonsky.sim import Scenario, load_scenario, simulate
from commonsky.sim.recorded import recorded_traffic
from commonsky.sim.scenario import EquipageMix

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

T0 = 1_700_000_000.0


def _record(t: float, icao24: str, lat: float, lon: float, **extra: object) -> dict[str, object]:
    return {
        "timestamp": t * 1000.0,
        "icao24": icao24,
        "callsign": "AFR123",
        "latitude": lat,
        "longitude": lon,
        "altitude": 30_000.0,
        "groundspeed": 400.0,
        "track": 90.0,
        "vertical_rate": 0.0,
        "onground": False,
        "squawk": "4521",
        **extra,
    }


def _scenario(duration_s: int = 120) -> Scenario:
    base = load_scenario(EXAMPLES / "border3.toml")
    everyone_adsb = EquipageMix(adsb=1.0, mode_s=0.0, mode_ac=0.0, none=0.0)
    traffic = replace(base.traffic, count=0, routes=(), equipage=everyone_adsb)
    return replace(base, start_time_s=T0, duration_s=float(duration_s), traffic=traffic, events=())


def test_flights_are_resampled_each_second_with_their_identity_and_lifetime() -> None:
    records = [_record(T0 + k, "3c6dd2", 47.5, 9.0 + 0.003 * k) for k in range(0, 60, 2)]
    records += [_record(T0 + 30 + k, "4b1a2c", 47.6, 9.2) for k in range(0, 40, 5)]
    records += [_record(T0 + 100 + k, "4b1a2c", 47.6, 9.3) for k in range(0, 20, 5)]  # after a 35 s gap
    records += [_record(T0 + 10, "aaaaaa", 47.7, 9.1, onground=True)]
    records += [_record(T0 + 12, "bbbbbb", 47.7, 9.1, altitude=72_500.0)]
    targets, trajectories = recorded_traffic(records, _scenario(), np.random.default_rng(1))
    assert sorted(targets.mode_s.tolist()) == [0x3C6DD2, 0x4B1A2C]  # on the ground and corrupt: dropped
    j = int(np.flatnonzero(targets.mode_s == 0x3C6DD2)[0])
    assert (trajectories.first_step[j], trajectories.last_step[j]) == (0, 58)
    assert np.degrees(trajectories.lon_rad[29, j]) == np.float64(9.0 + 0.003 * 29)  # halfway between two records
    np.testing.assert_allclose(trajectories.v_east_mps[:59, j], 400.0 * 1852.0 / 3600.0)
    k = int(np.flatnonzero(targets.mode_s == 0x4B1A2C)[0])
    assert (trajectories.first_step[k], trajectories.last_step[k]) == (30, 65)  # it ends at its gap
    assert targets.squawk[j] == 4521 and targets.callsign[j] == "AFR123"


def test_sensors_see_the_recorded_flights() -> None:
    records = [_record(T0 + k, "3c6dd2", 47.5, 9.0 + 0.003 * k) for k in range(0, 120, 1)]
    scenario = _scenario()
    sim = simulate(scenario, traffic=recorded_traffic(records, scenario, np.random.default_rng(2)))
    seen = sim.plots.take(np.flatnonzero(sim.plots.truth_id == 1))
    assert len(seen) > 100
    assert set(sim.plots.mode_s[sim.plots.mode_s >= 0].tolist()) == {0x3C6DD2}
    assert set(np.unique(sim.truth.target_id).tolist()) == {1}
