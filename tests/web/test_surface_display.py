"""The display's surface picture: vessels' domain, MMSI and sensor kinds in the picture model, its deltas and the
API; the river's waterway layer route; aircraft.json without vessels; `--scenario river` naming an example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from commonsky.cli.common import EXAMPLES
from commonsky.cli.live import example_scenario
from commonsky.core.batches import SENSOR_ADSB, SENSOR_AIS, SENSOR_SSR, SENSOR_SURFACE_RADAR
from commonsky.core.errors import ConfigError
from commonsky.core.sensors import SensorKind, SensorSpec
from commonsky.core.waterway import Waterway
from commonsky.fusion import SystemTracks
from commonsky.sim import load_scenario
from commonsky.web.app import create_app
from commonsky.web.auth import DEMO_USERS, load_users
from commonsky.web.feed import PictureFeed
from commonsky.web.picture import picture_delta, waterway_geojson
from commonsky.web.scenario import scenario_waterway
from commonsky.web.tar1090 import aircraft_json
from tests.web.conftest import T0, local_client, sign_in
from tests.web.hand_fed import HandFedNode

WATERWAY_FILE = EXAMPLES / "river" / "waterway.geojson"
WATERWAY = Waterway.load(WATERWAY_FILE)
MMSI = 244_123_456
SENSORS = [
    SensorSpec("SK-RAD", "sk", SensorKind.SURFACE_RADAR, 47.762, 18.09, 25.0, 10.0, 0.3, 0.0, 2.5, 0.95, 6000.0),
    SensorSpec("SK-AIS", "sk", SensorKind.AIS, 47.762, 18.091, 20.0, 10.0, 0.0, 0.0, 2.0, 0.99, 40_000.0),
]
WORKS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "Dredging works", "kind": "works"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[18.08, 47.753], [18.09, 47.753], [18.09, 47.757], [18.08, 47.757], [18.08, 47.753]]],
            },
        }
    ],
}
"""A works zone as the page draws it (the display does not validate zones: the node's assessment does)."""


def surface_picture(time_s: float, mmsi: int = MMSI) -> SystemTracks:
    """Two system tracks: 1 an airliner over the river (SSR and ADS-B), 2 a barge on the Danube's centreline
    (AIS and both banks' shore radars), heading downstream at 4 m/s; `mmsi` -1: the barge's AIS not yet heard."""
    lat, lon, heading = WATERWAY.along(0.45 * WATERWAY.length_m)
    course = np.radians(float(heading))
    return SystemTracks.build(
        2,
        time_s=np.full(2, time_s),
        system_id=np.array([1, 2]),
        lat_deg=np.array([float(lat) + 0.02, float(lat)]),
        lon_deg=np.array([float(lon) - 0.03, float(lon)]),
        alt_m=np.array([3000.0, 0.0]),
        v_east_mps=np.array([200.0, 4.0 * np.sin(course)]),
        v_north_mps=np.array([0.0, 4.0 * np.cos(course)]),
        v_up_mps=np.zeros(2),
        var_alt_m2=np.array([100.0, 1.0]),
        cov_ee=np.array([100.0, 25.0]),
        cov_nn=np.array([100.0, 25.0]),
        cov_ve_ve=np.full(2, 1.0),
        cov_vn_vn=np.full(2, 1.0),
        status=np.array(["confirmed", "confirmed"]),
        quality=np.array([0.9, 0.8]),
        sensor_kinds=np.array([SENSOR_SSR | SENSOR_ADSB, SENSOR_AIS | SENSOR_SURFACE_RADAR], dtype=np.int8),
        mode_s=np.array([0x3C6544, -1], dtype=np.int32),
        squawk=np.array([1000, -1], dtype=np.int16),
        callsign=np.array(["DLH4AB", "OMAB2"]),
        mmsi=np.array([-1, mmsi], dtype=np.int32),
        domain=np.array(["air", "surface"]),
        responsible=np.array(["sk", "hu"]),
        n_sources=np.array([1, 2], dtype=np.int16),
        sources=np.array(["sk:11", "hu:4;sk:12"]),
    )


def river_node(waterway: dict[str, Any] | None = None) -> HandFedNode:
    """Slovakia's node with the river picture pushed for 10 s; its display feed shows the works zone and `waterway`."""
    hand = HandFedNode("sk", SENSORS)
    hand.feed = PictureFeed(
        "sk",
        lambda action: hand.node.act(action, hand.time_s),
        lambda sid: hand.node.assessment.identity_history(sid),
        SENSORS,
        WORKS,
        waterway,
    )
    for k in range(10):
        hand.push(T0 + k, surface_picture(T0 + k))
    return hand


@pytest.fixture
def river_app() -> FastAPI:
    return create_app(river_node(waterway_geojson(WATERWAY)).feed, load_users(DEMO_USERS), stream_interval_s=0.05)


def test_the_picture_carries_each_tracks_domain_mmsi_and_sensor_kinds() -> None:
    pic = river_node().feed.snapshot()
    assert pic.columns["domain"] == ["air", "surface"]
    assert pic.columns["mmsi"] == [None, MMSI]
    vessel = pic.track(2)
    assert vessel is not None
    assert vessel["sensor_kinds"] == ["ais", "surface_radar"] and vessel["callsign"] == "OMAB2"
    assert vessel["partners"] == ["hu", "sk"] and vessel["responsible"] == "hu"
    snapshot = picture_delta(None, pic)
    assert snapshot["tracks"]["domain"] == ["air", "surface"] and snapshot["tracks"]["mmsi"] == [None, MMSI]


def test_a_delta_sends_a_vessel_again_when_its_mmsi_becomes_known() -> None:
    hand = river_node()
    before = hand.push(T0 + 10, surface_picture(T0 + 10, mmsi=-1))
    after = hand.push(T0 + 11, surface_picture(T0 + 11))
    delta = picture_delta(before, after)
    assert delta["upsert"]["id"] == [2] and delta["upsert"]["mmsi"] == [MMSI]
    assert delta["upsert"]["domain"] == ["surface"] and delta["moved"]["id"] == []  # the aircraft stood still


def test_the_api_lists_vessels_with_mmsi_and_filters_by_domain(river_app: FastAPI) -> None:
    with local_client(river_app) as client:
        sign_in(client, "viewer")
        (vessel,) = client.get("/api/tracks?domain=surface").json()["tracks"]
        assert vessel["id"] == 2 and vessel["mmsi"] == MMSI and vessel["domain"] == "surface"
        (aircraft,) = client.get("/api/tracks?domain=air").json()["tracks"]
        assert aircraft["id"] == 1 and aircraft["mmsi"] is None and aircraft["domain"] == "air"
        assert client.get("/api/tracks").json()["count"] == 2
        assert client.get("/api/tracks?domain=sea").status_code == 422
        detail = client.get("/api/tracks/2").json()
        assert detail["sensor_kinds"] == ["ais", "surface_radar"] and detail["mmsi"] == MMSI


def test_the_waterway_layer_needs_a_session_and_serves_the_rivers_geometry(river_app: FastAPI) -> None:
    with local_client(river_app) as client:
        assert client.get("/api/layers/waterway").status_code == 401
        sign_in(client, "viewer")
        response = client.get("/api/layers/waterway")
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
        layer = response.json()
        assert layer["properties"]["name"] == WATERWAY.name
        by_role = {f["properties"]["role"]: f["geometry"] for f in layer["features"]}
        assert by_role["water"]["type"] == "MultiPolygon" and by_role["centreline"]["type"] == "LineString"
        bank = np.array(by_role["water"]["coordinates"][0][0])
        assert np.abs(bank - WATERWAY.water[0][0]).max() < 1e-6
        assert np.abs(np.array(by_role["border"]["coordinates"]) - WATERWAY.border).max() < 1e-6
        # the layer is the same Waterway again: what the page draws is what the tracker and assessment use
        again = Waterway.from_geojson(layer, "layer")
        assert again.on_water(*WATERWAY.along(1000.0)[:2]) and again.length_m == pytest.approx(WATERWAY.length_m)
        refused = client.get("/api/layers/waterway", headers={"Host": "rebound.attacker.example"})
        assert refused.status_code == 400


def test_a_picture_without_a_river_has_an_empty_waterway_layer(client: TestClient) -> None:
    sign_in(client, "viewer")
    assert client.get("/api/layers/waterway").json() == {"type": "FeatureCollection", "features": []}


def test_a_scenario_names_its_waterway_for_the_map() -> None:
    assert scenario_waterway(load_scenario(EXAMPLES / "river.toml")) == waterway_geojson(WATERWAY)
    assert scenario_waterway(load_scenario(EXAMPLES / "border3.toml")) is None


def test_aircraft_json_lists_no_vessel() -> None:
    body = aircraft_json(river_node().feed.snapshot())
    assert [a["cs_id"] for a in body["aircraft"]] == [1]
    assert body["aircraft"][0]["hex"] == "3c6544"


def test_a_bare_scenario_name_picks_the_embedded_example(tmp_path: Path) -> None:
    assert example_scenario(None) == EXAMPLES / "border3.toml"
    assert example_scenario(Path("national5k")) == EXAMPLES / "national5k.toml"
    assert example_scenario(Path("border3.toml")) == EXAMPLES / "border3.toml"
    own = tmp_path / "mine.toml"
    own.write_text("")
    assert example_scenario(own) == own
    assert example_scenario(tmp_path / "missing.toml") == tmp_path / "missing.toml"  # load_scenario names it
    with pytest.raises(ConfigError, match=r"nowhere is neither a file nor an example \(border3, national5k"):
        example_scenario(Path("nowhere"))


def test_a_river_recording_replays_with_its_water_layer(tmp_path: Path) -> None:
    from commonsky.core.config import read_toml
    from commonsky.network.runner import run_scenario
    from commonsky.sim import parse_scenario
    from commonsky.web.picture import node_waterway
    from commonsky.web.replay import ReplaySource

    data, source = read_toml(EXAMPLES / "river.toml")
    data["scenario"]["duration_s"] = 30
    data["vessels"] = [v for v in data["vessels"] if v.get("start_s", 0) < 30]
    data["events"] = []
    run_scenario(parse_scenario(data, source), out=tmp_path)
    replayed = ReplaySource(tmp_path / "sk" / "recording")
    roles = {f["properties"]["role"] for f in (replayed.waterway or {})["features"]}
    assert roles == {"water", "centreline", "border"}
    assert node_waterway(None) is None
