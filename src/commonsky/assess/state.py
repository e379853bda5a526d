"""What the assessment carries from tick to tick (`AssessmentState`), what one tick returns, and the picture it reads.

Per system track (keyed by `system_id`) the state remembers when it appeared and where, what it has shown
(transponder, ADS-B identity), when SSR/ADS-B and primary radar last fed it, its identity and identity
history; per Mode S address the run of inconsistent ADS-B/radar pairs; per sensor its last plot; and the
alert book. Every class here is frozen: a tick returns a new state.
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
}
"""Per-system-track memory columns: dtype and the value of a track not seen before."""


@dataclass(frozen=True)
class TrackMemory:
    """What the assessment remembers per system track, as columns over `system_id` (sorted)."""

    system_id: I64
    columns: dict[str, NDArray[Any]]

    @classmethod
    def empty(cls) -> TrackMemory:
        """No tracks."""
        return cls(np.zeros(0, dtype=np.int64), {k: np.zeros(0, dtype=d) for k, (d, _) in _MEMORY_DEFAULTS.items()})

    def rows_of(self, system_id: I64) -> tuple[TrackMemory, I64]:
        """This memory extended by the ids it has not seen yet, and the row of each id."""
        ids = np.union1d(self.system_id, system_id)
        if len(ids) == len(self.system_id):
            return self, np.searchsorted(ids, system_id)
        old = np.searchsorted(ids, self.system_id)
        columns = {}
        for name, (dtype, default) in _MEMORY_DEFAULTS.items():
            col = np.full(len(ids), default, dtype=dtype)
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
