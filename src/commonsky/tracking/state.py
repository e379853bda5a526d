"""Tracker state: every live track as aligned arrays (no object per track), plus counters."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from commonsky.core.geodesy import LocalFrame
from commonsky.tracking.config import TrackerConfig
from commonsky.tracking.measurements import SensorTable
from commonsky.tracking.registration import Registration

TENTATIVE = 0
CONFIRMED = 1


@dataclass
class TrackArrays:
    """Live tracks, one row each: about 1 KiB per track."""

    track_id: NDArray[np.int64]
    x: NDArray[np.float64]
    """(K,M,7) per-model state [e, n, v_e, v_n, omega, height, vertical rate] (see `kernels`), M models."""
    P: NDArray[np.float64]
    """(K,M,7,7) per-model covariances."""
    mu: NDArray[np.float64]
    """(K,M) model probabilities, in the order of the `motion` table."""
    has_alt: NDArray[np.bool_]
    """A height was measured (Mode C or ADS-B), not only inferred from radar geometry."""
    time_s: NDArray[np.float64]
    """Time of the state (the last plot applied)."""
    created_s: NDArray[np.float64]
    hits: NDArray[np.int32]
    confirm_hits: NDArray[np.int8]
    status: NDArray[np.int8]
    expected_period_s: NDArray[np.float64]
    """Scan period of the fastest sensor that recently fed the track: scales coasting and deletion."""
    last_adsb_s: NDArray[np.float64]
    last_secondary_s: NDArray[np.float64]
    """Last plot carrying a transponder reply (SSR or ADS-B): lets assessment spot transponder loss."""
    last_primary_s: NDArray[np.float64]
    sensor_mask: NDArray[np.uint64]
    """Bit i set when sensor i has fed the track (first 64 sensors)."""
    mode_s: NDArray[np.int32]
    squawk: NDArray[np.int16]
    callsign: NDArray[np.str_]

    @classmethod
    def empty(cls, n_models: int) -> TrackArrays:
        """No tracks, for an IMM of n_models models."""
        return cls(
            track_id=np.zeros(0, np.int64),
            x=np.zeros((0, n_models, 7)),
            P=np.zeros((0, n_models, 7, 7)),
            mu=np.zeros((0, n_models)),
            has_alt=np.zeros(0, bool),
            time_s=np.zeros(0),
            created_s=np.zeros(0),
            hits=np.zeros(0, np.int32),
            confirm_hits=np.zeros(0, np.int8),
            status=np.zeros(0, np.int8),
            expected_period_s=np.zeros(0),
            last_adsb_s=np.zeros(0),
            last_secondary_s=np.zeros(0),
            last_primary_s=np.zeros(0),
            sensor_mask=np.zeros(0, np.uint64),
            mode_s=np.zeros(0, np.int32),
            squawk=np.zeros(0, np.int16),
            callsign=np.zeros(0, "<U8"),
        )

    def __len__(self) -> int:
        return len(self.track_id)

    def take(self, index: Any) -> Self:
        """Rows selected by an index or mask."""
        return type(self)(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def append(self, other: TrackArrays) -> TrackArrays:
        """These rows followed by another's."""
        return type(self)(
            **{f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)}
        )

    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(getattr(self, f.name).nbytes for f in fields(self))


def sensor_bits(sensor: NDArray[np.int64]) -> NDArray[np.uint64]:
    """Each sensor index as its bit of `TrackArrays.sensor_mask` (none for sensors beyond the 64th)."""
    bits = np.zeros(len(sensor), np.uint64)
    low = sensor < 64
    bits[low] = np.left_shift(np.uint64(1), sensor[low].astype(np.uint64))
    return bits


@dataclass
class TrackerStats:
    """Counters reported at the end of a run."""

    plots_in: int = 0
    plots_assigned: int = 0
    plots_unknown_sensor: int = 0
    adsb_duplicates: int = 0
    """ADS-B reports of a broadcast already received by another station (same address and time)."""
    address_conflicts: int = 0
    plots_late: int = 0
    """Plots applied to a track already updated with a later plot (their time is older than the track's)."""
    tracks_started: int = 0
    tracks_confirmed: int = 0
    tracks_deleted: int = 0
    tracks_merged: int = 0


@dataclass
class TrackerState:
    """Everything the tracker carries between steps. `step` takes ownership and returns it updated."""

    config: TrackerConfig
    frame: LocalFrame
    sensors: SensorTable
    tracks: TrackArrays
    registration: Registration
    next_id: int = 1
    time_s: float = -np.inf
    """Latest time processed."""
    last_merge_s: float = -np.inf
    """When duplicate tracks were last looked for."""
    stats: TrackerStats = field(default_factory=TrackerStats)
