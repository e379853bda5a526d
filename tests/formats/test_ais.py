"""AIS NMEA decoding against the stored pyais 3.3.1 decodes of real logs and gpsd's; the fast path against the
pyais path on every real log and on fuzzed input; static data, class, accuracy; tag blocks, times, fragments."""

from __future__ import annotations

import json
import math
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pyais
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commonsky.formats import ais_fast
from commonsky.formats.ais import MOVING_TYPES, POSITION_TYPES, AisReports, decode_ais
from commonsky.formats.modes import KT_MPS
from commonsky.formats.report import DecodeReport

DATA = Path(__file__).resolve().parents[1] / "data" / "ais"
FILES = {
    # file: (errors expected, time span (first, last) or None when the log carries no time)
    "gpsd_ais-18-27.log": (69, None),  # type 24 sentences with the undefined part number 3
    "gpsd_ais-nmea.log": (0, (1586295590.0, 1586295753.0)),  # $GPRMC clock
    "gpsd_ais-raw-messages.log": (0, None),
    "libais_test.aivdm": (0, (1272412806.0, 1272844808.0)),  # US Coast Guard trailing times
    "pyais_nmea_data_sample.txt": (120, None),  # 100 empty payloads, 20 first parts without their second
}


ALL_FILES = sorted([*FILES, "gpsd_ais-nmea-type6-fid55.log"])


def _expected(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / f"{name}.pyais331.jsonl").read_text().splitlines()]


def _unavailable(value: float | None, na: float) -> float:
    return math.nan if value is None or value == na else float(value)


@pytest.mark.parametrize("name", sorted(FILES))
def test_real_logs_match_pyais_reference(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("commonsky.formats.report.MAX_KEPT_ERRORS", 1000)
    errors, span = FILES[name]
    report = DecodeReport(source=name)
    rows = decode_ais((DATA / name).read_text(), "rx", report=report)
    expected = _expected(name)
    assert report.errors == errors
    assert report.messages == sum(1 for e in expected if "pyais" in e)
    assert {e.offset for e in report.first_errors} >= {e["line"] for e in expected if "error" in e}
    positions = [e["pyais"] for e in expected if "pyais" in e and e["pyais"]["msg_type"] in POSITION_TYPES]
    assert len(rows) == len(positions) > 0
    assert rows.mmsi.tolist() == [p["mmsi"] for p in positions]
    assert rows.msg_type.tolist() == [p["msg_type"] for p in positions]
    lat = [_unavailable(p.get("lat"), 91.0) for p in positions]
    lon = [_unavailable(p.get("lon"), 181.0) for p in positions]
    np.testing.assert_allclose(rows.lat_deg, lat, equal_nan=True)
    np.testing.assert_allclose(rows.lon_deg, lon, equal_nan=True)
    moving = [p for p in positions if p["msg_type"] not in (4, 9, 21, 27)]
    keep = ~np.isin(rows.msg_type, [4, 9, 21, 27])
    np.testing.assert_allclose(
        rows.sog_mps[keep], [_unavailable(p["speed"], 102.3) * KT_MPS for p in moving], equal_nan=True
    )
    np.testing.assert_allclose(rows.cog_deg[keep], [_unavailable(p["course"], 360.0) for p in moving], equal_nan=True)
    np.testing.assert_allclose(
        rows.heading_deg[keep], [_unavailable(p["heading"], 511) for p in moving], equal_nan=True
    )
    names = {p["mmsi"]: p["shipname"].strip("@ ") for e in expected if (p := e.get("pyais")) and p.get("shipname")}
    for mmsi, name_ in zip(rows.mmsi.tolist(), rows.name.tolist(), strict=True):
        if names.get(mmsi):
            assert name_ == names[mmsi]
    if span is None:
        assert np.isnan(rows.time_s).all()
    else:
        assert span[0] <= np.nanmin(rows.time_s) and np.nanmax(rows.time_s) <= span[1]
    plots = rows.to_plots()
    assert len(plots) == int((np.isin(rows.msg_type, list(MOVING_TYPES)) & np.isfinite(rows.lat_deg)).sum())
    assert (plots.mode_s == -1).all() and np.isfinite(plots.lat_deg).all()
    moving = rows.take(np.isin(rows.msg_type, list(MOVING_TYPES)) & np.isfinite(rows.lat_deg))
    assert plots.mmsi.tolist() == moving.mmsi.tolist()
    assert plots.domain.tolist() == np.where(moving.msg_type == 9, "air", "surface").tolist()


def _nmea(body: str, start: str = "!") -> str:
    return f"{start}{body}*{reduce(lambda a, c: a ^ ord(c), body, 0):02X}"


def test_tag_blocks_and_multi_sentence() -> None:
    lines = (DATA / "gpsd_ais-raw-messages.log").read_text().splitlines()
    part1, part2 = lines[30], lines[31]
    assert part1.startswith("!AIVDM,2,1") and part2.startswith("!AIVDM,2,2")
    position = "!AIVDM,1,1,,A,15B4FT5000JRP>PE6E68Nbkl0PS5,0*70"
    tag = "s:rx1,c:1700000000"
    tag_ms = "s:rx1,c:1700000001500"
    text = "\n".join(
        [
            f"\\{_nmea(tag, '')[0:]}\\{part1}",
            f"\\{_nmea('s:rx1', '')}\\{part2}",
            f"\\{_nmea(tag_ms, '')}\\{position}",
            f"\\{tag}*00\\{position}",  # wrong tag checksum
            position[:-2] + "00",  # wrong sentence checksum
            part2,  # second part without its first
        ]
    )
    report = DecodeReport(source="tags")
    rows = decode_ais(text, "rx", report=report)
    assert report.messages == 2 and report.errors == 3
    assert report.by_category["AIS5"] == 1 and report.by_category["AIS1"] == 1
    assert rows.time_s.tolist() == [1700000001.5]
    assert rows.mmsi.tolist() == [354490000]


def test_static_data_attached_and_plots() -> None:
    report = DecodeReport(source="raw")
    rows = decode_ais((DATA / "gpsd_ais-raw-messages.log").read_text(), "rx", time_s=5.0, report=report)
    assert (rows.time_s == 5.0).all()
    named = rows.name != ""
    assert named.any() and (rows.ship_type[named] >= 0).any()
    plots = rows.to_plots()
    assert (plots.sensor_id == "rx").all() and (plots.altitude_m == 0.0).all()
    assert set(plots.callsign.tolist()) - {""}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("!$\\AIVDMGPRC,0123456789*:abcsEF@`wx"), max_size=80), max_size=10))
def test_fuzz_text(lines: list[str]) -> None:
    report = DecodeReport(source="fuzz")
    decode_ais("\n".join(lines), "rx", report=report)
    assert report.messages + report.errors <= len(lines) + 1


_SAMPLE = (DATA / "gpsd_ais-raw-messages.log").read_text().splitlines()[3:40]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_SAMPLE) - 1), st.integers(0, 80), st.characters(codec="ascii"))
def test_fuzz_mutated_sentences(line: int, pos: int, ch: str) -> None:
    lines = list(_SAMPLE)
    text = lines[line]
    lines[line] = text[:pos] + ch + text[pos + 1 :]
    report = DecodeReport(source="fuzz")
    rows = decode_ais("\n".join(lines), "rx", report=report)
    assert report.messages >= len(_SAMPLE) - 8
    assert np.all(np.abs(rows.lat_deg[np.isfinite(rows.lat_deg)]) <= 91)


def _both(text: str | list[str], **kwargs: Any) -> tuple[AisReports, DecodeReport]:
    """The fast path's result, after checking that the pyais path gives the same columns, counts and errors."""
    fast, slow = DecodeReport(source="in"), DecodeReport(source="in")
    got = decode_ais(text, "rx", report=fast, **kwargs)
    want = decode_ais(text, "rx", report=slow, fast=False, **kwargs)
    assert got.column_names() == want.column_names()
    for name in got.column_names():
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name, strict=True)
    assert fast.summary() == slow.summary()
    assert [str(e) for e in fast.first_errors] == [str(e) for e in slow.first_errors]
    assert list(fast.addresses) == list(slow.addresses)
    return got, fast


@pytest.mark.parametrize("name", ALL_FILES)
def test_fast_path_equals_pyais_path_on_real_logs(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("commonsky.formats.report.MAX_KEPT_ERRORS", 1000)
    text = (DATA / name).read_text(errors="replace")
    rows, report = _both(text, time_s=5.0)
    assert len(rows) > 0 and report.messages > 0
    data = "\n".join(text.splitlines()).encode()
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    kind = ais_fast.scan_lines(
        np.frombuffer(data, dtype=np.uint8), np.concatenate([[0], ends + 1]), np.concatenate([ends, [len(data)]])
    )[0]
    common = np.isin(rows.msg_type, (1, 2, 3, 18)).sum()
    assert (kind == ais_fast.FAST).sum() >= 0.9 * common > 0  # the kernels, not pyais, decode the position reports


def test_static_data_class_and_accuracy_match_gpsd() -> None:
    """Values from gpsd's own decode of the same log (`test/daemon/ais-nmea-type6-fid55.log.chk` @46977fa)."""
    rows, _ = _both((DATA / "gpsd_ais-nmea-type6-fid55.log").read_text())
    gpsd = {  # mmsi: (type, name, call sign, ship type, bow, stern, port, starboard, destination, class, accuracy)
        366386000: (3, "CAPE MOHICAN", "WDOP", 79, 56, 210, 16, 16, "SAN FRANCISCO PILOT", "A", 1),  # type 5
        265650060: (18, "MANI", "SD8002", 36, 8, 4, 1, 3, "", "B", 0),  # types 24 A and B
        992381250: (21, "E2642 RT SAVUDRIJA", "", -1, 0, 2, 0, 1, "", "", 1),  # aid to navigation
    }
    columns = ("msg_type", "name", "callsign", "ship_type", "to_bow_m", "to_stern_m", "to_port_m", "to_starboard_m")
    for mmsi, expected in gpsd.items():
        row = rows.take(rows.mmsi == mmsi)
        assert len(row) == 1
        got = [getattr(row, c)[0].item() for c in (*columns, "destination", "ais_class", "accuracy")]
        assert got == list(expected)
    cape = rows.take(rows.mmsi == 366386000)
    assert (cape.length_m[0], cape.beam_m[0]) == (266.0, 32.0)
    np.testing.assert_allclose([cape.lat_deg[0], cape.lon_deg[0]], [22691477 / 600000, -73386165 / 600000], atol=1e-6)
    aton = rows.take(rows.mmsi == 992381250)
    assert (aton.length_m[0], aton.beam_m[0]) == (2.0, 1.0)
    unknown = rows.take((rows.to_bow_m == -1) & (rows.to_port_m == -1))
    assert len(unknown) and np.isnan(unknown.length_m).all() and np.isnan(unknown.beam_m).all()


def test_accuracy_flag_becomes_nacp() -> None:
    rows, _ = _both((DATA / "gpsd_ais-nmea-type6-fid55.log").read_text())
    plots = rows.to_plots()
    moving = rows.take(np.isin(rows.msg_type, list(MOVING_TYPES)) & np.isfinite(rows.lat_deg))
    assert set(moving.accuracy.tolist()) == {0, 1}
    np.testing.assert_array_equal(plots.nacp, np.where(moving.accuracy == 1, 10, 9))


def test_static_messages_encoded_by_pyais_attach_to_positions() -> None:
    """Types 5 (two sentences), 19, 24 A/B; the last static data of an MMSI wins; all-zero dimensions do not."""
    enc = pyais.encode_dict
    lines = [
        *enc({"msg_type": 1, "mmsi": 211000001, "lat": 53.5, "lon": 9.9, "accuracy": 1}, talker_id="AI"),
        *enc(
            {
                "msg_type": 5,
                "mmsi": 211000001,
                "shipname": "OLD",
                "callsign": "DA1",
                "ship_type": 80,
                "to_bow": 100,
                "to_stern": 20,
                "to_port": 10,
                "to_starboard": 8,
                "destination": "HAMBURG",
            },
            talker_id="AI",
            seq_id=1,
        ),
        *enc({"msg_type": 5, "mmsi": 211000001, "shipname": "NEW", "callsign": "DA2", "ship_type": 70}, seq_id=2),
        *enc(
            {
                "msg_type": 19,
                "mmsi": 211000002,
                "shipname": "SMALL",
                "ship_type": 37,
                "to_bow": 5,
                "to_stern": 3,
                "to_port": 1,
                "to_starboard": 1,
                "lat": 53.6,
                "lon": 9.8,
            }
        ),
        *enc({"msg_type": 24, "mmsi": 211000003, "partno": 0, "shipname": "B ONE"}),
        *enc({"msg_type": 24, "mmsi": 211000003, "partno": 1, "callsign": "DB3", "ship_type": 30, "to_bow": 6}),
        *enc({"msg_type": 27, "mmsi": 211000003, "lat": 53.7, "lon": 9.7, "status": 7}),
    ]
    rows, report = _both(lines)
    assert report.errors == 0 and report.messages == 7
    assert rows.mmsi.tolist() == [211000001, 211000002, 211000003]
    assert rows.name.tolist() == ["NEW", "SMALL", "B ONE"]
    assert rows.callsign.tolist() == ["DA2", "", "DB3"]
    assert rows.ship_type.tolist() == [70, 37, 30]
    assert rows.destination.tolist() == ["HAMBURG", "", ""]  # the second type 5 has none
    assert rows.length_m.tolist() == [120.0, 8.0, 6.0] and rows.beam_m[:2].tolist() == [18.0, 2.0]
    assert rows.ais_class.tolist() == ["A", "B", "B"]  # the type 27 row takes its MMSI's class
    assert rows.accuracy.tolist()[0] == 1 and rows.nav_status.tolist()[2] == 7


def test_lines_with_line_breaks_inside_fall_back_to_the_pyais_path() -> None:
    lines = (DATA / "gpsd_ais-raw-messages.log").read_text().splitlines()
    k = next(
        i for i in range(len(lines)) if lines[i].startswith("!AIVDM,1,1") and lines[i + 1].startswith("!AIVDM,1,1")
    )
    glued = [*lines[:k], lines[k] + "\n" + lines[k + 1], *lines[k + 2 :]]
    _, report = _both(glued)
    _, whole = _both(lines)
    # The second sentence is text after the first one's checksum, read as trailing fields (like a receive time).
    assert (report.messages, report.errors) == (whole.messages - 1, whole.errors)


_REAL = [line for name in ALL_FILES for line in (DATA / name).read_text(errors="replace").splitlines()]
_AIS = [line for line in _REAL if "VDM," in line or "VDO," in line]


def _resealed(line: str) -> str:
    """The line with its NMEA checksum made right again (so that a change reaches the payload decoder)."""
    start = line.find("!")
    star = line.find("*", start)
    if start < 0 or star < 0:
        return line
    body = line[start + 1 : star]
    return f"{line[: star + 1]}{reduce(lambda a, c: a ^ ord(c), body, 0):02X}{line[star + 3 :]}"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(_AIS) - 1), st.integers(0, 90), st.characters(codec="ascii")), max_size=6),
    st.integers(0, len(_AIS) - 40),
)
def test_fuzz_resealed_changes_fast_equals_pyais(changes: list[tuple[int, int, str]], start: int) -> None:
    """Characters changed anywhere (payloads, fields, fill bits, fragment numbers) with the checksum made right."""
    lines = _AIS[start : start + 40]
    for line, pos, ch in changes:
        k = line % len(lines)
        lines[k] = _resealed(lines[k][:pos] + ch + lines[k][pos + 1 :])
    _both(lines)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(0, len(_REAL) - 30))
def test_fuzz_random_bytes_among_real_lines(noise: bytes, start: int) -> None:
    """Random bytes (any UTF-8 damage) spliced into real lines: never raises, both paths agree, the intact lines
    decode as without the noise."""
    clean = _REAL[start : start + 30]
    noisy = [*clean[:15], noise.decode("utf-8", errors="surrogateescape"), *clean[15:]]
    rows, report = _both("\n".join(noisy))
    alone, _ = _both("\n".join(clean))
    if "\n" not in noise.decode("utf-8", errors="surrogateescape") and not noise.strip().startswith(b"!"):
        assert report.messages >= len(alone.mmsi) and set(alone.mmsi.tolist()) <= set(rows.mmsi.tolist())


@settings(max_examples=200, deadline=None)
@given(st.permutations(list(range(12))), st.integers(0, 11), st.integers(0, 40))
def test_fuzz_fragments_dropped_reordered_cut(order: list[int], drop: int, cut: int) -> None:
    """Multi-sentence messages out of order, parts missing, a sentence cut: errors counted, both paths agree."""
    parts = [line for line in _AIS if line.startswith("!AIVDM,2,")][:12]
    lines = [parts[i] for i in order if i != drop]
    lines[0] = lines[0][: max(cut, 1)]
    _, report = _both(lines)
    assert report.errors >= 1
