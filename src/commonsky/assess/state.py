"""What the assessment carries from tick to tick (`AssessmentState`), what one tick returns, and the picture it reads.

Per system track (keyed by `system_id`) the state remembers when it appeared and where, what it has shown
(transponder, ADS-B identity, MMSI, AIS identity), when SSR/ADS-B, primary radar and AIS last fed it, its
identity and identity history, which side of a border a vessel is on and a short ring of its positions; per
Mode S address the run of inconsistent ADS-B/radar pairs; per MMSI the run of AIS reports no radar track
supports and the last report (two vessels sharing it); per sensor its last plot; and the alert book. Every
class here is frozen: a tick returns a new state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from commonsky.assess.alerts import Alert, AlertBook
from commonsky.assess.config import AssessmentConfig
from commonsky.assess.identity import NO_IDENTITY, IdentityChange, IdentityRules
from commonsky.assess.zones import Zones
from commonsky.core.arrays import F64, I64, B, Rows
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import SensorSpec


class SystemPicture(Protocol):
    """The columns of the fused picture `assess` reads (`commonsky.fusion.SystemTracks` has them all)."""

    @property
    def system_id(self) -> NDArray[np.int64]: ...
    @property
    def time_s(self) -> NDArray[np.float64]: ...
    @property
    def lat_deg(self) -> NDArray[np.float64]: ...
    @property
    def lon_deg(self) -> NDArray[np.float64]: ...
    @property
    def alt_m(self) -> NDArray[np.float64]: ...
    @property
    def v_east_mps(self) -> NDArray[np.float64]: ...
    @property
    def v_north_mps(self) -> NDArray[np.float64]: ...
    @property
    def v_up_mps(self) -> NDArray[np.float64]: ...
    @property
    def cov_ee(self) -> NDArray[np.float64]: ...
    @property
    def cov_en(self) -> NDArray[np.float64]: ...
    @property
    def cov_nn(self) -> NDArray[np.float64]: ...
    @property
    def status(self) -> NDArray[np.str_]: ...
    @property
    def sensor_kinds(self) -> NDArray[np.int8]: ...
    @property
    def mode_s(self) -> NDArray[np.int32]: ...
    @property
    def squawk(self) -> NDArray[np.int16]: ...
    @property
    def callsign(self) -> NDArray[np.str_]: ...
    @property
    def responsible(self) -> NDArray[np.str_]: ...
    @property
    def sources(self) -> NDArray[np.str_]: ...
    @property
    def mmsi(self) -> NDArray[np.int32]: ...
    @property
    def domain(self) -> NDArray[np.str_]: ...


_MEMORY_DEFAULTS: dict[str, tuple[Any, Any]] = {
    "first_seen_s": (np.float64, np.nan),
    "last_seen_s": (np.float64, np.nan),
    "first_lat_deg": (np.float64, np.nan),
    "first_lon_deg": (np.float64, np.nan),
    "identity": (np.int8, NO_IDENTITY),
    "candidate": (np.int8, NO_IDENTITY),
    "candidate_since_s": (np.float64, np.nan),
    "overridden": (np.bool_, False),
    "ever_adsb_identity": (np.bool_, False),
    "ever_transponder": (np.bool_, False),
    "coop_kinds": (np.int8, 0),
    "first_coop_s": (np.float64, np.nan),
    "outage_coop_s": (np.float64, np.nan),
    "last_coop_s": (np.float64, np.nan),
    "last_psr_s": (np.float64, np.nan),
    "border_checked": (np.bool_, False),
    "border_flag": (np.bool_, False),
    "ever_mmsi": (np.bool_, False),
    "ever_ais_identity": (np.bool_, False),
    "ais_mmsi": (np.int32, -1),
    "first_ais_s": (np.float64, np.nan),
    "last_ais_s": (np.float64, np.nan),
    "ais_speed_mps": (np.float64, np.nan),
    "ais_interval_s": (np.float64, np.nan),
    "outage_ais_s": (np.float64, np.nan),
    "ais_heard_s": (np.float64, np.nan),
    "border_side": (np.int8, 0),
    "border_crossed_s": (np.float64, np.nan),
    "border_cross_lat_deg": (np.float64, np.nan),
    "border_cross_lon_deg": (np.float64, np.nan),
    "loiter_t": (np.float64, np.nan),
    "loiter_e": (np.float64, np.nan),
    "loiter_n": (np.float64, np.nan),
}
"""Per-system-track memory columns: dtype and the value of a track not seen before."""
LOITER_SAMPLES = 16
"""Positions in a track's loitering ring (`loiter_t/e/n`), sampled `loiter_min_s / (LOITER_SAMPLES - 1)` apart."""
_MEMORY_SHAPES: dict[str, tuple[int, ...]] = {name: (LOITER_SAMPLES,) for name in ("loiter_t", "loiter_e", "loiter_n")}
"""Columns that hold more than one value per track (a ring of samples, oldest first)."""


@dataclass(frozen=True)
class TrackMemory:
    """What the assessment remembers per system track, as columns over `system_id` (sorted)."""

    system_id: I64
    columns: dict[str, NDArray[Any]]

    @classmethod
    def empty(cls) -> TrackMemory:
        """No tracks."""
        return cls(
            np.zeros(0, dtype=np.int64),
            {k: np.zeros((0, *_MEMORY_SHAPES.get(k, ())), dtype=d) for k, (d, _) in _MEMORY_DEFAULTS.items()},
        )

    def rows_of(self, system_id: I64) -> tuple[TrackMemory, I64]:
        """This memory extended by the ids it has not seen yet, and the row of each id."""
        ids = np.union1d(self.system_id, system_id)
        if len(ids) == len(self.system_id):
            return self, np.searchsorted(ids, system_id)
        old = np.searchsorted(ids, self.system_id)
        columns = {}
        for name, (dtype, default) in _MEMORY_DEFAULTS.items():
            col = np.full((len(ids), *_MEMORY_SHAPES.get(name, ())), default, dtype=dtype)
            col[old] = self.columns[name]
            columns[name] = col
        return TrackMemory(ids, columns), np.searchsorted(ids, system_id)

    def keep(self, mask: B) -> TrackMemory:
        """Only the rows of `mask`."""
        return TrackMemory(self.system_id[mask], {k: v[mask] for k, v in self.columns.items()})


@dataclass(frozen=True)
class AdsbMemory(Rows):
    """Per Mode S address (sorted): the run of inconsistent ADS-B/radar pairs and the latest pair's values."""

    mode_s: NDArray[np.int32]
    streak: I64
    last_pair_s: F64
    lat_deg: F64
    lon_deg: F64
    distance_m: F64
    chi2: F64
    sigma_m: F64
    radar_sensor: NDArray[np.str_]
    adsb_sensor: NDArray[np.str_]

    @classmethod
    def empty(cls) -> AdsbMemory:
        """No addresses."""
        f = np.zeros(0)
        s = np.zeros(0, dtype="<U24")
        return cls(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64), f, f, f, f, f, f, s, s)


@dataclass(frozen=True)
class AisRadarMemory(Rows):
    """Per MMSI (sorted): the run of own AIS reports that no own radar-fed vessel track supports, and the latest."""

    mmsi: NDArray[np.int32]
    streak: I64
    last_test_s: F64
    """Time of the latest report tested (inside an up shore radar's coverage)."""
    lat_deg: F64
    """The latest tested report's position."""
    lon_deg: F64
    distance_m: F64
    """From it to the nearest own radar-fed vessel track (inf when there is none)."""
    radar_track: I64
    """That own track's id (-1 when there is none)."""
    radar_sensor: NDArray[np.str_]
    """The shore radar whose coverage holds the report."""
    ais_sensor: NDArray[np.str_]

    @classmethod
    def empty(cls) -> AisRadarMemory:
        """No MMSIs."""
        f = np.zeros(0)
        s = np.zeros(0, dtype="<U24")
        i = np.zeros(0, dtype=np.int64)
        return cls(np.zeros(0, dtype=np.int32), i, f, f, f, f, i, s, s)


@dataclass(frozen=True)
class MmsiMemory(Rows):
    """Per MMSI (sorted): its latest own AIS report, and the report pairs too far apart for one vessel."""

    mmsi: NDArray[np.int32]
    last_s: F64
    lat_deg: F64
    lon_deg: F64
    conflicts: I64
    """Conflicting report pairs since the episode began (reset once `mmsi_conflict_memory_s` pass without one)."""
    conflict_s: F64
    """Time of the latest conflicting pair (NaN: none)."""
    other_lat_deg: F64
    """The earlier report of that pair (the later one is `conflict_lat/lon_deg`)."""
    other_lon_deg: F64
    conflict_lat_deg: F64
    conflict_lon_deg: F64
    distance_m: F64
    dt_s: F64

    @classmethod
    def empty(cls) -> MmsiMemory:
        """No MMSIs."""
        f = np.zeros(0)
        return cls(np.zeros(0, dtype=np.int32), f, f, f, np.zeros(0, dtype=np.int64), f, f, f, f, f, f, f)


@dataclass(frozen=True)
class AssessmentState:
    """Everything `assess` carries from one tick to the next; never modified in place."""

    config: AssessmentConfig
    zones: Zones
    sensors: dict[str, SensorSpec]
    frame: LocalFrame
    rules: IdentityRules
    zone_identities: B
    """(identities, zones): whether a zone alerts on an identity."""
    memory: TrackMemory = field(default_factory=TrackMemory.empty)
    history: dict[int, tuple[IdentityChange, ...]] = field(default_factory=dict)
    book: AlertBook = field(default_factory=AlertBook)
    adsb: AdsbMemory = field(default_factory=AdsbMemory.empty)
    ais_radar: AisRadarMemory = field(default_factory=AisRadarMemory.empty)
    mmsi: MmsiMemory = field(default_factory=MmsiMemory.empty)
    sensor_last_plot_s: dict[str, float] = field(default_factory=dict)
    started_s: float | None = None
    pending_events: tuple[dict[str, Any], ...] = ()
    """Operator acknowledgements since the last tick, reported with the next tick's events."""
    pending_changes: tuple[dict[str, Any], ...] = ()
    """Operator identity overrides since the last tick."""

    def identity_history(self, system_id: int) -> tuple[IdentityChange, ...]:
        """Every identity change of a system track, oldest first."""
        return self.history.get(system_id, ())


@dataclass(frozen=True)
class Assessment:
    """One tick's result: identities aligned with the system rows, active alerts, and what happened."""

    time_s: float
    system_id: I64
    identity: NDArray[np.str_]
    """Identity name of each system row, in the order of the input."""
    alerts: list[Alert]
    """Active alerts (raised or acknowledged), by id."""
    events: list[dict[str, Any]]
    """Alert events since the last tick (raised, acknowledged, cleared): the lines of alerts.jsonl."""
    identity_changes: list[dict[str, Any]]
    """Identity changes since the last tick (rules and operator overrides)."""
