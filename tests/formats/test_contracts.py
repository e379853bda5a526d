"""File contracts: exact columns, missing values, hex/octal codes, CSV and Parquet alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from commonsky.core import Plots, SensorKind, SensorSpec, Tracks
from commonsky.core.errors import ConfigError, SchemaError
from commonsky.formats import contracts as c


def _plots() -> Plots:
    return Plots.build(
        3,
        time_s=[3.0, 1.0, 2.0],
        sensor_id=["N-PSR", "N-SSR", "N-ADSB"],
        range_m=[1500.5, 8000.0, np.nan],
        azimuth_deg=[12.25, 300.0, np.nan],
        altitude_m=[np.nan, 3048.0, 9144.0],
        lat_deg=[np.nan, np.nan, 47.123456789],
        lon_deg=[np.nan, np.nan, 9.5],
        mode_s=[-1, 0x4CA2B1, 0x00000A],
        squawk=[-1, 7700, 40],
        callsign=["", "", "EZY12AB"],
        truth_id=[-1, 4, 5],
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_plots_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"plots{suffix}"
    c.write_plots(_plots(), path)
    back = c.read_plots(path)
    want = _plots().sorted_by_time()
    for name, values in want.as_dict().items():
        got = getattr(back, name)
        if values.dtype.kind == "f":
            np.testing.assert_allclose(got, values, rtol=1e-9, equal_nan=True)
        else:
            np.testing.assert_array_equal(got, values)


def test_plots_csv_header_and_codes(tmp_path: Path) -> None:
    path = tmp_path / "plots.csv"
    c.write_plots(_plots(), path)
    lines = path.read_text().splitlines()
    assert lines[0].split(",")[: len(c.PLOTS_COLUMNS)] == c.PLOTS_COLUMNS
    assert ",4CA2B1,7700," in lines[2]
    assert ",00000A,0040,EZY12AB," in lines[3]


def test_missing_column_is_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "tracks.csv"
    path.write_text("time_s,track_id\n1,2\n")
    with pytest.raises(SchemaError, match="missing columns"):
        c.read_tracks(path)


def test_bad_squawk_is_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "tracks.csv"
    header = ",".join(c.TRACKS_COLUMNS)
    path.write_text(f"{header}\n1,2,47,9,1000,0,0,0,confirmed,ABCDEF,7800,\n")
    with pytest.raises(SchemaError, match="octal"):
        c.read_tracks(path)


def test_tracks_round_trip_keeps_ids_and_status(tmp_path: Path) -> None:
    tracks = Tracks.build(2, time_s=[1.0, 1.0], track_id=[7, 12], status=["confirmed", "coasting"], quality=[0.5, 1])
    c.write_tracks(tracks, tmp_path / "t.csv")
    back = c.read_tracks(tmp_path / "t.csv")
    np.testing.assert_array_equal(back.track_id, [7, 12])
    np.testing.assert_array_equal(back.status, ["confirmed", "coasting"])
    np.testing.assert_array_equal(back.mode_s, [-1, -1])


def test_tracks_written_batch_by_batch_equal_one_write(tmp_path: Path) -> None:
    batches = [
        Tracks.build(2, time_s=[t, t], track_id=[1, 2], lat_deg=[47.1 + t / 1e4, 47.2], callsign=["DLH4AB", ""])
        for t in (1.0, 2.0, 3.0)
    ]
    writer = c.TracksCsvWriter(tmp_path / "streamed.csv")
    for batch in batches:
        writer.write(batch)
    writer.close()
    c.write_tracks(Tracks.concat(batches), tmp_path / "whole.csv")
    assert (tmp_path / "streamed.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    odd = Tracks.build(1, time_s=[4.0], track_id=[3], callsign=["A,B"])  # a cell that needs quoting
    writer = c.TracksCsvWriter(tmp_path / "odd.csv")
    writer.write(batches[0])
    writer.write(odd)
    writer.close()
    assert c.read_tracks(tmp_path / "odd.csv").callsign.tolist() == ["DLH4AB", "", "A,B"]
    empty = c.TracksCsvWriter(tmp_path / "empty.csv")
    empty.close()
    assert len(c.read_tracks(tmp_path / "empty.csv")) == 0


def test_sensors_round_trip_and_validation(tmp_path: Path) -> None:
    spec = SensorSpec("A1", "north", SensorKind.SSR, 47.0, 9.0, 500.0, 30.0, 0.05, 15.0, 4.0, 0.97, 250_000.0)
    c.write_sensors([spec], tmp_path / "sensors.json")
    assert c.read_sensors(tmp_path / "sensors.json") == [spec]
    (tmp_path / "bad.json").write_text('[{"id": "X", "kind": "lidar"}]')
    with pytest.raises(ConfigError, match="missing keys"):
        c.read_sensors(tmp_path / "bad.json")
