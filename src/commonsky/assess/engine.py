"""`assess`: one tick of identification and alerting over the fused picture, as a pure function of state and inputs.

Per tick the node hands in the common picture (system tracks), and optionally its own sensors' plots of
the tick, its own local track reports and the partner reports it imported. `assess` remembers what each
track shows, identifies it (`commonsky.assess.identity`), runs every registered alert rule
(`commonsky.assess.registry`; the built-in ones are in `commonsky.assess.rules`) and advances the alert
book (`commonsky.assess.alerts`) with each kind's raise and clear time.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial import cKDTree

from commonsky.assess import alerts as book_ops
from commonsky.assess.alerts import AlertError, Condition
from commonsky.assess.config import AssessmentConfig
from commonsky.assess.identity import (
    IDENTITIES,
    IDENTITY_NAMES,
    NO_IDENTITY,
    Identity,
    IdentityChange,
    IdentityEvidence,
    IdentityRules,
    propose,
    settle,
)
from commonsky.assess.registry import ALERT_KINDS, Tick
from commonsky.assess.state import AdsbMemory as AdsbMemory  # checkpoints written before the split name it here
from commonsky.assess.state import Assessment, AssessmentState, SystemPicture, TrackMemory
from commonsky.assess.zones import Zones
from commonsky.core.arrays import F64, I64
from commonsky.core.batches import (
    EMERGENCY_SQUAWKS,
    SENSOR_ADSB,
    SENSOR_AIS,
    SENSOR_PSR,
    SENSOR_SSR,
    Plots,
    TrackReports,
)
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import DOMAIN_SURFACE, SensorSpec


def raise_delays(cfg: AssessmentConfig) -> dict[str, float]:
    """How long each kind's condition must hold before it is raised: every registered kind, and only those."""
    return {rule.kind: cfg.setting(rule.raise_s) for rule in ALERT_KINDS.values()}


def clear_delays(cfg: AssessmentConfig) -> dict[str, float]:
    """How long each kind's condition must be false before its alert clears."""
    return {rule.kind: cfg.setting(rule.clear_s) for rule in ALERT_KINDS.values()}


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
    rules = IdentityRules.from_config(config)
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

    tick = Tick(time_s, system, rows, points, identity, plots, local, partner)
    conditions: list[Condition] = []
    for rule in ALERT_KINDS.values():
        state, found = rule.conditions(state, tick)
        conditions += found

    book, events = book_ops.update(
        state.book, time_s, conditions, raise_delays(cfg), cfg.raise_min_ticks, clear_delays(cfg)
    )
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
    c["ever_mmsi"][rows] |= system.mmsi >= 0
    c["ever_ais_identity"][rows] |= ((kinds & SENSOR_AIS) != 0) & (system.mmsi >= 0) & (system.callsign != "")
    return replace(state, memory=TrackMemory(memory.system_id, c), history=history), rows


def _identify(
    state: AssessmentState, time_s: float, system: SystemPicture, rows: I64, points: F64
) -> tuple[AssessmentState, list[IdentityChange]]:
    """Apply the identity rules and the anti-flapping settle step; record every change in the history.

    A track without transponder or MMSI is next to one with it only within its own domain: an aircraft over
    the river never makes a vessel a duplicate, nor the other way round."""
    c = dict(state.memory.columns)
    cooperative = c["ever_transponder"][rows] | c["ever_mmsi"][rows]
    surface = system.domain == DOMAIN_SURFACE
    near = np.zeros(len(rows), dtype=bool)
    for domain, distance in ((~surface, state.config.duplicate_m), (surface, state.config.surface_duplicate_m)):
        coop, other = cooperative & domain, ~cooperative & domain
        if coop.any() and other.any():
            gap, _ = cKDTree(points[coop]).query(points[other])
            near[other] = gap <= distance
    evidence = IdentityEvidence(
        mode_s=system.mode_s,
        squawk=system.squawk,
        mmsi=system.mmsi,
        tentative=system.status == "tentative",
        age_s=time_s - c["first_seen_s"][rows],
        ever_adsb_identity=c["ever_adsb_identity"][rows],
        ever_ais_identity=c["ever_ais_identity"][rows],
        ever_transponder=c["ever_transponder"][rows],
        ever_mmsi=c["ever_mmsi"][rows],
        near_transponder=near,
    )
    proposed, reason = propose(state.rules, evidence)
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
