"""`Rows.take`: the same rows of every array and nested batch of a dataclass, other fields kept."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from commonsky.core.arrays import F64, I64, Rows
from commonsky.core.batches import Plots


@dataclass(frozen=True)
class _Store(Rows):
    setting: str
    ids: I64
    cov: F64
    plots: Plots


def test_take_selects_rows_of_arrays_and_nested_batches_and_keeps_other_fields() -> None:
    store = _Store("kept", np.arange(4), np.arange(16.0).reshape(4, 2, 2), Plots.build(4, time_s=np.arange(4.0)))
    for index in (np.array([True, False, True, False]), np.array([2, 0]), [2, 0]):
        out = store.take(index)
        rows = np.flatnonzero(index) if np.asarray(index).dtype == bool else np.asarray(index)
        assert out.setting == "kept"
        assert out.ids.tolist() == rows.tolist()
        assert np.array_equal(out.cov, store.cov[rows])
        assert out.plots.time_s.tolist() == rows.astype(float).tolist()
