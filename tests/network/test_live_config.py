"""A node config without a scenario: it names its own sensors, frame origin, peers and sharing, and a receiver
node started from one tracks its live feed; mistakes are ConfigErrors naming the key."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from commonsky.core.batches import Tracks
from commonsky.core.errors import ConfigError
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import SensorKind, SensorSpec
from commonsky.feeds.inputs import InputSpec
from commonsky.formats import decode_sbs, encode_sbs, read_tracks, write_sensors
from commonsky.network.live import LiveNodeConfig, run_live_node
from commonsky.network.runner import run_recording

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "commonsky" / "examples"
ADDRESS = 0x4B1A2C
RADAR = (
    '{id = "H-PSR", kind = "psr", lat_deg = 47.7, lon_deg = 9.7, alt_m = 600, sigma_range_m = 50, '
    "sigma_azimuth_deg = 0.1, sigma_altitude_m = 0, scan_period_s = 4, pd = 0.9, max_range_m = 150000}"
)
"""A sensors.json entry as a TOML inline table, its partner left out (the node's)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, text: str) -> LiveNodeConfig:
    (tmp_path / "node.toml").write_text(text)
    return LiveNodeConfig.load(tmp_path / "node.toml")


def _aircraft(now_s: float) -> str:
    """SBS (BaseStation) lines of one aircraft flying east over the lake, as a feeder reports it at `now_s`."""
    aircraft = Tracks.build(
        1,
        time_s=[now_s],
        track_id=[1],
        lat_deg=[47.55],
        lon_deg=[9.3 + 200.0 * (now_s % 1000.0) / 75_000.0],
        alt_m=[9000.0],
        v_east_mps=[200.0],
        v_north_mps=[0.0],
        v_up_mps=[0.0],
        status=["confirmed"],
        mode_s=np.array([ADDRESS], dtype=np.int32),
        squawk=np.array([1000], dtype=np.int16),
        callsign=["DLH4AB"],
        quality=[1.0],
    )
    return encode_sbs(aircraft)


@pytest.fixture(scope="module")
def compiled_node() -> None:
    """Numba compiles the tracker and fusion on first use (long on a busy machine): pay that before a node's
    wall clock starts, or its feed would have no time left to be tracked."""
    plots = decode_sbs("".join(_aircraft(1000.0 + 0.5 * k) for k in range(20)), "warm-up").plots
    run_recording(plots, [SensorSpec.receiver("warm-up", "home", 47.5, 9.5)])


async def _sbs_feeder(port: int) -> asyncio.Server:
    """An SBS feeder sending the aircraft as it is now, twice a second, to each client."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                writer.write(_aircraft(time.time()).encode())
                await writer.drain()
                await asyncio.sleep(0.5)
        except (ConnectionError, asyncio.CancelledError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)


def test_a_receiver_node_without_a_scenario_tracks_its_feed(tmp_path: Path, compiled_node: None) -> None:
    port = _free_port()
    config = _config(
        tmp_path,
        'partner = "home"\nout = "out"\ntick_s = 0.5\nduration_s = 5\n'
        f'inputs = ["tcp://127.0.0.1:{port}?format=sbs&sensor=home-rx&ref=47.5,9.5"]\n',
    )
    assert config.scenario is None

    async def run() -> dict[str, object]:
        feeder = await _sbs_feeder(port)
        try:
            return await run_live_node(config, None)
        finally:
            feeder.close()

    summary = asyncio.run(run())
    assert summary["ticks"] == 10 and summary["partners"] == {}  # 5 s at tick_s 0.5, no peers
    (feed,) = summary["inputs"]  # type: ignore[misc]
    assert feed["plots"] > 5 and feed["errors"] == 0
    local = read_tracks(tmp_path / "out" / "local_tracks.csv")
    assert ADDRESS in set(local.mode_s.tolist())
    assert np.all(np.abs(local.time_s - time.time()) < 60.0)  # on the wall clock
    assert json.loads((tmp_path / "out" / "status.json").read_text())["ticks"] == 10


def test_the_receiver_example_needs_no_scenario(tmp_path: Path) -> None:
    config = LiveNodeConfig.load(EXAMPLES / "receiver" / "node.toml", out=tmp_path)
    assert config.scenario is None and config.out == tmp_path.resolve()
    node = config.node_config([InputSpec.parse(url) for url in config.inputs])
    (receiver,) = node.sensors
    assert (receiver.id, receiver.kind, receiver.partner) == ("home-rx", SensorKind.ADSB, "home")
    assert (node.frame.lat0_deg, node.frame.lon0_deg) == (47.5, 9.5) == (receiver.lat_deg, receiver.lon_deg)
    assert node.peers == ()


def test_a_config_names_its_sensors_origin_peers_sharing_and_zones(tmp_path: Path) -> None:
    zones = {"type": "FeatureCollection", "features": []}
    (tmp_path / "zones.geojson").write_text(json.dumps(zones))
    inputs = 'inputs = ["udp://127.0.0.1:4000?format=asterix", "tcp://127.0.0.1:30005?format=beast&sensor=rx"]\n'
    text = (
        f'partner = "home"\nout = "out"\npeers = ["east"]\n{inputs}sensors = [{RADAR}]\n'
        '[assess]\nzones = "zones.geojson"\nclear_s = 20\n'
        '[[sharing]]\nto = "east"\nfields = ["mode_s"]\n'
    )
    config = _config(tmp_path, text)
    node = config.node_config([InputSpec.parse(url) for url in config.inputs])
    assert [s.id for s in node.sensors] == ["H-PSR", "rx"] and node.sensors[0].partner == "home"
    radar, rx = node.sensors
    assert (node.frame.lat0_deg, node.frame.lon0_deg) == (47.7, 9.7) == (rx.lat_deg, rx.lon_deg)  # at the radar
    assert node.peers == ("east",) and node.export_policy("east").fields == frozenset({"mode_s"})
    assert node.zones == zones and node.assess == {"clear_s": 20}

    write_sensors([radar], tmp_path / "sensors.json")
    with_file = _config(
        tmp_path, 'partner = "home"\nout = "out"\nsensors = "sensors.json"\norigin = {lat_deg = 47, lon_deg = 9}\n'
    )
    assert with_file.sensors == (radar,) and with_file.origin == (47.0, 9.0)
    assert with_file.node_config([]).frame == LocalFrame(47.0, 9.0, 0.0)


def test_a_river_node_keeps_its_vessels_on_its_waterway(tmp_path: Path) -> None:
    river = Path(__file__).resolve().parents[2] / "examples" / "river" / "waterway.geojson"
    text = (
        f'partner = "sk"\nout = "out"\norigin = {{lat_deg = 47.75, lon_deg = 18.1}}\n'
        f'inputs = ["udp://127.0.0.1:4001?format=nmea-targets&sensor=MR1&ref=47.7569,18.1024"]\n'
        f'[river]\nwaterway = "{river}"\nwater_height_m = 2.5\n'
    )
    config = _config(tmp_path, text)
    node = config.node_config([InputSpec.parse(url) for url in config.inputs])
    assert node.waterway == json.loads(river.read_text()) and node.tracker.surface_height_m == 2.5
    assert node.sensors == ()  # a marine radar's targets are a track source, not a sensor's plots
    (tmp_path / "land.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(ConfigError):
        _config(tmp_path, 'partner = "sk"\nout = "out"\n[river]\nwaterway = "land.geojson"\n')


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("seed = 3\n", "seed", "only with a scenario"),
        ('scenario = "s.toml"\norigin = {lat_deg = 47, lon_deg = 9}\n', "origin", "set by the scenario"),
        ('peers = ["home"]\n', "peers", "distinct partner ids other than 'home'"),
        ('ouptuts = ["tcp://127.0.0.1:30103?format=sbs"]\n', "ouptuts", "did you mean 'outputs'"),
        ("origin = {lat_deg = 95, lon_deg = 9}\n", "origin.lat_deg", "<= 85"),
        ("tick_s = 0\n", "tick_s", "a positive number"),
        ('on_config_change = "ignore"\n', "on_config_change", "refuse, apply, new-recording"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, 'partner = "home"\nout = "out"\n' + text)
    assert info.value.key == key and problem in info.value.problem
    assert info.value.source == str(tmp_path / "node.toml")


def test_a_node_without_origin_or_placed_sensors_is_refused(tmp_path: Path) -> None:
    config = _config(
        tmp_path, 'partner = "home"\nout = "out"\ninputs = ["tcp://127.0.0.1:30005?format=beast&sensor=rx"]\n'
    )
    with pytest.raises(ConfigError) as info:
        config.node_config([InputSpec.parse(url) for url in config.inputs])
    assert info.value.key == "origin" and "ref" in info.value.problem
