"""Encode -> decode round trips (Hypothesis), and our encoded bytes read back by the independent asterix-decoder."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commonsky.core.batches import Plots, Tracks
from commonsky.core.errors import SchemaError
from commonsky.formats.asterix import ServiceMessages, decode_asterix
from commonsky.formats.asterix.encode import (
    encode_cat021,
    encode_cat034,
    encode_cat048,
    encode_cat062,
    encode_cat063,
    encode_cat065,
)

FT = 0.3048
DAY0 = 1_700_006_400.0  # 2023-11-15 00:00:00 UTC
"""Times are drawn within half a day of it: the decoder reads a jump of more than 12 h as a midnight wrap."""
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

squawks = st.integers(0, 0o7777).map(lambda v: int(oct(v)[2:]))
callsigns = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8)


def _maybe(strategy: st.SearchStrategy[Any], missing: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(missing), strategy)


@st.composite
def radar_plots(draw: st.DrawFn) -> Plots:
    n = draw(st.integers(1, 40))
    rows = [
        {
            "time_s": DAY0 + draw(st.floats(0, 43000)),
            "range_m": draw(st.floats(0, 255 * 1852)),
            "azimuth_deg": draw(st.floats(0, 359.99)),
            "altitude_m": draw(_maybe(st.floats(-1000 * FT, 2000 * 100 * FT), np.nan)),
            "mode_s": draw(_maybe(st.integers(0, 0xFFFFFF), -1)),
            "squawk": draw(_maybe(squawks, -1)),
            "callsign": draw(_maybe(callsigns, "")),
        }
        for _ in range(n)
    ]
    return Plots.build(n, sensor_id=["25-201"] * n, **{k: [r[k] for r in rows] for k in rows[0]})


@st.composite
def adsb_plots(draw: st.DrawFn) -> Plots:
    n = draw(st.integers(1, 40))
    rows = [
        {
            "time_s": DAY0 + draw(st.floats(0, 43000)),
            "lat_deg": draw(st.floats(-90, 90)),
            "lon_deg": draw(st.floats(-180, 179.99)),
            "altitude_m": draw(_maybe(st.floats(-1000 * FT, 1500 * 100 * FT), np.nan)),
            "mode_s": draw(st.integers(0, 0xFFFFFF)),
            "squawk": draw(_maybe(squawks, -1)),
            "callsign": draw(_maybe(callsigns, "")),
            "nacp": draw(_maybe(st.integers(0, 11), -1)),
        }
        for _ in range(n)
    ]
    return Plots.build(n, sensor_id=["0-3"] * n, **{k: [r[k] for r in rows] for k in rows[0]})


@st.composite
def system_tracks(draw: st.DrawFn) -> Tracks:
    n = draw(st.integers(1, 30))
    rows = [
        {
            "time_s": DAY0 + draw(st.floats(0, 43000)),
            "track_id": draw(st.integers(0, 65535)),
            "lat_deg": draw(st.floats(-90, 90)),
            "lon_deg": draw(st.floats(-180, 180)),
            "alt_m": draw(_maybe(st.floats(-1000 * FT, 4000 * 100 * FT), np.nan)),
            "v_east_mps": draw(st.floats(-900, 900)),
            "v_north_mps": draw(st.floats(-900, 900)),
            "v_up_mps": draw(_maybe(st.floats(-100, 100), np.nan)),
            "status": draw(st.sampled_from(["tentative", "confirmed", "coasting"])),
            "mode_s": draw(_maybe(st.integers(0, 0xFFFFFF), -1)),
            "squawk": draw(_maybe(squawks, -1)),
            "callsign": draw(_maybe(callsigns, "")),
        }
        for _ in range(n)
    ]
    return Tracks.build(n, **{k: [r[k] for r in rows] for k in rows[0]})


def _near(got: np.ndarray, want: np.ndarray, resolution: float) -> None:
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.all(np.abs(got[ok] - want[ok]) <= resolution / 2 + 1e-9 * np.maximum(1, np.abs(want[ok])))


def _angle_near(got: np.ndarray, want: np.ndarray, resolution: float) -> None:
    diff = np.mod(got - want + 180.0, 360.0) - 180.0
    assert np.all(np.abs(diff) <= resolution / 2 + 1e-9)


@SETTINGS
@given(radar_plots(), st.integers(30, 400))
def test_cat048_round_trip(plots: Plots, max_block: int) -> None:
    data = encode_cat048(plots, 25, 201, max_block_bytes=max_block)
    out = decode_asterix(data, day_start_utc_s=DAY0)
    assert out.report.errors == 0
    got = out.plots
    assert len(got) == len(plots)
    _near(got.time_s, plots.time_s, 1 / 128)
    _near(got.range_m, plots.range_m, 1852 / 256)
    _angle_near(got.azimuth_deg, plots.azimuth_deg, 360 / 2**16)
    _near(got.altitude_m, plots.altitude_m, 25 * FT)
    for column in ("mode_s", "squawk", "callsign"):
        np.testing.assert_array_equal(getattr(got, column), getattr(plots, column))
    assert set(got.sensor_id.tolist()) == {"25-201"}


@SETTINGS
@given(adsb_plots())
def test_cat021_round_trip(plots: Plots) -> None:
    out = decode_asterix(encode_cat021(plots, 0, 3), day_start_utc_s=DAY0)
    assert out.report.errors == 0
    got = out.plots
    _near(got.time_s, plots.time_s, 1 / 128)
    _near(got.lat_deg, plots.lat_deg, 180 / 2**30)
    _near(got.lon_deg, plots.lon_deg, 180 / 2**30)
    _near(got.altitude_m, plots.altitude_m, 25 * FT)
    for column in ("mode_s", "squawk", "callsign", "nacp"):
        np.testing.assert_array_equal(getattr(got, column), getattr(plots, column))


@SETTINGS
@given(system_tracks())
def test_cat062_round_trip(tracks: Tracks) -> None:
    out = decode_asterix(encode_cat062(tracks, 70, 16), day_start_utc_s=DAY0)
    assert out.report.errors == 0
    got = out.tracks
    _near(got.time_s, tracks.time_s, 1 / 128)
    _near(got.lat_deg, tracks.lat_deg, 180 / 2**25)
    _near(got.lon_deg, tracks.lon_deg, 180 / 2**25)
    _near(got.alt_m, tracks.alt_m, 25 * FT)
    _near(got.v_east_mps, tracks.v_east_mps, 0.25)
    _near(got.v_north_mps, tracks.v_north_mps, 0.25)
    _near(got.v_up_mps, tracks.v_up_mps, 6.25 * FT / 60)
    for column in ("track_id", "status", "mode_s", "squawk", "callsign"):
        np.testing.assert_array_equal(getattr(got, column), getattr(tracks, column))
    assert set(out.track_source.tolist()) == {"70-16"}


def test_service_messages_round_trip() -> None:
    north = ServiceMessages.build(
        2, time_s=[10.0, 12.0], message_type=[1, 2], sector_deg=[np.nan, 45.0], period_s=[4.5, 4.5]
    )
    sensors = ServiceMessages.build(1, time_s=[11.0], service_id=[3], subject_id=["25-14"], status=[1])
    sdps = ServiceMessages.build(1, time_s=[13.0], message_type=[2], service_id=[3], batch=[7], status=[0])
    data = encode_cat034(north, 25, 14) + encode_cat063(sensors, 25, 100) + encode_cat065(sdps, 25, 100)
    got = decode_asterix(data).services
    np.testing.assert_array_equal(got.category, [34, 34, 63, 65])
    np.testing.assert_array_equal(got.time_s, [10.0, 12.0, 11.0, 13.0])
    np.testing.assert_array_equal(got.message_type, [1, 2, -1, 2])
    np.testing.assert_array_equal(got.sector_deg, [np.nan, 45.0, np.nan, np.nan])
    np.testing.assert_array_equal(got.period_s, [4.5, 4.5, np.nan, np.nan])
    np.testing.assert_array_equal(got.subject_id, ["", "", "25-14", ""])
    np.testing.assert_array_equal(got.status, [-1, -1, 1, 0])
    np.testing.assert_array_equal(got.service_id, [-1, -1, 3, 3])
    np.testing.assert_array_equal(got.batch, [-1, -1, -1, 7])
    np.testing.assert_array_equal(got.sensor_id, ["25-14", "25-14", "25-100", "25-100"])


def test_blocks_respect_the_size_limit() -> None:
    n = 50
    plots = Plots.build(
        n, time_s=np.arange(50.0), range_m=np.full(n, 1e4), azimuth_deg=np.full(n, 10.0), mode_s=np.arange(n)
    )
    data = encode_cat048(plots, 1, 2, max_block_bytes=100)
    sizes, pos = [], 0
    while pos < len(data):
        sizes.append(int.from_bytes(data[pos + 1 : pos + 3], "big"))
        pos += sizes[-1]
    assert len(sizes) > 5 and max(sizes) <= 100
    assert len(decode_asterix(data).plots) == 50


@pytest.mark.parametrize(
    ("column", "value"),
    [("range_m", 300 * 1852.0), ("altitude_m", 3000 * 100 * FT), ("squawk", 7780), ("callsign", "ab-1")],
)
def test_values_that_do_not_fit_are_refused(column: str, value: Any) -> None:
    plots = Plots.build(1, **{"time_s": [0.0], "range_m": [1000.0], "azimuth_deg": [0.0], column: [value]})
    with pytest.raises(SchemaError, match=column):
        encode_cat048(plots, 1, 2)


def _asterix_decoder() -> Any:
    """asterix-decoder's C extension and its category definitions (its `asterix` package clashes with libasterix's)."""
    module = pytest.importorskip("_asterix")
    spec = importlib.util.find_spec("asterix")
    assert spec is not None and spec.submodule_search_locations
    config = Path(next(iter(spec.submodule_search_locations))) / "config"
    files = sorted(config.glob("asterix_*.xml"))
    if not files:
        pytest.skip("asterix-decoder's category definitions are not installed")
    if not getattr(module, "_commonsky_ready", False):
        for path in files:
            module.init(str(path))
        module._commonsky_ready = True
    return module


def _by_category(data: bytes) -> list[dict[str, Any]]:
    return list(_asterix_decoder().parse(data, False))


def test_independent_decoder_reads_cat048() -> None:
    plots = Plots.build(
        2, time_s=[DAY0 + 27354.6, DAY0 + 60.0], range_m=[366100.0, 5000.0], azimuth_deg=[340.13, 2.0],
        altitude_m=[330 * 100 * FT, np.nan], mode_s=[0x3C660C, -1], squawk=[1000, 7700], callsign=["DLH65A", ""],
    )  # fmt: skip
    records = _by_category(encode_cat048(plots, 25, 201))
    assert [r["category"] for r in records] == [48, 48]
    first, second = records
    assert (first["I010"]["SAC"]["val"], first["I010"]["SIC"]["val"]) == (25, 201)
    assert first["I140"]["ToD"]["val"] == pytest.approx(27354.6, abs=1 / 256)
    assert first["I040"]["RHO"]["val"] * 1852 == pytest.approx(366100.0, abs=1852 / 512)
    assert first["I040"]["THETA"]["val"] == pytest.approx(340.13, abs=360 / 2**17)
    assert first["I090"]["FL"]["val"] == 330.0
    assert first["I220"]["ACAddr"]["val"] == "3C660C"
    assert first["I240"]["TId"]["val"].strip() == "DLH65A"
    assert first["I070"]["Mode3A"]["val"] == "1000"
    assert second["I070"]["Mode3A"]["val"] == "7700"
    assert "I090" not in second and "I220" not in second and "I240" not in second


def test_independent_decoder_reads_cat021() -> None:
    plots = Plots.build(
        1, time_s=[DAY0 + 33502.88], lat_deg=[46.844201], lon_deg=[12.298529], altitude_m=[350 * 100 * FT],
        mode_s=[0x1A4B65], squawk=[7106], callsign=["EZS14ZH"], nacp=[9],
    )  # fmt: skip
    (r,) = _by_category(encode_cat021(plots, 0, 3))
    assert r["I073"]["time_reception_position"]["val"] == pytest.approx(33502.88, abs=1 / 256)
    assert r["I131"]["Lat"]["val"] == pytest.approx(46.844201, abs=1e-7)
    assert r["I131"]["Lon"]["val"] == pytest.approx(12.298529, abs=1e-7)
    assert r["I145"]["FL"]["val"] == 350.0
    assert r["I080"]["TAddr"]["val"] == "1A4B65"
    assert r["I070"]["Mode3A"]["val"] == "7106"
    assert r["I170"]["TId"]["val"].strip() == "EZS14ZH"
    assert r["I090"]["NACp"]["val"] == 9


def test_independent_decoder_reads_cat062() -> None:
    tracks = Tracks.build(
        1, time_s=[DAY0 + 53137.05], track_id=[1118], lat_deg=[53.122244], lon_deg=[17.762259], alt_m=[400 * 100 * FT],
        v_east_mps=[-163.5], v_north_mps=[-168.0], v_up_mps=[-193.75 * FT / 60], status=["coasting"],
        mode_s=[0x406EC8], squawk=[4526], callsign=["BCS4907"],
    )  # fmt: skip
    (r,) = _by_category(encode_cat062(tracks, 70, 16))
    assert r["I070"]["ToT"]["val"] == pytest.approx(53137.05, abs=1 / 256)
    assert r["I105"]["Lat"]["val"] == pytest.approx(53.122244, abs=1e-6)
    assert r["I105"]["Lon"]["val"] == pytest.approx(17.762259, abs=1e-6)
    assert (r["I185"]["Vx"]["val"], r["I185"]["Vy"]["val"]) == (-163.5, -168.0)
    assert r["I220"]["RoC"]["val"] == pytest.approx(-193.75)
    assert r["I135"]["CTBA"]["val"] == 40000.0
    assert r["I040"]["TrkN"]["val"] == 1118
    assert r["I060"]["Mode3A"]["val"] == "4526"
    assert r["I380"]["ADR"]["ADR"]["val"] == "406EC8"
    assert r["I380"]["ID"]["ACID"]["val"].strip() == "BCS4907"
    assert r["I080"]["CST"]["val"] == 1 and r["I080"]["CNF"]["val"] == 0


def test_independent_decoder_reads_status_messages() -> None:
    sensors = ServiceMessages.build(1, time_s=[11.0], service_id=[3], subject_id=["25-14"], status=[1])
    sdps = ServiceMessages.build(1, time_s=[13.0], message_type=[2], service_id=[3], batch=[7], status=[1])
    r063, r065 = _by_category(encode_cat063(sensors, 25, 100) + encode_cat065(sdps, 25, 100))
    assert (r063["I050"]["SAC"]["val"], r063["I050"]["SIC"]["val"], r063["I060"]["CON"]["val"]) == (25, 14, 1)
    assert r063["I015"]["ServiceID"]["val"] == 3 and r063["I030"]["ToD"]["val"] == 11.0
    assert (r065["I000"]["Typ"]["val"], r065["I020"]["BTN"]["val"], r065["I040"]["NOGO"]["val"]) == (2, 7, 1)
