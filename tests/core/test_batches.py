"""Columns derive their dtypes from their annotated fields: declared once, typed on construction and fill."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
import pytest
from numpy.typing import NDArray

from commonsky.core.batches import CALLSIGN_DTYPE, OWNER_DTYPE, Col, Columns, Plots, TrackReports
from commonsky.core.errors import SchemaError
from commonsky.fusion.system_tracks import SystemTracks


@dataclass(frozen=True, eq=False)
class _Sample(Columns):
    time_s: Col.F64
    code: Col.I8
    label: Annotated[NDArray[np.str_], "<U5"]


def test_dtypes_follow_the_annotations_in_declaration_order() -> None:
    assert list(_Sample.DTYPES) == ["time_s", "code", "label"]
    assert [np.dtype(d) for d in _Sample.DTYPES.values()] == [np.dtype(np.float64), np.dtype(np.int8), np.dtype("<U5")]
    assert list(Plots.DTYPES) == Plots.empty().column_names()
    assert Plots.DTYPES["mode_s"] is np.int32 and Plots.DTYPES["callsign"] == CALLSIGN_DTYPE
    assert TrackReports.DTYPES["owner"] == OWNER_DTYPE


def test_construction_and_fill_use_the_derived_dtypes() -> None:
    batch = _Sample.build(2, code=[3, -44])
    assert batch.time_s.dtype == np.float64 and np.isnan(batch.time_s).all()
    assert batch.code.dtype == np.int8 and batch.code.tolist() == [3, -44]
    assert batch.label.dtype == np.dtype("<U5") and batch.label.tolist() == ["", ""]
    assert _Sample([1], [2], ["toolong"]).label.tolist() == ["toolo"]


def test_system_tracks_share_the_track_report_columns_but_owner_and_id() -> None:
    shared = {k: v for k, v in TrackReports.DTYPES.items() if k not in ("time_s", "owner", "track_id")}
    assert {k: SystemTracks.DTYPES[k] for k in shared} == shared
    assert SystemTracks.build(1, sources=["a:1;b:22"]).sources.dtype == np.dtype("<U8")


def test_a_column_without_a_dtype_is_refused_when_its_class_is_defined() -> None:
    with pytest.raises(SchemaError, match=r"_Untyped\.callsign"):

        @dataclass(frozen=True, eq=False)
        class _Untyped(Columns):
            mode_s: Col.I32
            callsign: NDArray[np.str_]
