"""AIS NMEA decoding against the stored pyais 3.3.1 decodes of real logs; tag blocks, times, fragments, fuzz."""

from __future__ import annotations

import json
import math
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commonsky.formats.ais import MOVING_TYPES, POSITION_TYPES, decode_ais
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
