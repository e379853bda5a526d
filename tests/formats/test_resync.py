"""Resynchronisation after damage: a 30-minute recording with 200 changed bytes keeps its intact records.

For every container (Final Format, raw ASTERIX blocks, ORADIS-framed blocks, GPS format, pcap, pcapng,
Beast, SBS lines) a recording spanning 30 minutes is read from tests/data or built from its real
traffic (the 34,957 CAT062 blocks of the JADE Final Format sample; Mode S frames of the pyModeS
samples), 200 bytes at seeded random positions spread over it are changed, and the damaged decode is
compared with the clean one: at least 95 % of the records that no changed byte touched come back
identical, the damage is counted as errors where it is (none elsewhere), and it never turns into
rows or block categories that the clean recording does not have beyond the touched records.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import dpkt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from commonsky.core.batches import Columns, Plots
from commonsky.feeds.inputs import SbsStream
from commonsky.formats.asterix import decode_recording
from commonsky.formats.beast import read_beast
from commonsky.formats.containers import ASTERIX, FINAL_FORMAT, GPS, PCAP, PCAPNG, detect_format
from commonsky.formats.files import sniff_format
from commonsky.formats.report import DecodeReport
from commonsky.formats.sbs import decode_sbs, encode_sbs

DATA = Path(__file__).resolve().parents[1] / "data"
FLIPS = 200
TARGET = 0.95
SEED = 12
DAY_S = 19723 * 86400.0
"""2024-01-01, the capture day of the pcap recordings built here."""


@dataclass(frozen=True)
class Built:
    """A recording and its records' byte spans [start, end); the bytes before the first record (a file
    header: a damaged file header is not what resynchronisation is about) are never changed."""

    data: bytes
    spans: NDArray[np.int64]
    category: int = -1
    """Offset of the ASTERIX category byte in each record (-1: not ASTERIX)."""

    @property
    def header(self) -> int:
        return int(self.spans[0, 0])


def _spans(sizes: list[int], start: int = 0) -> NDArray[np.int64]:
    ends = start + np.cumsum(sizes, dtype=np.int64)
    return np.c_[ends - np.array(sizes, dtype=np.int64), ends]


def _built(header: bytes, records: list[bytes], category: int = -1) -> Built:
    return Built(header + b"".join(records), _spans([len(r) for r in records], len(header)), category)


@cache
def _final_format() -> Built:
    """The real 30-minute Final Format recording (one CAT062 block per record)."""
    data = gzip.decompress((DATA / "asterix" / "final_frame_062_30min.ff.gz").read_bytes())
    starts = [0]
    while starts[-1] < len(data):
        starts.append(starts[-1] + int.from_bytes(data[starts[-1] : starts[-1] + 2], "big"))
    return Built(data, np.c_[starts[:-1], starts[1:]], category=8)


@cache
def _blocks() -> tuple[list[bytes], list[int]]:
    """The data blocks of the Final Format recording and their recorder times of day (10 ms units)."""
    ff = _final_format()
    spans = ff.spans.tolist()
    return [ff.data[s + 8 : e - 4] for s, e in spans], [int.from_bytes(ff.data[s + 5 : s + 8], "big") for s, _ in spans]


def _raw() -> Built:
    return _built(b"", _blocks()[0], category=0)


def _oradis() -> Built:
    blocks, tods = _blocks()
    frames = [(len(b) + 6).to_bytes(2, "big") + t.to_bytes(4, "big") + b for b, t in zip(blocks, tods, strict=True)]
    return _built(b"", frames, category=6)


def _gps() -> Built:
    blocks, tods = _blocks()
    header = b"GPS recording".ljust(2200, b"\0")
    return _built(header, [b + t.to_bytes(4, "big") + bytes(6) for b, t in zip(blocks, tods, strict=True)], category=0)


def _ethernet(payload: bytes) -> bytes:
    udp = dpkt.udp.UDP(sport=40000, dport=8600, data=payload)
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=b"\x0a\x00\x00\x01", dst=b"\xe8\x02\x01\x1f", p=dpkt.ip.IP_PROTO_UDP, ttl=8, data=udp)
    eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x01\x00\x5e\x02\x01\x1f", data=ip)
    return bytes(eth)


UDP_HEADERS = 42
"""Ethernet, IPv4 and UDP header bytes before each datagram."""


def _pcap() -> Built:
    blocks, tods = _blocks()
    records = []
    for block, tod in zip(blocks, tods, strict=True):
        frame = _ethernet(block)
        records.append(struct.pack("<IIII", int(DAY_S) + tod // 100, tod % 100 * 10000, len(frame), len(frame)) + frame)
    return _built(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1), records, category=16 + UDP_HEADERS)


def _pcapng() -> Built:
    blocks, tods = _blocks()
    out = io.BytesIO()
    writer = dpkt.pcapng.Writer(out)
    for block, tod in zip(blocks, tods, strict=True):
        writer.writepkt(_ethernet(block), ts=DAY_S + tod / 100)
    data = out.getvalue()
    sizes, pos = [], 0
    while pos < len(data):
        sizes.append(struct.unpack_from("<I", data, pos + 4)[0])
        pos += sizes[-1]
    return Built(data, _spans(sizes[2:], sum(sizes[:2])), category=28 + UDP_HEADERS)  # after the SHB and IDB


@cache
def _mode_s_frames() -> list[str]:
    """Real Mode S frames (hex) of the pyModeS samples and of a full flight."""
    modes = DATA / "modes"
    adsb = (modes / "pymodes_sample_data_adsb_first1000.csv").read_text()
    frames = [line.split(",")[1].strip('"') for line in adsb.splitlines()]
    commb = (modes / "pymodes_sample_data_commb_df20_first500.csv").read_text(encoding="utf-8-sig")
    frames += [line.split(",")[2] for line in commb.splitlines()]
    flight = (modes / "full_flight_short_rows12000-12999.pymodes361+rs1090.jsonl").read_text()
    return frames + [json.loads(line)["hex"] for line in flight.splitlines()]


def _beast() -> Built:
    """Eight rounds of the Mode S frames as Beast frames over 30 minutes (12 MHz counter, escaped 0x1a)."""
    rng = np.random.default_rng(5)
    frames = _mode_s_frames() * 8
    ticks = (np.arange(len(frames)) * (1800 * 12e6 / len(frames))).astype(np.int64) + 10**9
    records = []
    for hex_frame, tick, signal in zip(frames, ticks.tolist(), rng.integers(0, 256, len(frames)).tolist(), strict=True):
        body = tick.to_bytes(6, "big") + bytes([signal]) + bytes.fromhex(hex_frame)
        records.append(b"\x1a" + (b"3" if len(hex_frame) == 28 else b"2") + body.replace(b"\x1a", b"\x1a\x1a"))
    return _built(b"", records)


@cache
def _sbs() -> Built:
    """SBS-1 lines (MSG 1, 3, 4, 6) of the CAT062 tracks of the Final Format recording."""
    tracks = decode_recording(_final_format().data, "ff", DAY_S).tracks
    lines = encode_sbs(tracks).encode().splitlines(keepends=True)
    return _built(b"", lines)


ASTERIX_BUILDERS: dict[str, tuple[Callable[[], Built], str]] = {
    "final_format": (_final_format, FINAL_FORMAT),
    "raw": (_raw, ASTERIX),
    "oradis": (_oradis, ASTERIX),
    "gps": (_gps, GPS),
    "pcap": (_pcap, PCAP),
    "pcapng": (_pcapng, PCAPNG),
}


def _flip(built: Built, count: int, seed: int) -> tuple[bytes, NDArray[np.int64]]:
    """The recording with `count` bytes after its header changed (XOR a random non-zero value), and where."""
    rng = np.random.default_rng(seed)
    where = np.sort(rng.choice(np.arange(built.header, len(built.data)), count, replace=False))
    buf = np.frombuffer(built.data, dtype=np.uint8).copy()
    buf[where] ^= rng.integers(1, 256, count).astype(np.uint8)
    return buf.tobytes(), where


def _touched(spans: NDArray[np.int64], where: NDArray[np.int64]) -> NDArray[np.bool_]:
    record = np.searchsorted(spans[:, 0], where, side="right") - 1
    touched = np.zeros(len(spans), dtype=bool)
    touched[record[(record >= 0) & (where < spans[np.maximum(record, 0), 1])]] = True
    return touched


def _rows(batch: Columns, skip: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Each row as a tuple of its values' text (NaN compares equal to NaN)."""
    columns = [
        np.asarray(getattr(batch, name)).astype(str).tolist() for name in batch.column_names() if name not in skip
    ]
    return list(zip(*columns, strict=True))


def _share_kept(want: list[tuple[str, ...]], got: list[tuple[str, ...]]) -> float:
    """Share of the rows `want` found in `got`, each as many times as wanted."""
    have = Counter(got)
    return sum(min(n, have[row]) for row, n in Counter(want).items()) / len(want)


def _errors_where_damage_is(report: DecodeReport, spans: NDArray[np.int64], touched: NDArray[np.bool_]) -> None:
    """Every error (byte offset) lies in a touched record or next to one (a header made implausible makes the
    block before it doubtful; a length made larger takes the walk into the next record)."""
    record = np.searchsorted(spans[:, 0], [e.offset for e in report.first_errors], side="right") - 1
    near = touched | np.r_[touched[1:], False] | np.r_[False, touched[:-1]]
    assert near[np.clip(record, 0, len(spans) - 1)].all()


@pytest.mark.parametrize("name", sorted(ASTERIX_BUILDERS))
def test_asterix_recording_with_scattered_damage_keeps_its_intact_records(name: str) -> None:
    build, container = ASTERIX_BUILDERS[name]
    built = build()
    clean = decode_recording(built.data, name)
    assert clean.report.errors == 0 and len(clean.tracks) == len(built.spans)  # one track per record
    data, where = _flip(built, FLIPS, SEED)
    assert detect_format(data) == container  # recognised despite the damage
    damaged = decode_recording(data, name)
    touched = _touched(built.spans, where)
    clean_rows, damaged_rows = _rows(clean.tracks), _rows(damaged.tracks)
    kept = _share_kept([r for r, t in zip(clean_rows, touched, strict=True) if not t], damaged_rows)
    assert kept >= TARGET, kept
    # Damage stays in the touched records: no more unknown rows than them, and blocks of a category the
    # clean recording lacks only where the category byte itself was changed.
    assert (Counter(damaged_rows) - Counter(clean_rows)).total() <= touched.sum()
    renamed = np.isin(built.spans[:, 0] + built.category, where).sum()
    assert sum(n for cat, n in damaged.report.not_decoded.items() if cat not in clean.report.not_decoded) <= renamed
    assert 0 < damaged.report.errors <= 2 * FLIPS
    if container not in (PCAP, PCAPNG):  # pcap errors count packets, not bytes
        _errors_where_damage_is(damaged.report, built.spans, touched)


def _beast_rows(data: bytes, report: DecodeReport | None = None) -> list[tuple[str, ...]]:
    # The counter's first value anchors the times, so a damaged first frame moves them all: compare the counter.
    return _rows(read_beast(data, start_time_s=0.0, report=report), skip=("time_s",))


def test_beast_recording_with_scattered_damage_keeps_its_intact_frames() -> None:
    built = _beast()
    clean = _beast_rows(built.data)
    assert len(clean) == len(built.spans)
    data, where = _flip(built, FLIPS, SEED)
    report = DecodeReport("beast")
    damaged = _beast_rows(data, report)
    touched = _touched(built.spans, where)
    kept = _share_kept([r for r, t in zip(clean, touched, strict=True) if not t], damaged)
    assert kept >= TARGET, kept
    assert (Counter(damaged) - Counter(clean)).total() <= touched.sum()
    assert 0 < report.errors <= 3 * FLIPS
    _errors_where_damage_is(report, built.spans, touched)


def _sbs_rows(text: str, report: DecodeReport | None = None) -> list[tuple[str, ...]]:
    # A plot carries the callsign and squawk of earlier lines: compare what each line says itself.
    batch = decode_sbs(text, "rx", report=report)
    return [
        *_rows(batch.plots, skip=("callsign", "squawk")),
        *(("v", *row) for row in _rows(batch.velocities)),
        *(("r", *row) for row in _rows(batch.replies)),
    ]


def test_sbs_lines_with_scattered_damage_keep_the_intact_lines() -> None:
    built = _sbs()
    lines = built.data.splitlines(keepends=True)
    data, where = _flip(built, FLIPS, SEED)
    report = DecodeReport("sbs")
    damaged = _sbs_rows(data.decode("utf-8", "replace"), report)
    touched = _touched(built.spans, where)
    untouched = _sbs_rows(b"".join(line for line, t in zip(lines, touched, strict=True) if not t).decode())
    clean = _sbs_rows(built.data.decode())
    assert len(lines) > 60000 and len(clean) > 60000
    kept = _share_kept(untouched, damaged)
    assert kept >= TARGET, kept
    assert (Counter(damaged) - Counter(clean)).total() <= touched.sum()
    assert 0 < report.errors <= 2 * FLIPS


def test_a_line_stream_drops_a_line_whose_end_was_lost_and_counts_it() -> None:
    lines = _sbs().data.splitlines(keepends=True)[:200]
    stream = SbsStream("rx")
    merged = b"".join(lines[:100]) + b"x" * 70000 + b"".join(lines[100:])  # a line end lost in a long run
    got = Plots.concat([stream.feed(merged[k : k + 4096], 0.0) for k in range(0, len(merged), 4096)])
    want = decode_sbs(b"".join(lines[:100] + lines[101:]).decode(), "rx").plots
    assert len(got) == len(want) and stream.report.errors == 1


# --- random damage: never raises, never loses records away from it ---------------------------------------

SMALL = 400
"""Records of the recordings the property tests damage."""


@cache
def _small(name: str) -> Built:
    """The first `SMALL` records of a recording (ASTERIX containers, or `beast`)."""
    built = _beast() if name == "beast" else ASTERIX_BUILDERS[name][0]()
    return Built(built.data[: int(built.spans[SMALL - 1, 1])], built.spans[:SMALL], built.category)


def _decoded_rows(name: str, data: bytes) -> list[tuple[str, ...]]:
    if name == "beast":
        return _beast_rows(data)
    container = ASTERIX_BUILDERS[name][1]
    return _rows(decode_recording(data, "fuzz", fmt=container).tracks)


PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(
    st.sampled_from([*sorted(ASTERIX_BUILDERS), "beast"]),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=6),
)
def test_random_damage_loses_only_records_next_to_it(name: str, flips: list[tuple[float, int]]) -> None:
    built = _small(name)
    buf = np.frombuffer(built.data, dtype=np.uint8).copy()
    where = (built.header + np.array([f for f, _ in flips]) * (len(buf) - built.header)).astype(np.int64)
    for pos, (_, value) in zip(where.tolist(), flips, strict=True):
        buf[pos] ^= value
    clean = _decoded_rows(name, built.data)
    damaged = _decoded_rows(name, buf.tobytes())
    touched = _touched(built.spans, where)
    near = touched | np.r_[False, touched[:-1]] | np.r_[touched[1:], False]
    far = [row for row, n in zip(clean, near, strict=True) if not n]
    assert not far or _share_kept(far, damaged) == 1.0


def test_one_changed_length_byte_loses_one_record_not_the_rest_of_the_file() -> None:
    built = _final_format()
    for record, byte, value in ((100, 1, 0x20), (2000, 0, 0x01), (30000, 9, 0x80)):  # record length, block length
        data = bytearray(built.data)
        data[int(built.spans[record, 0]) + byte] ^= value
        decoded = decode_recording(bytes(data), "ff")
        assert len(decoded.tracks) == len(built.spans) - 1
        assert decoded.report.errors == 1 and not decoded.report.not_decoded
        assert decoded.report.first_errors[0].offset in (built.spans[record, 0], built.spans[record, 0] + 8)


def test_a_block_length_made_larger_swallows_no_other_block() -> None:
    blocks, _ = _blocks()
    raw = b"".join(blocks)
    start = sum(len(b) for b in blocks[:500])
    for value in (0x01, 0x10, 0x80):  # 256, 4096 or 32768 bytes more
        data = bytearray(raw)
        data[start + 1] ^= value
        decoded = decode_recording(bytes(data), "raw", fmt=ASTERIX)
        assert len(decoded.tracks) == len(blocks) - 1
        assert [e.offset for e in decoded.report.first_errors] == [start]


def test_damage_does_not_hide_the_format() -> None:
    built = _final_format()
    data = bytearray(built.data)
    for pos in (1, 75, 150):  # the length bytes of the first records: Final Format identifies itself anywhere
        data[pos] ^= 0x40
    assert detect_format(bytes(data)) == FINAL_FORMAT
    for build, container in (ASTERIX_BUILDERS["raw"], ASTERIX_BUILDERS["gps"]):
        recording = build()
        damaged, _ = _flip(Built(recording.data, recording.spans[100:]), 50, SEED)  # the opening run intact
        assert len(recording.data) > 2 * 2**20  # also: a raw file longer than what is sniffed
        assert detect_format(damaged) == container
        assert sniff_format(damaged) == "asterix"
    text = _sbs().data  # category bytes in text ('"' is 34, '0' is 48) never make it ASTERIX
    assert detect_format(text) == "unknown" and sniff_format(text) == "sbs"
