"""What the Mode S decoder reads and produces: raw frames, velocities, replies and the batch of one decode call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, TypeAlias

import numpy as np
from numpy.typing import NDArray

from commonsky.core.batches import Col, Columns, Plots

FT_M = 0.3048
KT_MPS = 1852.0 / 3600.0
FPM_MPS = FT_M / 60.0

FRAME_DTYPE = "<U28"
FrameCol: TypeAlias = Annotated[NDArray[np.str_], FRAME_DTYPE]
"""A column of Mode S frames as hex strings (14 or 28 digits)."""


@dataclass(frozen=True, eq=False)
class RawFrames(Columns):
    """Mode S frames as read from a container, before decoding (`offset`: line or byte where the frame starts)."""

    time_s: Col.F64
    frame: FrameCol
    offset: Col.I64


@dataclass(frozen=True, eq=False)
class Velocities(Columns):
    """ADS-B velocity reports, one row per message (TC 19, or surface movement).

    Ground speed and track (with the east/north components derived from them) or, for TC 19
    subtypes 3-4, air speed (`airspeed_kind` "IAS" or "TAS") and heading; vertical rate in m/s, up positive.
    """

    time_s: Col.F64
    sensor_id: Col.SensorId
    mode_s: Col.I32
    groundspeed_mps: Col.F64
    track_deg: Col.F64
    v_east_mps: Col.F64
    v_north_mps: Col.F64
    vertical_rate_mps: Col.F64
    airspeed_mps: Col.F64
    airspeed_kind: Annotated[NDArray[np.str_], "<U3"]
    heading_deg: Col.F64


@dataclass(frozen=True, eq=False)
class Replies(Columns):
    """Mode S altitude (DF0/4/16/20: `altitude_m`) and identity (DF5/21: `squawk`) replies of trusted addresses."""

    time_s: Col.F64
    sensor_id: Col.SensorId
    mode_s: Col.I32
    df: Col.I8
    altitude_m: Col.F64
    squawk: Col.I16


@dataclass(frozen=True)
class ModeSBatch:
    """What one decode call produced: position plots, velocities and surveillance replies."""

    plots: Plots
    velocities: Velocities
    replies: Replies

    @classmethod
    def empty(cls) -> ModeSBatch:
        """A batch with no rows."""
        return cls(Plots.empty(), Velocities.empty(), Replies.empty())

    @classmethod
    def concat(cls, parts: Sequence[ModeSBatch]) -> ModeSBatch:
        """Rows of several batches, in order."""
        return cls(
            Plots.concat([p.plots for p in parts]),
            Velocities.concat([p.velocities for p in parts]),
            Replies.concat([p.replies for p in parts]),
        )
