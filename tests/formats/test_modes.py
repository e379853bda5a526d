"""Mode S / ADS-B decoding against real recordings and their peer decodes (rs1090 origin values, pyModeS)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyModeS
import pytest
import rs1090
from hypothesis import given, settings
from hypothesis import strategies as st

from commonsky.formats.modes import (
    CONFIRM_TTL_S,
    FPM_MPS,
    FT_M,
    KT_MPS,
    REPLY_DFS,
    ModeSDecoder,
    decode_modes,
    decode_modes_text,
    read_modes_text,
)
from commonsky.formats.modes.frames import hex_to_bytes, parity_remainder
from commonsky.formats.report import DecodeReport

DATA = Path(__file__).resolve().parents[1] / "data" / "modes"
LFPG = (49.0097, 2.5479)


def _jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines()]


def _metres(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Equirectangular distance, ample for the few-kilometre differences tested here."""
    dlat = np.radians(np.asarray(lat2) - lat1)
    dlon = np.radians(np.asarray(lon2) - lon1) * np.cos(np.radians(lat1))
    return 6371e3 * np.hypot(dlat, dlon)


def _df11(address: int) -> str:
    """A clean DF11 acquisition squitter from `address`, parity computed with rs1090's check below."""
    head = f"5d{address:06x}"
    b, _, _ = hex_to_bytes([head + "000000"])
    remainder = int(parity_remainder(b, np.array([True]))[0])
    return f"{head}{remainder:06x}"


@pytest.fixture(scope="module")
def flight() -> list[dict[str, Any]]:
    return _jsonl("full_flight_short_rows12000-12999.pymodes361+rs1090.jsonl")


@pytest.fixture(scope="module")
def flight_decoded(flight: list[dict[str, Any]]) -> tuple[ModeSDecoder, Any]:
    decoder = ModeSDecoder("lfpg", reference=LFPG)
    batch = decoder.decode([r["hex"] for r in flight], [r["t"] for r in flight])
    return decoder, batch


def test_df11_helper_is_clean_for_rs1090() -> None:
    assert rs1090.decode(_df11(0x4CA2B1))["icao24"] == "4ca2b1"


def test_flight_positions_match_rs1090_per_frame(flight: list[dict[str, Any]], flight_decoded: Any) -> None:
    decoder, batch = flight_decoded
    assert decoder.report.errors == 0
    assert decoder.stats["unresolved_positions"] == 0
    ref = [r["rs1090"] for r in flight if "latitude" in r["rs1090"]]
    plots = batch.plots
    assert len(plots) == len(ref) > 100
    d = _metres(plots.lat_deg, plots.lon_deg, [r["latitude"] for r in ref], [r["longitude"] for r in ref])
    assert d.max() < 5.0
    np.testing.assert_allclose(plots.altitude_m, [r["altitude"] * FT_M for r in ref])
    assert set(plots.mode_s.tolist()) == {0x393322}
    named = plots.callsign != ""
    assert set(plots.callsign[named].tolist()) == {"AFR34ZG"}
    assert named[np.argmax(named) :].all() and named.mean() > 0.5  # blank only until the first identification
    assert np.isnan(plots.range_m).all() and np.isnan(plots.azimuth_deg).all()
    assert decoder.report.addresses == {"393322"}


def test_flight_velocities_match_rs1090(flight: list[dict[str, Any]], flight_decoded: Any) -> None:
    _, batch = flight_decoded
    ref = [r["rs1090"] for r in flight if r["rs1090"].get("bds") == "09"]
    v = batch.velocities
    assert len(v) == len(ref) > 100
    np.testing.assert_allclose(v.groundspeed_mps, [r["groundspeed"] * KT_MPS for r in ref])
    np.testing.assert_allclose(v.track_deg, [r["track"] for r in ref])
    np.testing.assert_allclose(v.vertical_rate_mps, [r["vertical_rate"] * FPM_MPS for r in ref])
    np.testing.assert_allclose(np.hypot(v.v_east_mps, v.v_north_mps), v.groundspeed_mps)


def test_flight_replies_follow_confirmation_and_match_peers(flight: list[dict[str, Any]], flight_decoded: Any) -> None:
    decoder, batch = flight_decoded
    dfs = [int(r["hex"][:2], 16) >> 3 for r in flight]
    first_confirm = next(i for i, d in enumerate(dfs) if d in (11, 17))
    expected = [r for i, (r, d) in enumerate(zip(flight, dfs, strict=True)) if d in REPLY_DFS and i > first_confirm]
    unconfirmed = sum(1 for i, d in enumerate(dfs) if d in REPLY_DFS and i < first_confirm)
    assert unconfirmed > 0
    assert decoder.stats["unconfirmed_replies"] == unconfirmed
    rep = batch.replies
    assert len(rep) == len(expected)
    assert set(rep.mode_s.tolist()) == {0x393322}
    compared = 0
    for k, r in enumerate(expected):
        for peer in (r["rs1090"], r["pymodes"]):
            if peer.get("altitude") is not None and math.isfinite(rep.altitude_m[k]):
                assert rep.altitude_m[k] == pytest.approx(peer["altitude"] * FT_M)
                compared += 1
            if peer.get("squawk") is not None and rep.squawk[k] >= 0:
                assert rep.squawk[k] == int(peer["squawk"])
                compared += 1
    assert compared > 0.9 * 2 * len(expected)


def test_ap_address_agrees_with_rs1090(flight: list[dict[str, Any]]) -> None:
    frames = [r.get("hex_decoded", r["hex"]) for r in flight]
    b, _, ok = hex_to_bytes(frames)
    assert ok.all()
    short = np.array([len(f) == 14 for f in frames])
    rem = parity_remainder(b, short)
    for f, r in zip(frames, rem.tolist(), strict=True):
        if int(f[:2], 16) >> 3 in REPLY_DFS:
            assert f"{r:06x}" == rs1090.decode(f)["icao24"]


def test_pymodes_adsb_csv_layout() -> None:
    text = (DATA / "pymodes_sample_data_adsb_first1000.csv").read_text()
    report = DecodeReport(source="csv")
    decoder_batch = decode_modes_text(text, "rx", report=report)
    assert report.errors == 0 and report.messages == 1000
    assert report.callsigns == {"EZY85MH"} and report.addresses == {"406B90"}
    plots = decoder_batch.plots
    expected = {r["hex"]: r["pymodes"] for r in _jsonl("pymodes_sample_data_adsb_first1000.pymodes361.jsonl")}
    raw = read_modes_text(text)
    positions = [f for f in raw.frame.tolist() if expected[f].get("typecode") == 11]
    # Frames before the first even/odd pair stay unresolved (no receiver position); all others match.
    own = positions[len(positions) - len(plots) :]
    assert len(positions) - len(plots) <= 5
    for k, frame in enumerate(own):
        peer = expected[frame]
        # pyModeS's batch answer is the pair's position; its local decode from there is this frame's own CPR.
        local = pyModeS.decode(frame, reference=(peer["latitude"], peer["longitude"]))
        assert _metres(plots.lat_deg[k], plots.lon_deg[k], local["latitude"], local["longitude"]) < 5.0
        assert plots.altitude_m[k] == pytest.approx(peer["altitude"] * FT_M)
    unresolved = positions[: len(positions) - len(plots)]
    parity0 = expected[positions[0]]["cpr_format"]
    assert len(unresolved) == next(i for i, f in enumerate(positions) if expected[f]["cpr_format"] != parity0)
    assert (plots.callsign[1:] == "EZY85MH").all()
    vel = [expected[f] for f in raw.frame.tolist() if expected[f].get("typecode") == 19]
    speeds = [p["groundspeed"] * KT_MPS for p in vel]  # pyModeS truncates to whole knots
    np.testing.assert_allclose(decoder_batch.velocities.groundspeed_mps, speeds, atol=1.0 * KT_MPS)
    np.testing.assert_allclose(decoder_batch.velocities.track_deg, [p["track"] for p in vel], atol=1e-6)


def test_commb_replies_need_confirmation_then_match_pymodes() -> None:
    raw = read_modes_text((DATA / "pymodes_sample_data_commb_df20_first500.csv").read_text(encoding="utf-8-sig"))
    assert len(raw) == 500
    alone = ModeSDecoder("rx")
    assert len(alone.decode_raw(raw).replies) == 0
    assert alone.stats["unconfirmed_replies"] == 500
    expected = {r["hex"]: r["pymodes"] for r in _jsonl("pymodes_commb_df20_first500.pymodes361.jsonl")}
    addresses = sorted({int(expected[f]["icao"], 16) for f in raw.frame.tolist()})
    decoder = ModeSDecoder("rx")
    decoder.decode([_df11(a) for a in addresses], np.full(len(addresses), raw.time_s[0] - 1.0))
    rep = decoder.decode_raw(raw).replies
    assert len(rep) == 500 and decoder.report.errors == 0
    for k, frame in enumerate(raw.frame.tolist()):
        peer = expected[frame]
        assert rep.mode_s[k] == int(peer["icao"], 16)
        if peer.get("altitude") is not None:
            assert rep.altitude_m[k] == pytest.approx(peer["altitude"] * FT_M)
    commb_callsigns = {p["callsign"].strip("_ ") for p in expected.values() if p.get("bds") == "2,0"}
    assert commb_callsigns and commb_callsigns <= decoder.report.callsigns


def test_golden_v2_fields() -> None:
    golden: dict[str, dict[str, Any]] = json.loads((DATA / "pymodes_golden_v2.json").read_text())
    frames = list(golden)
    b, _, _ = hex_to_bytes(frames)
    rem = parity_remainder(b, np.zeros(len(frames), dtype=bool))
    addresses = sorted({int(f[2:8], 16) for f in frames if f.startswith("8")} | set(rem.tolist()))
    decoder = ModeSDecoder("rx")
    decoder.decode([_df11(a) for a in addresses], np.zeros(len(addresses)))
    batch = decoder.decode(frames, np.ones(len(frames)))
    assert decoder.report.errors == 0
    replies = iter(range(len(batch.replies)))
    checked = 0
    for f in frames:
        peer = golden[f]
        if int(f[:2], 16) >> 3 not in (20, 21):
            continue
        k = next(replies)
        if peer.get("altitude") is not None and math.isfinite(batch.replies.altitude_m[k]):
            assert batch.replies.altitude_m[k] == pytest.approx(peer["altitude"] * FT_M)
            checked += 1
        if peer.get("squawk") is not None:
            assert batch.replies.squawk[k] == int(peer["squawk"])
            checked += 1
    assert checked > 350
    ident = {golden[f]["callsign"].strip("_ ") for f in frames if f.startswith("8") and golden[f].get("callsign")}
    assert ident <= decoder.report.callsigns


def test_dump1090_raw_text() -> None:
    report = DecodeReport(source="raw")
    batch = decode_modes_text(
        (DATA / "dump1090_modes1_iq.antirez-dump1090-efe64db.raw.txt").read_text(), "rx", report=report
    )
    assert report.errors == 0 and report.messages == 217
    counts = {"DF17": 120, "DF11": 63, "DF0": 10, "DF5": 8, "DF20": 8, "DF21": 5, "DF4": 3}
    assert dict(report.by_category) == counts
    assert "4D2023" in report.addresses
    assert len(batch.plots) == 0  # no times, no receiver position: CPR cannot be resolved


def test_text_line_layouts() -> None:
    frame = "8D406B9058B975870B738754F480"
    text = "\n".join(
        [
            "\ufeff" + frame,
            f"*{frame.lower()};",
            f"1457996400.5,{frame}",
            f'1457996401,"{frame}","406B90",11',
            f"1457996402,406B90,{frame}",
            "",
            "# comment",
            "not a frame at all",
            f"*{frame}",
            f"abc,{frame}",
            "1457996403,406B90",
        ]
    )
    report = DecodeReport(source="t")
    raw = read_modes_text(text, time_s=5.0, report=report)
    assert raw.frame.tolist() == [frame, frame.lower(), frame, frame, frame]
    assert raw.time_s.tolist() == [5.0, 5.0, 1457996400.5, 1457996401.0, 1457996402.0]
    assert raw.offset.tolist() == [1, 2, 3, 4, 5]
    assert report.errors == 4 and [e.offset for e in report.first_errors] == [8, 9, 10, 11]


def test_bad_frames_are_counted_not_raised() -> None:
    good = "8D406B9058B975870B738754F480"
    bad_crc = good[:-1] + "1"
    frames = [
        good,
        bad_crc,
        "ZZ406B9058B975870B738754F480",
        "8D406B",
        "8D406B9058B975",
        "0" * 13 + "é",
        "08" + "0" * 12,
    ]
    report = DecodeReport(source="t")
    decoder = ModeSDecoder("rx", report=report)
    decoder.decode(frames, np.arange(len(frames), dtype=float))
    assert report.messages == 1
    assert report.errors == len(frames) - 1
    assert decoder.stats["crc_failed"] == 1
    assert [e.offset for e in report.first_errors] == [1, 2, 3, 4, 5, 6]


def test_address_trust_expires() -> None:
    df4 = "20001838CA3804"  # DF4 from an address we confirm first
    address = int(rs1090.decode(df4)["icao24"], 16)
    decoder = ModeSDecoder("rx")
    batch = decoder.decode([df4, _df11(address), df4, df4], [0.0, 1.0, 2.0, 3.0 + CONFIRM_TTL_S])
    assert len(batch.replies) == 1 and batch.replies.mode_s[0] == address
    assert decoder.stats["unconfirmed_replies"] == 2


def test_chunked_decoding_equals_one_call(flight: list[dict[str, Any]], flight_decoded: Any) -> None:
    _, whole = flight_decoded
    decoder = ModeSDecoder("lfpg", reference=LFPG)
    frames, times = [r["hex"] for r in flight], [r["t"] for r in flight]
    parts = [decoder.decode(frames[i : i + 77], times[i : i + 77]) for i in range(0, len(frames), 77)]
    for name in ("plots", "velocities", "replies"):
        a = getattr(whole, name).as_dict()
        b = {k: np.concatenate([getattr(p, name).as_dict()[k] for p in parts]) for k in a}
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{name}.{k}")


def test_global_cpr_without_reference(flight: list[dict[str, Any]]) -> None:
    batch = decode_modes([r["hex"] for r in flight], [r["t"] for r in flight], "rx")
    ref = [r["rs1090"] for r in flight if "latitude" in r["rs1090"]]
    # Without a receiver position the frames before the first pair wait; every later one is resolved exactly.
    n = len(batch.plots)
    first_pair = next(i for i, r in enumerate(ref) if r["parity"] != ref[0]["parity"])
    assert n == len(ref) - first_pair
    tail = ref[len(ref) - n :]
    d = _metres(batch.plots.lat_deg, batch.plots.lon_deg, [r["latitude"] for r in tail], [r["longitude"] for r in tail])
    assert d.max() < 5.0


_REAL = [r["hex"] for r in _jsonl("traffic_sample_dump1090_all239.pymodes361.jsonl")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=30))
def test_fuzz_random_text(lines: list[str]) -> None:
    report = DecodeReport(source="fuzz")
    decode_modes_text("\n".join(lines), "rx", report=report, reference=(43.6, 1.4))
    assert report.messages + report.errors <= sum(1 for _ in "\n".join(lines).splitlines())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_REAL), st.integers(0, 111), st.integers(0, 15)), min_size=1, max_size=40))
def test_fuzz_mutated_real_frames(mutations: list[tuple[str, int, int]]) -> None:
    frames = []
    for frame, bit, nibble in mutations:
        pos = min(bit // 4, len(frame) - 1)
        frames.append(frame[:pos] + f"{nibble:X}" + frame[pos + 1 :])
    report = DecodeReport(source="fuzz")
    decoder = ModeSDecoder("rx", reference=(43.6, 1.4), report=report)
    batch = decoder.decode(frames, np.arange(len(frames), dtype=float))
    assert report.messages + report.errors == len(frames)
    assert np.all(np.abs(batch.plots.lat_deg) <= 90) and np.all(np.abs(batch.plots.lon_deg) <= 180)


def test_identity_state_carries_across_calls(flight: list[dict[str, Any]]) -> None:
    frames, times = [r["hex"] for r in flight], [r["t"] for r in flight]
    ident = next(i for i, r in enumerate(flight) if r["rs1090"].get("bds") == "08")
    decoder = ModeSDecoder("lfpg", reference=LFPG)
    decoder.decode(frames[: ident + 1], times[: ident + 1])
    # Only positions after the split: the callsign and squawk seen before it must still be attached.
    positions = [i for i, r in enumerate(flight) if i > ident and "latitude" in r["rs1090"]]
    later = decoder.decode([frames[i] for i in positions], [times[i] for i in positions])
    assert len(later.plots) == len(positions)
    assert (later.plots.callsign == "AFR34ZG").all()
    assert (later.plots.squawk >= 0).all()
    assert len(decoder.state.identities) == len(set(decoder.state.identities.addr.tolist())) == 1


def test_nucp_stands_in_for_nacp_until_one_is_received() -> None:
    """The textbook CPR pair (TC 11, NUCp 7: HFOM < 92.6 m): no TC 29/31 yet, so NACp 8 (EPU < 92.6 m)."""
    even, odd = "8D40621D58C382D690C8AC2863A7", "8D40621D58C386435CC412692AD6"
    assert rs1090.decode(even)["NUCp"] == 7
    plots = decode_modes([even, odd], [0.0, 1.0], "rx").plots
    assert plots.nacp.tolist() == [8]
