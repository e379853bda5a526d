"""Wire messages: lossless round trip of TrackReports, and DecodeError for every bad input."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commonsky.core.batches import TrackReports
from commonsky.core.errors import DecodeError
from commonsky.network.transport.messages import (
    NUMERIC_COLUMNS,
    SCHEMA_VERSION,
    TEXT_COLUMNS,
    Heartbeat,
    PolicyAnnouncement,
    TrackBatch,
    decode,
    encode_heartbeat,
    encode_policy,
    encode_tracks,
)
from tests.network.conftest import track_reports


def assert_identical(a: TrackReports, b: TrackReports) -> None:
    """Same columns, dtypes and values bit for bit (NaN payloads and -0.0 included)."""
    assert a.column_names() == b.column_names()
    for name in a.column_names():
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        assert x.shape == y.shape, name
        if x.dtype.kind == "U":
            assert x.tolist() == y.tolist(), name
        else:
            assert x.tobytes() == y.tobytes(), name


def sample_reports(n: int = 4) -> TrackReports:
    return TrackReports.build(
        n,
        time_s=np.linspace(1.78e9, 1.78e9 + 3, n),
        owner=["north"] * n,
        track_id=np.arange(n),
        lat_deg=np.full(n, 47.5),
        alt_m=[np.nan] + [3000.0] * (n - 1),
        callsign=["DLH4AB"] + [""] * (n - 1),
        squawk=[7700] + [-1] * (n - 1),
    )


def as_map(data: bytes) -> dict[str, Any]:
    raw: dict[str, Any] = msgspec.msgpack.decode(data)
    return raw


@given(reports=track_reports(), seq=st.integers(1, 2**62), sent_s=st.floats(0.0, 1e11))
@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
def test_track_batch_round_trip_is_identical(reports: TrackReports, seq: int, sent_s: float) -> None:
    data = encode_tracks(reports, "north", seq, sent_s, batch_time_s=12.5)
    message = decode(data)
    assert isinstance(message, TrackBatch)
    assert (message.schema, message.sender, message.seq, message.batch_time_s) == (SCHEMA_VERSION, "north", seq, 12.5)
    assert message.sent_s == sent_s
    assert message.rows == len(reports)
    out = message.reports()
    assert_identical(out, reports)
    for name in NUMERIC_COLUMNS:
        assert getattr(out, name).flags.writeable


def test_default_batch_time_is_latest_report() -> None:
    message = decode(encode_tracks(sample_reports(), "north", 1, 0.0))
    assert isinstance(message, TrackBatch)
    assert message.batch_time_s == 1.78e9 + 3
    empty = decode(encode_tracks(TrackReports.empty(), "north", 2, 0.0))
    assert isinstance(empty, TrackBatch)
    assert math.isnan(empty.batch_time_s)
    assert len(empty.reports()) == 0


def test_heartbeat_and_policy_round_trip() -> None:
    hb = decode(encode_heartbeat("east", 3, 100.0, "degraded", 42, None, interval_s=2.0))
    assert isinstance(hb, Heartbeat)
    assert (hb.schema, hb.sender, hb.seq, hb.sent_s) == (SCHEMA_VERSION, "east", 3, 100.0)
    assert (hb.status, hb.tracks_held, hb.last_batch_time_s, hb.interval_s) == ("degraded", 42, None, 2.0)
    assert hb.KIND == "heartbeat"
    pol = decode(encode_policy("west", 1, 5.0, '{"share": "all"}', "sha256:abc"))
    assert isinstance(pol, PolicyAnnouncement)
    assert (pol.policy_json, pol.digest, pol.KIND) == ('{"share": "all"}', "sha256:abc", "policy")


def test_encode_refuses_invalid_envelopes() -> None:
    with pytest.raises(ValueError, match="invalid outgoing"):
        encode_heartbeat("no.dots", 1, 0.0, "up", 0, None)
    with pytest.raises(ValueError, match="invalid outgoing"):
        encode_heartbeat("east", 0, 0.0, "up", 0, None)


def _tamper(mutate: Any) -> bytes:
    raw = as_map(encode_tracks(sample_reports(), "north", 1, 0.0))
    mutate(raw)
    return msgspec.msgpack.encode(raw)


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda m: m.update(schema=1), "schema version 1"),
        (lambda m: m.update(schema=3), "schema version 3"),
        (lambda m: m.update(kind="weather"), "not a commonsky message"),
        (lambda m: m.update(sender="north.east"), "not a commonsky message"),
        (lambda m: m.update(seq=0), "not a commonsky message"),
        (lambda m: m.update(sent_s=float("nan")), "not a commonsky message"),
        (lambda m: m["numeric"].pop("lat_deg"), "missing \\['lat_deg'\\]"),
        (lambda m: m["numeric"].update(extra=["<f8", 4, b"\0" * 32]), "unknown \\['extra'\\]"),
        (lambda m: m["text"].pop("callsign"), "missing \\['callsign'\\]"),
        (lambda m: m["numeric"].update(lat_deg=[">f8", 4, b"\0" * 32]), "dtype '>f8'"),
        (lambda m: m["numeric"].update(lat_deg=["<f8", 3, b"\0" * 24]), "length 3"),
        (lambda m: m["numeric"].update(lat_deg=["<f8", 4, b"\0" * 31]), "31 bytes"),
        (lambda m: m["text"].update(owner=["north"] * 5), "length 5"),
        (lambda m: m["text"].update(callsign=["TOOLONG99", "", "", ""]), "longer than 8"),
        (lambda m: m["text"].update(domain=["air", "water", "air", "air"]), "'water' is not one of air, surface"),
        (lambda m: m.update(rows=-1), "not a commonsky message"),
    ],
)
def test_invalid_track_batches_raise_decode_error(mutate: Any, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        decode(_tamper(mutate), source="commonsky.north.tracks", offset=7)


def test_decode_error_carries_source_and_offset() -> None:
    with pytest.raises(DecodeError) as info:
        decode(b"\xc1", source="commonsky.east.tracks", offset=99)
    assert (info.value.source, info.value.offset) == ("commonsky.east.tracks", 99)


def test_column_tables_cover_track_reports() -> None:
    assert set(NUMERIC_COLUMNS) | set(TEXT_COLUMNS) == set(TrackReports.DTYPES)
    assert TEXT_COLUMNS == {"owner": 16, "status": 10, "callsign": 8, "domain": 7}


VALID = [
    encode_tracks(sample_reports(3), "north", 5, 1.0),
    encode_heartbeat("east", 2, 2.0, "up", 7, 1.5),
    encode_policy("west", 1, 3.0, "{}", "d"),
]


HOSTILE = [
    b"\x81\xa1x" + b"\x91" * 100_000 + b"\xc0",  # {"x": [[[[...]]]]} nested 100,000 deep
    b"\xdd\xff\xff\xff\xff",  # an array header claiming 4 billion items
    b"\xdb\xff\xff\xff\xf0",  # a string header claiming 4 GB
]


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    """A valid message truncated, bit-flipped, spliced, or plain random bytes."""
    data = bytearray(draw(st.sampled_from(VALID)))
    how = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert", "random", "deep"]))
    if how == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    if how == "overwrite":
        i = draw(st.integers(0, len(data) - 1))
        patch = draw(st.binary(min_size=1, max_size=16))
        data[i : i + len(patch)] = patch
        return bytes(data)
    if how == "insert":
        i = draw(st.integers(0, len(data)))
        return bytes(data[:i] + draw(st.binary(min_size=1, max_size=16)) + data[i:])
    if how == "deep":  # an unknown field nested very deep, and huge length headers
        return draw(st.sampled_from(HOSTILE))
    return draw(st.binary(max_size=256))


@given(data=corrupted())
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
def test_corrupted_bytes_raise_only_decode_error(data: bytes) -> None:
    try:
        message = decode(data)
    except DecodeError:
        return
    # Some corruptions leave a valid message (a flipped bit inside a float): it must be usable.
    if isinstance(message, TrackBatch):
        assert len(message.reports()) == message.rows
