"""Live inputs over real sockets on 127.0.0.1 and file replay: what streams in decodes as the file read whole."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyais
import pytest

from commonsky.core.batches import Plots, Tracks
from commonsky.core.errors import ConfigError
from commonsky.feeds.inputs import (
    AisStream,
    AsterixStream,
    BeastStream,
    FeedInput,
    InputSpec,
    ModeSTextStream,
    SbsStream,
    StreamDecoder,
)
from commonsky.feeds.outputs import asterix_datagrams
from commonsky.feeds.sockets import Backoff, UdpSender
from commonsky.formats import (
    DecodeReport,
    ModeSDecoder,
    decode_ais,
    decode_beast,
    decode_modes_text,
    decode_recording,
    decode_sbs,
    encode_cat048,
    encode_sbs,
    read_beast,
)
from tests.feeds.conftest import WAIT_S, TcpPeer, assert_same_rows, until

DATA = Path(__file__).parents[1] / "data"
BEAST = DATA / "modes" / "traffic_sample_dump1090.bin"
REF = (43.6, 1.4)
T0 = 1_700_000_000.0
FT_M = 0.3048


def _source(payload: bytes, pieces: int = 4) -> TcpPeer:
    """A TCP peer that serves one payload, in `pieces` 10 ms apart, to each client."""
    step = -(-len(payload) // pieces)
    return TcpPeer([payload[i : i + step] for i in range(0, len(payload), step)], pause_s=0.01)


async def _collect(feed: FeedInput, rows: int, timeout_s: float = WAIT_S) -> Plots:
    """Batches from `feed` until `rows` plots arrived."""
    got: list[Plots] = []

    async def consume() -> None:
        async for batch in feed.batches():
            got.append(batch)
            if sum(len(b) for b in got) >= rows:
                return

    await asyncio.wait_for(consume(), timeout_s)
    return Plots.concat(got)


async def _two_connections(
    port: int, first: bytes, second: bytes, feed: FeedInput, between: Callable[[], None]
) -> Plots:
    """Serve `first`, vanish mid-stream, come back with `second`; the plots `feed` decoded from both."""
    queue: asyncio.Queue[Plots] = asyncio.Queue()
    task = asyncio.create_task(feed.run(queue))
    source = _source(first)
    await source.start(port)
    await until(lambda: feed.counters.bytes_in == len(first))
    failed = feed.counters.failed_attempts
    await source.vanish()
    between()
    await until(lambda: feed.counters.failed_attempts > failed)  # nobody listens: the input retries
    source = _source(second)
    await source.start(port)
    try:
        await until(lambda: feed.counters.bytes_in == len(first) + len(second))
    finally:
        task.cancel()
        await source.vanish()
    return Plots.concat([queue.get_nowait() for _ in range(queue.qsize())])


def test_beast_source_that_vanishes_mid_frame_loses_only_the_frames_it_cut(free_port: Callable[[], int]) -> None:
    data = BEAST.read_bytes()
    frames = read_beast(data, start_time_s=T0)
    cut = int(frames.offset[80]) + 9  # inside frame 80
    resume = int(frames.offset[81]) + 5  # inside frame 81: the input must resynchronise
    kept = np.r_[0:80, 82 : len(frames)]
    want = ModeSDecoder("rx", reference=REF).decode_raw(frames.take(kept).mode_s()).plots
    assert len(want) == 4  # three plots before the cut, one after (CPR and callsign state carry across)

    port = free_port()
    now = [T0]  # the arrival clock: the second connection's first frame arrives at its recorded time
    feed = FeedInput(
        InputSpec.parse(f"tcp://127.0.0.1:{port}?format=beast&sensor=rx&ref=43.6,1.4"),
        clock=lambda: now[0],
        backoff=Backoff(0.05, 0.1),
    )

    def reconnect_at_frame_82() -> None:
        now[0] = float(frames.time_s[82])

    got = asyncio.run(_two_connections(port, data[:cut], data[resume:], feed, reconnect_at_frame_82))
    assert_same_rows(got, want)
    status = feed.status()
    assert status["connects"] == 2
    assert status["failed_attempts"] >= 1
    assert status["messages"] == len(frames) - 2
    # Offsets count the bytes received: the partial frame 80 where it started, and the tail of frame 81
    # (received from byte `cut` on) skipped on resynchronisation, at its last byte.
    skipped = int(frames.offset[82]) - resume
    assert [e.offset for e in feed.report.first_errors] == [int(frames.offset[80]), cut + skipped - 1]
    assert status["errors"] == 2


def _beast_bytes(frames: Any, ticks: np.ndarray) -> bytes:
    """Beast frames again, with other MLAT counter values (0x1a escaped in counter, signal and payload)."""
    out = bytearray()
    for kind, payload, tick in zip(frames.kind.tolist(), frames.frame.tolist(), ticks.tolist(), strict=True):
        body = int(tick).to_bytes(6, "big") + b"\x80" + bytes.fromhex(payload)
        out += b"\x1a" + kind.encode() + body.replace(b"\x1a", b"\x1a\x1a")
    return bytes(out)


def test_live_beast_counter_that_runs_back_or_too_fast_is_anchored_again() -> None:
    frames = read_beast(BEAST.read_bytes(), start_time_s=0.0)
    span = float(frames.time_s[-1])  # about 12 s of traffic
    looped = BeastStream("rx", REF)
    first = looped.feed(BEAST.read_bytes(), T0)  # the first frame takes the arrival time, the rest the counter
    assert looped.reanchors == 0 and first.time_s.min() >= T0 and first.time_s.max() <= T0 + span
    again = looped.feed(BEAST.read_bytes(), T0 + 2 * span)  # a feeder looping its recording: the counter runs back
    assert looped.reanchors == 1 and (again.time_s == T0 + 2 * span).all()
    fast = BeastStream("rx", REF)  # a counter at 100 times the 12 MHz rate (e.g. a GPS-stamping receiver)
    plots = fast.feed(_beast_bytes(frames, frames.mlat_ticks * 100), T0 + 1.0)
    assert fast.reanchors == 1 and (np.abs(plots.time_s - (T0 + 1.0)) < 1.0).all()
    steady = BeastStream("rx", REF)
    steady.feed(BEAST.read_bytes(), T0 + span)
    assert steady.reanchors == 0


def _sbs_text() -> str:
    """SBS lines of 5 aircraft over 20 s; callsigns and squawks appear once, at the start."""
    n_aircraft, n_times = 5, 20
    i = np.repeat(np.arange(n_aircraft), n_times)
    k = np.tile(np.arange(n_times), n_aircraft)
    tracks = Tracks.build(
        len(i),
        time_s=T0 + k + 0.1 * i,
        track_id=i + 1,
        lat_deg=50.0 + 0.01 * i + 0.001 * k,
        lon_deg=4.0 + 0.01 * k,
        alt_m=(300 + 10 * i) * 100 * FT_M,
        v_east_mps=np.full(len(i), 200.0),
        v_north_mps=np.full(len(i), 10.0),
        v_up_mps=np.zeros(len(i)),
        mode_s=np.where(i == 4, -1, 0x400000 + i),
        squawk=1000 + i,
        callsign=[f"ABC{n}" for n in i],
    )
    return encode_sbs(tracks.sorted_by_time())


def test_sbs_source_that_vanishes_mid_line_keeps_identities_across_connections(free_port: Callable[[], int]) -> None:
    lines = _sbs_text().splitlines(keepends=True)
    lines.insert(150, "MSG,3,broken line\r\n")
    cut_line, resume_line = 100, 102
    first = "".join(lines[:cut_line]) + lines[cut_line][:20]
    second = "".join(lines[resume_line:])
    want_report_lines = lines[:cut_line] + lines[resume_line:]
    want = decode_sbs("".join(want_report_lines), "rx")
    # after the drop no MSG,1/MSG,6 line comes again: callsigns and squawks must carry over
    assert (want.plots.callsign != "").all() and (want.plots.squawk >= 0).all()

    port = free_port()
    feed = FeedInput(InputSpec.parse(f"tcp://127.0.0.1:{port}?format=sbs&sensor=rx"), backoff=Backoff(0.05, 0.1))
    got = asyncio.run(_two_connections(port, first.encode(), second.encode(), feed, lambda: None))
    assert_same_rows(got, want.plots)
    # the broken line is counted at its line number in the stream
    assert [e.offset for e in feed.report.first_errors] == [150 - (resume_line - cut_line) + 1]


def test_asterix_over_udp_decodes_what_was_encoded(free_port: Callable[[], int]) -> None:
    n = 300
    now = time.time()
    plots = Plots.build(
        n,
        time_s=now - 5.0 + np.arange(n) * 0.01,
        sensor_id=np.full(n, "25-201"),
        range_m=np.linspace(1_000.0, 300_000.0, n),
        azimuth_deg=np.linspace(0.0, 359.0, n),
        altitude_m=np.linspace(0.0, 12_000.0, n),
        mode_s=np.where(np.arange(n) % 3 == 0, -1, 0x3C0000 + np.arange(n)),
        squawk=np.where(np.arange(n) % 4 == 0, -1, 1234),
        callsign=np.where(np.arange(n) % 5 == 0, "", "DLH1A"),
    )
    datagrams = asterix_datagrams(encode_cat048(plots, 25, 201, max_block_bytes=400), 800)
    assert len(datagrams) > 3
    port = free_port()

    async def scenario() -> tuple[Plots, FeedInput]:
        feed = FeedInput(InputSpec.parse(f"udp://127.0.0.1:{port}?format=asterix"))
        task = asyncio.create_task(_collect(feed, n))
        await asyncio.wait_for(feed.ready.wait(), WAIT_S)
        sender = UdpSender("127.0.0.1", port)
        sender.send(datagrams[0])
        sender.send(b"\x30\x00\x09garbage")  # a damaged datagram between good ones
        for datagram in datagrams[1:]:
            sender.send(datagram)
        sender.close()
        return await task, feed

    got, feed = asyncio.run(scenario())
    assert feed.report.errors >= 1
    assert feed.status()["messages"] == n
    np.testing.assert_allclose(got.time_s, plots.time_s, atol=1 / 128)
    np.testing.assert_allclose(got.range_m, plots.range_m, atol=1852 / 256)
    np.testing.assert_allclose(got.azimuth_deg, plots.azimuth_deg, atol=360 / 65536)
    np.testing.assert_allclose(got.altitude_m, plots.altitude_m, atol=25 * FT_M)
    for name in ("sensor_id", "mode_s", "squawk", "callsign"):
        np.testing.assert_array_equal(getattr(got, name), getattr(plots, name), err_msg=name)


DAY = "2024-03-01"
DAY_S = dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp()


def test_asterix_times_of_day_run_on_past_midnight() -> None:
    def datagram(time_s: float) -> bytes:
        return encode_cat048(Plots.build(1, time_s=[time_s], range_m=[1e4], azimuth_deg=[10.0]), 1, 2)

    midnight = DAY_S + 86_400.0
    with_day = AsterixStream("udp", day_start_s=DAY_S)
    live = AsterixStream("udp")
    for t in (midnight - 1.0, midnight + 0.5, midnight + 3600.0):
        # a day given: times continue from it; live: the instant nearest the arrival (a little late here)
        assert with_day.feed(datagram(t), math.nan).time_s.tolist() == [t]
        assert live.feed(datagram(t), t + 2.0).time_s.tolist() == [t]


def test_cat001_datagram_times_are_completed_from_the_arrival() -> None:
    """I001/141 keeps the time of day modulo 512 s; a live datagram's arrival gives the rest."""
    datagram = (DATA / "asterix" / "cat001ed1.1.bin").read_bytes()  # I141 = 221.4296875 s
    arrival = DAY_S + 33_501.5  # 65 × 512 + 221.5 s into the day
    plots = AsterixStream("udp").feed(datagram, arrival)
    assert plots.time_s.tolist() == [DAY_S + 65 * 512 + 221.4296875]


def _whole(path: Path, fmt: str, sensor: str) -> Callable[[float], Plots]:
    """The reference decode of a whole file, given the replay's arrival time."""
    text = path.read_text(errors="replace") if fmt in ("sbs", "modes", "ais") else ""
    return {
        "pcap": lambda _: decode_recording(path).plots,
        "asterix": lambda _: decode_recording(path, str(path), DAY_S).plots,
        "beast": lambda t: decode_beast(path.read_bytes(), sensor, start_time_s=t, reference=REF).plots,
        "modes": lambda t: decode_modes_text(text, sensor, reference=REF, time_s=t).plots,
        "ais": lambda t: decode_ais(text, sensor, time_s=t).to_plots(),
    }[fmt]


@pytest.mark.parametrize(
    ("name", "fmt", "min_rows"),
    [
        ("asterix/cat_034_048.pcap", "pcap", 100),
        ("asterix/cat048ed1.23.bin", "asterix", 1),
        ("asterix/cat21_re.ast", "asterix", 1),
        ("asterix/NATS_CAT048_119bytes_TCAS.ff", "asterix", 1),
        ("modes/traffic_sample_dump1090.bin", "beast", 4),
        ("modes/dump1090_modes1_iq.antirez-dump1090-efe64db.raw.txt", "modes", 10),
        ("modes/pymodes_sample_data_adsb_first1000.csv", "modes", 100),
        ("ais/gpsd_ais-nmea.log", "ais", 100),
        ("ais/libais_test.aivdm", "ais", 10),
        ("ais/pyais_nmea_data_sample.txt", "ais", 100),
    ],
)
def test_file_replayed_at_infinite_speed_equals_the_whole_file_decode(name: str, fmt: str, min_rows: int) -> None:
    path = DATA / name
    url = f"file://{path}?format=auto&sensor=rx&ref=43.6,1.4&speed=inf&day={DAY}"
    if fmt == "pcap":
        url = url.replace(f"&day={DAY}", "")  # times from the capture
    feed = FeedInput(InputSpec.parse(url), clock=lambda: T0)

    async def replay() -> list[Plots]:
        return [batch async for batch in feed.batches()]

    batches = asyncio.run(replay())
    want = _whole(path, fmt, "rx")(T0)
    assert len(want) >= min_rows
    assert_same_rows(Plots.concat(batches), want)
    assert all(len(b) for b in batches)
    assert feed.status()["plots"] == len(want)


def test_file_replay_keeps_the_recorded_pace_scaled_by_speed(tmp_path: Path) -> None:
    path = tmp_path / "feed.sbs"
    path.write_text(_sbs_text())  # 20 s of traffic
    feed = FeedInput(InputSpec.parse(f"file://{path}?speed=40"))

    async def replay() -> tuple[list[Plots], float]:
        stream = feed.batches()
        batches = [await anext(stream)]  # the file is decoded first; the pace starts with the first batch
        start = time.monotonic()
        batches += [batch async for batch in stream]
        return batches, time.monotonic() - start

    batches, elapsed = asyncio.run(replay())
    recorded_s = np.nanmax(batches[-1].time_s) - np.nanmax(batches[0].time_s)  # about 19 s
    assert len(batches) > 20 and recorded_s > 18.0
    # Never ahead of the pace; behind it by at most the last wait's lateness (the pace does not drift).
    assert recorded_s / 40 <= elapsed < recorded_s / 40 + 1.0


def test_file_replayed_as_live_moves_every_time_by_one_offset_to_the_clock(tmp_path: Path) -> None:
    path = tmp_path / "feed.sbs"
    path.write_text(_sbs_text())  # 20 s of traffic from T0
    now = T0 + 3 * 365 * 86400.0
    recorded = FeedInput(InputSpec.parse(f"file://{path}?speed=inf"), clock=lambda: now)
    live = FeedInput(InputSpec.parse(f"file://{path}?speed=inf"), clock=lambda: now, as_live=True)

    async def replay(feed: FeedInput) -> list[Plots]:
        return [batch async for batch in feed.batches()]

    before, after = asyncio.run(replay(recorded)), asyncio.run(replay(live))
    assert np.nanmax(after[0].time_s) == pytest.approx(now)
    shift = Plots.concat(after).time_s - Plots.concat(before).time_s
    assert np.allclose(shift, shift[0]) and shift[0] == pytest.approx(now - np.nanmax(before[0].time_s))


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _stream(decoder: StreamDecoder, data: bytes, size: int) -> Plots:
    parts = [decoder.feed(chunk, T0) for chunk in _chunks(data, size)]
    return Plots.concat([*parts, decoder.finish()])


@pytest.mark.parametrize("size", [29, 700])
def test_stream_decoders_cut_anywhere_give_the_whole_file_result(size: int) -> None:
    beast = BEAST.read_bytes()
    assert_same_rows(_stream(BeastStream("rx", REF, live=False), beast, size), _whole(BEAST, "beast", "rx")(T0))

    modes = DATA / "modes" / "pymodes_sample_data_adsb_first1000.csv"
    text_stream = ModeSTextStream("rx", REF)
    assert_same_rows(_stream(text_stream, modes.read_bytes(), size), _whole(modes, "modes", "rx")(T0))

    sbs = _sbs_text().encode()
    sbs_stream = SbsStream("rx")
    assert_same_rows(_stream(sbs_stream, sbs, size), decode_sbs(sbs.decode(), "rx").plots)

    for name in ("gpsd_ais-nmea.log", "libais_test.aivdm", "pyais_nmea_data_sample.txt"):
        path = DATA / "ais" / name
        ais_stream = AisStream("rx")
        got = _stream(ais_stream, path.read_bytes(), size)
        report = DecodeReport("rx")
        whole = decode_ais(path.read_text(errors="replace"), "rx", time_s=T0, report=report)
        # A streamed row carries the static data known when it arrives; a whole-file decode, the last.
        assert_same_rows(got, whole.to_plots(), skip=("callsign",))
        assert (ais_stream.report.messages, ais_stream.report.errors) == (report.messages, report.errors)


def test_ais_static_data_and_a_message_split_across_chunks_reach_later_positions() -> None:
    static = pyais.encode_dict(
        {"msg_type": 5, "mmsi": 244123456, "callsign": "PD1234", "shipname": "TEST", "ship_type": 70},
        talker_id="AI",
        seq_id=3,
    )
    position = pyais.encode_dict({"msg_type": 1, "mmsi": 244123456, "lat": 52.1, "lon": 4.3}, talker_id="AI")
    text = f"{static[0]}\n{static[1]}\n{position[0]}\n".encode()
    stream = AisStream("rx")
    cut = len(static[0]) + 10  # inside the second part of the static message
    parts = [
        stream.feed(text[:cut], T0),
        stream.feed(text[cut:], T0 + 1),
        stream.feed(text[-len(position[0]) - 1 :], T0 + 2),
    ]
    got = Plots.concat(parts)
    assert got.callsign.tolist() == ["PD1234", "PD1234"]
    np.testing.assert_allclose(got.lat_deg, 52.1, atol=1e-5)
    assert (stream.report.messages, stream.report.errors) == (3, 0)


def test_malformed_input_is_counted_at_its_stream_offset_and_decoding_goes_on() -> None:
    good = _sbs_text().splitlines(keepends=True)[:40]
    stream = SbsStream("rx")
    first = stream.feed("".join(good[:10]).encode() + b"MSG,3,\xff\xfe\r\nnot sbs at all\n", T0)
    rest = stream.feed("".join(good[10:]).encode(), T0)
    assert [e.offset for e in stream.report.first_errors] == [11, 12]
    want = decode_sbs("".join(good), "rx").plots
    assert_same_rows(Plots.concat([first, rest]), want)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://host:1", "scheme"),
        ("tcp://127.0.0.1:30005", "format"),
        ("tcp://127.0.0.1:30005?format=asterix", "format"),
        ("udp://127.0.0.1:8600?format=sbs", "format"),
        ("tcp://127.0.0.1?format=beast", "address"),
        ("tcp://127.0.0.1:70000?format=beast", "port"),
        ("tcp://127.0.0.1:30005?format=beast&speed=10", "speed"),
        ("udp://0.0.0.0:8600?group=239.1.2", "group"),
        ("udp://0.0.0.0:8600?interface=eth0", "interface"),
        ("tcp://h:1?format=sbs&ref=95,0", "ref"),
        ("tcp://h:1?format=sbs&ref=north", "ref"),
        ("file://x.bin?day=2024-13-01", "day"),
        ("file://x.bin?speed=0", "speed"),
        ("file://x.bin?speed=fast", "speed"),
        ("file://x.bin?format=pcap&format=sbs", "format"),
        ("file://x.bin?sensor=" + "s" * 25, "sensor"),
        ("file://?format=sbs", "path"),
        ("udp://0.0.0.0:8600?format", "query"),
    ],
)
def test_bad_input_urls_name_the_parameter_at_fault(url: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        InputSpec.parse(url)
    assert info.value.key == key


def test_input_urls_parse() -> None:
    udp = InputSpec.parse("udp://0.0.0.0:8600?format=asterix&group=239.1.2.3&interface=127.0.0.1&day=2024-03-01")
    assert (udp.host, udp.port, udp.group, udp.interface, udp.day_start_s) == (
        "0.0.0.0",
        8600,
        "239.1.2.3",
        "127.0.0.1",
        DAY_S,
    )
    tcp = InputSpec.parse("tcp://receiver.local:30005?format=beast&ref=50.5,4.25")
    assert (tcp.format, tcp.sensor_id, tcp.reference) == ("beast", "receiver.local:30005", (50.5, 4.25))
    rel = InputSpec.parse("file://tests/data/x.bin?speed=inf")
    assert (rel.path, rel.format, rel.sensor_id, rel.speed) == ("tests/data/x.bin", "auto", "x.bin", math.inf)
    assert InputSpec.parse("file:///abs/y.ff?format=final&sensor=lfbo").path == "/abs/y.ff"


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    feed = FeedInput(InputSpec.parse(f"file://{tmp_path}/missing.bin"))

    async def replay() -> None:
        async for _ in feed.batches():
            pass

    with pytest.raises(ConfigError, match=r"missing\.bin"):
        asyncio.run(replay())
