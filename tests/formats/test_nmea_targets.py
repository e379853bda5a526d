"""Marine radar tracked targets (NMEA TTM/TLL): published examples, placement on the ellipsoid, times, round trip,
the stream decoder, the track source fusion takes, the registry, and fuzz."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pynmea2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymap3d.vincenty import vdist, vreckon

from commonsky.core.batches import SENSOR_SURFACE_RADAR
from commonsky.core.geodesy import LocalFrame
from commonsky.formats import nmea_targets
from commonsky.formats.files import decode_file, sniff_format
from commonsky.formats.modes import KT_MPS
from commonsky.formats.nmea_targets import (
    NM_M,
    NmeaTargetStream,
    RadarErrorModel,
    RadarTargets,
    decode_nmea_targets,
    direct_geodesic,
    encode_nmea_targets,
)
from commonsky.formats.report import DecodeReport
from commonsky.formats.streams import StreamSource
from commonsky.fusion import fuse, new_fusion_state

DATA = Path(__file__).parents[1] / "data" / "nmea"
PUBLISHED = DATA / "published_examples.nmea"
RADAR = (51.95, 4.05)
"""A shore radar's site (the Nieuwe Waterweg near Rotterdam), configured for the published examples."""
DAY = dt.datetime(2024, 5, 17, tzinfo=dt.UTC).timestamp()


def nmea(body: str) -> str:
    """A sentence with its checksum."""
    return f"${body}*{pynmea2.NMEASentence.checksum(body):02X}"


def test_published_examples_decode_to_the_values_their_sources_assert() -> None:
    """tests/data/nmea/README.md names each sentence's source and the values it asserts."""
    report = DecodeReport("published")
    t = decode_nmea_targets(PUBLISHED.read_text(), "radar-a", radar_position=RADAR, time_s=DAY + 43200.0, report=report)
    assert report.errors == 0 and report.messages == 4
    assert report.by_category == {"TTM": 2, "TLL": 2}
    assert t.sentence.tolist() == ["TTM", "TLL", "TTM", "TLL"]
    assert t.target.tolist() == [11, 1, 2, 1]
    # marine-api TTMTest: 25.3 NM at 13.7° T, 7.0 kn on 20.0° T, CPA 10.1 NM in 20.2 min, NAME, Q, 17:55:50.24, A
    assert t.range_m[0] == pytest.approx(25.3 * NM_M) and t.bearing_deg[0] == 13.7
    assert t.speed_mps[0] == pytest.approx(7.0 * KT_MPS) and t.course_deg[0] == 20.0
    assert t.cpa_m[0] == pytest.approx(10.1 * NM_M) and t.tcpa_s[0] == pytest.approx(20.2 * 60.0)
    assert t.name[0] == "NAME" and t.status[0] == "acquiring" and t.acquisition[0] == "A"
    assert t.time_s[0] == pytest.approx(DAY + 17 * 3600 + 55 * 60 + 50.24)
    assert (t.radar_lat_deg[0], t.radar_lon_deg[0]) == RADAR
    # marine-api TLLTest: ANDROS at 37.5252008 N, 24.6 E
    assert t.lat_deg[1] == pytest.approx(37.5252008, abs=1e-7) and t.lon_deg[1] == pytest.approx(24.6)
    assert t.name[1] == "ANDROS" and t.status[1] == "tracking"
    # go-nmea ttm_test: 1.43 NM at 170.5° T, 0.16 kn on 264.4° T, CPA 1.42 NM in 36.9 min, T, M, no time
    assert t.range_m[2] == pytest.approx(1.43 * NM_M) and t.bearing_deg[2] == 170.5
    assert t.speed_mps[2] == pytest.approx(0.16 * KT_MPS) and t.course_deg[2] == 264.4
    assert t.cpa_m[2] == pytest.approx(1.42 * NM_M) and t.tcpa_s[2] == pytest.approx(36.9 * 60.0)
    assert t.name[2] == "" and t.status[2] == "tracking" and t.acquisition[2] == "M"
    assert t.time_s[2] == DAY + 43200.0  # no time in the sentence: the caller's
    # go-nmea tll_test: test at 36.775711 N, 2.5896296666666667 W, 02:09:15, lost, reference target
    assert t.lat_deg[3] == pytest.approx(36.775711) and t.lon_deg[3] == pytest.approx(-2.5896296666666667)
    assert t.name[3] == "test" and t.status[3] == "lost" and bool(t.reference[3])
    assert t.time_s[3] == pytest.approx(DAY + 2 * 3600 + 9 * 60 + 15)


def test_a_ttm_is_placed_on_the_ellipsoid_as_an_independent_geodesic_places_it() -> None:
    """Vincenty's direct problem here against pymap3d's implementation, and back with its inverse."""
    rng = np.random.default_rng(7)
    lat, lon = rng.uniform(-70, 70, 200), rng.uniform(-180, 180, 200)
    az, dist = rng.uniform(0, 360, 200), rng.uniform(0, 100_000, 200)
    lat2, lon2 = direct_geodesic(lat, lon, az, dist)
    for i in range(len(lat)):
        ref_lat, ref_lon = vreckon(lat[i], lon[i], dist[i], az[i])[:2]
        assert lat2[i] == pytest.approx(ref_lat, abs=1e-9)  # 0.1 mm
        assert (lon2[i] - ref_lon + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=1e-9)
        back_dist, back_az = vdist(lat[i], lon[i], lat2[i], lon2[i])[:2]
        assert back_dist == pytest.approx(dist[i], abs=1e-3)
        if dist[i] > 10.0:
            assert (back_az - az[i] + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=1e-6)


def test_a_ttm_from_a_moving_ship_is_placed_from_its_latest_fix_and_heading() -> None:
    lines = [
        nmea("GPRMC,120000.00,A,5157.000,N,00403.000,E,5.0,90.0,170524,,,A"),
        nmea("HEHDT,87.5,T"),
        nmea("RATTM,03,2.000,10.0,R,12.0,45.0,T,0.5,-3.0,N,TUG,T,,120001.00,A"),
        nmea("GPGGA,120005.00,5157.010,N,00403.100,E,1,08,0.9,2.0,M,47.0,M,,"),
        nmea("RATTM,04,1.000,200.0,T,3.0,180.0,T,,,N,,T,,120006.00,A"),
    ]
    t = decode_nmea_targets(lines, "ship")
    fix1, fix2 = (51.95, 4.05), (51.95 + 0.010 / 60, 4.05 + 0.100 / 60)
    expected1 = vreckon(*fix1, 2.0 * NM_M, 97.5)[:2]  # relative 10° + heading 87.5°
    expected2 = vreckon(*fix2, 1.0 * NM_M, 200.0)[:2]
    assert t.lat_deg.tolist() == pytest.approx([expected1[0], expected2[0]], abs=1e-9)
    assert t.lon_deg.tolist() == pytest.approx([expected1[1], expected2[1]], abs=1e-9)
    assert t.radar_lat_deg.tolist() == pytest.approx([fix1[0], fix2[0]])
    assert t.bearing_deg[0] == pytest.approx(97.5)
    assert t.tcpa_s[0] == -180.0
    day = dt.datetime(2024, 5, 17, 12, tzinfo=dt.UTC).timestamp()
    assert t.time_s.tolist() == pytest.approx([day + 1.0, day + 6.0])


def test_targets_that_cannot_be_placed_are_errors_with_their_line() -> None:
    lines = [
        nmea("RATTM,01,1.0,10.0,T,,,T,,,N,,T,,120000,A"),  # no fix yet, no configured position
        nmea("GPRMC,120000.00,A,5157.000,N,00403.000,E,0.0,0.0,170524,,,A"),
        nmea("RATTM,02,1.0,10.0,R,,,T,,,N,,T,,120001,A"),  # relative bearing without heading
        nmea("RATTM,03,1.0,10.0,T,,,T,,,N,,T,,120030,A"),  # the fix is 30 s old
        nmea("RATTM,04,,,T,,,T,,,N,,L,,120001,A"),  # lost, without a position: a row all the same
        nmea("RATTM,05,1.0,10.0,T,2.0,90.0,R,,,N,,T,,120002,A"),  # relative course: speed and course unknown
    ]
    report = DecodeReport("r")
    t = decode_nmea_targets(lines, "ship", report=report)
    assert [e.offset for e in report.first_errors] == [1, 3, 4]
    assert "radar position" in report.first_errors[0].problem and "HDT" in report.first_errors[1].problem
    assert t.target.tolist() == [4, 5] and t.status.tolist() == ["lost", "tracking"]
    assert np.isnan(t.lat_deg[0]) and np.isfinite(t.lat_deg[1])
    assert np.isnan(t.speed_mps[1]) and np.isnan(t.course_deg[1])


def test_times_take_the_date_of_the_latest_rmc_and_cross_midnight() -> None:
    lines = [
        nmea("GPRMC,235959.00,A,5157.000,N,00403.000,E,0.0,0.0,170524,,,A"),
        nmea("RATLL,01,5157.500,N,00403.500,E,,235959.50,T,"),
        nmea("RATLL,01,5157.501,N,00403.501,E,,000000.50,T,"),  # after midnight: the next day
        "\\c:1715990400,s:RA0001*"
        + f"{pynmea2.NMEASentence.checksum('c:1715990400,s:RA0001'):02X}\\"
        + nmea("RATLL,02,5157.000,N,00404.000,E,,,T,"),  # a tag block's time wins
        nmea("RATLL,03,5157.000,N,00404.000,E,,,T,"),  # no time at all: the RMC clock
    ]
    t = decode_nmea_targets(lines, "r", time_s=0.0)
    midnight = dt.datetime(2024, 5, 18, tzinfo=dt.UTC).timestamp()
    assert t.time_s.tolist() == pytest.approx([midnight - 0.5, midnight + 0.5, 1715990400.0, midnight - 1.0])


def test_without_a_date_a_time_of_day_falls_nearest_the_callers_time_or_stays_unknown() -> None:
    line = nmea("RATLL,01,5157.500,N,00403.500,E,,000010.00,T,")
    assert decode_nmea_targets([line], "r", time_s=DAY - 5.0).time_s[0] == DAY + 10.0
    assert math.isnan(decode_nmea_targets([line], "r").time_s[0])


def test_units_other_than_nautical() -> None:
    lines = [nmea(f"RATTM,01,2.0,0.0,T,36.0,0.0,T,1.0,,{u},,T,,,A") for u in "KS"]
    t = decode_nmea_targets(lines, "r", radar_position=RADAR, time_s=DAY)
    assert t.range_m.tolist() == pytest.approx([2000.0, 2 * 1609.344])
    assert t.speed_mps.tolist() == pytest.approx([10.0, 36 * 1609.344 / 3600])
    assert t.cpa_m.tolist() == pytest.approx([1000.0, 1609.344])


def test_bad_and_foreign_lines_are_counted_and_skipped() -> None:
    good = nmea("RATLL,07,5157.500,N,00403.500,E,BARGE,120000,T,")
    lines = [
        good,
        good[:-2] + "00",  # checksum
        nmea("RATLL,07,9157.500,N,00403.500,E,,120000,T,"),  # latitude out of range
        nmea("RATTM,x7,1.0,10.0,T,,,T,,,N,,T,,120000,A"),  # target number
        nmea("RATTM,07,1.0,10.0,T,,,T,,,,,T,,120000,A"),  # distance without units
        nmea("RATLL,07,5157.500,N,00403.500,E,,250000,T,"),  # time of day
        nmea("RAXYZ,1,2,3"),  # a type pynmea2 does not know
        "not nmea at all",
        nmea("GPGSV,1,1,00"),  # well-formed, not ours
        "!AIVDM,1,1,,A,13P;Goh02a1dA>PEUdrGkn?l0<3kKh9,0*4F",
        "",
        good,
    ]
    report = DecodeReport("r")
    t = decode_nmea_targets(lines, "r", time_s=DAY, report=report)
    assert len(t) == 2 and t.name.tolist() == ["BARGE", "BARGE"]
    assert [e.offset for e in report.first_errors] == [2, 3, 4, 5, 6, 7, 8]
    assert report.not_decoded == {"GSV": 1, "VDM": 1}
    assert report.messages == 2


def test_round_trip_through_encode() -> None:
    lines = [
        nmea("GPRMC,101500.00,A,5157.000,N,00403.000,E,4.0,270.0,170524,,,A"),
        nmea("RATTM,12,0.812,33.4,T,6.2,271.5,T,0.35,4.5,N,DREDGER,T,R,101500.50,M"),
        nmea("RATLL,13,5157.200,N,00402.000,W,FERRY,101501.00,Q,"),
        nmea("RATTM,14,1.500,120.0,T,,,T,,,N,,L,,101502.00,A"),
        nmea("RATLL,15,,,,,,101502.00,L,"),
    ]
    first = decode_nmea_targets(lines, "r")
    text = encode_nmea_targets(first)
    assert text.endswith("\r\n") and all(pynmea2.parse(line, check=True) for line in text.splitlines())
    report = DecodeReport("again")
    again = decode_nmea_targets(text, "r", report=report)
    assert report.errors == 0 and len(again) == len(first) == 4
    for name, column in first.as_dict().items():
        if column.dtype.kind == "f":
            np.testing.assert_allclose(getattr(again, name), column, rtol=0, atol=1e-6, equal_nan=True, err_msg=name)
        else:
            assert getattr(again, name).tolist() == column.tolist(), name


def test_track_reports_are_a_track_source_fusion_takes() -> None:
    lines = [
        nmea("RATTM,01,2.0,45.0,T,10.0,90.0,T,,,N,,T,,120000.00,A"),
        nmea("RATLL,01,5157.000,N,00403.000,E,,120000.00,T,"),  # same time, no velocity: the TTM wins
        nmea("RATLL,02,5158.000,N,00404.000,E,,120001.00,Q,"),
        nmea("RATTM,03,1.0,0.0,T,0.0,0.0,T,,,N,,T,,120001.00,A"),  # a stopped vessel
        nmea("RATTM,04,1.0,0.0,T,,,T,,,N,,L,,120001.00,A"),  # lost: not reported
        nmea("RATTM,05,0.8,300.0,T,0.0,0.0,T,,,N,BEACON,T,R,120001.00,M"),  # a reference target: a fixed mark
    ]
    targets = decode_nmea_targets(lines, "radar-a", radar_position=RADAR, time_s=DAY + 43200.0)
    model = RadarErrorModel()
    reports = targets.to_track_reports(model)
    assert reports.owner.tolist() == ["radar-a"] * 3 and reports.track_id.tolist() == [1, 2, 3]
    assert reports.status.tolist() == ["confirmed", "tentative", "confirmed"]
    assert (reports.sensor_kinds == SENSOR_SURFACE_RADAR).all() and (reports.callsign == "").all()
    assert (reports.domain == "surface").all()
    assert reports.v_east_mps[0] == pytest.approx(10.0 * KT_MPS) and abs(reports.v_north_mps[0]) < 1e-12
    cov = reports.covariance()
    # target 1: 2 NM out at 45°: range sigma 25 m (0.5 % of 3.7 km is less), cross-range 1° of 3704 m
    radial, across = np.array([1.0, 1.0]) / math.sqrt(2), np.array([1.0, -1.0]) / math.sqrt(2)
    assert radial @ cov[0, :2, :2] @ radial == pytest.approx(25.0**2)
    assert across @ cov[0, :2, :2] @ across == pytest.approx((2 * NM_M * math.radians(1.0)) ** 2)
    # target 2 (TLL): no velocity, reported as 0 with the unknown-speed sigma; its range comes from the radar site
    assert reports.v_east_mps[1] == 0.0 and cov[1, 2, 2] == cov[1, 3, 3] == model.unknown_speed_sigma_mps**2
    assert cov[1, 0, 0] < model.unplaced_sigma_m**2
    assert np.all(np.linalg.eigvalsh(cov) > 0)  # the stopped vessel too
    frame = LocalFrame(*RADAR, 0.0)
    state, fused = fuse(new_fusion_state(frame), reports, DAY + 43202.0)
    assert state.stats.invalid == 0 and len(fused) == 3


def test_one_owner_for_a_batch_of_one_radar_and_no_silent_truncation() -> None:
    line = nmea("RATLL,01,5157.000,N,00403.000,E,,120000.00,T,")
    long_id = decode_nmea_targets([line], "a-sensor-id-of-20-ch", time_s=DAY)
    with pytest.raises(ValueError, match="owner"):
        long_id.to_track_reports()
    assert long_id.to_track_reports(owner="bank-a").owner.tolist() == ["bank-a"]
    two = RadarTargets.concat([long_id, decode_nmea_targets([line], "other", time_s=DAY)])
    with pytest.raises(ValueError, match="several radars"):
        two.to_track_reports(owner="bank-a")


SAMPLE = [
    nmea("GPZDA,101500.00,17,05,2024,00,00"),
    nmea("GPGLL,5157.000,N,00403.000,E,101500.00,A,A"),
    nmea("RATTM,12,0.812,33.4,T,6.2,271.5,T,0.35,4.5,N,DREDGER,T,,101500.50,M"),
    nmea("RATLL,13,5157.200,N,00402.000,E,FERRY,101501.00,Q,"),
    nmea("RATTM,14,1.500,120.0,T,3.0,10.0,T,,,N,,T,,101502.00,A"),
]
SAMPLE_TEXT = "".join(line + "\r\n" for line in SAMPLE).encode()


def test_a_stream_cut_anywhere_decodes_as_the_whole() -> None:
    whole = decode_nmea_targets(SAMPLE, "r")
    for cut in range(1, len(SAMPLE_TEXT)):
        stream = NmeaTargetStream("r")
        assert len(stream.feed(SAMPLE_TEXT[:cut], 0.0)) == 0  # tracks, not plots
        stream.feed(SAMPLE_TEXT[cut:], 0.0)
        stream.finish()
        got = stream.take_targets()
        assert got.target.tolist() == whole.target.tolist() and got.time_s.tolist() == whole.time_s.tolist()
        assert stream.report.errors == 0 and len(stream.take_targets()) == 0


def test_udp_datagrams_need_no_newline_and_iec_61162_450_headers_are_read() -> None:
    source = StreamSource("udp://239.192.0.1:60001", "radar-a", reference=RADAR)
    stream = NmeaTargetStream.from_source(source)
    body = "s:RA0001,n:1"
    tag = f"\\{body}*{pynmea2.NMEASentence.checksum(body):02X}\\"
    stream.feed(b"UdPbC\x00" + (tag + SAMPLE[0]).encode(), 100.0)
    stream.feed(b"UdPbC\x00" + (tag + SAMPLE[3]).encode(), 100.5)
    stream.feed(SAMPLE[4].encode(), 101.0)
    got = stream.take_targets()
    assert got.target.tolist() == [13, 14] and stream.report.errors == 0
    assert (got.radar_lat_deg[1], got.radar_lon_deg[1]) == RADAR


def test_a_stream_bad_line_is_numbered_in_the_stream() -> None:
    stream = NmeaTargetStream("r")
    stream.feed(SAMPLE_TEXT, 0.0)
    stream.feed(b"$RATLL,01*00\r\n", 1.0)
    assert [e.offset for e in stream.report.first_errors] == [len(SAMPLE) + 1]


def test_targets_nobody_takes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nmea_targets, "MAX_PENDING_ROWS", 250)
    stream = NmeaTargetStream("r", RADAR)
    batch = (nmea("RATLL,01,5157.000,N,00403.000,E,,,T,") + "\r\n").encode() * 100
    for _ in range(5):
        stream.feed(batch, 0.0)
    assert stream.pending_rows == 200 and stream.rows_dropped == 300
    assert len(stream.take_targets()) == 200 and stream.pending_rows == 0


def test_the_registry_sniffs_and_decodes_a_recording(tmp_path: Path) -> None:
    assert sniff_format(PUBLISHED.read_bytes()) == "nmea-targets"
    mixed = tmp_path / "mixed.nmea"
    mixed.write_text("\r\n".join([nmea("GPGSV,1,1,00")] * 30 + SAMPLE) + "\r\n")
    assert sniff_format(mixed.read_bytes()) == "nmea-targets"  # past the first lines too
    decoded = decode_file(PUBLISHED, reference=RADAR, day_start_utc_s=DAY)
    assert decoded.format == "nmea-targets" and decoded.report.errors == 0 and len(decoded.plots) == 0
    assert decoded.tracks.track_id.tolist() == [11, 1, 2]  # the lost target is no track
    assert decoded.tracks.status.tolist() == ["tentative", "confirmed", "confirmed"]
    ais = Path(__file__).parents[1] / "data" / "ais" / "libais_test.aivdm"
    assert sniff_format(ais.read_bytes()) == "ais"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from("$!\\*,.-RATMLGPCZDHx0123456789NSEWKQ:c\x00"), max_size=60), max_size=8)
)
def test_fuzz_random_lines_never_raise(lines: list[str]) -> None:
    report = DecodeReport("fuzz")
    t = decode_nmea_targets(lines, "r", time_s=DAY, report=report)
    assert len(t) <= report.messages
    assert report.messages + report.errors + sum(report.not_decoded.values()) <= len(lines)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(SAMPLE) - 1), st.integers(0, 90), st.characters(codec="ascii"))
def test_fuzz_one_garbled_line_loses_nothing_else(index: int, position: int, char: str) -> None:
    lines = [line for line in SAMPLE if "RATTM" in line or "RATLL" in line]
    index %= len(lines)
    base = decode_nmea_targets(lines, "r", radar_position=RADAR, time_s=DAY)
    broken = list(lines)
    target = broken[index]
    broken[index] = target[:position] + char + target[position + 1 :]
    report = DecodeReport("fuzz")
    got = decode_nmea_targets(broken, "r", radar_position=RADAR, time_s=DAY, report=report)
    others = np.arange(len(lines)) != index
    if len(got) == len(lines) - 1:
        assert report.errors + sum(report.not_decoded.values()) <= 1
        assert got.target.tolist() == base.target[others].tolist()
        assert got.time_s.tolist() == base.time_s[others].tolist()
    else:
        assert len(got) == len(lines) and report.errors == 0
        assert got.target[others].tolist() == base.target[others].tolist()
