"""Batches built from shared column groups keep their documented column order and dtypes."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from commonsky.core.batches import TrackReports
from commonsky.fusion.system_tracks import SystemTracks

ESTIMATE = [
    "lat_deg",
    "lon_deg",
    "alt_m",
    "v_east_mps",
    "v_north_mps",
    "v_up_mps",
    "var_alt_m2",
    "cov_ee",
    "cov_en",
    "cov_nn",
    "cov_e_ve",
    "cov_e_vn",
    "cov_n_ve",
    "cov_n_vn",
    "cov_ve_ve",
    "cov_ve_vn",
    "cov_vn_vn",
    "status",
    "quality",
    "sensor_kinds",
    "mode_s",
    "squawk",
    "callsign",
    "mmsi",
    "domain",
]


def test_track_reports_columns_key_first() -> None:
    expected = ["time_s", "owner", "track_id", *ESTIMATE]
    assert list(TrackReports.DTYPES) == expected
    assert [f.name for f in fields(TrackReports)] == expected
    assert TrackReports.DTYPES["sensor_kinds"] is np.int8 and TrackReports.DTYPES["owner"] == "<U16"


def test_system_tracks_columns_key_first_make_up_last() -> None:
    expected = ["time_s", "system_id", *ESTIMATE, "responsible", "n_sources", "sources"]
    assert list(SystemTracks.DTYPES) == expected
    assert [f.name for f in fields(SystemTracks)] == expected
    assert SystemTracks.DEFAULTS == {"status": "confirmed", "sensor_kinds": 0, "domain": "air", "n_sources": 0}
    built = SystemTracks.build(2, system_id=[1, 2])
    assert built.status.tolist() == ["confirmed", "confirmed"] and built.covariance().shape == (2, 4, 4)
