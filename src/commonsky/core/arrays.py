"""The NumPy array types the package's columnar code is written in: one definition for every module."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

F64: TypeAlias = NDArray[np.float64]
"""Float64 array: positions, times, covariances."""
I64: TypeAlias = NDArray[np.int64]
"""Int64 array: indices, ids, counts."""
B: TypeAlias = NDArray[np.bool_]
"""Boolean array: masks."""
