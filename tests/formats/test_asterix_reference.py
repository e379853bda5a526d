"""Real ASTERIX recordings decode without unexpected errors, and every record agrees with asterix-decoder 0.7.11."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from commonsky.formats.asterix import decode_asterix, decode_recording

DATA = Path(__file__).resolve().parents[1] / "data" / "asterix"
EXPECTED = DATA / "expected"
FT = 0.3048

RECORDINGS = {
    # file: (records per decoded category, CAT021 edition override)
    "cat_034_048.pcap": ({"048": 128, "034": 34}, None),
    "cat_062_065.pcap": ({"062": 2, "065": 1}, None),
    "cat034.raw": ({"034": 1}, None),
    "cat048.raw": ({"048": 1}, None),
    "cat062cat065.raw": ({"062": 2, "065": 1}, None),
    "cat21_re.ast": ({"021": 2}, None),
    "parsegps.gps": ({"048": 15, "034": 3}, None),
    "NATS_CAT048_119bytes_TCAS.ff": ({"048": 2}, None),
    "final_frame_062_30min.ff.gz": ({"062": 34957}, None),
    "final_frame_062_one_packet_sample2.FF": ({"062": 3, "065": 1}, None),
    "final_frame_cat062_one_packet.ff": ({"062": 1}, None),
    "cat021ed0.26.bin": ({"021": 1}, "0.26"),
    "cat021ed2.1.bin": ({"021": 1}, None),
    "cat034ed1.26.bin": ({"034": 1}, None),
    "cat048ed1.15.bin": ({"048": 1}, None),
    "cat048ed1.23.bin": ({"048": 1}, None),
    "cat062ed1.12.bin": ({"062": 1}, None),
    "cat062ed1.16.bin": ({"062": 1}, None),
    "cat063ed1.0.bin": ({"063": 1}, None),
    "cat065ed1.3.bin": ({"065": 1}, None),
    "goasterix_sample.ast": ({"048": 11, "034": 1, "001": 5, "002": 1}, None),
    "asterix4py_cat062.ast": ({"062": 7}, None),
    "cat_001_002.pcap": ({"001": 7, "002": 1}, None),
    "cat001ed1.1.bin": ({"001": 1}, None),
    "cat002ed1.0.bin": ({"002": 1}, None),
}


def _read(name: str) -> bytes:
    data = (DATA / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def _expected(name: str) -> Iterator[dict[str, Any]]:
    """asterix-decoder's records for a recording, less packets it crashed on and records it left empty."""
    stem = name.removesuffix(".gz")
    path = EXPECTED / f"{stem}.asterix-decoder-0.7.11.jsonl"
    lines = path.read_text() if path.exists() else gzip.decompress(Path(f"{path}.gz").read_bytes()).decode()
    for line in lines.splitlines():
        record = json.loads(line).get("record")
        if record is not None and record["hexdata"] is not None:
            yield record


def _val(record: dict[str, Any], item: str, *names: str) -> Any:
    """A value of asterix-decoder's dict (the first of alternative subitem names), None when absent."""
    node = record.get(item)
    if node is None:
        return None
    for name in names:
        if name in node:
            value = node[name]
            return value.get("val", value) if isinstance(value, dict) else value
    return None


def _sub(record: dict[str, Any], item: str, sub: str, name: str) -> Any:
    node = record.get(item, {}).get(sub)
    return None if node is None else node.get(name, {}).get("val")


def _source(r: dict[str, Any]) -> str:
    sac = _val(r, "I010", "SAC")
    return "" if sac is None else f"{sac}-{_val(r, 'I010', 'SIC')}"


def _close(ours: float, theirs: float | None, resolution: float) -> None:
    if theirs is None:
        assert np.isnan(ours)
    else:
        assert abs(ours - theirs) <= resolution / 2 + 1e-9 * max(1.0, abs(theirs)), (ours, theirs)


def _code(ours: int, theirs: Any, garbled: Any = 0) -> None:
    assert ours == (-1 if theirs is None or garbled == 1 else int(theirs)), (ours, theirs)


def _text(ours: str, theirs: str | None) -> None:
    assert ours == ("" if theirs is None else theirs.strip()), (ours, theirs)


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_recording_decodes_cleanly(name: str) -> None:
    counts, edition = RECORDINGS[name]
    decoded = decode_recording(_read(name), name=name, editions={21: edition} if edition else None)
    assert decoded.report.errors == 0, decoded.report.first_errors[:3]
    assert {k: v for k, v in decoded.report.by_category.items() if v} == counts
    fast = decode_recording(_read(name), name=name, editions={21: edition} if edition else None, use_fast=False)
    for ours, ref in ((decoded.plots, fast.plots), (decoded.tracks, fast.tracks), (decoded.services, fast.services)):
        for column, values in ours.as_dict().items():
            np.testing.assert_array_equal(values, getattr(ref, column), err_msg=f"{name}: {column}")


def _one(record: dict[str, Any], edition: str | None) -> Any:
    """Our decode of one of asterix-decoder's records, rebuilt as a one-record data block."""
    body = bytes.fromhex(record["hexdata"])
    block = bytes([record["category"]]) + (len(body) + 3).to_bytes(2, "big") + body
    decoded = decode_asterix(block, day_start_utc_s=0.0, editions={21: edition} if edition else None)
    assert decoded.report.errors == 0
    return decoded


def _check_048(plots: Any, r: dict[str, Any]) -> None:
    assert plots.sensor_id[0] == _source(r)
    _close(plots.time_s[0], _val(r, "I140", "ToD"), 1 / 128)
    rho = _val(r, "I040", "RHO")
    _close(plots.range_m[0], None if rho is None else rho * 1852.0, 1852.0 / 256)
    _close(plots.azimuth_deg[0], _val(r, "I040", "THETA"), 360 / 2**16)
    fl = None if _val(r, "I090", "G") == 1 else _val(r, "I090", "FL")
    _close(plots.altitude_m[0], None if fl is None else fl * 100 * FT, 25 * FT)
    _code(plots.squawk[0], _val(r, "I070", "Mode3A"), _val(r, "I070", "G"))
    address = _val(r, "I220", "ACAddr")
    assert plots.mode_s[0] == (-1 if address is None else int(address, 16))
    _text(plots.callsign[0], _val(r, "I240", "TId"))


def _check_001(plots: Any, r: dict[str, Any]) -> None:
    """A lone CAT001 record has only its time of day modulo 512 s (I141) and no CAT002 to complete it."""
    assert plots.sensor_id[0] == _source(r)
    assert np.isnan(plots.time_s[0])
    _close(plots.range_m[0], _val(r, "I040", "RHO") * 1852.0, 1852.0 / 128)
    _close(plots.azimuth_deg[0], _val(r, "I040", "THETA"), 360 / 2**16)
    fl = None if _val(r, "I090", "G") == 1 else _val(r, "I090", "ModeC")
    _close(plots.altitude_m[0], None if fl is None else fl * 100 * FT, 25 * FT)
    _code(plots.squawk[0], _val(r, "I070", "Mode3A"), _val(r, "I070", "G"))


def _check_021(plots: Any, r: dict[str, Any]) -> None:
    assert plots.sensor_id[0] == _source(r)
    tod = _val(r, "I073", "time_reception_position")
    _close(plots.time_s[0], tod if tod is not None else _val(r, "I030", "ToD"), 1 / 128)
    _close(plots.lat_deg[0], _val(r, "I130", "Lat"), 180 / 2**23)
    _close(plots.lon_deg[0], _val(r, "I130", "Lon"), 180 / 2**23)
    fl = _val(r, "I145", "FL")
    _close(plots.altitude_m[0], None if fl is None else fl * 100 * FT, 25 * FT)
    _code(plots.squawk[0], _val(r, "I070", "Mode3A"))
    address = _val(r, "I080", "TAddr")
    assert plots.mode_s[0] == (-1 if address is None else int(address, 16))
    _text(plots.callsign[0], _val(r, "I170", "TId"))
    _code(plots.nacp[0], _val(r, "I090", "NACp"))


def _check_062(tracks: Any, source: str, r: dict[str, Any]) -> None:
    assert source == _source(r)
    _close(tracks.time_s[0], _val(r, "I070", "ToT", "time_of_track"), 1 / 128)
    _close(tracks.lat_deg[0], _val(r, "I105", "Lat"), 180 / 2**25)
    _close(tracks.lon_deg[0], _val(r, "I105", "Lon"), 180 / 2**25)
    _close(tracks.v_east_mps[0], _val(r, "I185", "Vx"), 0.25)
    _close(tracks.v_north_mps[0], _val(r, "I185", "Vy"), 0.25)
    roc = _val(r, "I220", "RoC", "ROC")
    _close(tracks.v_up_mps[0], None if roc is None else roc * FT / 60, 6.25 * FT / 60)
    alt_ft = _val(r, "I135", "CTBA")
    for item, name in (("I136", "MFL"), ("I130", "Alt")):
        alt_ft = alt_ft if alt_ft is not None else _val(r, item, name)
    _close(tracks.alt_m[0], None if alt_ft is None else alt_ft * FT, 25 * FT)
    assert tracks.track_id[0] == _val(r, "I040", "TrkN", "TrackN")
    _code(tracks.squawk[0], _val(r, "I060", "Mode3A", "Mod3A"), _val(r, "I060", "G"))
    address = _sub(r, "I380", "ADR", "ADR")
    assert tracks.mode_s[0] == (-1 if address is None else int(address, 16))
    callsign = _sub(r, "I380", "ID", "ACID") or _sub(r, "I390", "CSN", "CS")
    _text(tracks.callsign[0], callsign)
    status = "tentative" if _val(r, "I080", "CNF") == 1 else "coasting" if _val(r, "I080", "CST") == 1 else "confirmed"
    assert tracks.status[0] == status


def _check_service(services: Any, r: dict[str, Any]) -> None:
    cat = r["category"]
    assert services.sensor_id[0] == _source(r)
    assert services.category[0] == cat
    _close(services.time_s[0], _val(r, "I030", "ToD"), 1 / 128)
    if cat == 2:
        _code(services.message_type[0], _val(r, "I000", "type"))
        _close(services.sector_deg[0], _val(r, "I020", "Azi"), 360 / 256)
    elif cat == 34:
        _code(services.message_type[0], _val(r, "I000", "MsgTyp"))
        _close(services.sector_deg[0], _val(r, "I020", "Azi"), 360 / 256)
        _close(services.period_s[0], _val(r, "I041", "RotS"), 1 / 128)
    elif cat == 63:
        _code(services.service_id[0], _val(r, "I015", "ServiceID"))
        sac = _val(r, "I050", "SAC")
        assert services.subject_id[0] == ("" if sac is None else f"{sac}-{_val(r, 'I050', 'SIC')}")
        _code(services.status[0], _val(r, "I060", "CON"))
    else:
        _code(services.message_type[0], _val(r, "I000", "Typ"))
        _code(services.service_id[0], _val(r, "I015", "SID"))
        _code(services.batch[0], _val(r, "I020", "BTN"))
        _code(services.status[0], _val(r, "I040", "NOGO"))


MISREAD_BY_PEER = {("goasterix_sample.ast", "752298010F0505B54C01AB9E84818154"), ("goasterix_sample.ast", "00")}
"""goasterix_sample.ast's fourth CAT001 record says TYP = 1 (track) but asterix-decoder reads it with
the plot layout and leaves its last byte, the track layout's I210, as an empty record of its own;
read with the layout its TYP names, it is one track record (`test_cat001_layout_follows_typ`)."""


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_every_record_matches_asterix_decoder(name: str) -> None:
    edition = RECORDINGS[name][1]
    checked = 0
    for r in _expected(name):
        if r["category"] not in (1, 2, 21, 34, 48, 62, 63, 65) or (name, r["hexdata"]) in MISREAD_BY_PEER:
            continue
        decoded = _one(r, edition)
        if r["category"] == 1:
            _check_001(decoded.plots, r)
        elif r["category"] == 48:
            _check_048(decoded.plots, r)
        elif r["category"] == 21:
            _check_021(decoded.plots, r)
        elif r["category"] == 62:
            _check_062(decoded.tracks, decoded.track_source[0], r)
        else:
            _check_service(decoded.services, r)
        checked += 1
    assert checked > 0


def test_jasterix_cat048_1_23() -> None:
    """The CAT048 1.23 sample (with an RE field) that asterix-decoder cannot read, against jASTERIX's output."""
    want = json.loads((EXPECTED / "cat048_1.23.jasterix.json").read_text())
    r = want["decoded"]["data_blocks"][0]["content"]["records"][0]
    plots = decode_recording(_read("cat048ed1.23.bin"), day_start_utc_s=0.0).plots
    assert len(plots) == 1
    assert plots.sensor_id[0] == f"{r['010']['SAC']}-{r['010']['SIC']}"
    _close(plots.time_s[0], r["140"]["Time-of-Day"], 1 / 128)
    _close(plots.range_m[0], r["040"]["RHO"] * 1852.0, 1852.0 / 256)
    _close(plots.azimuth_deg[0], r["040"]["THETA"], 360 / 2**16)
    _close(plots.altitude_m[0], r["090"]["Flight Level"] * 100 * FT, 25 * FT)
    assert plots.squawk[0] == r["070"]["Mode-3/A reply"]  # jASTERIX prints the octal digits as a number
    assert plots.mode_s[0] == r["220"]["AIRCRAFT ADDRESS"]
    assert plots.callsign[0] == r["240"]["Aircraft Identification"].strip()


def test_jasterix_cat021_0_26_position() -> None:
    """jASTERIX reads the CAT021 0.26 sample at 38.7773 N, -9.1312 E (as asterix-decoder with its 0.26 definition)."""
    plots = decode_recording(_read("cat021ed0.26.bin"), editions={21: "0.26"}).plots
    assert plots.lat_deg[0] == pytest.approx(38.7773, abs=1e-4)
    assert plots.lon_deg[0] == pytest.approx(-9.1312, abs=1e-4)


def test_pcap_times_are_utc_near_capture() -> None:
    """cat_034_048.pcap was captured 2016-05-05 07:35:56 UTC; record times sit within seconds of it."""
    decoded = decode_recording(_read("cat_034_048.pcap"))
    capture = 1462433756.5
    assert np.all(np.abs(decoded.plots.time_s - capture) < 30)
    assert decoded.report.time_span_s < 30
    expected = list(_expected("cat_034_048.pcap"))
    addresses = {_val(r, "I220", "ACAddr") for r in expected} - {None}
    callsigns = {_val(r, "I240", "TId").strip() for r in expected if "I240" in r} - {""}
    assert decoded.report.addresses == addresses
    assert decoded.report.callsigns == callsigns


def test_old_cat062_edition_is_reported_not_crashed() -> None:
    """asterix.pcap carries CAT062 edition 0.17, which libasterix lacks: every block is a counted error.

    Under edition 1.21 some of its blocks parse without a structural error, into latitudes of
    thousands of degrees: those are refused too, so no made-up track comes out."""
    decoded = decode_recording(_read("asterix.pcap"))
    assert decoded.report.errors == 100  # its 100 packets, one block each
    assert len(decoded.tracks) == 0
    assert all("packet" in str(e) for e in decoded.report.first_errors)
    assert any("edition" in str(e) for e in decoded.report.first_errors)


def test_cat001_layout_follows_typ() -> None:
    """The record asterix-decoder splits in two is one track-layout record, near the radar's other tracks."""
    plots = decode_recording(_read("goasterix_sample.ast")).plots
    cat001 = plots.take(np.arange(len(plots) - 5, len(plots)))
    np.testing.assert_allclose(cat001.range_m / 1852.0, [68.6015625, 18.546875, 27.1484375, 0x0505 / 128, 7.4453125])
    np.testing.assert_allclose(cat001.azimuth_deg[3], 0xB54C * 360 / 2**16)
    record = bytes.fromhex("752298010F0505B54C01AB9E84818154")
    lone = decode_asterix(bytes([1]) + (len(record) + 3).to_bytes(2, "big") + record)
    assert lone.report.errors == 1 and len(lone.plots) == 0  # its I210 is missing: the block is short


def test_cat001_times_are_completed_from_cat002_or_the_capture() -> None:
    """cat_001_002.pcap (ORADIS-framed): I141 keeps the time of day modulo 512 s; the radar's CAT002
    (ToD 45826.18 s) or the capture time (2014-02-25 12:43:46.4 UTC) gives the rest."""
    decoded = decode_recording(_read("cat_001_002.pcap"))
    expected = [r for r in _expected("cat_001_002.pcap") if r["category"] == 1]
    truncated = np.array([_val(r, "I141", "Time") for r in expected])
    day = 1393286400.0  # 2014-02-25 00:00 UTC
    np.testing.assert_allclose(decoded.plots.time_s - day, 45568.0 + truncated)  # 45568 = 89 × 512
    assert [_val(r, "I020", "TYP") for r in expected] == [1] * 7  # track records, read with the track layout
    assert decoded.report.not_decoded == {}
    raw = decode_asterix(_read("cat001ed1.1.bin") + _read("cat002ed1.0.bin"), day_start_utc_s=0.0)
    assert raw.plots.time_s[0] == 33280.0 + 221.4296875  # CAT002 ToD 33501.41 = 65 × 512 + 221.41


def test_oradis_frames_decode_as_the_blocks_they_carry() -> None:
    raw = _read("cat048.raw") + _read("cat034.raw")
    framed = b"".join((6 + len(block)).to_bytes(2, "big") + b"\x02\xbb\x40\x35" + block for block in _blocks(raw))
    plain, unwrapped = decode_asterix(raw), decode_recording(framed)
    assert unwrapped.report.errors == 0
    assert unwrapped.plots.mode_s.tolist() == plain.plots.mode_s.tolist()
    assert len(unwrapped.services) == len(plain.services) == 1


def _blocks(data: bytes) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        length = int.from_bytes(data[pos + 1 : pos + 3], "big")
        out.append(data[pos : pos + length])
        pos += length
    return out


def test_long_final_format_recording_summary() -> None:
    decoded = decode_recording(_read("final_frame_062_30min.ff.gz"))
    tracks = decoded.tracks
    assert set(decoded.track_source.tolist()) == {"70-16"}
    assert len(np.unique(tracks.track_id)) == 191
    assert tracks.lat_deg.min() > 51.0 and tracks.lat_deg.max() < 59.3
    assert np.nanmin(tracks.time_s) == pytest.approx(53081.82, abs=0.01)
    assert np.nanmax(tracks.time_s) == pytest.approx(54880.03, abs=0.01)
