"""Traffic: truth sampling, kinematic bounds, integration on the ellipsoid, interpolation, identities."""

from __future__ import annotations

import re

import numpy as np
from scipy import integrate

from commonsky.core.geodesy import WGS84_A, WGS84_E2, geodetic_to_ecef
from commonsky.sim import SimulationOutput, Trajectories
from commonsky.sim.simulate import traffic_seeds
from commonsky.sim.traffic import SPECIAL_SQUAWKS, generate_traffic
from tests.sim.conftest import START, lab_config, run


def test_truth_every_whole_second_for_every_live_target(lab: SimulationOutput) -> None:
    truth = lab.truth
    assert np.all(truth.time_s == np.round(truth.time_s))
    assert truth.time_s.min() >= START and truth.time_s.max() <= START + 600
    assert np.all(np.diff(truth.time_s) >= 0), "time ordered"
    late = early = 0
    for tid in np.unique(truth.target_id):
        times = truth.time_s[truth.target_id == tid]
        assert np.all(np.diff(times) == 1.0), "no gaps while alive"
        late += times[0] > START
        early += times[-1] < START + 600
    # Some aircraft enter or leave during the run, most fly the whole of it.
    assert 0 < late < 40 and 0 < early < 40


def test_kinematics_stay_within_bounds(lab: SimulationOutput) -> None:
    cfg = lab.scenario.traffic
    truth = lab.truth
    speed = np.hypot(truth.v_east_mps, truth.v_north_mps)
    assert speed.min() >= cfg.speed_min_mps - 1e-9 and speed.max() <= cfg.speed_max_mps + 1e-9
    assert truth.alt_m.min() >= cfg.altitude_min_m - 50 and truth.alt_m.max() <= cfg.altitude_max_m + 50
    assert np.abs(truth.v_up_mps).max() <= cfg.max_vertical_rate_mps + 1e-9
    turns = []
    for tid in np.unique(truth.target_id):
        k = truth.target_id == tid
        heading = np.degrees(np.arctan2(truth.v_east_mps[k], truth.v_north_mps[k]))
        turns.append(np.abs(np.mod(np.diff(heading) + 180.0, 360.0) - 180.0))
    turn = np.concatenate(turns)
    assert turn.max() <= cfg.max_turn_rate_deg_s + 0.05, "coordinated turns of at most 3 deg/s"
    assert np.mean(turn > 0.5) > 0.05, "aircraft do turn"
    assert np.mean(np.abs(truth.v_up_mps) > 4.0) > 0.05, "aircraft do climb and descend"


def test_positions_and_velocities_agree_on_the_ellipsoid(lab: SimulationOutput) -> None:
    truth = lab.truth
    for tid in (1, 2, 3, 50, 100):
        k = truth.target_id == tid
        x, y, z = geodetic_to_ecef(truth.lat_deg[k], truth.lon_deg[k], truth.alt_m[k])
        step = np.sqrt(np.diff(x) ** 2 + np.diff(y) ** 2 + np.diff(z) ** 2)
        v = np.sqrt(truth.v_east_mps[k] ** 2 + truth.v_north_mps[k] ** 2 + truth.v_up_mps[k] ** 2)
        assert np.allclose(step, 0.5 * (v[1:] + v[:-1]), atol=0.05)


def _meridian_arc_m(lat0_deg: float, lat1_deg: float, height_m: float) -> float:
    def m(lat: float) -> float:
        return float(WGS84_A * (1 - WGS84_E2) / (1 - WGS84_E2 * np.sin(lat) ** 2) ** 1.5) + height_m

    return integrate.quad(m, np.radians(lat0_deg), np.radians(lat1_deg))[0]


def test_long_northbound_flight_follows_the_meridian_arc() -> None:
    config = lab_config()
    config["traffic"] = {
        "count": 0,
        "routes": [
            {
                "speed_mps": 250.0,
                "equipage": "adsb",
                "waypoints": [
                    {"lat_deg": 46.0, "lon_deg": 9.5, "alt_m": 10_000},
                    {"lat_deg": 52.0, "lon_deg": 9.5, "alt_m": 10_000},
                ],
            }
        ],
    }
    out = run(config)
    truth = out.truth
    assert np.allclose(truth.lon_deg, 9.5, rtol=0, atol=1e-9) and np.all(truth.alt_m == 10_000.0)
    # 600 s at 250 m/s = 150 km along the meridian at 10 km height, to centimetres
    # (a flat tangent plane would be off by metres in distance and kilometres in height).
    for t in (100, 350, 600):
        arc = _meridian_arc_m(46.0, float(truth.lat_deg[t]), 10_000.0)
        assert abs(arc - 250.0 * t) < 0.05
    # Interpolation between the samples stays on the arc as well.
    trajectories = Trajectories.from_truth(truth, START)
    between = np.array([0.25, 100.5, 599.75])
    lat, lon, _ = trajectories.position(np.zeros(3, dtype=np.int64), between)
    arcs = [_meridian_arc_m(46.0, la, 10_000.0) for la in lat]
    assert np.allclose(arcs, 250.0 * between, atol=0.01)
    assert np.allclose(lon, 9.5)


def test_interpolation_is_exact_at_samples(lab: SimulationOutput) -> None:
    truth = lab.truth
    trajectories = Trajectories.from_truth(truth, START)
    rows = np.arange(0, len(truth), 97)
    lat, lon, alt = trajectories.position(truth.target_id[rows] - 1, truth.time_s[rows] - START)
    assert np.allclose(lat, truth.lat_deg[rows], rtol=0, atol=1e-12)
    assert np.allclose(lon, truth.lon_deg[rows], rtol=0, atol=1e-12)
    assert np.allclose(alt, truth.alt_m[rows], rtol=0, atol=1e-9)


def test_identities_are_unique_valid_codes(lab: SimulationOutput) -> None:
    targets, _ = generate_traffic(lab.scenario, traffic_seeds(lab.seed))
    addressed = targets.equipage >= 2
    addresses = targets.mode_s[addressed]
    assert len(np.unique(addresses)) == len(addresses)
    assert np.all((addresses > 0) & (addresses < 0xFFFFFF))
    assert np.all(targets.mode_s[~addressed] == -1)
    squawks = targets.squawk[targets.equipage >= 1]
    assert all(set(f"{s:04d}") <= set("01234567") for s in squawks.tolist())
    assert not set(squawks.tolist()) & SPECIAL_SQUAWKS
    assert np.all(targets.squawk[targets.equipage == 0] == -1)
    callsigns = targets.callsign[targets.equipage == 3].tolist()
    assert all(re.fullmatch(r"[A-Z]{3}[1-9]\d{0,3}", c) for c in callsigns)
    assert len(set(callsigns)) == len(callsigns)
    assert np.all(targets.callsign[targets.equipage < 3] == "")
    shares = np.bincount(targets.equipage, minlength=4) / len(targets)
    assert np.allclose(shares, [0.1, 0.1, 0.2, 0.6], atol=0.1)


def test_listed_route_flies_its_waypoints_with_its_identity() -> None:
    config = lab_config()
    waypoints = [
        {"lat_deg": 47.3, "lon_deg": 9.0, "alt_m": 2000},
        {"lat_deg": 47.5, "lon_deg": 9.4, "alt_m": 6000},
        {"lat_deg": 47.3, "lon_deg": 9.8, "alt_m": 6000},
    ]
    config["traffic"] |= {
        "count": 3,
        "routes": [
            {
                "speed_mps": 200.0,
                "equipage": "adsb",
                "callsign": "SWR1234",
                "mode_s": "4B1A2C",
                "squawk": "1000",
                "start_s": 30,
                "waypoints": waypoints,
            }
        ],
    }
    out = run(config)
    truth = out.truth
    k = truth.target_id == 4
    assert truth.time_s[k][0] == START + 30 and truth.time_s[k][-1] < START + 600
    assert set(truth.callsign[k]) == {"SWR1234"} and set(truth.mode_s[k]) == {0x4B1A2C}
    assert set(truth.squawk[k]) == {1000}
    for w in waypoints:
        x, y, z = geodetic_to_ecef(truth.lat_deg[k], truth.lon_deg[k], 0.0)
        wx, wy, wz = geodetic_to_ecef(w["lat_deg"], w["lon_deg"], 0.0)
        assert np.sqrt((x - wx) ** 2 + (y - wy) ** 2 + (z - wz) ** 2).min() < 500.0
    assert abs(truth.alt_m[k][-1] - 6000.0) < 10.0
    plots = out.plots
    assert set(plots.callsign[(plots.truth_id == 4) & (plots.sensor_id == "ADSB-B")]) == {"SWR1234"}
