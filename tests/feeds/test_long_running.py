"""Inputs that run for months: a crash is shown and counted and the input restarts with back-off until the cause
goes away; what an input holds is capped, the oldest forgotten and counted; bad input does not flood the log."""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import socket
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commonsky.core.batches import Plots
from commonsky.feeds import inputs
from commonsky.feeds.inputs import MAX_IDENTITIES, AsterixStream, FeedInput, InputSpec, SbsStream, StreamReport
from commonsky.feeds.sockets import DATAGRAM_OVERHEAD_BYTES, Backoff, DatagramQueue, FeedCounters, UdpSender
from commonsky.feeds.sockets import udp_datagrams as open_udp
from commonsky.formats import DecodeReport, decode_sbs, encode_cat048
from tests.core.reference import lru_reference
from tests.feeds.conftest import WAIT_S, until

POISON = b"poison"
T0 = 1_581_502_020.0


def _datagram() -> bytes:
    """One CAT048 plot."""
    return encode_cat048(Plots.build(1, time_s=[T0], range_m=[1e4], azimuth_deg=[10.0]), 25, 201)


class _Poisoned(AsterixStream):
    """An ASTERIX decoder with a bug: it raises on the datagram `POISON`."""

    def feed(self, data: bytes, arrival_s: float) -> Plots:
        if data == POISON:
            raise RuntimeError("decoder bug on a poison datagram")
        return super().feed(data, arrival_s)


@pytest.mark.parametrize(("reset_s", "waits"), [(math.inf, [1.0, 2.0, 4.0, 4.0]), (0.0, [1.0, 1.0, 1.0, 1.0])])
def test_a_crashing_decoder_is_shown_failed_counted_and_restarted_with_backoff(
    free_port: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    reset_s: float,
    waits: list[float],
) -> None:
    monkeypatch.setattr(inputs, "stream_decoder", lambda spec, fmt=None, **_: _Poisoned(spec.url))
    port = free_port()
    waited: list[float] = []
    while_waiting: list[dict[str, Any]] = []

    async def backoff(delay_s: float) -> None:
        """The restart back-off, recorded instead of waited (with the status shown meanwhile)."""
        waited.append(delay_s)
        while_waiting.append(feed.status())
        await asyncio.sleep(0)

    feed = FeedInput(
        InputSpec.parse(f"udp://127.0.0.1:{port}?format=asterix"),
        restart=Backoff(1.0, 4.0),
        restart_reset_s=reset_s,  # inf: every run crashed at once; 0: every run counts as healthy
        sleep=backoff,
    )

    async def scenario() -> dict[str, Any]:
        intake: asyncio.Queue[Plots] = asyncio.Queue()
        task = asyncio.create_task(feed.run(intake))
        sender = UdpSender("127.0.0.1", port)
        try:
            await asyncio.wait_for(feed.ready.wait(), WAIT_S)
            sender.send(_datagram())
            await asyncio.wait_for(intake.get(), WAIT_S)
            for crash in range(1, 5):
                await asyncio.wait_for(feed.ready.wait(), WAIT_S)  # (re)opened
                sender.send(POISON)
                await until(lambda: feed.failures == crash)  # noqa: B023 (awaited at once)
            await asyncio.wait_for(feed.ready.wait(), WAIT_S)
            sender.send(_datagram())  # the cause went away with the poison: the input works again
            await asyncio.wait_for(intake.get(), WAIT_S)
            return feed.status()
        finally:
            task.cancel()
            sender.close()

    caplog.set_level(logging.ERROR, logger="commonsky.feeds.inputs")
    status = asyncio.run(scenario())
    reason = "RuntimeError: decoder bug on a poison datagram"
    assert waited == waits
    assert [(s["state"], s["reason"], s["failures"]) for s in while_waiting] == [
        ("failed", reason, k) for k in (1, 2, 3, 4)
    ]
    assert status["state"] == "running" and status["reason"] is None
    assert status["failures"] == 4 and status["last_failure"] == reason
    assert status["messages"] == 2  # counted across the restarts
    crashes = [r for r in caplog.records if r.name == "commonsky.feeds.inputs" and r.levelno == logging.ERROR]
    assert len(crashes) == 4 and all(reason in r.getMessage() for r in crashes)
    # The traceback comes with the first crash of a streak only; with no healthy run between, that is one.
    assert [r.exc_info is not None for r in crashes] == ([True] + [False] * 3 if reset_s else [True] * 4)


def test_an_input_that_cannot_bind_is_failed_until_its_port_is_free(free_port: Callable[[], int]) -> None:
    port = free_port()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", port))  # without SO_REUSEADDR: nobody else may bind the port
    feed = FeedInput(InputSpec.parse(f"udp://127.0.0.1:{port}?format=asterix"), restart=Backoff(0.01, 0.05))

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], Plots]:
        intake: asyncio.Queue[Plots] = asyncio.Queue()
        task = asyncio.create_task(feed.run(intake))
        sender = UdpSender("127.0.0.1", port)
        try:
            await until(lambda: feed.failures >= 3)  # restarted with back-off, failing again each time
            failed = feed.status()
            blocker.close()  # the cause goes away
            await asyncio.wait_for(feed.ready.wait(), WAIT_S)
            sender.send(_datagram())
            return failed, feed.status(), await asyncio.wait_for(intake.get(), WAIT_S)
        finally:
            task.cancel()
            sender.close()
            blocker.close()

    failed, running, plots = asyncio.run(scenario())
    assert failed["state"] == "failed" and f"[Errno {errno.EADDRINUSE}]" in failed["reason"]
    assert running["state"] == "running" and running["reason"] is None and running["failures"] == failed["failures"]
    assert len(plots) == 1


def test_a_file_input_restarts_until_its_file_appears_then_ends(tmp_path: Path) -> None:
    path = tmp_path / "later.sbs"
    lines = "".join(_sbs_line("3", i, position=True) for i in range(5))
    feed = FeedInput(InputSpec.parse(f"file://{path}?format=sbs&speed=inf"), restart=Backoff(0.01, 0.05))

    async def scenario() -> tuple[dict[str, Any], int]:
        intake: asyncio.Queue[Plots] = asyncio.Queue()
        task = asyncio.create_task(feed.run(intake))
        await until(lambda: feed.failures >= 2)
        failed = feed.status()
        written = tmp_path / "later.tmp"
        written.write_text(lines)
        written.replace(path)  # whole, as a recording appears
        await asyncio.wait_for(task, WAIT_S)  # read through: the input ends, it is not restarted
        return failed, sum(len(intake.get_nowait()) for _ in range(intake.qsize()))

    failed, plots = asyncio.run(scenario())
    assert failed["state"] == "failed" and "later.sbs" in failed["reason"]
    assert feed.status()["state"] == "ended" and plots == 5 and feed.status()["plots"] == 5


# --- bounded memory ------------------------------------------------------------------------------------


def _sbs_line(kind: str, ident: int, *, position: bool = False) -> str:
    """An SBS MSG line of hex ident `ident`: MSG,1 names it CS<ident>, MSG,6 gives a squawk, MSG,3 a position."""
    f = ["MSG", kind, "1", "1", f"{ident:06X}", "1", "2020/02/12", "10:07:00.000", "2020/02/12", "10:07:00.010"]
    f += [f"CS{ident}" if kind == "1" else "", "35000", "", "", "", "", "", "", "0", "0", "0", "0"]
    if kind == "6":
        f[17] = f"{ident % 8}{ident % 7}00"
    if position:
        f[14:16] = ["43.5", "1.4"]
    return ",".join(f) + "\r\n"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["1", "3", "6"]), st.integers(0, 40)), max_size=150),
    st.integers(1, 12),
    st.integers(1, 20),
)
def test_a_live_stream_holds_at_most_its_cap_of_identities(
    messages: list[tuple[str, int]], cap: int, lines_per_chunk: int
) -> None:
    stream = SbsStream("rx", max_identities=cap)
    lines = [_sbs_line(kind, ident, position=kind == "3") for kind, ident in messages]
    for i in range(0, len(lines), lines_per_chunk):
        stream.feed("".join(lines[i : i + lines_per_chunk]).encode(), T0)
        held = (stream.report.addresses, stream.report.callsigns, stream.callsigns, stream.squawks)
        assert all(len(h) <= cap for h in held)
    assert stream.report.errors == 0
    addresses, evicted = lru_reference([f"{ident:06X}" for _, ident in messages], cap)
    assert list(stream.report.addresses) == addresses and stream.report.addresses.evicted == evicted
    callsigns, _ = lru_reference([f"CS{ident}" for kind, ident in messages if kind == "1"], cap)
    assert list(stream.report.callsigns) == callsigns
    summary = stream.report.summary()
    assert (summary["addresses"], summary["addresses_evicted"]) == (len(addresses), evicted)


def test_a_file_report_is_exact_and_a_stream_report_capped() -> None:
    text = "".join(_sbs_line("1", ident) for ident in range(3))
    whole = DecodeReport("rx")  # what `commonsky decode` summarises: never capped
    decode_sbs(text, "rx", report=whole)
    assert whole.summary()["addresses"] == 3 and whole.summary()["addresses_evicted"] == 0
    live = StreamReport("rx", max_identities=2)
    decode_sbs(text, "rx", report=live)
    assert live.addresses == {"000001", "000002"} and live.summary()["addresses_evicted"] == 1
    assert StreamReport("rx").max_identities == MAX_IDENTITIES and DecodeReport("f").max_identities is None
    whole.merge(live)  # a capped report merged in brings its evictions along
    assert whole.summary()["addresses"] == 3 and whole.summary()["addresses_evicted"] == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 3000), st.none()), max_size=200), st.integers(1000, 20_000))
def test_the_udp_queue_holds_at_most_its_bytes_dropping_the_oldest(events: list[int | None], max_bytes: int) -> None:
    """Each event: a datagram of that many bytes arrives, or (None) the consumer takes one."""

    async def scenario() -> None:
        counters = FeedCounters()
        queue = DatagramQueue(counters, max_bytes)
        model: deque[bytes] = deque()
        taken, want_taken = [], []
        for n, event in enumerate(events):
            if event is None:
                if model:
                    want_taken.append(model.popleft())
                    taken.append((await queue.get()).data)
                continue
            data = n.to_bytes(4, "big") + bytes(event)
            queue.datagram_received(data, ("127.0.0.1", 9))
            model.append(data)
            while sum(len(d) + DATAGRAM_OVERHEAD_BYTES for d in model) > max_bytes:
                model.popleft()  # the oldest go (a datagram too big on its own too)
            assert queue.bytes <= max_bytes
        held = [(await queue.get()).data for _ in range(len(queue))]
        assert taken == want_taken and held == list(model)
        arrived = sum(1 for e in events if e is not None)
        assert counters.chunks == arrived and counters.dropped == arrived - len(taken) - len(held)

    asyncio.run(scenario())


def test_a_udp_input_nobody_reads_keeps_the_newest_datagrams() -> None:
    size, kept = 100, 10

    async def scenario() -> tuple[list[bytes], FeedCounters]:
        feed = await open_udp("127.0.0.1", 0, max_queue_bytes=kept * (size + DATAGRAM_OVERHEAD_BYTES))
        sender = UdpSender("127.0.0.1", feed.port)
        for i in range(50):
            sender.send(i.to_bytes(2, "big") * (size // 2))
        sender.close()
        try:
            await until(lambda: feed.counters.chunks == 50)
            return [(await feed.queue.get()).data for _ in range(len(feed.queue))], feed.counters
        finally:
            feed.close()

    held, counters = asyncio.run(scenario())
    assert [d[:2] for d in held] == [i.to_bytes(2, "big") for i in range(40, 50)]
    assert counters.dropped == 40


# --- logging ----------------------------------------------------------------------------------------------


def test_a_noisy_input_counts_every_bad_message_but_logs_few(caplog: pytest.LogCaptureFixture) -> None:
    stream = AsterixStream("udp://127.0.0.1:9?noisy")
    caplog.set_level(logging.WARNING, logger="commonsky.formats.report")
    for _ in range(20):
        stream.feed(b"\x30\x00\x09garbage", T0)  # each datagram has a report of its own, logged as the input's
    assert stream.report.errors >= 20
    warnings = [r.getMessage() for r in caplog.records if r.name == "commonsky.formats.report"]
    assert len(warnings) == 1 and "datagram 1" in warnings[0]
