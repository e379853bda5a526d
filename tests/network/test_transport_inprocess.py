"""In-process bus: publish order, latency, link outages (hold-and-replay or drop), determinism."""

from __future__ import annotations

import numpy as np
import pytest

from commonsky.core.batches import TrackReports
from commonsky.network.transport.inprocess import InProcessBus, InProcessEndpoint
from commonsky.network.transport.messages import Heartbeat, TrackBatch, encode_heartbeat, encode_tracks

PARTNERS = ("north", "east", "west")


def coalition(bus: InProcessBus) -> dict[str, InProcessEndpoint]:
    return {p: InProcessEndpoint(bus, p, receive_from=[q for q in PARTNERS if q != p]) for p in PARTNERS}


def reports(owner: str, t: float) -> TrackReports:
    return TrackReports.build(2, time_s=[t, t], owner=[owner, owner], track_id=[1, 2])


def run(bus: InProcessBus, until_s: int) -> dict[str, list[tuple[float, str, int]]]:
    """Each partner publishes a batch to each peer every second; (receive time, sender, seq) per receiver."""
    nodes = coalition(bus)
    seen: dict[str, list[tuple[float, str, int]]] = {p: [] for p in PARTNERS}
    for t in range(until_s + 1):
        for p, node in nodes.items():
            for peer in node.peers:
                node.publish_tracks(reports(p, t), batch_time_s=t, at_s=t, receiver=peer)
        for p, node in nodes.items():
            seen[p] += [(float(t), m.sender, m.seq) for m in node.receive(until_s=t)]
    return seen


def test_all_messages_arrive_in_publish_order() -> None:
    bus = InProcessBus()
    seen = run(bus, 5)
    assert [(s, q) for _, s, q in seen["north"]] == [(s, q) for q in range(1, 7) for s in ("east", "west")]
    assert bus.stats.published == 36
    assert bus.stats.delivered == {"north": 12, "east": 12, "west": 12}


def test_latency_delays_delivery() -> None:
    bus = InProcessBus(latency_s=1.5)
    seen = run(bus, 5)
    first = {sender: t for t, sender, q in reversed(seen["east"]) if q == 1}
    assert first == {"north": 2.0, "west": 2.0}  # sent at 0, deliverable at 1.5
    assert bus.pending("east") == 4  # sent at 4 and 5, not yet deliverable at 5


def test_link_outage_holds_then_replays_in_order() -> None:
    bus = InProcessBus(outages=[("north", "east", 10.0, 20.0)])
    seen = run(bus, 30)
    from_north = [(t, q) for t, s, q in seen["east"] if s == "north"]
    assert [q for _, q in from_north] == list(range(1, 32))  # every batch once, in order
    assert all(t == 20.0 for t, q in from_north if 11 <= q <= 21)  # sent 10..20, released at 20
    assert all(t == q - 1 for t, q in from_north if not 11 <= q <= 21)
    assert bus.stats.held == {"east": 10, "north": 10}  # both directions
    assert [q for _, s, q in seen["west"] if s == "north"] == list(range(1, 32))  # west unaffected
    assert all(t == q - 1 for t, s, q in seen["west"])


def test_link_outage_drop_mode_loses_messages() -> None:
    bus = InProcessBus(outages=[("east", "north", 10.0, 20.0)], on_outage="drop")
    seen = run(bus, 30)
    from_north = [q for _, s, q in seen["east"] if s == "north"]
    assert from_north == [*range(1, 11), *range(21, 32)]
    assert bus.stats.dropped == {"east": 10, "north": 10}


def test_chained_outages_hold_until_the_last_ends() -> None:
    bus = InProcessBus(outages=[("north", "east", 5.0, 8.0), ("east", "north", 7.0, 12.0)])
    seen = run(bus, 15)
    released = {q: t for t, s, q in seen["east"] if s == "north"}
    assert released[6] == 12.0 and released[8] == 12.0 and released[13] == 12.0 and released[14] == 13.0


def test_bus_is_deterministic() -> None:
    def once() -> dict[str, list[tuple[float, str, int]]]:
        return run(InProcessBus(latency_s=0.25, outages=[("north", "west", 3.0, 9.5)]), 20)

    assert once() == once()


def test_endpoint_drops_duplicates_and_rejects_bad_payloads() -> None:
    bus = InProcessBus()
    east = InProcessEndpoint(bus, "east", receive_from=["north"])
    payload = encode_heartbeat("north", 1, 0.0, "up", 3, None)
    bus.publish("commonsky.north.heartbeat", payload, at_s=0.0)
    bus.publish("commonsky.north.heartbeat", payload, at_s=0.0)  # redelivery
    bus.publish("commonsky.north.tracks", b"\x00garbage", at_s=0.0)
    bus.publish("commonsky.north.tracks", encode_heartbeat("west", 1, 0.0, "up", 0, None), at_s=0.0)
    got = east.receive(until_s=1.0)
    assert [type(m) for m in got] == [Heartbeat]
    assert len(east.rejected) == 2  # garbage, and west's message on north's subject
    assert east.monitor.status("north", 1.0) == "up"


def test_addressed_batches_reach_their_receiver_only() -> None:
    bus = InProcessBus()
    nodes = coalition(bus)
    nodes["north"].publish_tracks(reports("north", 1.0), batch_time_s=1.0, at_s=1.0, receiver="west")
    nodes["north"].publish_heartbeat("up", 2, 1.0, at_s=1.0)
    assert [m.KIND for m in nodes["west"].receive(until_s=1.0)] == ["tracks", "heartbeat"]
    assert [m.KIND for m in nodes["east"].receive(until_s=1.0)] == ["heartbeat"]


def test_endpoint_refuses_what_was_addressed_to_another() -> None:
    bus = InProcessBus()
    east = InProcessEndpoint(bus, "east")
    bus.subscribe("east", "commonsky.north.>")  # subscribed too widely
    bus.publish("commonsky.north.tracks.west", encode_tracks(reports("north", 1.0), "north", 1, 1.0), at_s=1.0)
    assert east.receive(until_s=1.0) == []
    assert len(east.rejected) == 1


def test_endpoint_round_trips_reports_and_policy() -> None:
    bus = InProcessBus()
    nodes = coalition(bus)
    r = reports("north", 3.0)
    nodes["north"].publish_tracks(r, batch_time_s=3.0, at_s=3.0)
    nodes["north"].publish_policy('{"share": "all"}', "d1", at_s=3.0)
    got = nodes["west"].receive(until_s=3.0)
    assert isinstance(got[0], TrackBatch)
    np.testing.assert_array_equal(got[0].reports().track_id, r.track_id)
    assert got[1].KIND == "policy"
    assert nodes["north"].receive(until_s=3.0) == []  # a partner does not hear itself


def test_bus_rejects_bad_input() -> None:
    bus = InProcessBus()
    bus.publish("commonsky.north.tracks", b"", at_s=5.0)
    with pytest.raises(ValueError, match="time runs forward"):
        bus.publish("commonsky.north.tracks", b"", at_s=4.0)
    with pytest.raises(ValueError):
        bus.publish("elsewhere.north.tracks", b"", at_s=6.0)
    with pytest.raises(ValueError):
        InProcessBus(on_outage="lose")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        InProcessBus(outages=[("north", "east", 5.0, 1.0)])
