"""The NumPy array types the package's columnar code is written in: one definition for every module."""

from __future__ import annotations

import dataclasses
from typing import Any, Self, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64: TypeAlias = NDArray[np.float64]
"""Float64 array: positions, times, covariances."""
I64: TypeAlias = NDArray[np.int64]
"""Int64 array: indices, ids, counts."""
B: TypeAlias = NDArray[np.bool_]
"""Boolean array: masks."""
I8: TypeAlias = NDArray[np.int8]
"""Int8 array: small codes and signs."""


class Rows:
    """Base of a dataclass whose arrays hold one row per item along their first axis (further axes are the item's):
    `take` selects the same rows of every array and of every nested `Rows`, and keeps the other fields as they are."""

    def take(self, index: ArrayLike) -> Self:
        """The rows selected by an integer index or boolean mask."""
        idx = np.asarray(index)
        cls = type(self)
        return cls(**{name: _take(getattr(self, name), idx) for name in _field_names(cls)})


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, looked up once per class (`take` runs per slice in the tracker)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _take(value: Any, idx: NDArray[Any]) -> Any:
    """The rows `idx` of an array or `Rows` field; any other field (a setting, a scalar) unchanged."""
    if isinstance(value, np.ndarray):
        return value[idx]
    return value.take(idx) if isinstance(value, Rows) else value
