"""A node's own track sources: a marine radar's tracked targets (NMEA TTM over UDP) reach the live input as track
reports, the node fuses them as a source of their own (never exported), and a replay fuses them again."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import pynmea2

from commonsky.core.batches import TrackReports
from commonsky.core.geodesy import LocalFrame
from commonsky.feeds.inputs import FeedInput, InputSpec
from commonsky.feeds.sockets import UdpSender
from commonsky.network.node import Node, NodeConfig, replay
from tests.feeds.conftest import WAIT_S

RADAR = (47.7569, 18.1024)
"""Where the marine radar stands (the `ref` of its input): Komárno's bank."""


def ttm(target: int, distance_nm: float, bearing_deg: float, when: dt.datetime) -> bytes:
    """One TTM sentence: a tracked target at a true bearing, 4 kn on 90°, tracking."""
    body = f"RATTM,{target:02d},{distance_nm:.3f},{bearing_deg:.1f},T,4.0,90.0,T,,,N,,T,,{when:%H%M%S}.00,A"
    return f"${body}*{pynmea2.NMEASentence.checksum(body):02X}\r\n".encode()


def radar_reports(port: int) -> TrackReports:
    """Two targets sent over UDP to a live input of format nmea-targets, as the input hands them to a node."""
    now = dt.datetime.now(dt.UTC)
    spec = InputSpec.parse(f"udp://127.0.0.1:{port}?format=nmea-targets&sensor=MR1&ref={RADAR[0]},{RADAR[1]}")
    feed = FeedInput(spec)

    async def run() -> TrackReports:
        got: list[TrackReports] = []

        async def consume() -> None:
            async for batch in feed.batches():
                if isinstance(batch, TrackReports):
                    got.append(batch)
                    if sum(len(b) for b in got) >= 2:
                        return

        task = asyncio.create_task(asyncio.wait_for(consume(), WAIT_S))
        await asyncio.wait_for(feed.ready.wait(), WAIT_S)
        sender = UdpSender("127.0.0.1", port)
        sender.send(ttm(3, 0.8, 120.0, now) + ttm(4, 1.5, 100.0, now))
        sender.close()
        await task
        return TrackReports.concat(got)

    return asyncio.run(run())


def test_marine_radar_targets_over_udp_become_a_track_source(free_port: Callable[[], int]) -> None:
    reports = radar_reports(free_port())
    assert sorted(reports.track_id.tolist()) == [3, 4]
    assert (reports.owner == "MR1").all() and (reports.domain == "surface").all()
    assert abs(time.time() - float(reports.time_s.max())) < 60.0


def test_a_node_fuses_its_track_source_and_replays_it(free_port: Callable[[], int], tmp_path: Path) -> None:
    reports = radar_reports(free_port())
    now = float(reports.time_s.max()) + 0.5
    config = NodeConfig(partner="sk", sensors=(), peers=(), frame=LocalFrame(*RADAR, 0.0))
    node = Node(config, recording=tmp_path / "rec")
    node.receive_tracks(reports, now)
    fused = node.tick(now).fused
    node.close()
    assert sorted(fused.sources.tolist()) == ["MR1:3", "MR1:4"] and (fused.domain == "surface").all()
    assert node.counters.source_rows == 2
    replayed = replay(tmp_path / "rec")[-1].fused
    assert replayed.sources.tolist() == fused.sources.tolist()
    assert replayed.lat_deg.tolist() == fused.lat_deg.tolist()
