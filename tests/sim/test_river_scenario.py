"""The river scenario: vessels on the water, AIS stations and shore radars, the river events, the schema's errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from commonsky.core.errors import ConfigError
from commonsky.core.geodesy import EARTH_RADIUS_M, LocalFrame
from commonsky.core.sensors import DOMAIN_AIR, DOMAIN_SURFACE
from commonsky.core.waterway import Waterway
from commonsky.formats.contracts import read_plots, read_truth
from commonsky.sim import SimulationOutput, load_scenario, parse_scenario, simulate, write_outputs
from commonsky.sim.scenario import EPU_TO_SIGMA, NACP_EPU_M
from commonsky.sim.sensors import LAND_CLUTTER_STRIP_M
from tests.sim.conftest import START, adsb_residuals_m, radar_residuals

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WATERWAY = EXAMPLES / "river" / "waterway.geojson"
DREDGER, DARK, AIS_OFF, SPOOFED, TWIN_A, TWIN_B, FAST = 1, 4, 5, 6, 7, 8, 9
"""Target ids of the river example's event vessels (see the comment at the top of river.toml)."""
AT_AIS_OFF, AT_SPOOF, OUTAGE = 250.0, 300.0, (420.0, 480.0)
SHORE = {"lat_deg": 47.749021, "lon_deg": 18.146367, "alt_m": 20.0}
"""A site on the left bank at the works."""
AIRCRAFT = 10


def _transit(name: str, mmsi: int, speed: float, from_km: float, lane: float, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "mmsi": mmsi,
        "ais": "A",
        "speed_mps": speed,
        "behaviour": "transit",
        "from_km": from_km,
        "to_km": 22.656,
        "lane_m": lane,
    } | extra


LAB: dict[str, Any] = {
    "scenario": {"name": "river-lab", "seed": 5, "duration_s": 600, "start_time_s": START},
    "region": {"lat_deg": 47.745, "lon_deg": 18.105, "radius_km": 40},
    "river": {"waterway": "river/waterway.geojson"},
    "partners": [
        {
            "id": "a",
            "sensors": [
                {"id": "SR", "kind": "surface_radar", **SHORE, "sigma_range_m": 10, "sigma_azimuth_deg": 0.3}
                | {"scan_period_s": 2.5, "pd": 0.8, "max_range_m": 6000}
                | {"clutter_density_per_km2": 0.5, "land_clutter_density_per_km2": 0.5},
                {"id": "AIS-ALL", "kind": "ais", **SHORE, "pd": 1.0, "max_range_m": 40000},
                {"id": "AIS-80", "kind": "ais", **SHORE, "pd": 0.8, "max_range_m": 40000},
                {"id": "PSR", "kind": "psr", **SHORE, "sigma_range_m": 50, "sigma_azimuth_deg": 0.1}
                | {"scan_period_s": 4, "pd": 0.9, "max_range_m": 100000},
                {"id": "ADSB", "kind": "adsb", **SHORE, "pd": 0.9, "max_range_m": 200000},
            ],
        }
    ],
    "traffic": {"count": AIRCRAFT, "altitude_min_m": 300, "altitude_max_m": 2000},
    "vessels": [
        _transit("A5", 211000001, 5.0, 2.0, 40.0),
        _transit("A9", 211000002, 9.0, 2.0, -40.0, accuracy=0),
        _transit("A13", 211000003, 13.0, 2.0, 80.0, accuracy=0),
        {"name": "B3", "mmsi": 211000004, "ais": "B", "speed_mps": 3.0, "behaviour": "cross", "along_km": 12.0},
        {"name": "ANCHOR", "mmsi": 211000005, "ais": "A", "behaviour": "anchored"}
        | {"lat_deg": 47.752816, "lon_deg": 18.022027},
        {"name": "DREDGE", "mmsi": 211000006, "ais": "A", "speed_mps": 0.5, "behaviour": "work"}
        | {"lat_deg": 47.745476, "lon_deg": 18.144859, "radius_m": 100},
        {"name": "FISH", "mmsi": 211000007, "ais": "B", "speed_mps": 0.5, "behaviour": "loiter"}
        | {"lat_deg": 47.735959, "lon_deg": 18.211575, "radius_m": 40},
        {"name": "DARK", "ais": "none", "speed_mps": 6.0, "behaviour": "approach", "start_s": 100}
        | {"lat_deg": 47.742169, "lon_deg": 18.164328, "target": "DREDGE"},
    ],
    "vessel_traffic": {"count": 20},
}
"""Aircraft over the river beside vessels of every behaviour and AIS class, two AIS stations (one hearing all)."""
LAB_PERIODS_S = {"A5": 10.0, "A9": 6.0, "A13": 2.0, "B3": 30.0, "ANCHOR": 180.0, "DREDGE": 10.0, "FISH": 30.0}
"""The ITU-R M.1371 reporting interval each lab vessel keeps all run (B3 moored: class B stays at 30 s)."""


def _lab_config() -> dict[str, Any]:
    return copy.deepcopy(LAB)


@pytest.fixture(scope="module")
def river() -> SimulationOutput:
    """The river example, simulated once."""
    return simulate(load_scenario(EXAMPLES / "river.toml"))


@pytest.fixture(scope="module")
def lab() -> SimulationOutput:
    """The river lab scenario, simulated once."""
    return simulate(parse_scenario(_lab_config(), str(EXAMPLES / "river-lab.toml")))


def _vessel_id(out: SimulationOutput, name: str) -> int:
    return next(int(v["target_id"]) for v in out.vessels if v["name"] == name)


def _seconds(out: SimulationOutput, sensor_id: str | None = None) -> np.ndarray:
    """Seconds after the start of each plot (of one sensor)."""
    t = out.plots.time_s - START
    return t if sensor_id is None else t[out.plots.sensor_id == sensor_id]


def test_vessels_stay_on_water_with_surface_truth(river: SimulationOutput) -> None:
    waterway = Waterway.load(WATERWAY)
    truth = river.truth
    assert waterway.on_water(truth.lat_deg, truth.lon_deg).all()
    assert (truth.domain == DOMAIN_SURFACE).all() and (truth.alt_m == 0.0).all() and (truth.v_up_mps == 0.0).all()
    assert (truth.mode_s == -1).all() and (truth.squawk == -1).all()
    listed = {v["target_id"]: v for v in river.vessels}
    assert sorted(listed) == list(range(1, 16)) and len(np.unique(truth.target_id)) == 15
    for tid, v in listed.items():
        rows = truth.target_id == tid
        assert (truth.mmsi[rows] == (v["mmsi"] or -1)).all() and (truth.callsign[rows] == (v["callsign"] or "")).all()
    assert listed[DARK]["mmsi"] is None and listed[DREDGER]["behaviour"] == "work"
    assert (river.plots.domain == DOMAIN_SURFACE).all()


def test_air_and_surface_sensors_see_only_their_own_targets(lab: SimulationOutput) -> None:
    p = lab.plots
    vessel = p.truth_id > AIRCRAFT
    aircraft = (p.truth_id >= 1) & ~vessel
    air_sensor = np.isin(p.sensor_id, ["PSR", "ADSB"])
    assert aircraft.any() and vessel.any()
    assert not (air_sensor & vessel).any() and not (~air_sensor & aircraft).any()
    assert (p.domain[air_sensor] == DOMAIN_AIR).all() and (p.domain[~air_sensor] == DOMAIN_SURFACE).all()
    assert ((p.mmsi >= 0) == (p.sensor_id == "AIS-ALL") | (p.sensor_id == "AIS-80")).all()
    truth = lab.truth
    assert (truth.domain == np.where(truth.target_id > AIRCRAFT, DOMAIN_SURFACE, DOMAIN_AIR)).all()
    assert (truth.mmsi[truth.target_id <= AIRCRAFT] == -1).all()
    assert (
        Waterway.load(WATERWAY)
        .on_water(truth.lat_deg[truth.target_id > AIRCRAFT], truth.lon_deg[truth.target_id > AIRCRAFT])
        .all()
    )


def test_ais_intervals_follow_class_speed_and_status(lab: SimulationOutput) -> None:
    p = lab.plots
    heard = p.sensor_id == "AIS-ALL"
    for name, period in LAB_PERIODS_S.items():
        t = np.sort(p.time_s[heard & (p.truth_id == _vessel_id(lab, name))])
        gaps = np.diff(t)
        assert len(gaps) >= 2, name
        np.testing.assert_allclose(gaps, period, atol=1e-6, err_msg=name)
    dark = _vessel_id(lab, "DARK")
    assert not (heard & (p.truth_id == dark)).any() and (p.truth_id[p.sensor_id == "SR"] == dark).any()
    # Random traffic: class A underway below 14 kn, every 10 s.
    traffic = heard & (p.truth_id > _vessel_id(lab, "DARK"))
    for tid in np.unique(p.truth_id[traffic]):
        np.testing.assert_allclose(np.diff(np.sort(p.time_s[traffic & (p.truth_id == tid)])), 10.0, atol=1e-6)


def test_ais_reception_is_pd_of_the_same_broadcasts(lab: SimulationOutput) -> None:
    p = lab.plots
    every, some = p.sensor_id == "AIS-ALL", p.sensor_id == "AIS-80"
    n_all, n_some = int(every.sum()), int(some.sum())
    fraction = n_some / n_all
    assert abs(fraction - 0.8) < 4.0 * np.sqrt(0.8 * 0.2 / n_all)
    # One broadcast, one time and one position error at every station that hears it.
    key_all = {
        (int(i), float(t)): (a, o)
        for i, t, a, o in zip(*(c[every] for c in (p.truth_id, p.time_s, p.lat_deg, p.lon_deg)), strict=True)
    }
    for i, t, a, o in zip(*(c[some] for c in (p.truth_id, p.time_s, p.lat_deg, p.lon_deg)), strict=True):
        assert key_all[(int(i), float(t))] == (a, o)


def test_ais_position_noise_follows_the_accuracy_flag(lab: SimulationOutput) -> None:
    p = lab.plots
    heard = p.sensor_id == "AIS-ALL"
    east, north = adsb_residuals_m(lab, "AIS-ALL")
    for nacp in (10, 9):
        rows = p.nacp[heard] == nacp
        assert rows.sum() > 300
        sigma = NACP_EPU_M[nacp] / EPU_TO_SIGMA
        for axis in (east[rows], north[rows]):
            assert abs(np.std(axis) / sigma - 1.0) < 0.1 and abs(np.mean(axis)) < 4.0 * sigma / np.sqrt(rows.sum())
    assert (p.altitude_m[heard] == 0.0).all() and (p.mode_s[heard] == -1).all()
    assert np.allclose(p.lat_deg[heard] * 600_000.0, np.round(p.lat_deg[heard] * 600_000.0), atol=1e-6)


def test_shore_radar_noise_matches_its_sigmas(lab: SimulationOutput) -> None:
    d_range, d_az = radar_residuals(lab, "SR")
    assert len(d_range) > 1000
    assert abs(np.std(d_range) / 10.0 - 1.0) < 0.1 and abs(np.mean(d_range)) < 4.0 * 10.0 / np.sqrt(len(d_range))
    assert abs(np.std(d_az) / 0.3 - 1.0) < 0.1 and abs(np.mean(d_az)) < 4.0 * 0.3 / np.sqrt(len(d_az))
    sr = lab.plots.sensor_id == "SR"
    assert np.isnan(lab.plots.altitude_m[sr]).all() and (lab.plots.mode_s[sr] == -1).all()


def _clutter_positions(out: SimulationOutput, sensor_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Where a shore radar's false plots lie at the water's height (0 m)."""
    spec = next(s.spec for s in out.scenario.sensors if s.spec.id == sensor_id)
    p = out.plots
    rows = (p.sensor_id == sensor_id) & (p.truth_id < 0)
    ground = np.sqrt(p.range_m[rows] ** 2 - spec.alt_m**2)
    az = np.radians(p.azimuth_deg[rows])
    frame = LocalFrame(spec.lat_deg, spec.lon_deg, 0.0)
    lat, lon, _ = frame.enu_to_geodetic(ground * np.sin(az), ground * np.cos(az), -(ground**2) / (2.0 * EARTH_RADIUS_M))
    return lat, lon


def test_shore_radar_clutter_lies_on_the_water_and_the_banks(lab: SimulationOutput) -> None:
    waterway = Waterway.load(WATERWAY)
    depth = waterway.distance_to_bank_m(*_clutter_positions(lab, "SR"))
    assert (depth > -LAND_CLUTTER_STRIP_M - 1.0).all()
    # Expected counts: density * area (water; land strip) inside the 6 km disk, per scan.
    rng = np.random.default_rng(0)
    radius = 6000.0 * np.sqrt(rng.random(400_000))
    az = rng.uniform(0.0, 2.0 * np.pi, radius.size)
    lat, lon, _ = LocalFrame(SHORE["lat_deg"], SHORE["lon_deg"], 0.0).enu_to_geodetic(
        radius * np.sin(az), radius * np.cos(az), 0.0
    )
    sample = waterway.distance_to_bank_m(lat, lon)
    disk_km2 = np.pi * 36.0
    scans = 600.0 / 2.5
    for placed, found in (
        (sample >= 0.0, depth >= 0.0),
        ((sample < 0.0) & (sample >= -LAND_CLUTTER_STRIP_M), depth < 0.0),
    ):
        expected = 0.5 * disk_km2 * placed.mean() * scans
        assert expected > 200 and abs(found.sum() - expected) < 4.0 * np.sqrt(expected) + 0.02 * expected


def test_event_vessels_in_ais_and_radar(river: SimulationOutput) -> None:
    p = river.plots
    t = _seconds(river)
    ais = np.isin(p.sensor_id, ["SK-AIS1", "HU-AIS1"])
    radar = ~ais
    # The dark vessel: radar only.
    assert not (ais & (p.truth_id == DARK)).any() and (radar & (p.truth_id == DARK)).sum() > 50
    # AIS switched off at 250 s: AIS stops, the Slovak radar keeps it.
    off = p.truth_id == AIS_OFF
    assert (ais & off & (t < AT_AIS_OFF)).sum() > 20 and not (ais & off & (t >= AT_AIS_OFF)).any()
    assert ((p.sensor_id == "SK-SR1") & off & (t >= AT_AIS_OFF)).sum() > 30
    # Spoofed from 300 s: AIS 500 m east of the truth, radars on the truth.
    for station in ("SK-AIS1", "HU-AIS1"):
        east, north = adsb_residuals_m(river, station)
        mine = p.truth_id[p.sensor_id == station] == SPOOFED
        late = t[p.sensor_id == station] >= AT_SPOOF
        assert np.allclose(east[mine & late], 500.0, atol=30.0) and np.allclose(north[mine & late], 0.0, atol=30.0)
        assert np.allclose(east[mine & ~late], 0.0, atol=30.0) and (mine & late).sum() > 20
    d_range, _ = radar_residuals(river, "HU-SR1")
    hu = (p.sensor_id == "HU-SR1") & (p.truth_id >= 0)
    late_radar = (p.truth_id[hu] == SPOOFED) & (t[hu] >= AT_SPOOF)
    assert late_radar.sum() > 50 and np.abs(d_range[late_radar]).max() < 60.0
    # Two vessels on one MMSI, far apart.
    twins = ais & np.isin(p.truth_id, [TWIN_A, TWIN_B])
    assert set(np.unique(p.truth_id[twins]).tolist()) == {TWIN_A, TWIN_B} and len(np.unique(p.mmsi[twins])) == 1
    truth = river.truth
    a, b = (truth.target_id == TWIN_A) & (truth.time_s == START), (truth.target_id == TWIN_B) & (truth.time_s == START)
    assert abs(float(truth.lon_deg[a][0] - truth.lon_deg[b][0])) > 0.15  # about 12 km of longitude
    # Every AIS report names its own vessel.
    mmsi = {v["target_id"]: v["mmsi"] for v in river.vessels}
    assert all(int(m) == mmsi[int(i)] for m, i in zip(p.mmsi[ais], p.truth_id[ais], strict=True))


def test_fast_craft_closes_on_the_dredger(river: SimulationOutput) -> None:
    truth = river.truth
    fast = truth.target_id == FAST
    assert truth.time_s[fast].min() == START + 350.0
    speed = np.hypot(truth.v_east_mps[fast], truth.v_north_mps[fast])
    assert np.isclose(np.median(speed[:60]), 12.0, atol=0.1)
    frame = LocalFrame(47.745, 18.14, 0.0)
    times = truth.time_s[fast]
    dredger = (truth.target_id == DREDGER) & np.isin(truth.time_s, times)
    e1, n1, _ = frame.geodetic_to_enu(truth.lat_deg[fast], truth.lon_deg[fast], 0.0)
    e2, n2, _ = frame.geodetic_to_enu(truth.lat_deg[dredger], truth.lon_deg[dredger], 0.0)
    distance = np.hypot(e1 - e2, n1 - n2)
    assert distance[0] > 1000.0 and np.isclose(distance[-1], 30.0, atol=2.0)


def test_radar_outage_is_respected(river: SimulationOutput) -> None:
    t = _seconds(river, "HU-SR1")
    assert not ((t >= OUTAGE[0]) & (t < OUTAGE[1])).any()
    assert ((t >= OUTAGE[0] - 20.0) & (t < OUTAGE[0])).any() and ((t >= OUTAGE[1]) & (t < OUTAGE[1] + 20.0)).any()
    sk = _seconds(river, "SK-SR1")
    assert ((sk >= OUTAGE[0]) & (sk < OUTAGE[1])).sum() > 50


def test_outputs_carry_domain_mmsi_and_the_vessels(river: SimulationOutput, tmp_path: Path) -> None:
    write_outputs(river, tmp_path)
    vessels = json.loads((tmp_path / "vessels.json").read_text())
    assert vessels == river.vessels and vessels[DARK - 1]["ais"] is None
    plots, truth = read_plots(tmp_path / "plots.csv"), read_truth(tmp_path / "truth.csv")
    assert (plots.domain == DOMAIN_SURFACE).all() and np.array_equal(plots.mmsi, river.plots.mmsi)
    assert np.array_equal(truth.mmsi, river.truth.mmsi) and (truth.domain == DOMAIN_SURFACE).all()
    events = json.loads((tmp_path / "events.json").read_text())
    assert {e["kind"]: e.get("name") for e in events} == {
        "transponder_off": "DANUBIA 7",
        "spoofer": "PETROLINA",
        "sensor_outage": None,
    }


def test_river_is_deterministic_for_a_seed() -> None:
    scenario = load_scenario(EXAMPLES / "river.toml")
    a, b = simulate(scenario, seed=3), simulate(scenario, seed=3)
    assert np.array_equal(a.plots.lat_deg, b.plots.lat_deg, equal_nan=True)
    assert np.array_equal(a.plots.range_m, b.plots.range_m, equal_nan=True)
    assert np.array_equal(a.truth.lat_deg, b.truth.lat_deg) and a.vessels == b.vessels


BASE = f"""
[scenario]
name = "mini-river"
seed = 1
duration_s = 60
start_time_s = 1780000000

[region]
lat_deg = 47.745
lon_deg = 18.105
radius_km = 15

[river]
waterway = "{WATERWAY.as_posix()}"

[[partners]]
id = "a"

[[partners.sensors]]
id = "SR"
kind = "surface_radar"
lat_deg = 47.749
lon_deg = 18.146
alt_m = 20
sigma_range_m = 10
sigma_azimuth_deg = 0.3
scan_period_s = 2.5
pd = 0.9
max_range_m = 6000

[[vessels]]
name = "BOAT"
mmsi = 243000001
ais = "A"
speed_mps = 3.0
behaviour = "transit"
from_km = 10.0
to_km = 12.0
lane_m = 40

[[events]]
kind = "transponder_off"
target_id = 1
at_s = 10
"""


def _load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "river.toml"
    path.write_text(text)
    load_scenario(path)


def test_minimal_river_scenario_loads(tmp_path: Path) -> None:
    _load(tmp_path, BASE)


@pytest.mark.parametrize(
    ("old", "new", "key", "allowed"),
    [
        ('behaviour = "transit"', 'behaviour = "fly"', "vessels[0].behaviour", "transit, work, loiter"),
        (
            'behaviour = "transit"\nfrom_km = 10.0\nto_km = 12.0\nlane_m = 40',
            'behaviour = "anchored"\nlat_deg = 47.76\nlon_deg = 18.10',
            "vessels[0].lat_deg",
            "on land",
        ),
        ("lane_m = 40", "lane_m = 400", "vessels[0].lane_m", "on land at 10.000 km"),
        ("to_km = 12.0", "to_km = 30.0", "vessels[0].to_km", "<= 22.65"),
        ("waterway.geojson", "nowhere.geojson", "river.waterway", "cannot load"),
        ('ais = "A"', 'ais = "none"', "vessels[0].mmsi", "only for a vessel with AIS"),
        ("mmsi = 243000001\n", "", "vessels[0].mmsi", "missing"),
        ("speed_mps = 3.0", "speed_mps = 40.0", "vessels[0].speed_mps", "<= 25"),
        ('mmsi = 243000001\nais = "A"', 'ais = "none"', "events[0].target_id", "without AIS"),
        ("target_id = 1", "target_id = 2", "events[0].target_id", "listed vessel (1..1)"),
        (
            'kind = "transponder_off"\ntarget_id = 1',
            'kind = "emergency"\ncode = "7700"\ntarget_id = 1',
            "events[0].target_id",
            "aircraft",
        ),
        (
            'behaviour = "transit"\nfrom_km = 10.0\nto_km = 12.0\nlane_m = 40',
            'behaviour = "approach"\nlat_deg = 47.745476\nlon_deg = 18.144859\ntarget = "SHIP"',
            "vessels[0].target",
            "not another listed vessel",
        ),
    ],
)
def test_bad_river_scenario_names_the_key(tmp_path: Path, old: str, new: str, key: str, allowed: str) -> None:
    assert old in BASE
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, BASE.replace(old, new, 1))
    assert info.value.key == key and allowed in info.value.problem, info.value


def test_surface_sensors_and_vessels_need_a_river(tmp_path: Path) -> None:
    no_river = BASE.replace(f'[river]\nwaterway = "{WATERWAY.as_posix()}"\n', "")
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, no_river)
    assert info.value.key == "partners[0].sensors[0].kind" and "[river]" in info.value.problem
    ais = no_river.replace('kind = "surface_radar"', 'kind = "ais"').replace("sigma_range_m = 10\n", "")
    ais = ais.replace("sigma_azimuth_deg = 0.3\nscan_period_s = 2.5\n", "")
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, ais)
    assert info.value.key == "vessels" and "[river]" in info.value.problem
