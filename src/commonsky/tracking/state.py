"""Tracker state: every live track as aligned arrays (no object per track), plus counters."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar, get_type_hints

import numpy as np
from numpy.typing import NDArray

from commonsky.core.arrays import Rows
from commonsky.core.batches import Col
from commonsky.core.geodesy import LocalFrame
from commonsky.core.waterway import Waterway
from commonsky.tracking.config import TrackerConfig
from commonsky.tracking.kernels import NX
from commonsky.tracking.measurements import SensorTable
from commonsky.tracking.registration import Registration

TENTATIVE = 0
CONFIRMED = 1
LOST = 2
"""An identified track out of contact: not reported, not associated, kept for re-acquisition (`manage`)."""


@dataclass
class TrackArrays(Rows):
    """Live tracks, one row each: about 1 KiB per track. Fields are annotated like `Columns` (`Col.*`, the dtype
    as metadata); the per-model ones carry the model axis and their own trailing shape (`PER_MODEL`)."""

    track_id: Col.I64
    x: Col.F64
    """(K,M,7) per-model state [e, n, v_e, v_n, omega, height, vertical rate] (see `kernels`), M models."""
    P: Col.F64
    """(K,M,7,7) per-model covariances."""
    mu: Col.F64
    """(K,M) model probabilities, in the order of the `motion` table."""
    has_alt: Col.Bool
    """A height was measured (Mode C or ADS-B), not only inferred from radar geometry."""
    on_ground: Col.Bool
    """The latest ADS-B position was a surface position: the aircraft is on the ground."""
    vessel: Col.Bool
    """A track of the surface domain (AIS, shore radar): it takes only surface plots, with the vessels' motion."""
    time_s: Col.F64
    """Time of the state (the last plot applied)."""
    detected_s: Col.F64
    """Time of the last plot surely the track's: silence, coasting and deletion count from it (with GNN
    it is `time_s`; JPDA also applies plots that are probably another's)."""
    created_s: Col.F64
    hits: Col.I32
    confirm_hits: Col.I8
    status: Col.I8
    expected_period_s: Col.F64
    """Scan period of the fastest sensor that recently fed the track: scales coasting and deletion."""
    last_adsb_s: Col.F64
    last_secondary_s: Col.F64
    """Last plot carrying a transponder reply (SSR or ADS-B): lets assessment spot transponder loss."""
    last_primary_s: Col.F64
    heard_s: Col.F64
    """Last plot carrying the track's Mode S address, taken or not: an aircraft whose reports are refused (an
    ADS-B position far from the radar's) is still there, so its silence does not end the track (`manage`)."""
    refused_s: Col.F64
    """Last time a plot with the track's address was refused as too far from it (a spoofed or cloned AIS)."""
    sensor_mask: Col.U64
    """Bit i set when sensor i has fed the track (first 64 sensors)."""
    mode_s: Col.I32
    squawk: Col.I16
    callsign: Col.Callsign

    PER_MODEL: ClassVar[dict[str, tuple[int, ...]]] = {"x": (NX,), "P": (NX, NX), "mu": ()}
    """Fields with a model axis, and their shape after it."""

    @classmethod
    def empty(cls, n_models: int) -> TrackArrays:
        """No tracks, for an IMM of n_models models."""
        hints = get_type_hints(cls, include_extras=True)
        return cls(
            **{
                f.name: np.zeros(
                    (0, n_models, *cls.PER_MODEL[f.name]) if f.name in cls.PER_MODEL else 0,
                    hints[f.name].__metadata__[0],
                )
                for f in fields(cls)
            }
        )

    def __len__(self) -> int:
        return len(self.track_id)

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
class ClutterEstimate:
    """Per sensor, the running rate (plots/s) of plots that no track took: clutter and new targets."""

    free_per_s: NDArray[np.float64]

    @classmethod
    def zeros(cls, n_sensors: int) -> ClutterEstimate:
        """No evidence yet for these sensors."""
        return cls(np.zeros(n_sensors))

    def observe(self, counts: NDArray[np.int64], span_s: float) -> None:
        """Fold in one slice: `counts[s]` free plots of sensor s over `span_s` seconds (an exponential average)."""
        span_s = max(span_s, 1e-3)
        alpha = min(1.0, span_s / CLUTTER_TIME_CONSTANT_S)
        self.free_per_s += alpha * (counts / span_s - self.free_per_s)


CLUTTER_TIME_CONSTANT_S = 60.0
"""Time over which the clutter estimate averages (about a minute of scans)."""


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
    tracks_lost: int = 0
    """Identified tracks that went out of contact and were kept for re-acquisition."""
    tracks_reacquired: int = 0
    """Lost tracks whose identity came back at a plausible position: the same track id goes on."""
    tracks_left_coverage: int = 0
    """Tracks ended because their prediction left every own sensor's coverage."""
    vessels_ashore: int = 0
    """Vessel states moved back onto the water (`water.keep_on_water`): a straight prediction ran ashore."""


@dataclass
class TrackerState:
    """Everything the tracker carries between steps. `step` takes ownership and returns it updated."""

    config: TrackerConfig
    frame: LocalFrame
    sensors: SensorTable
    tracks: TrackArrays
    registration: Registration
    clutter: ClutterEstimate
    """Per-sensor rate of plots no track explains: probabilistic associators weigh clutter by it."""
    models: NDArray[np.float64]
    """`motion.model_tables` of the configuration, made once: (regime, model, column)."""
    gate_models: NDArray[np.float64]
    """`motion.gate_models` of the configuration, made once: (regime, column)."""
    next_id: int = 1
    time_s: float = -np.inf
    """Latest time processed."""
    last_merge_s: float = -np.inf
    """When duplicate tracks were last looked for."""
    stats: TrackerStats = field(default_factory=TrackerStats)
    waterway: Waterway | None = None
    """The river vessels float on: their states and predictions are kept on its water (`tracking.water`)."""
