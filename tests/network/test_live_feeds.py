"""A `commonsky node` fed by a live SBS feed over TCP, sending its picture as ASTERIX CAT062 (UDP) and SBS (TCP)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from commonsky.core.batches import Tracks
from commonsky.core.errors import ConfigError
from commonsky.feeds import udp_datagrams
from commonsky.formats import decode_asterix, decode_sbs, encode_sbs, read_tracks
from commonsky.network.live import LiveHooks, LiveNodeConfig, run_live_node
from commonsky.network.node import Node, TickOutput
from commonsky.network.transport.natsserver import ServerInfo

BORDER = Path(__file__).resolve().parents[2] / "examples" / "border3.toml"
ADDRESSES = (0x4B1A2C, 0x3C6544)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _aircraft(now_s: float) -> Tracks:
    """Two aircraft flying east near the border, as an SBS feeder would report them now."""
    t = now_s - 1_000_000_000.0
    return Tracks.build(
        2,
        time_s=np.full(2, now_s),
        track_id=np.array([1, 2]),
        lat_deg=np.array([47.6, 47.4]),
        lon_deg=np.array([9.4, 9.6]) + 200.0 * (t % 1000) / 75_000.0,
        alt_m=np.array([9000.0, 10500.0]),
        v_east_mps=np.array([200.0, 200.0]),
        v_north_mps=np.zeros(2),
        v_up_mps=np.zeros(2),
        status=np.array(["confirmed", "confirmed"]),
        mode_s=np.array(ADDRESSES, dtype=np.int32),
        squawk=np.array([1000, 2000], dtype=np.int16),
        callsign=np.array(["DLH4AB", "SWR12"]),
        quality=np.ones(2),
    )


async def _sbs_source(port: int) -> asyncio.Server:
    """A BaseStation feeder: the two aircraft every half second to each client."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                writer.write(encode_sbs(_aircraft(time.time())).encode())
                await writer.drain()
                await asyncio.sleep(0.5)
        except (ConnectionError, asyncio.CancelledError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)


def _shows_both(sbs: bytes) -> bool:
    """Whether the complete SBS lines received so far show both aircraft."""
    lines = sbs[: sbs.rfind(b"\n") + 1].decode()
    return set(ADDRESSES) <= set(decode_sbs(lines, "display").plots.mode_s.tolist())


def test_node_tracks_a_live_sbs_feed_and_serves_its_picture_as_cat062_and_sbs(
    nats_server: ServerInfo, tmp_path: Path
) -> None:
    zones = BORDER.parent / "border3_zones.geojson"
    (tmp_path / "scenario.toml").write_text(
        BORDER.read_text().replace('zones = "border3_zones.geojson"', f'zones = "{zones}"')
    )
    source_port, cat062_port, sbs_port = _free_port(), _free_port(), _free_port()
    (tmp_path / "north.toml").write_text(
        'partner = "north"\nscenario = "scenario.toml"\nout = "out"\ntick_s = 0.5\nduration_s = 8\n'
        f'inputs = ["tcp://127.0.0.1:{source_port}?format=sbs&sensor=N-RX&ref=47.5,9.5"]\n'
        f'outputs = ["udp://127.0.0.1:{cat062_port}?format=asterix&sac=25&sic=1", '
        f'"tcp://127.0.0.1:{sbs_port}?format=sbs"]\n'
    )
    config = LiveNodeConfig.load(tmp_path / "north.toml")

    async def scenario() -> tuple[dict[str, object], list[bytes], bytes]:
        source = await _sbs_source(source_port)
        receiver = await udp_datagrams("127.0.0.1", cat062_port)
        datagrams: list[bytes] = []
        serving = asyncio.Event()

        async def collect() -> None:
            async for datagram in receiver.datagrams():
                datagrams.append(datagram.data)

        async def display() -> bytes:
            await serving.wait()  # a display connects once the node's outputs listen, and watches while it runs
            reader, writer = await asyncio.open_connection("127.0.0.1", sbs_port)
            data = b""
            while not _shows_both(data) and (chunk := await reader.read(1 << 16)):
                data += chunk
            writer.close()
            return data

        collector = asyncio.create_task(collect())
        client = asyncio.create_task(display())
        hooks = LiveHooks(on_start=lambda node: serving.set())
        summary = await run_live_node(config, nats_server.creds("north"), hooks=hooks)
        sbs = await client
        collector.cancel()
        receiver.close()
        source.close()
        return summary, datagrams, sbs

    summary, datagrams, sbs = asyncio.run(scenario())
    (feed,) = summary["inputs"]  # type: ignore[misc]
    assert feed["connects"] >= 1 and feed["plots"] > 20 and feed["errors"] == 0
    assert feed["state"] == "running" and feed["failures"] == 0 and feed["reason"] is None
    local = read_tracks(tmp_path / "out" / "local_tracks.csv")
    assert set(ADDRESSES) <= set(local.mode_s.tolist())
    sent = [decode_asterix(d, "cat062").tracks for d in datagrams]
    assert set(ADDRESSES) <= set(Tracks.concat(sent).mode_s.tolist())
    shown = decode_sbs(sbs.decode(), "display").plots
    assert set(ADDRESSES) <= set(shown.mode_s.tolist())


def test_node_serves_its_live_picture_to_the_operator_display(nats_server: ServerInfo, tmp_path: Path) -> None:
    import httpx

    from commonsky.web.live import display_hooks
    from commonsky.web.security import Deployment

    zones = BORDER.parent / "border3_zones.geojson"
    (tmp_path / "scenario.toml").write_text(
        BORDER.read_text().replace('zones = "border3_zones.geojson"', f'zones = "{zones}"')
    )
    source_port, display_port = _free_port(), _free_port()
    (tmp_path / "north.toml").write_text(
        'partner = "north"\nscenario = "scenario.toml"\nout = "out"\ntick_s = 0.5\nduration_s = 7\n'
        f'inputs = ["tcp://127.0.0.1:{source_port}?format=sbs&sensor=N-RX&ref=47.5,9.5"]\n'
    )
    config = LiveNodeConfig.load(tmp_path / "north.toml")

    async def scenario() -> tuple[dict[str, object], dict[str, object]]:
        source = await _sbs_source(source_port)
        hooks = display_hooks(None, Deployment(port=display_port))
        tracked = asyncio.Event()
        display_tick = hooks.on_tick
        assert display_tick is not None

        def on_tick(node: Node, result: TickOutput) -> None:
            display_tick(node, result)
            if set(ADDRESSES) <= set(result.fused.as_tracks().mode_s.tolist()):
                tracked.set()

        hooks.on_tick = on_tick

        async def operator() -> tuple[dict[str, object], dict[str, object]]:
            await tracked.wait()  # the operator looks once the node's picture has both aircraft
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{display_port}") as client:
                tracks = (await client.get("/api/tracks")).json()
                sensors = (await client.get("/api/sensors")).json()
            return tracks, sensors

        looking = asyncio.create_task(operator())
        await run_live_node(config, nats_server.creds("north"), hooks=hooks)
        source.close()
        assert tracked.is_set(), "the node never tracked both aircraft"
        return await looking

    tracks, sensors = asyncio.run(scenario())
    shown = {int(t["mode_s"], 16) for t in tracks["tracks"] if t["mode_s"]}  # type: ignore[index]
    assert set(ADDRESSES) <= shown
    receiver = {s["id"]: s for s in sensors["sensors"]}["N-RX"]  # type: ignore[index]
    assert receiver["input_state"] == "running" and receiver["input_reason"] is None


def test_node_replays_an_old_recording_as_if_live(nats_server: ServerInfo, tmp_path: Path) -> None:
    zones = BORDER.parent / "border3_zones.geojson"
    (tmp_path / "scenario.toml").write_text(
        BORDER.read_text().replace('zones = "border3_zones.geojson"', f'zones = "{zones}"')
    )
    recorded_s = 1_600_000_000.0  # September 2020
    lines = [encode_sbs(_aircraft(recorded_s + 0.5 * k)) for k in range(40)]
    (tmp_path / "old.sbs").write_text("".join(lines))
    (tmp_path / "north.toml").write_text(
        'partner = "north"\nscenario = "scenario.toml"\nout = "out"\ntick_s = 0.5\nduration_s = 6\n'
        f'inputs = ["file://{tmp_path / "old.sbs"}?format=sbs&sensor=N-RX&ref=47.5,9.5"]\n'
    )
    config = LiveNodeConfig.load(tmp_path / "north.toml")
    started = time.time()
    asyncio.run(run_live_node(config, nats_server.creds("north")))
    local = read_tracks(tmp_path / "out" / "local_tracks.csv")
    assert set(ADDRESSES) <= set(local.mode_s.tolist())
    assert local.time_s.min() >= started - 1.0  # on the node's clock, not 2020's

    (tmp_path / "fast.toml").write_text(
        (tmp_path / "north.toml").read_text().replace("format=sbs&", "format=sbs&speed=10&")
    )
    with pytest.raises(ConfigError, match="speed"):
        asyncio.run(run_live_node(LiveNodeConfig.load(tmp_path / "fast.toml"), nats_server.creds("north")))


def test_stand_alone_node_tracks_a_receiver_without_nats(tmp_path: Path) -> None:
    """examples/receiver: one partner, no peers, no --creds: the receiver owner's own picture."""
    receiver = BORDER.parent / "receiver"
    source_port, sbs_port = _free_port(), _free_port()
    node_toml = (receiver / "node.toml").read_text()
    node_toml = node_toml.replace('scenario = "coalition.toml"', f'scenario = "{receiver / "coalition.toml"}"')
    node_toml = node_toml.replace("tcp://127.0.0.1:30005?format=beast", f"tcp://127.0.0.1:{source_port}?format=sbs")
    node_toml = node_toml.replace("tcp://127.0.0.1:30103", f"tcp://127.0.0.1:{sbs_port}")
    (tmp_path / "node.toml").write_text(node_toml + "duration_s = 6\n")
    config = LiveNodeConfig.load(tmp_path / "node.toml", out=tmp_path / "out")

    async def scenario() -> dict[str, object]:
        source = await _sbs_source(source_port)
        summary = await run_live_node(config, None)
        source.close()
        return summary

    summary = asyncio.run(scenario())
    assert summary["partners"] == {} and summary["ticks"] == 12  # 6 s at tick_s 0.5
    local = read_tracks(tmp_path / "out" / "local_tracks.csv")
    assert set(ADDRESSES) <= set(local.mode_s.tolist())
    assert (tmp_path / "out" / "status.json").exists()
