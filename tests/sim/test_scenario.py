"""Scenario files: the examples load, and every kind of mistake is a ConfigError naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from commonsky.core.errors import ConfigError
from commonsky.core.sensors import SensorKind
from commonsky.sim import Scenario, load_scenario
from commonsky.sim.scenario import EVENT_KINDS, Equipage

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

VALID = """
[scenario]
name = "mini"
seed = 1
duration_s = 60
start_time_s = 1780000000

[region]
lat_deg = 47.5
lon_deg = 9.5
radius_km = 50

[[partners]]
id = "a"
name = "A"

[[partners.sensors]]
id = "R1"
kind = "psr"
lat_deg = 47.5
lon_deg = 9.5
alt_m = 500
sigma_range_m = 50
sigma_azimuth_deg = 0.1
scan_period_s = 4
pd = 0.9
max_range_m = 100000

[[partners.sensors]]
id = "A1"
kind = "adsb"
lat_deg = 47.5
lon_deg = 9.5
alt_m = 500
pd = 0.9
max_range_m = 200000

[[partners]]
id = "b"

[[partners.sensors]]
id = "S1"
kind = "ssr"
lat_deg = 47.6
lon_deg = 9.6
alt_m = 500
sigma_range_m = 30
sigma_azimuth_deg = 0.05
scan_period_s = 5
pd = 0.95
max_range_m = 200000

[traffic]
count = 5

[[traffic.routes]]
speed_mps = 150
equipage = "mode_s"
waypoints = [{lat_deg = 47.0, lon_deg = 9.0, alt_m = 3000}, {lat_deg = 47.5, lon_deg = 9.5, alt_m = 3000}]

[[events]]
kind = "emergency"
target_id = 2
at_s = 10
code = "7700"
"""


def _load(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return load_scenario(path)


def test_valid_scenario_loads_with_defaults(tmp_path: Path) -> None:
    scenario = _load(tmp_path, VALID)
    assert [p.id for p in scenario.partners] == ["a", "b"] and scenario.partners[1].name == "b"
    assert scenario.region.lat_deg == 47.5 and scenario.duration_s == 60.0
    adsb = scenario.sensors[1]
    assert adsb.nacp == 8 and adsb.spec.scan_period_s == 1.0 and adsb.spec.kind is SensorKind.ADSB
    assert scenario.sensors[2].spec.sigma_altitude_m == pytest.approx(30.48 / 12**0.5)
    assert scenario.traffic.routes[0].equipage is Equipage.MODE_S
    assert scenario.traffic.max_turn_rate_deg_s == 3.0 and scenario.target_count == 6


@pytest.mark.parametrize(
    ("old", "new", "key", "allowed"),
    [
        ('kind = "psr"', 'kind = "lidar"', "partners[0].sensors[0].kind", "psr, ssr, adsb"),
        ("pd = 0.9\nmax_range_m = 100000", "pd = 1.5\nmax_range_m = 100000", "partners[0].sensors[0].pd", "<= 1"),
        ("max_range_m = 100000\n", "\n", "partners[0].sensors[0].max_range_m", "missing"),
        ("sigma_range_m = 50", "sigma_rang_m = 50", "partners[0].sensors[0].sigma_range_m", "'sigma_rang_m'"),
        ("pd = 0.9\n", "pd = 0.9\nrange_bais_m = 5\n", "partners[0].sensors[0].range_bais_m", "range_bias_m"),
        (
            "max_range_m = 200000\n\n[[partners]]",
            "max_range_m = 200000\nscan_period_s = 4\n\n[[partners]]",
            "partners[0].sensors[1].scan_period_s",
            "update_period_s",
        ),
        ('id = "S1"', 'id = "R1"', "partners[1].sensors[0].id", "duplicate"),
        ("count = 5", "count = 5\n[traffic.equipage]\nadsb = 0.5\nnone = 0.4", "traffic.equipage", "sum to 1"),
        ("count = 5", 'count = "many"', "traffic.count", "integer"),
        ("count = 5", "count = 5\nmax_turn_rate_deg_s = 6", "traffic.max_turn_rate_deg_s", "<= 3"),
        ('equipage = "mode_s"', 'equipage = "mode_x"', "traffic.routes[0].equipage", "none, mode_ac, mode_s, adsb"),
        ("duration_s = 60\n", "", "scenario.duration_s", "missing"),
        ("duration_s = 60", "duration_s = 60.5", "scenario.duration_s", "whole number"),
        ('kind = "emergency"', 'kind = "meteor"', "events[0].kind", "intruder, emergency, transponder_off"),
        ('code = "7700"', 'code = "7777"', "events[0].code", "7500, 7600, 7700"),
        ('code = "7700"', 'code = "7800"', "events[0].code", "octal"),
        ("target_id = 2", "target_id = 9", "events[0].target_id", "1..6"),
        ("at_s = 10", "at_s = 100", "events[0].at_s", "<= 60"),
    ],
)
def test_bad_scenario_names_the_key(tmp_path: Path, old: str, new: str, key: str, allowed: str) -> None:
    assert old in VALID
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, VALID.replace(old, new, 1))
    assert info.value.key == key
    assert allowed in info.value.problem
    assert str(tmp_path / "scenario.toml") in str(info.value) and key in str(info.value)


@pytest.mark.parametrize(
    ("event", "key", "allowed"),
    [
        ('kind = "sensor_outage"\nsensor_id = "X9"\nstart_s = 1\nend_s = 2', "events[1].sensor_id", "R1, A1, S1"),
        ('kind = "sensor_outage"\nsensor_id = "R1"\nstart_s = 5\nend_s = 2', "events[1].end_s", "after"),
        (
            'kind = "link_outage"\npartner_a = "a"\npartner_b = "c"\nstart_s = 1\nend_s = 2',
            "events[1].partner_b",
            "a, b",
        ),
        (
            'kind = "spoofer"\ntarget_id = 6\nat_s = 1\noffset_east_m = 1\noffset_north_m = 1',
            "events[1].target_id",
            "adsb",
        ),
        (
            'kind = "intruder"\nat_s = 1\nstart_lat_deg = 47\nstart_lon_deg = 9\nend_lat_deg = 48',
            "events[1].end_lon_deg",
            "missing",
        ),
    ],
)
def test_bad_event_names_the_key(tmp_path: Path, event: str, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, VALID + "\n[[events]]\n" + event + "\n")
    assert info.value.key == key and allowed in info.value.problem


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, VALID + "\nthis is not toml\n")
    assert info.value.key == "(file)" and "not valid TOML" in info.value.problem
    with pytest.raises(ConfigError) as info:
        load_scenario(tmp_path / "nope.toml")
    assert info.value.key == "(file)" and "cannot read" in info.value.problem


def test_examples_load_and_match_their_description() -> None:
    border = load_scenario(EXAMPLES / "border3.toml")
    kinds = [s.spec.kind for s in border.sensors]
    assert kinds.count(SensorKind.PSR) >= 3 and kinds.count(SensorKind.SSR) >= 2
    assert {p.id for p in border.partners} == {"north", "east", "west"}
    assert all(any(s.spec.kind is SensorKind.ADSB for s in p.sensors) for p in border.partners)
    assert any(s.clutter_density_per_km2 > 0 for s in border.sensors)
    assert any(s.range_bias_m and s.azimuth_bias_deg and s.time_offset_s for s in border.sensors)
    assert sorted(e.KIND for e in border.events) == sorted(k.KIND for k in EVENT_KINDS)
    assert border.traffic.count == 50 and border.duration_s == 600
    national = load_scenario(EXAMPLES / "national5k.toml")
    assert national.traffic.count == 5000 and len(national.sensors) >= 10 and national.region.radius_km == 400
