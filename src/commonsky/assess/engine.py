"""`assess`: one tick of identification and alerting over the fused picture, as a pure function of state and inputs.

Per tick the node hands in the common picture (system tracks), and optionally its own sensors' plots of
the tick, its own local track reports and the partner reports it imported. The state remembers per
system track (keyed by `system_id`) when it appeared and where, what it has shown (transponder, ADS-B
identity), when SSR/ADS-B and primary radar last fed it, its identity and identity history; per Mode
S address the run of inconsistent ADS-B/radar pairs; per sensor its last plot; and the alert book.

Alert kinds and their conditions (severity in brackets):

- `zone_entry` [restricted/protected: high, border buffer: medium]: inside a zone's polygon and
  altitude band, for the identities the zone alerts on;
- `zone_predicted_entry` [medium]: outside, but the straight-line track (horizontal velocity, vertical
  rate when known) enters the zone within `predict_horizon_s`; evidence holds `time_to_entry_s`;
- `emergency_squawk` [7500 critical, 7700 high, 7600 medium]: the system track squawks the code;
- `transponder_loss` [high]: the track was fed by SSR or ADS-B for at least `transponder_history_s`,
  none for `transponder_loss_s` now, primary radar still feeds it, and it lies well inside the coverage
  of an SSR or ADS-B sensor that is up (known down sensors do not count, unknown ones are assumed up);
- `adsb_inconsistent` [high]: `adsb_min_inconsistent` ADS-B/SSR plot pairs of the address in a row
  fail the chi-square test (see `commonsky.assess.checks.adsb_radar_pairs`): spoofing or bad avionics;
- `partner_contradiction` [medium]: a partner track with an own track's address but statistically far
  from all own tracks of it, or a confirmed partner track of known altitude well inside the coverage of
  an own radar that is up with no own track within `partner_explain_m`; raised only after it holds
  for `partner_raise_s` (30 s: own track initiation, partner delay and edge effects die out first);
- `unknown_near_border` [high]: an `unknown` track that appeared (first seen after the start-up grace)
  within `border_distance_m` of a border line or border buffer zone.

`ALERT_KINDS` is the one table of these kinds (label, severities, display colour, operator help) that the
display shows; `raise_delays` gives each kind's raise time, and a kind without a table entry fails the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from commonsky.assess import alerts as book_ops
from commonsky.assess.alerts import Alert, AlertBook, AlertError, Condition
from commonsky.assess.checks import adsb_radar_pairs, in_coverage, partner_contradictions
from commonsky.assess.config import AssessmentConfig
from commonsky.assess.identity import (
    EMERGENCY_SQUAWKS,
    IDENTITIES,
    IDENTITY_NAMES,
    NO_IDENTITY,
    Identity,
    IdentityChange,
    IdentityRules,
    propose,
    settle,
)
from commonsky.assess.zones import Zones
from commonsky.core.batches import SENSOR_ADSB, SENSOR_PSR, SENSOR_SSR, Plots, TrackReports, sensor_kind_names
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import SensorKind, SensorSpec

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]

ZONE_ENTRY = "zone_entry"
ZONE_PREDICTED = "zone_predicted_entry"
EMERGENCY = "emergency_squawk"
TRANSPONDER_LOSS = "transponder_loss"
ADSB_INCONSISTENT = "adsb_inconsistent"
PARTNER_CONTRADICTION = "partner_contradiction"
UNKNOWN_NEAR_BORDER = "unknown_near_border"
SEVERITIES = ("critical", "high", "medium")
"""Alert severities, most severe first."""


@dataclass(frozen=True)
class AlertKind:
    """One kind of alert as operators see it: what it is called, how severe it can be, its colour and help."""

    kind: str
    label: str
    severities: tuple[str, ...]
    """The severities the rule raises it with, most severe first (a subset of `SEVERITIES`)."""
    colour: str
    """Display colour, CSS #rrggbb."""
    help: str
    """What the alert means, in a sentence or two for the operator."""


ALERT_KINDS: Mapping[str, AlertKind] = MappingProxyType(
    {
        k.kind: k
        for k in (
            AlertKind(
                ZONE_ENTRY,
                "Zone entry",
                ("high", "medium"),
                "#ff6b6b",
                "The track is inside a zone and its altitude band, with an identity the zone alerts on: "
                "high in a restricted or protected zone, medium in a border buffer.",
            ),
            AlertKind(
                ZONE_PREDICTED,
                "Predicted zone entry",
                ("medium",),
                "#ffa94d",
                "The track is outside a zone but on its present course and climb will enter it soon; "
                "the evidence gives the time to entry.",
            ),
            AlertKind(
                EMERGENCY,
                "Emergency squawk",
                ("critical", "high", "medium"),
                "#e64dff",
                "The track squawks an emergency code: 7500 unlawful interference (critical), "
                "7700 general emergency (high), 7600 radio failure (medium).",
            ),
            AlertKind(
                TRANSPONDER_LOSS,
                "Transponder loss",
                ("high",),
                "#f2c14e",
                "SSR and ADS-B stopped feeding a track that primary radar still holds, well inside "
                "cooperative coverage: the transponder was switched off or failed.",
            ),
            AlertKind(
                ADSB_INCONSISTENT,
                "ADS-B inconsistent",
                ("high",),
                "#c792ea",
                "The aircraft's ADS-B positions disagree with radar several times in a row beyond the "
                "statistical test: spoofing or faulty avionics.",
            ),
            AlertKind(
                PARTNER_CONTRADICTION,
                "Partner contradiction",
                ("medium",),
                "#5fd7ff",
                "Own sensors contradict a partner's track: the same address far from the own track, or a "
                "confirmed track inside own radar coverage that own radar does not see.",
            ),
            AlertKind(
                UNKNOWN_NEAR_BORDER,
                "Unknown near border",
                ("high",),
                "#ffff80",
                "An unknown track appeared close to a border line or border buffer after start-up.",
            ),
        )
    }
)
"""Every alert kind the rules raise, by kind, in the order of the module docstring."""
EMERGENCY_SEVERITY = {7500: "critical", 7700: "high", 7600: "medium"}


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
class AdsbMemory:
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


def raise_delays(cfg: AssessmentConfig) -> dict[str, float]:
    """How long each kind's condition must hold before it is raised: every kind a rule can emit, and only those."""
    return {
        ZONE_ENTRY: cfg.zone_raise_s,
        ZONE_PREDICTED: cfg.predicted_raise_s,
        EMERGENCY: cfg.emergency_raise_s,
        TRANSPONDER_LOSS: cfg.transponder_raise_s,
        ADSB_INCONSISTENT: cfg.adsb_raise_s,
        PARTNER_CONTRADICTION: cfg.partner_raise_s,
        UNKNOWN_NEAR_BORDER: cfg.border_raise_s,
    }


def new_assessment_state(
    config: AssessmentConfig, zones: Zones, sensors: list[SensorSpec] | tuple[SensorSpec, ...]
) -> AssessmentState:
    """A fresh assessment. `sensors` are all known sensors (own and partners' published ones)."""
    if len(zones):
        frame = zones.frame
    elif sensors:
        frame = LocalFrame(float(np.mean([s.lat_deg for s in sensors])), float(np.mean([s.lon_deg for s in sensors])))
    else:
        frame = LocalFrame(0.0, 0.0)
    rules = IdentityRules(
        friend_mode_s=np.array(config.friend_mode_s, dtype=np.int64),
        friend_squawks=np.array(config.friend_squawks, dtype=np.int64),
        neutral_mode_s=np.array(config.neutral_mode_s, dtype=np.int64),
        neutral_squawks=np.array(config.neutral_squawks, dtype=np.int64),
        transponder_identity=Identity(config.transponder_identity).code,
        pending_s=config.pending_s,
    )
    allowed = np.array([[name in z.alert_identities for z in zones.zones] for name in IDENTITIES], dtype=bool)
    return AssessmentState(
        config=config,
        zones=zones,
        sensors={s.id: s for s in sensors},
        frame=frame,
        rules=rules,
        zone_identities=allowed.reshape(len(IDENTITIES), len(zones)),
    )


def reconfigure_assessment(
    state: AssessmentState, config: AssessmentConfig, zones: Zones, sensors: list[SensorSpec] | tuple[SensorSpec, ...]
) -> AssessmentState:
    """The assessment under new rules, zones or known sensors from now on, keeping what it remembers (tracks,
    identities and their history, alerts)."""
    fresh = new_assessment_state(config, zones, sensors)
    return replace(
        state,
        config=fresh.config,
        zones=fresh.zones,
        sensors=fresh.sensors,
        frame=fresh.frame,
        rules=fresh.rules,
        zone_identities=fresh.zone_identities,
    )


def assess(
    state: AssessmentState,
    time_s: float,
    system: SystemPicture,
    plots: Plots | None = None,
    local: TrackReports | None = None,
    partner: TrackReports | None = None,
) -> tuple[AssessmentState, Assessment]:
    """Identify every system track and update the alerts at `time_s`.

    `plots` are the node's own sensors' plots of this tick (ADS-B/radar check, sensor liveness),
    `local` its own confirmed track reports and `partner` the partner reports imported this tick
    (partner contradiction); each check is skipped when its input is absent.
    """
    cfg = state.config
    started = time_s if state.started_s is None else state.started_s
    last_plot = dict(state.sensor_last_plot_s)
    if plots is not None and len(plots):
        ids, inverse = np.unique(plots.sensor_id, return_inverse=True)
        latest = np.full(len(ids), -np.inf)
        np.maximum.at(latest, inverse, plots.time_s)
        last_plot.update({str(i): float(t) for i, t in zip(ids, latest, strict=True)})
    state = replace(state, sensor_last_plot_s=last_plot, started_s=started)

    e, n, _ = state.frame.geodetic_to_enu(system.lat_deg, system.lon_deg, 0.0)
    points = np.stack([e, n], axis=-1).reshape(-1, 2)
    state, rows = _remember(state, time_s, system)
    state, changes = _identify(state, time_s, system, rows, points)
    identity = state.memory.columns["identity"][rows]

    conditions = _zone_conditions(state, system, identity)
    conditions += _emergency_conditions(system)
    state, transponder = _transponder_conditions(state, time_s, system, rows, points)
    conditions += transponder
    state, border = _border_conditions(state, time_s, system, rows, identity)
    conditions += border
    if plots is not None:
        state, adsb = _adsb_conditions(state, time_s, system, plots)
        conditions += adsb
    if local is not None and partner is not None:
        conditions += _partner_conditions(state, time_s, system, local, partner)

    book, events = book_ops.update(state.book, time_s, conditions, raise_delays(cfg), cfg.raise_min_ticks, cfg.clear_s)
    out = Assessment(
        time_s=time_s,
        system_id=np.asarray(system.system_id, dtype=np.int64),
        identity=IDENTITY_NAMES[identity],
        alerts=[book.active[k] for k in sorted(book.active)],
        events=[*state.pending_events, *events],
        identity_changes=[*state.pending_changes, *(c.to_dict() for c in changes)],
    )
    return replace(state, book=book, pending_events=(), pending_changes=()), out


def acknowledge(state: AssessmentState, alert_id: int, user: str, time_s: float) -> AssessmentState:
    """Record an operator's acknowledgement of an active alert; `AlertError` if it is unknown or cleared."""
    book, event = book_ops.acknowledge(state.book, alert_id, user, time_s)
    return replace(state, book=book, pending_events=(*state.pending_events, event))


def override_identity(
    state: AssessmentState, system_id: int, identity: str | Identity, user: str, time_s: float
) -> AssessmentState:
    """Set a system track's identity by operator decision: it wins over every rule and is recorded."""
    if identity not in IDENTITIES:
        raise AlertError(f"{identity!r} is not one of {', '.join(IDENTITIES)}")
    if not user:
        raise AlertError("an identity override needs the user's name")
    memory = state.memory
    row = int(np.searchsorted(memory.system_id, system_id))
    if row >= len(memory.system_id) or memory.system_id[row] != system_id:
        raise AlertError(f"system track {system_id} is not in the picture (or was forgotten)")
    code = Identity(identity).code
    columns = {k: v.copy() for k, v in memory.columns.items()}
    previous = int(columns["identity"][row])
    columns["identity"][row] = code
    columns["candidate"][row] = code
    columns["overridden"][row] = True
    change = IdentityChange(
        system_id, time_s, IDENTITIES[previous] if previous != NO_IDENTITY else "", str(identity), user, "override"
    )
    history = {**state.history, system_id: (*state.history.get(system_id, ()), change)}
    return replace(
        state,
        memory=TrackMemory(memory.system_id, columns),
        history=history,
        pending_changes=(*state.pending_changes, change.to_dict()),
    )


def _remember(state: AssessmentState, time_s: float, system: SystemPicture) -> tuple[AssessmentState, I64]:
    """Forget long-gone tracks, add new ones, and record what each track shows at this tick."""
    memory = state.memory
    gone = time_s - memory.columns["last_seen_s"] > state.config.forget_s
    history = state.history
    if gone.any():
        forgotten = set(memory.system_id[gone].tolist())
        memory = memory.keep(~gone)
        history = {k: v for k, v in history.items() if k not in forgotten}
    memory, rows = memory.rows_of(np.asarray(system.system_id, dtype=np.int64))
    c = {k: v.copy() for k, v in memory.columns.items()}
    new = np.isnan(c["first_seen_s"][rows])
    c["first_seen_s"][rows[new]] = time_s
    c["first_lat_deg"][rows[new]] = system.lat_deg[new]
    c["first_lon_deg"][rows[new]] = system.lon_deg[new]
    c["last_seen_s"][rows] = time_s
    kinds = system.sensor_kinds.astype(np.int64)
    coop = (kinds & (SENSOR_SSR | SENSOR_ADSB)) != 0
    c["coop_kinds"][rows] |= (kinds & (SENSOR_SSR | SENSOR_ADSB)).astype(np.int8)
    c["first_coop_s"][rows] = np.where(coop & np.isnan(c["first_coop_s"][rows]), time_s, c["first_coop_s"][rows])
    c["last_coop_s"][rows] = np.where(coop, time_s, c["last_coop_s"][rows])
    c["last_psr_s"][rows] = np.where((kinds & SENSOR_PSR) != 0, time_s, c["last_psr_s"][rows])
    c["ever_transponder"][rows] |= (system.mode_s >= 0) | (system.squawk >= 0)
    c["ever_adsb_identity"][rows] |= ((kinds & SENSOR_ADSB) != 0) & (system.mode_s >= 0) & (system.callsign != "")
    return replace(state, memory=TrackMemory(memory.system_id, c), history=history), rows


def _identify(
    state: AssessmentState, time_s: float, system: SystemPicture, rows: I64, points: F64
) -> tuple[AssessmentState, list[IdentityChange]]:
    """Apply the identity rules and the anti-flapping settle step; record every change in the history."""
    c = dict(state.memory.columns)
    transponder = c["ever_transponder"][rows]
    near = np.zeros(len(rows), dtype=bool)
    if transponder.any() and (~transponder).any():
        gap, _ = cKDTree(points[transponder]).query(points[~transponder])
        near[~transponder] = gap <= state.config.duplicate_m
    proposed, reason = propose(
        state.rules,
        system.mode_s,
        system.squawk,
        system.status == "tentative",
        time_s - c["first_seen_s"][rows],
        c["ever_adsb_identity"][rows],
        transponder,
        near,
    )
    current = c["identity"][rows]
    frozen = c["overridden"][rows] | np.isin(system.squawk, EMERGENCY_SQUAWKS)
    new, candidate, since = settle(
        current,
        c["candidate"][rows],
        c["candidate_since_s"][rows],
        proposed,
        frozen,
        time_s,
        state.config.identity_confirm_s,
    )
    for name, values in (("identity", new), ("candidate", candidate), ("candidate_since_s", since)):
        col = c[name].copy()
        col[rows] = values
        c[name] = col
    changed = np.flatnonzero(new != current)
    changes = [
        IdentityChange(
            int(system.system_id[i]),
            time_s,
            IDENTITIES[current[i]] if current[i] != NO_IDENTITY else "",
            IDENTITIES[new[i]],
            "rules",
            str(reason[i]),
        )
        for i in changed
    ]
    history = dict(state.history)
    for change in changes:
        history[change.system_id] = (*history.get(change.system_id, ()), change)
    return replace(state, memory=TrackMemory(state.memory.system_id, c), history=history), changes


def _zone_conditions(state: AssessmentState, system: SystemPicture, identity: NDArray[np.int8]) -> list[Condition]:
    """Zone entry (inside polygon and band) and predicted entry within the horizon, for alerting identities."""
    zones, cfg = state.zones, state.config
    if not len(zones) or not len(system.system_id):
        return []
    allowed = state.zone_identities[identity]
    inside = zones.contains(system.lat_deg, system.lon_deg) & zones.in_band(system.alt_m, cfg.unknown_altitude_in_band)
    out: list[Condition] = []
    for k, z in zip(*np.nonzero(inside & allowed), strict=True):
        zone = zones.zones[z]
        severity = "medium" if zone.kind == "border_buffer" else "high"
        evidence = {
            "track": _track(system, k),
            "zone": {"name": zone.name, "kind": zone.kind, "floor_m": zone.floor_m, "ceiling_m": zone.ceiling_m},
            "identity": IDENTITIES[identity[k]],
        }
        out.append(
            Condition(
                f"{ZONE_ENTRY}|{system.system_id[k]}|{zone.name}",
                ZONE_ENTRY,
                int(system.system_id[k]),
                severity,
                evidence,
            )
        )
    speed = np.hypot(system.v_east_mps, system.v_north_mps)
    moving = np.isfinite(speed) & (speed >= cfg.predict_min_speed_mps)
    if not moving.any():
        return out
    m = np.flatnonzero(moving)
    tte = zones.time_to_entry(
        system.lat_deg[m], system.lon_deg[m], system.v_east_mps[m], system.v_north_mps[m], cfg.predict_horizon_s
    )
    alt_at = system.alt_m[m, None] + np.nan_to_num(system.v_up_mps[m])[:, None] * np.nan_to_num(tte)
    band_at = zones.in_band(alt_at, cfg.unknown_altitude_in_band)
    predicted = np.isfinite(tte) & band_at & ~inside[m] & allowed[m]
    for j, z in zip(*np.nonzero(predicted), strict=True):
        k = m[j]
        zone = zones.zones[z]
        evidence = {
            "track": _track(system, k),
            "zone": {"name": zone.name, "kind": zone.kind, "floor_m": zone.floor_m, "ceiling_m": zone.ceiling_m},
            "identity": IDENTITIES[identity[k]],
            "time_to_entry_s": round(float(tte[j, z]), 1),
            "predicted_alt_m": _num(alt_at[j, z]),
            "thresholds": {"horizon_s": cfg.predict_horizon_s, "min_speed_mps": cfg.predict_min_speed_mps},
        }
        key = f"{ZONE_PREDICTED}|{system.system_id[k]}|{zone.name}"
        out.append(Condition(key, ZONE_PREDICTED, int(system.system_id[k]), "medium", evidence))
    return out


def _emergency_conditions(system: SystemPicture) -> list[Condition]:
    """One condition per track squawking 7500, 7600 or 7700 (the code is part of the key and evidence)."""
    out = []
    for k in np.flatnonzero(np.isin(system.squawk, EMERGENCY_SQUAWKS)):
        code = int(system.squawk[k])
        evidence = {"track": _track(system, k), "squawk": f"{code:04d}"}
        sid = int(system.system_id[k])
        out.append(Condition(f"{EMERGENCY}|{sid}|{code:04d}", EMERGENCY, sid, EMERGENCY_SEVERITY[code], evidence))
    return out


def _sensor_up(state: AssessmentState, spec: SensorSpec, time_s: float, unknown: bool) -> bool:
    """Whether a sensor produced a plot recently; `unknown` for sensors whose plots this node never sees."""
    last = state.sensor_last_plot_s.get(spec.id)
    if last is None:
        return unknown
    return time_s - last <= state.config.sensor_alive_periods * spec.scan_period_s + 1.0


def _transponder_conditions(
    state: AssessmentState, time_s: float, system: SystemPicture, rows: I64, points: F64
) -> tuple[AssessmentState, list[Condition]]:
    """Transponder loss: SSR/ADS-B stopped feeding a track that primary radar still holds, inside their coverage.

    Not a loss: several tracks losing SSR/ADS-B together (a sensor or link outage; remembered for the
    episode), a cooperative system track within `duplicate_m` (the picture split the aircraft in two),
    or a position outside the coverage of every up sensor of the kinds that fed the track.
    """
    cfg, c = state.config, state.memory.columns
    first, last, psr = c["first_coop_s"][rows], c["last_coop_s"][rows], c["last_psr_s"][rows]
    with np.errstate(invalid="ignore"):
        lost = (
            (last - first >= cfg.transponder_history_s)
            & (time_s - last >= cfg.transponder_loss_s)
            & (time_s - psr <= cfg.psr_recent_s)
        )
    idx = np.flatnonzero(lost)
    # Common mode: several tracks losing SSR/ADS-B together point to a sensor or link outage.
    together = np.sort(last[idx])
    near = np.searchsorted(together, last[idx] + cfg.common_mode_window_s, side="right") - np.searchsorted(
        together, last[idx] - cfg.common_mode_window_s, side="left"
    )
    common = near >= cfg.common_mode_tracks
    outage = c["outage_coop_s"].copy()
    outage[rows[idx[common]]] = last[idx[common]]
    idx = idx[~common & (outage[rows[idx]] != last[idx])]
    state = replace(state, memory=TrackMemory(state.memory.system_id, {**c, "outage_coop_s": outage}))
    coop_now = (system.sensor_kinds.astype(np.int64) & (SENSOR_SSR | SENSOR_ADSB)) != 0
    if coop_now.any() and len(idx):
        gap, _ = cKDTree(points[coop_now]).query(points[idx])
        idx = idx[gap > cfg.duplicate_m]
    # Only sensors of the kinds that fed the track, and that are not known to be down, vouch for coverage.
    kinds = c["coop_kinds"][rows]
    covered = np.zeros(len(idx), dtype=bool)
    for spec in state.sensors.values():
        bit = {SensorKind.SSR: SENSOR_SSR, SensorKind.ADSB: SENSOR_ADSB}.get(spec.kind, 0)
        fed = (kinds[idx] & bit) != 0
        if fed.any() and _sensor_up(state, spec, time_s, True):
            inside = in_coverage(
                spec, system.lat_deg[idx], system.lon_deg[idx], system.alt_m[idx], cfg.coverage_fraction
            )
            covered |= fed & inside
    idx = idx[covered]
    out = []
    for k in idx:
        sid = int(system.system_id[k])
        evidence = {
            "track": _track(system, k),
            "last_cooperative_s": float(last[k]),
            "first_cooperative_s": float(first[k]),
            "last_primary_s": float(psr[k]),
            "lost_kinds": [name for bit, name in ((SENSOR_SSR, "ssr"), (SENSOR_ADSB, "adsb")) if kinds[k] & bit],
            "thresholds": {
                "transponder_loss_s": cfg.transponder_loss_s,
                "transponder_history_s": cfg.transponder_history_s,
                "psr_recent_s": cfg.psr_recent_s,
                "common_mode_tracks": cfg.common_mode_tracks,
                "common_mode_window_s": cfg.common_mode_window_s,
            },
        }
        out.append(Condition(f"{TRANSPONDER_LOSS}|{sid}", TRANSPONDER_LOSS, sid, "high", evidence))
    return state, out


def _border_conditions(
    state: AssessmentState, time_s: float, system: SystemPicture, rows: I64, identity: NDArray[np.int8]
) -> tuple[AssessmentState, list[Condition]]:
    """An unknown track that appeared near a border: decided once, when the track is first found unknown.

    It appeared if it was first seen after the start-up grace, within `border_distance_m` of a border
    line or border buffer zone, and was still new (younger than `new_track_s`) when identified unknown;
    the condition then holds while the track stays unknown.
    """
    cfg, c = state.config, state.memory.columns
    assert state.started_s is not None
    unknown = identity == Identity.UNKNOWN.code
    fresh = np.flatnonzero(unknown & ~c["border_checked"][rows])
    if len(fresh):
        r = rows[fresh]
        first_s = c["first_seen_s"][r]
        distance = state.zones.border_distance_m(c["first_lat_deg"][r], c["first_lon_deg"][r])
        flag = (
            (first_s >= state.started_s + cfg.startup_grace_s)
            & (time_s - first_s <= cfg.new_track_s)
            & (distance <= cfg.border_distance_m)
        )
        checked, flags = c["border_checked"].copy(), c["border_flag"].copy()
        checked[r], flags[r] = True, flag
        c = {**c, "border_checked": checked, "border_flag": flags}
        state = replace(state, memory=TrackMemory(state.memory.system_id, c))
    out = []
    for k in np.flatnonzero(unknown & c["border_flag"][rows]):
        r = rows[k]
        sid = int(system.system_id[k])
        distance_m = state.zones.border_distance_m(c["first_lat_deg"][r : r + 1], c["first_lon_deg"][r : r + 1])
        evidence = {
            "track": _track(system, k),
            "first_seen_s": float(c["first_seen_s"][r]),
            "first_lat_deg": round(float(c["first_lat_deg"][r]), 6),
            "first_lon_deg": round(float(c["first_lon_deg"][r]), 6),
            "border_distance_m": _num(distance_m[0]),
            "thresholds": {"border_distance_m": cfg.border_distance_m, "new_track_s": cfg.new_track_s},
        }
        out.append(Condition(f"{UNKNOWN_NEAR_BORDER}|{sid}", UNKNOWN_NEAR_BORDER, sid, "high", evidence))
    return state, out


def _adsb_conditions(
    state: AssessmentState, time_s: float, system: SystemPicture, plots: Plots
) -> tuple[AssessmentState, list[Condition]]:
    """Update the per-address runs of inconsistent ADS-B/radar pairs; conditions where a run is long enough."""
    cfg, mem = state.config, state.adsb
    known = np.array([str(s) in state.sensors for s in np.unique(plots.sensor_id)], dtype=bool)
    usable = plots if known.all() else plots.take(np.isin(plots.sensor_id, list(state.sensors)))
    pairs = adsb_radar_pairs(
        usable,
        state.sensors,
        system.mode_s,
        np.stack([system.v_east_mps, system.v_north_mps], axis=-1),
        cfg.adsb_pair_window_s,
        cfg.adsb_speed_sigma_mps,
        cfg.radar_bias_sigma_m,
    )
    if len(pairs):
        # Per address this tick: any consistent pair ends the run, otherwise the run grows by the pairs.
        order = np.lexsort((pairs.time_s, pairs.mode_s))
        addr, start, count = np.unique(pairs.mode_s[order], return_index=True, return_counts=True)
        bad = (pairs.chi2[order] > cfg.adsb_gate_chi2).astype(np.int64)
        n_bad = np.add.reduceat(bad, start)
        latest = order[start + count - 1]
        merged = np.union1d(mem.mode_s, addr).astype(np.int32)
        old = np.searchsorted(merged, mem.mode_s)
        new = np.searchsorted(merged, addr)
        streak = np.zeros(len(merged), dtype=np.int64)
        streak[old] = mem.streak
        streak[new] = np.where(n_bad == count, streak[new] + n_bad, 0)

        def column(values: NDArray[Any], fresh: NDArray[Any]) -> NDArray[Any]:
            col = np.zeros(len(merged), dtype=fresh.dtype)
            col[old] = values
            col[new] = fresh[latest]
            return col

        mem = AdsbMemory(
            mode_s=merged,
            streak=streak,
            last_pair_s=column(mem.last_pair_s, pairs.time_s),
            lat_deg=column(mem.lat_deg, pairs.lat_deg),
            lon_deg=column(mem.lon_deg, pairs.lon_deg),
            distance_m=column(mem.distance_m, pairs.distance_m),
            chi2=column(mem.chi2, pairs.chi2),
            sigma_m=column(mem.sigma_m, pairs.sigma_m),
            radar_sensor=column(mem.radar_sensor.astype("<U24"), pairs.radar_sensor.astype("<U24")),
            adsb_sensor=column(mem.adsb_sensor.astype("<U24"), pairs.adsb_sensor.astype("<U24")),
        )
    fresh = time_s - mem.last_pair_s <= cfg.adsb_memory_s
    mem = AdsbMemory(*(getattr(mem, f)[fresh] for f in AdsbMemory.__dataclass_fields__))
    out = []
    for i in np.flatnonzero(mem.streak >= cfg.adsb_min_inconsistent):
        address = int(mem.mode_s[i])
        on = np.flatnonzero(system.mode_s == address)
        k = -1
        if len(on):
            e, n, _ = state.frame.geodetic_to_enu(system.lat_deg[on], system.lon_deg[on], 0.0)
            e0, n0, _ = state.frame.geodetic_to_enu(mem.lat_deg[i], mem.lon_deg[i], 0.0)
            k = int(on[np.argmin(np.hypot(e - e0, n - n0))])
        evidence = {
            "track": _track(system, k) if k >= 0 else None,
            "mode_s": f"{address:06X}",
            "radar_sensor": str(mem.radar_sensor[i]),
            "adsb_sensor": str(mem.adsb_sensor[i]),
            "radar_lat_deg": _num(mem.lat_deg[i]),
            "radar_lon_deg": _num(mem.lon_deg[i]),
            "distance_m": _num(mem.distance_m[i]),
            "chi2": _num(mem.chi2[i]),
            "combined_sigma_m": _num(mem.sigma_m[i]),
            "inconsistent_pairs": int(mem.streak[i]),
            "thresholds": {"chi2": cfg.adsb_gate_chi2, "min_inconsistent_pairs": cfg.adsb_min_inconsistent},
        }
        sid = int(system.system_id[k]) if k >= 0 else -1
        out.append(Condition(f"{ADSB_INCONSISTENT}|{address:06X}", ADSB_INCONSISTENT, sid, "high", evidence))
    return replace(state, adsb=mem), out


def _partner_conditions(
    state: AssessmentState, time_s: float, system: SystemPicture, local: TrackReports, partner: TrackReports
) -> list[Condition]:
    """Partner tracks that own tracks or own radar coverage contradict (rules in `partner_contradictions`)."""
    cfg = state.config
    if not len(partner):
        return []
    radars = [
        s for s in state.sensors.values() if s.kind is not SensorKind.ADSB and _sensor_up(state, s, time_s, False)
    ]
    found = partner_contradictions(
        state.frame,
        local,
        partner,
        radars,
        time_s,
        cfg.partner_gate_chi2,
        cfg.partner_bias_sigma_m,
        cfg.partner_explain_m,
        cfg.coverage_fraction,
    )
    out = []
    wrapped = np.char.add(np.char.add(";", system.sources.astype(str)), ";")
    for i, row in enumerate(found.partner_row):
        source = f"{partner.owner[row]}:{partner.track_id[row]}"
        holders = np.flatnonzero(np.char.find(wrapped, f";{source};") >= 0)
        k = int(holders[0]) if len(holders) else -1
        evidence = {
            "rule": str(found.rule[i]),
            "partner_track": source,
            "partner_position": {
                "time_s": float(partner.time_s[row]),
                "lat_deg": float(partner.lat_deg[row]),
                "lon_deg": float(partner.lon_deg[row]),
                "alt_m": _num(partner.alt_m[row]),
                "mode_s": f"{int(partner.mode_s[row]):06X}" if partner.mode_s[row] >= 0 else None,
            },
            "own_track_id": int(found.own_track_id[i]),
            "distance_m": _num(found.distance_m[i]),
            "chi2": _num(found.chi2[i]),
            "covering_sensor": str(found.covering_sensor[i]) or None,
            "track": _track(system, k) if k >= 0 else None,
            "thresholds": {
                "chi2": cfg.partner_gate_chi2,
                "bias_sigma_m": cfg.partner_bias_sigma_m,
                "explain_m": cfg.partner_explain_m,
                "coverage_fraction": cfg.coverage_fraction,
            },
        }
        sid = int(system.system_id[k]) if k >= 0 else -1
        out.append(Condition(f"{PARTNER_CONTRADICTION}|{source}", PARTNER_CONTRADICTION, sid, "medium", evidence))
    return out


def _num(x: Any) -> float | None:
    """A float for JSON: rounded to 0.1, None for NaN or infinity."""
    v = float(x)
    return round(v, 1) if np.isfinite(v) else None


def _track(system: SystemPicture, k: int | np.integer[Any]) -> dict[str, Any]:
    """The evidence view of one system track row."""
    kinds = int(system.sensor_kinds[k])
    mode_s = int(system.mode_s[k])
    squawk = int(system.squawk[k])
    return {
        "system_id": int(system.system_id[k]),
        "time_s": float(system.time_s[k]),
        "lat_deg": round(float(system.lat_deg[k]), 6),
        "lon_deg": round(float(system.lon_deg[k]), 6),
        "alt_m": _num(system.alt_m[k]),
        "v_east_mps": _num(system.v_east_mps[k]),
        "v_north_mps": _num(system.v_north_mps[k]),
        "mode_s": f"{mode_s:06X}" if mode_s >= 0 else None,
        "squawk": f"{squawk:04d}" if squawk >= 0 else None,
        "callsign": str(system.callsign[k]) or None,
        "status": str(system.status[k]),
        "sensors": sensor_kind_names(kinds),
        "sources": str(system.sources[k]).split(";") if str(system.sources[k]) else [],
        "responsible": str(system.responsible[k]),
    }
