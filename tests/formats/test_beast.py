"""Beast binary framing: the real dump1090 sample against its reference decode, escaping, chunking, resync, fuzz."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyModeS
from hypothesis import given, settings
from hypothesis import strategies as st

from commonsky.formats.beast import MLAT_HZ, BeastReader, decode_beast, read_beast
from commonsky.formats.report import DecodeReport

DATA = Path(__file__).resolve().parents[1] / "data" / "modes"
SAMPLE = (DATA / "traffic_sample_dump1090.bin").read_bytes()
EXPECTED = [
    json.loads(line) for line in (DATA / "traffic_sample_dump1090_all239.pymodes361.jsonl").read_text().splitlines()
]
LFBO = (43.6293, 1.3638)


def _frame(kind: bytes, ticks: int, signal: int, payload: bytes) -> bytes:
    body = ticks.to_bytes(6, "big") + bytes([signal]) + payload
    return b"\x1a" + kind + body.replace(b"\x1a", b"\x1a\x1a")


def test_sample_frames_match_reference() -> None:
    report = DecodeReport(source="beast")
    frames = read_beast(SAMPLE, start_time_s=100.0, report=report)
    assert report.errors == 0 and len(frames) == len(EXPECTED) == 239
    assert frames.frame.tolist() == [e["hex"].lower() for e in EXPECTED]
    assert frames.kind.tolist() == [e["beast"]["beast_type"] for e in EXPECTED]
    assert frames.mlat_ticks.tolist() == [e["beast"]["mlat_ticks"] for e in EXPECTED]
    assert frames.signal.tolist() == [e["beast"]["signal"] for e in EXPECTED]
    ticks = np.array([e["beast"]["mlat_ticks"] for e in EXPECTED])
    np.testing.assert_allclose(frames.time_s, 100.0 + (ticks - ticks[0]) / MLAT_HZ)
    assert len(frames.mode_s()) == 239


def test_sample_decodes_like_pymodes() -> None:
    report = DecodeReport(source="beast")
    batch = decode_beast(SAMPLE, "lfbo", start_time_s=1581502020.0, reference=LFBO, report=report)
    assert report.errors == 0 and report.messages == 239
    assert len(report.addresses & {"48520A", "3981E4"}) == 2
    peer_callsigns = {e["pymodes"]["callsign"].strip("_ ") for e in EXPECTED if e["pymodes"].get("callsign")}
    assert "TRA89M" in peer_callsigns and peer_callsigns <= report.callsigns
    positions = [e for e in EXPECTED if "latitude" in e["pymodes"]]
    assert len(batch.plots) == len(positions) == 4
    for k, e in enumerate(positions):
        own = pyModeS.decode(e["hex"], reference=LFBO)
        assert abs(batch.plots.lat_deg[k] - own["latitude"]) < 1e-5
        assert abs(batch.plots.lon_deg[k] - own["longitude"]) < 1e-5
        # pyModeS's batch gives the pair's position: the other frame, up to ~6 s of flight (1.2 km) away.
        assert abs(batch.plots.lat_deg[k] - e["pymodes"]["latitude"]) < 0.02
    assert (batch.plots.squawk == 5516).all() and (batch.plots.nacp == 9).all()
    altitudes = {round(a) for a in batch.replies.altitude_m[np.isfinite(batch.replies.altitude_m)]}
    assert round(25000 * 0.3048) in altitudes


def test_escaped_bytes_and_chunking() -> None:
    long_frame = bytes.fromhex("8d48520a58c38118524b549e1b08")
    stream = (
        _frame(b"3", 0x1A1A1A1A1A1A, 0x1A, long_frame) + _frame(b"1", 5, 7, b"\x1a\x02") + _frame(b"4", 6, 0, bytes(14))
    )
    whole = read_beast(stream, start_time_s=0.0)
    assert whole.kind.tolist() == ["3", "1", "4"]
    assert whole.frame[0] == long_frame.hex() and whole.frame[1] == "1a02"
    assert whole.mlat_ticks[0] == 0x1A1A1A1A1A1A and whole.signal[0] == 0x1A
    for cut in range(1, len(stream)):
        reader = BeastReader(start_time_s=0.0)
        parts = [reader.feed(stream[:cut]), reader.feed(stream[cut:])]
        reader.finish()
        assert reader.report.errors == 0
        assert [f for p in parts for f in p.frame.tolist()] == whole.frame.tolist()


def test_garbage_is_skipped_and_counted() -> None:
    good = SAMPLE[: SAMPLE.index(b"\x1a", 1)]
    report = DecodeReport(source="beast")
    frames = read_beast(b"xyz" + good + b"\x1a\x39junk" + good + good[:5], start_time_s=0.0, report=report)
    assert len(frames) == 2
    assert [e.offset for e in report.first_errors][:2] == [2, 3 + len(good)]
    assert report.errors == 4  # leading junk, unknown type, junk after it, truncated tail


def test_a_frame_that_runs_into_the_next_is_skipped_and_the_next_kept() -> None:
    frames = [_frame(b"3", 1000 + k, 7, bytes.fromhex("8d48520a58c38118524b549e1b08")) for k in range(3)]
    damaged = bytearray(b"".join(frames))
    damaged[len(frames[0]) - 1] = 0x1A  # with the next frame's 0x1a it reads as an escaped 0x1a
    report = DecodeReport(source="beast")
    got = read_beast(bytes(damaged), start_time_s=0.0, report=report)
    assert got.mlat_ticks.tolist() == [1001, 1002]
    assert [e.offset for e in report.first_errors] == [0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    report = DecodeReport(source="fuzz")
    decode_beast(data, "rx", start_time_s=0.0, reference=LFBO, report=report)
    assert report.errors <= len(data) + 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 255)), max_size=20))
def test_fuzz_mutated_sample(edits: list[tuple[int, int]]) -> None:
    data = bytearray(SAMPLE)
    for pos, value in edits:
        data[pos] = value
    report = DecodeReport(source="fuzz")
    batch = decode_beast(bytes(data), "rx", start_time_s=0.0, reference=LFBO, report=report)
    assert report.messages >= 239 - 3 * len(edits) - report.errors
    assert np.all(np.abs(batch.plots.lat_deg) <= 90)
