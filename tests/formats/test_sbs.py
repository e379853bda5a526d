"""SBS-1 BaseStation text: reading real-style feeds, writing a picture, round trip and fuzz."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commonsky.core.batches import Tracks
from commonsky.formats.modes import FT_M, KT_MPS
from commonsky.formats.report import DecodeReport
from commonsky.formats.sbs import SBS_FIELDS, decode_sbs, encode_sbs

FEED = """\
MSG,8,1,1,4CA2B1,1,2020/02/12,10:06:59.900,2020/02/12,10:06:59.950,,,,,,,,,,,,0
MSG,1,1,1,4CA2B1,1,2020/02/12,10:07:00.000,2020/02/12,10:07:00.010,RYR5XW  ,,,,,,,,0,0,0,0
MSG,6,1,1,4CA2B1,1,2020/02/12,10:07:00.500,2020/02/12,10:07:00.510,,36975,,,,,,7700,0,1,0,0
MSG,3,1,1,4CA2B1,1,2020/02/12,10:07:01.000,2020/02/12,10:07:01.010,,37000,,,43.12345,1.23456,,,0,0,0,0
MSG,4,1,1,4CA2B1,1,2020/02/12,10:07:01.200,2020/02/12,10:07:01.210,,,450.0,90.0,,,-640,,0,0,0,0
MSG,2,1,1,~0A1B2C,1,2020/02/12,10:07:02.000,2020/02/12,10:07:02.010,,,12.0,180.0,43.6,1.36,,,,,,-1
MSG,5,1,1,4CA2B1,1,2020/02/12,10:07:03.000,2020/02/12,10:07:03.010,,37025,,,,,,,0,0,0,0
STA,,1,1,4CA2B1,1,2020/02/12,10:07:04.000,2020/02/12,10:07:04.000,RM
"""
T0 = 1581501600.0 + 7 * 60  # 2020-02-12 10:07:00 UTC


def test_read_feed() -> None:
    report = DecodeReport(source="sbs")
    batch = decode_sbs(FEED, "rx", report=report)
    assert report.errors == 0 and report.messages == 8
    assert report.by_category["MSG3"] == 1 and report.by_category["STA"] == 1
    p = batch.plots
    assert len(p) == 2
    assert p.time_s.tolist() == pytest.approx([T0 + 1.0, T0 + 2.0])
    assert p.mode_s.tolist() == [0x4CA2B1, -1]
    assert p.callsign.tolist() == ["RYR5XW", ""]
    assert p.squawk.tolist() == [7700, -1]
    assert p.altitude_m[0] == pytest.approx(37000 * FT_M) and np.isnan(p.altitude_m[1])
    assert p.lat_deg.tolist() == [43.12345, 43.6] and p.lon_deg.tolist() == [1.23456, 1.36]
    assert p.on_ground.tolist() == [False, True]  # the MSG,2 is a surface position
    v = batch.velocities
    assert len(v) == 2
    assert v.groundspeed_mps[0] == pytest.approx(450 * KT_MPS)
    assert v.v_east_mps[0] == pytest.approx(450 * KT_MPS) and abs(v.v_north_mps[0]) < 1e-9
    assert v.vertical_rate_mps[0] == pytest.approx(-640 * FT_M / 60)
    r = batch.replies
    assert r.squawk.tolist() == [7700, -1] and r.altitude_m.tolist() == pytest.approx([36975 * FT_M, 37025 * FT_M])
    assert report.addresses == {"4CA2B1"} and report.callsigns == {"RYR5XW"}


def test_on_ground_field_marks_an_airborne_message_type_as_surface() -> None:
    line = "MSG,3,1,1,4CA2B1,1,2020/02/12,10:07:01.000,2020/02/12,10:07:01.010,,,,,43.6,1.36,,,0,0,0,{}"
    batch = decode_sbs("\n".join(line.format(flag) for flag in ("-1", "0", "")), "rx")
    assert batch.plots.on_ground.tolist() == [True, False, False]


def test_local_time_offset() -> None:
    batch = decode_sbs(FEED, "rx", utc_offset_s=3600.0)
    assert batch.plots.time_s[0] == pytest.approx(T0 + 1.0 - 3600.0)


def test_bad_lines_are_counted() -> None:
    lines = [
        "MSG,3,1,1,4CA2B1,1,2020/02/12,10:07:01.000",  # too few fields
        "MSG,9,1,1,4CA2B1,1,2020/02/12,10:07:01.000,,,,,,,,,,,,,,0",  # unknown type
        "MSG,3,1,1,4CA2,1,2020/02/12,10:07:01.000,,,,37000,,,43.1,1.2,,,0,0,0,0",  # short ident
        "MSG,3,1,1,4CA2B1,1,2020/13/12,10:07:01.000,,,,37000,,,43.1,1.2,,,0,0,0,0",  # month 13
        "MSG,3,1,1,4CA2B1,1,2020/02/12,10:07:01.000,,,,37000,,,93.1,1.2,,,0,0,0,0",  # latitude
        "MSG,6,1,1,4CA2B1,1,2020/02/12,10:07:01.000,,,,,,,,,,7800,0,0,0,0",  # not octal
        "FOO,1",
    ]
    report = DecodeReport(source="sbs")
    batch = decode_sbs("\n".join(lines), "rx", report=report)
    assert report.errors == len(lines) and report.messages == 0 and len(batch.plots) == 0
    assert [e.offset for e in report.first_errors] == list(range(1, len(lines) + 1))


def _picture() -> Tracks:
    n = 6
    return Tracks.build(
        n,
        time_s=T0 + np.array([0.0, 0.0, 1.0, 1.0, 2.0, 2.0]) + 0.123,
        track_id=np.array([1, 2, 1, 2, 1, 2]),
        lat_deg=np.array([43.1, 44.2, 43.101, 44.201, 43.102, np.nan]),
        lon_deg=np.array([1.2, -0.5, 1.201, -0.499, 1.202, np.nan]),
        alt_m=np.array([11000.0, np.nan, 11000.0, np.nan, 11010.0, np.nan]),
        v_east_mps=np.array([200.0, 5.0, 200.0, 5.0, 200.0, np.nan]),
        v_north_mps=np.array([10.0, -5.0, 10.0, -5.0, 10.0, np.nan]),
        v_up_mps=np.array([0.0, np.nan, 0.0, np.nan, 1.0, np.nan]),
        mode_s=np.array([0x4CA2B1, -1] * 3),
        squawk=np.array([1000, -1, 1000, -1, 7700, -1]),
        callsign=np.array(["RYR5XW", "", "RYR5XW", "", "RYR5XW", ""]),
        on_ground=np.array([0, 1, 0, 1, 0, 1]),  # track 2 taxies
    )


def test_encode_lines_are_well_formed() -> None:
    text = encode_sbs(_picture())
    lines = text.split("\r\n")
    assert lines[-1] == "" and all(len(line.split(",")) == SBS_FIELDS for line in lines[:-1])
    kinds = [line.split(",")[1] for line in lines[:-1]]
    assert kinds.count("1") == 1 and kinds.count("6") == 2  # callsign once, squawk when it changes
    assert kinds.count("3") == 3 and kinds.count("2") == 2 and kinds.count("4") == 5
    assert "~000002" in text


def test_round_trip() -> None:
    tracks = _picture()
    report = DecodeReport(source="sbs")
    batch = decode_sbs(encode_sbs(tracks), "vrs", report=report)
    assert report.errors == 0
    has_pos = np.isfinite(tracks.lat_deg)
    t = tracks.take(has_pos)
    p = batch.plots
    assert len(p) == len(t)
    np.testing.assert_allclose(p.time_s, np.round(t.time_s, 3), atol=1e-6)
    np.testing.assert_allclose(p.lat_deg, t.lat_deg, atol=1e-6)
    np.testing.assert_allclose(p.lon_deg, t.lon_deg, atol=1e-6)
    np.testing.assert_allclose(p.altitude_m, t.alt_m, atol=0.5 * FT_M)
    assert p.mode_s.tolist() == t.mode_s.tolist()
    assert p.callsign.tolist() == t.callsign.tolist()
    assert p.squawk.tolist() == t.squawk.tolist()
    assert p.on_ground.tolist() == (t.on_ground == 1).tolist()
    v = batch.velocities
    has_v = np.isfinite(tracks.v_east_mps)
    # Speed is written to 0.1 kt and track to 0.1 degree: 0.2 m/s across the track at 200 m/s.
    np.testing.assert_allclose(v.v_east_mps, tracks.v_east_mps[has_v], atol=0.2)
    np.testing.assert_allclose(v.v_north_mps, tracks.v_north_mps[has_v], atol=0.2)
    np.testing.assert_allclose(v.vertical_rate_mps, tracks.v_up_mps[has_v], atol=0.01, equal_nan=True)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("MSG,0123456789:/.-~ABCDEF\n"), max_size=120), max_size=10))
def test_fuzz_text(lines: list[str]) -> None:
    report = DecodeReport(source="fuzz")
    decode_sbs("\n".join(lines), "rx", report=report)
    assert report.messages + report.errors == sum(1 for line in "\n".join(lines).splitlines() if line.strip())


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(FEED) - 1), st.characters())
def test_fuzz_mutated_feed(pos: int, ch: str) -> None:
    report = DecodeReport(source="fuzz")
    decode_sbs(FEED[:pos] + ch + FEED[pos + 1 :], "rx", report=report)
    assert report.messages + report.errors >= 7
