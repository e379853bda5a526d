"""Picture sources of the web display: the picture an operator sees, where it comes from, operator actions.

The app depends only on the `PictureSource` protocol. `PictureFeed` turns the fused pictures pushed
to it (one per node tick) into immutable `Picture`s with identities, alerts, partner and sensor
status, and keeps the audit log of operator actions; `ScenarioSource` pushes one partner's view of a
simulated scenario at `speed` x real time from a background thread, `ReplaySource` a node
recording's ticks, seekable, with one playhead per session (`session_view()` -> `ReplayView`).
`picture_delta` is what the WebSocket stream sends between pictures.

Identities and alerts are `commonsky.assess`'s, computed by the node at each tick (`TickOutput.
assessment`). An operator's acknowledgement or identity override goes to the viewed partner's node
(`Node.act`), which records it in its recording before applying it, so a replay shows the same
identities and alerts; the audit log (`AuditEntry`: seq, wall_utc, time_s, user, action, target,
details) is the display's view of those recorded actions.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

import numpy as np

from commonsky.assess import (
    AlertError,
    Assessment,
    AssessmentConfig,
    AssessmentState,
    IdentityChange,
    acknowledge,
    assess,
    new_assessment_state,
    override_identity,
    zones_from_geojson,
)
from commonsky.core.batches import sensor_kind_names
from commonsky.core.sensors import SensorSpec
from commonsky.fusion import SystemTracks
from commonsky.tracking import registration_report

if TYPE_CHECKING:
    from commonsky.network.runner import ScenarioSession

Identity = Literal["pending", "unknown", "assumed_friend", "friend", "neutral", "suspect", "hostile"]
IDENTITIES: tuple[Identity, ...] = ("pending", "unknown", "assumed_friend", "friend", "neutral", "suspect", "hostile")
AlertState = Literal["raised", "acknowledged", "cleared"]
EMPTY_ZONES: dict[str, Any] = {"type": "FeatureCollection", "features": []}
CLEARED_KEPT = 1000
"""Cleared alerts the display keeps listing (the newest); active ones are always kept."""

KINEMATIC = ("lat", "lon", "alt", "ve", "vn")
"""Stream columns that change every update for a moving aircraft (sent alone when nothing else changed)."""
ATTRIBUTES = ("identity", "callsign", "squawk", "mode_s", "kinds", "status", "responsible", "owners", "alerts")
"""Stream columns that change rarely."""
STREAM_COLUMNS = ("id", *KINEMATIC, *ATTRIBUTES)


class ActionError(Exception):
    """An operator action that cannot apply: `status` is the HTTP status the app answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AuditEntry:
    """One operator action: who did what to which alert or track, when (wall clock and picture time)."""

    seq: int
    wall_utc: str
    time_s: float
    user: str
    action: str
    target: str
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (also the payload of a recorded "action" input)."""
        return {
            "seq": self.seq,
            "wall_utc": self.wall_utc,
            "time_s": self.time_s,
            "user": self.user,
            "action": self.action,
            "target": self.target,
            "details": self.details,
        }


@dataclass(frozen=True)
class Picture:
    """One partner's picture at one time: fused system tracks with identity and alerts, and status around it."""

    time_s: float
    partner: str
    version: int
    fused: SystemTracks
    identity: list[str]
    """Per row of `fused`: its identity."""
    track_alerts: list[list[str]]
    """Per row of `fused`: ids of its alerts not cleared."""
    alerts: list[dict[str, Any]]
    """Every alert (all states): {id, kind, state, system_id, time_s, severity, evidence, ...}."""
    partners: list[dict[str, Any]]
    """Per peer: {id, status, last_message_s}."""
    sensors: list[dict[str, Any]]
    """Per sensor: its description (`SensorSpec.to_dict`) plus `own` and `last_plot_s`."""
    zones: dict[str, Any]
    identity_history: Callable[[int], list[dict[str, Any]]]
    """system_id -> its identity changes [{time_s, identity, by, reason}], oldest first."""
    replay: dict[str, Any] | None
    """For a seekable source: {start_s, end_s, time_s}; None otherwise."""

    @cached_property
    def columns(self) -> dict[str, list[Any]]:
        """The tracks as JSON-ready columns (stream columns rounded: ~1 m, 1 m, 0.1 m/s)."""
        f = self.fused
        alt = np.round(f.alt_m)
        return {
            "id": f.system_id.tolist(),
            "lat": np.round(f.lat_deg, 5).tolist(),
            "lon": np.round(f.lon_deg, 5).tolist(),
            "alt": [None if math.isnan(a) else int(a) for a in alt.tolist()],
            "ve": np.round(f.v_east_mps, 1).tolist(),
            "vn": np.round(f.v_north_mps, 1).tolist(),
            "vu": np.round(f.v_up_mps, 1).tolist(),
            "identity": list(self.identity),
            "callsign": f.callsign.tolist(),
            "squawk": [f"{s:04d}" if s >= 0 else "" for s in f.squawk.tolist()],
            "mode_s": [f"{m:06X}" if m >= 0 else "" for m in f.mode_s.tolist()],
            "kinds": f.sensor_kinds.tolist(),
            "status": f.status.tolist(),
            "quality": np.round(f.quality, 3).tolist(),
            "n_sources": f.n_sources.tolist(),
            "responsible": f.responsible.tolist(),
            "sources": f.sources.tolist(),
            "owners": [",".join(owners) for owners in f.owners()],
            "alerts": list(self.track_alerts),
        }

    @cached_property
    def rows(self) -> dict[int, tuple[Any, ...]]:
        """system_id -> the stream columns of its row (what `picture_delta` compares)."""
        c = self.columns
        return {
            row[0]: row
            for row in zip(*(c[k] if k != "alerts" else [tuple(a) for a in c[k]] for k in STREAM_COLUMNS), strict=True)
        }

    @cached_property
    def index(self) -> dict[int, int]:
        """system_id -> row number in `fused`."""
        return {sid: i for i, sid in enumerate(self.fused.system_id.tolist())}

    def track(self, system_id: int) -> dict[str, Any] | None:
        """One system track in full: its columns, uncertainty, sources, alerts and identity history."""
        i = self.index.get(system_id)
        if i is None:
            return None
        f = self.fused
        out = {k: v[i] for k, v in self.columns.items()}
        kinds = int(f.sensor_kinds[i])
        links = [(owner, track) for _, owner, track in f.take([i]).source_links()]
        out |= {
            "time_s": float(f.time_s[i]),
            "sigma_east_m": _sqrt(f.cov_ee[i]),
            "sigma_north_m": _sqrt(f.cov_nn[i]),
            "sigma_alt_m": _sqrt(f.var_alt_m2[i]),
            "sigma_ve_mps": _sqrt(f.cov_ve_ve[i]),
            "sigma_vn_mps": _sqrt(f.cov_vn_vn[i]),
            "sensor_kinds": sensor_kind_names(kinds),
            "source_tracks": [{"partner": o, "track_id": t} for o, t in links],
            "partners": sorted({o for o, _ in links}),
            "alert_details": [a for a in self.alerts if a["system_id"] == system_id],
            "identity_history": self.identity_history(system_id),
        }
        return out


def _sqrt(variance: float) -> float | None:
    """Standard deviation from a variance, None when unknown."""
    v = float(variance)
    return None if not math.isfinite(v) or v < 0 else round(math.sqrt(v), 2)


def picture_delta(prev: Picture | None, cur: Picture) -> dict[str, Any]:
    """The stream message taking a client from `prev` to `cur` (a full snapshot when `prev` is None).

    Tracks travel as arrays of columns: `moved` holds rows whose attributes are unchanged (id and
    kinematics only), `upsert` new or otherwise changed rows (every stream column), `removed` the
    ids gone. Alerts are sent when they changed; partner, sensor and replay status every time.
    """
    head = {"time_s": cur.time_s, "partner": cur.partner, "version": cur.version}
    status = {"partners": cur.partners, "sensors": cur.sensors, "replay": cur.replay}
    if prev is None:
        return {
            "type": "snapshot",
            **head,
            "tracks": {k: cur.columns[k] for k in STREAM_COLUMNS},
            "alerts": cur.alerts,
            "zones": cur.zones,
            **status,
        }
    n_kin = 1 + len(KINEMATIC)
    moved: list[tuple[Any, ...]] = []
    upsert: list[tuple[Any, ...]] = []
    old = prev.rows
    for sid, row in cur.rows.items():
        before = old.get(sid)
        if before is None or before[n_kin:] != row[n_kin:]:
            upsert.append(row)
        elif before != row:
            moved.append(row[:n_kin])
    message: dict[str, Any] = {
        "type": "delta",
        **head,
        "moved": _transpose(moved, STREAM_COLUMNS[:n_kin]),
        "upsert": _transpose(upsert, STREAM_COLUMNS),
        "removed": [sid for sid in old if sid not in cur.rows],
        **status,
    }
    if prev.alerts != cur.alerts:
        message["alerts"] = cur.alerts
    if prev.zones != cur.zones:
        message["zones"] = cur.zones
    return message


def _transpose(rows: list[tuple[Any, ...]], names: tuple[str, ...]) -> dict[str, list[Any]]:
    """Rows to columns (lists named `names`)."""
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return {n: [list(v) if isinstance(v, tuple) else v for v in col] for n, col in zip(names, cols, strict=True)}


class PictureSource(Protocol):
    """What the web app needs from wherever the picture comes from (a scenario, a recording, a live node)."""

    @property
    def version(self) -> int:
        """Grows by one with every new picture or operator action; the stream polls it."""
        ...

    @property
    def seekable(self) -> bool:
        """True for sources that can `seek` (recordings)."""
        ...

    def snapshot(self) -> Picture:
        """The current picture (immutable; safe to keep)."""
        ...

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]:
        """Acknowledge an alert as `user`; returns the alert. ActionError 404/409 when it cannot."""
        ...

    def override_identity(self, system_id: int, identity: str, user: str) -> dict[str, Any]:
        """Set a system track's identity as `user`; returns the track's history entry. ActionError 404/422."""
        ...

    def audit(self) -> list[AuditEntry]:
        """Every operator action so far, oldest first."""
        ...

    def seek(self, time_s: float) -> None:
        """Jump to a picture time (ActionError 409 when not `seekable`)."""
        ...

    def session_view(self) -> PictureSource:
        """The source as one session sees it: itself for a shared live source; a fresh playhead for a recording."""
        ...

    def start(self) -> None:
        """Begin producing pictures (background thread)."""
        ...

    def close(self) -> None:
        """Stop producing pictures and release resources."""
        ...


Act = Callable[[dict[str, Any]], None]
"""Applies an operator action (`Node.act`'s dict) where the assessment lives; raises AlertError/ValueError."""


def _web_alert(alert: dict[str, Any]) -> dict[str, Any]:
    """An `Alert.to_dict()` (or alert event) in the display's terms: string id, `time_s` = when raised."""
    return {
        "id": str(alert["alert_id"]),
        "kind": alert["kind"],
        "state": alert["state"],
        "system_id": int(alert["system_id"]),
        "time_s": alert["raised_s"],
        "severity": alert["severity"],
        "evidence": alert["evidence"],
        "acknowledged_by": alert.get("acknowledged_by"),
        "acknowledged_s": alert.get("acknowledged_s"),
        "cleared_s": alert.get("cleared_s"),
    }


def _history_dicts(changes: Sequence[IdentityChange]) -> list[dict[str, Any]]:
    """Identity changes as the display shows them."""
    return [{"time_s": c.time_s, "identity": c.identity, "by": c.by, "reason": c.reason} for c in changes]


def _audit_entry(seq: int, action: dict[str, Any], time_s: float) -> AuditEntry:
    """An audit entry for one operator action (`Node.act`'s dict plus `wall_utc`)."""
    if action.get("action") == "acknowledge":
        target, details = str(action.get("alert_id")), {}
    else:
        target, details = str(action.get("system_id")), {"identity": action.get("identity")}
    return AuditEntry(
        seq=seq,
        wall_utc=str(action.get("wall_utc", "")),
        time_s=time_s,
        user=str(action.get("user", "")),
        action=str(action.get("action")),
        target=target,
        details=details,
    )


class PictureFeed:
    """A `PictureSource` fed by its owner: `push` each fused picture with its assessment; actions and audit here.

    Node-driven (`act` given, `push(..., assessment=...)`): identities and alerts are the node's
    (`commonsky.assess` run in `Node.tick`) and operator actions go to the node through `act`,
    which records them. Stand-alone (no `act`): the feed assesses what it is pushed with its own
    `commonsky.assess` state (default configuration, the given zones and sensors).
    Thread-safe: `push` (a producer thread), snapshots and actions (the app) take one lock.
    """

    def __init__(
        self,
        partner: str,
        sensors: Iterable[SensorSpec] = (),
        zones: dict[str, Any] | None = None,
        act: Act | None = None,
        history: Callable[[int], Sequence[IdentityChange]] | None = None,
        read_only: str | None = None,
    ) -> None:
        self.partner = partner
        sensors = list(sensors)
        self._sensors = [s.to_dict() | {"own": s.partner == partner} for s in sensors]
        self._zones = zones if zones is not None else EMPTY_ZONES
        self._act = act
        self._read_only = read_only
        self._own = (
            None
            if act is not None
            else new_assessment_state(AssessmentConfig(), zones_from_geojson(self._zones, "zones"), sensors)
        )
        self._history = history or (lambda sid: self._standalone().identity_history(sid))
        self._lock = threading.RLock()
        self._alerts: dict[str, dict[str, Any]] = {}
        self._identity: list[str] = []
        self._registration: dict[str, dict[str, Any]] = {}
        self._inputs: dict[str, dict[str, Any]] = {}
        self._audit: list[AuditEntry] = []
        self._version = 0
        self._last: tuple[float, SystemTracks, list[dict[str, Any]], dict[str, float], dict[str, Any] | None] = (
            0.0,
            SystemTracks.empty(),
            [],
            {},
            None,
        )
        self._picture = self._build()

    @property
    def version(self) -> int:
        """Grows with every new picture or action."""
        return self._version

    @property
    def seekable(self) -> bool:
        """A plain feed cannot seek."""
        return False

    def push(
        self,
        time_s: float,
        fused: SystemTracks,
        partners: list[dict[str, Any]] | None = None,
        last_plot_s: dict[str, float] | None = None,
        replay: dict[str, Any] | None = None,
        assessment: Assessment | None = None,
        registration: dict[str, dict[str, Any]] | None = None,
        inputs: dict[str, dict[str, Any]] | None = None,
    ) -> Picture:
        """Publish a fused picture at `time_s` with its assessment (or assess it here), peer status, plot times,
        the own radars' registration estimates and, per sensor fed by a live input, that input's status."""
        with self._lock:
            self._inputs = inputs or {}
            if assessment is None:
                self._own, assessment = assess(self._standalone(), time_s, fused)
            for event in assessment.events:
                self._alerts[str(event["alert_id"])] = _web_alert(event)
            for alert in assessment.alerts:
                self._alerts[str(alert.id)] = _web_alert(alert.to_dict())
            self._forget_old_cleared()
            self._identity = [str(i) for i in assessment.identity]
            self._registration = registration or {}
            self._last = (time_s, fused, partners or [], last_plot_s or {}, replay)
            self._picture = self._build()
            return self._picture

    def _forget_old_cleared(self) -> None:
        """Keep at most `CLEARED_KEPT` cleared alerts (the newest): months of running must not grow the list."""
        cleared = [k for k, a in self._alerts.items() if a["state"] == "cleared"]
        for key in cleared[: max(0, len(cleared) - CLEARED_KEPT)]:
            del self._alerts[key]

    def _build(self) -> Picture:
        """Publish the last pushed picture with the current identities and alerts (lock held)."""
        time_s, fused, partners, last_plot_s, replay = self._last
        self._version += 1
        sensors = [
            s
            | {
                "last_plot_s": last_plot_s.get(s["id"]),
                "registration": self._registration.get(s["id"]),
                "input_state": self._inputs.get(s["id"], {}).get("state"),
                "input_reason": self._inputs.get(s["id"], {}).get("reason"),
            }
            for s in self._sensors
        ]
        active: dict[int, list[str]] = {}
        for alert_id, alert in self._alerts.items():
            if alert["state"] != "cleared":
                active.setdefault(alert["system_id"], []).append(alert_id)
        history = self._history
        return Picture(
            time_s=time_s,
            partner=self.partner,
            version=self._version,
            fused=fused,
            identity=list(self._identity),
            track_alerts=[active.get(sid, []) for sid in fused.system_id.tolist()],
            alerts=list(self._alerts.values()),
            partners=partners,
            sensors=sensors,
            zones=self._zones,
            identity_history=lambda sid: _history_dicts(history(sid)),
            replay=replay,
        )

    def snapshot(self) -> Picture:
        """The current picture."""
        return self._picture

    def _standalone(self) -> AssessmentState:
        """The feed's own assessment state; a node-driven feed has none (its node assesses)."""
        if self._own is None:
            raise RuntimeError(
                f"{self.partner}: a node-driven feed is pushed its assessment and has no state of its own"
            )
        return self._own

    def _apply(self, action: dict[str, Any]) -> None:
        """Apply an operator action where the assessment lives (lock held); refusals become ActionErrors."""
        if self._read_only is not None:
            raise ActionError(409, self._read_only)
        time_s = self._last[0]
        try:
            if self._act is not None:
                self._act(action)
            elif action["action"] == "acknowledge":
                self._own = acknowledge(self._standalone(), int(action["alert_id"]), action["user"], time_s)
            else:
                self._own = override_identity(
                    self._standalone(), int(action["system_id"]), action["identity"], action["user"], time_s
                )
        except AlertError as exc:
            raise ActionError(409, str(exc)) from None
        except ValueError as exc:
            raise ActionError(422, str(exc)) from None
        self._audit.append(_audit_entry(len(self._audit) + 1, action, time_s))

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]:
        """Acknowledge a raised alert; recorded in the audit log (and by the node, when node-driven)."""
        with self._lock:
            alert = self._alerts.get(alert_id)
            if alert is None:
                raise ActionError(404, f"no alert {alert_id!r}")
            if alert["state"] != "raised":
                raise ActionError(409, f"alert {alert_id} is {alert['state']}, not raised")
            self._apply({"action": "acknowledge", "alert_id": int(alert_id), "user": user, "wall_utc": _now()})
            alert = alert | {"state": "acknowledged", "acknowledged_by": user, "acknowledged_s": self._last[0]}
            self._alerts[alert_id] = alert
            self._picture = self._build()
            return alert

    def override_identity(self, system_id: int, identity: str, user: str) -> dict[str, Any]:
        """Set a system track's identity by hand (it then stays until overridden again); audited."""
        if identity not in IDENTITIES:
            raise ActionError(422, f"identity {identity!r} is not one of {', '.join(IDENTITIES)}")
        with self._lock:
            row = self._picture.index.get(system_id)
            if row is None:
                raise ActionError(404, f"no system track {system_id}")
            action = {"action": "override_identity", "system_id": system_id, "identity": identity, "user": user}
            self._apply(action | {"wall_utc": _now()})
            self._identity[row] = identity
            self._picture = self._build()
            entry = {"time_s": self._last[0], "identity": identity, "by": user, "reason": "operator override"}
            history = self._picture.identity_history(system_id)
            return history[-1] if history else entry

    def audit(self) -> list[AuditEntry]:
        """Every operator action so far."""
        with self._lock:
            return list(self._audit)

    def set_audit(self, entries: list[AuditEntry]) -> None:
        """Replace the audit log (a replay shows the actions recorded up to the picture's time)."""
        with self._lock:
            self._audit = list(entries)

    def reset(self) -> None:
        """Forget alerts and audit (a replay seeking backwards re-runs them from the start)."""
        with self._lock:
            self._alerts = {}
            self._audit = []

    def seek(self, time_s: float) -> None:
        """A feed follows its producer: it cannot seek."""
        raise ActionError(409, "this picture source is live: it cannot seek")

    def session_view(self) -> PictureFeed:
        """A live feed is shared: every session sees the same one."""
        return self

    def start(self) -> None:
        """Nothing to start: the owner pushes."""

    def close(self) -> None:
        """Nothing to release."""


def _now() -> str:
    """Wall-clock UTC time of an operator action, for the audit log."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _plot_times(sensor_ids: np.ndarray, times: np.ndarray) -> dict[str, np.ndarray]:
    """Sorted plot times per sensor id."""
    return {str(s): np.sort(times[sensor_ids == s]) for s in np.unique(sensor_ids)}


def _last_before(times: dict[str, np.ndarray], now_s: float) -> dict[str, float]:
    """Per sensor, its last plot time at or before `now_s` (sensors without one left out)."""
    out: dict[str, float] = {}
    for sid, t in times.items():
        k = int(np.searchsorted(t, now_s, side="right"))
        if k:
            out[sid] = float(t[k - 1])
    return out


class _FeedBacked:
    """What a source that publishes through a `PictureFeed` answers by asking the feed."""

    feed: PictureFeed

    @property
    def version(self) -> int:
        """The feed's version."""
        return self.feed.version

    def snapshot(self) -> Picture:
        """The current picture."""
        return self.feed.snapshot()

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]:
        """See `PictureFeed.acknowledge`."""
        return self.feed.acknowledge(alert_id, user)

    def override_identity(self, system_id: int, identity: str, user: str) -> dict[str, Any]:
        """See `PictureFeed.override_identity`."""
        return self.feed.override_identity(system_id, identity, user)

    def audit(self) -> list[AuditEntry]:
        """See `PictureFeed.audit`."""
        return self.feed.audit()

    def session_view(self) -> Self:
        """A live source is shared: every session sees the same one."""
        return self


class ScenarioSource(_FeedBacked):
    """One partner's view of a simulated scenario, advanced one step per 1/`speed` s in a background thread.

    All partners' nodes run (they must, to share tracks); the picture is `partner`'s fused view
    (default: the scenario's first partner). With `stop_s` (seconds after the scenario start) the
    run holds there, e.g. for a stable picture in tests. Not seekable.
    """

    def __init__(
        self,
        session: ScenarioSession,
        partner: str | None = None,
        speed: float = 1.0,
        zones: dict[str, Any] | None = None,
        stop_s: float | None = None,
    ) -> None:
        self.session = session
        partners = list(session.nodes)
        self.partner = partner or partners[0]
        if self.partner not in partners:
            raise ValueError(f"partner {self.partner!r} is not one of {', '.join(partners)}")
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self.stop_time_s = None if stop_s is None else session.scenario.start_time_s + stop_s
        node = session.nodes[self.partner]
        self._lock = threading.Lock()
        self.feed = PictureFeed(
            self.partner,
            session.simulation.sensors,
            zones if zones is not None else node.config.zones,
            act=self._act,
            history=lambda sid: node.assessment.identity_history(sid),
        )
        own = {s.id for s in session.simulation.sensors if s.partner == self.partner}
        plots = session.simulation.plots
        mask = np.isin(plots.sensor_id, list(own))
        self._plot_times = _plot_times(plots.sensor_id[mask], plots.time_s[mask])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"scenario-{self.partner}", daemon=True)

    @property
    def seekable(self) -> bool:
        """A running simulation cannot go back."""
        return False

    def _finished(self) -> bool:
        """True at the end of the scenario or at `stop_s`."""
        return bool(self.session.done) or (self.stop_time_s is not None and self.session.time_s >= self.stop_time_s)

    def _act(self, action: dict[str, Any]) -> None:
        """An operator action to the viewed partner's node, which records and applies it."""
        with self._lock:
            self.session.nodes[self.partner].act(action, self.session.time_s)

    def step(self) -> Picture:
        """Advance the scenario one step and publish the partner's new picture."""
        with self._lock:
            outputs = self.session.step()
            registration = registration_report(self.session.nodes[self.partner].tracker)
        out = outputs[self.partner]
        node = self.session.nodes[self.partner]
        partners = [
            {"id": peer, "status": status, "last_message_s": node.monitor.last_seen_s.get(peer)}
            for peer, status in out.partners.items()
        ]
        last_plot = _last_before(self._plot_times, out.time_s)
        return self.feed.push(
            out.time_s, out.fused, partners, last_plot, assessment=out.assessment, registration=registration
        )

    def _run(self) -> None:
        """Step at `speed` x real time until finished or closed."""
        period = 1.0 / self.speed
        deadline = time.monotonic()
        while not self._stop.is_set() and not self._finished():
            self.step()
            deadline += period
            self._stop.wait(max(0.0, deadline - time.monotonic()))

    def seek(self, time_s: float) -> None:
        """Not possible for a running simulation."""
        raise ActionError(409, "a running scenario cannot seek; replay a recording to review")

    def start(self) -> None:
        """Start the stepping thread."""
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and close the nodes' recordings."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.session.close()


@dataclass(frozen=True)
class _Tick:
    """One replayed tick: what the picture needs, and the operator actions recorded up to it."""

    time_s: float
    fused: SystemTracks
    partners: list[dict[str, Any]]
    last_plot_s: dict[str, float]
    assessment: Assessment
    history: Callable[[int], Sequence[IdentityChange]]
    audit: list[AuditEntry]
    registration: dict[str, dict[str, Any]]


class ReplayView:
    """One session's playhead over a `ReplaySource`'s ticks: its own read-only feed, played lazily, seekable.

    No thread: `version`, `snapshot()`, `audit()` and the actions first bring the feed up to the tick
    the clock says (one tick per 1/`speed` s since the last seek or creation). Forward, the ticks in
    between are pushed one by one (alerts accumulate in the feed); after a backward seek the feed is
    reset and ticks 0..k re-run: ~35 us a tick, ~10 ms back to the end of a 300 s border3 recording.
    Memory: the ticks are the recording's, shared; a view holds only its feed. Thread-safe (one lock).
    """

    def __init__(self, replay: ReplaySource, clock: Callable[[], float] = time.monotonic) -> None:
        self._replay = replay
        self._clock = clock
        self._history: Callable[[int], Sequence[IdentityChange]] = replay.ticks[0].history
        self.feed = PictureFeed(
            replay.partner,
            replay.sensors,
            replay.zones,
            history=lambda sid: self._history(sid),
            read_only="a recording is read-only: act on the live picture",
        )
        self._lock = threading.Lock()
        self._shown = -1
        self._anchor = (0, clock())  # (tick, clock time) of the last seek or of creation: play counts from there
        with self._lock:
            self._catch_up()

    @property
    def seekable(self) -> bool:
        """Recordings can seek."""
        return True

    def _due(self) -> int:
        """The tick the playhead is at now (a whole number of periods counts despite float rounding)."""
        k, since = self._anchor
        played = int((self._clock() - since) * self._replay.speed + 1e-9)
        return min(len(self._replay.ticks) - 1, k + played)

    def _advance(self, k: int) -> None:
        """Publish tick `k`'s picture, with the identity history and audit as they were then (lock held)."""
        tick = self._replay.ticks[k]
        self._history = tick.history
        self.feed.set_audit(tick.audit)
        self.feed.push(
            tick.time_s,
            tick.fused,
            tick.partners,
            tick.last_plot_s,
            self._replay.replay_state(k),
            tick.assessment,
            tick.registration,
        )
        self._shown = k

    def _catch_up(self) -> None:
        """Bring the feed to the due tick (lock held): forward tick by tick, backward by re-running from tick 0."""
        k = self._due()
        if k < self._shown:
            self.feed.reset()
            self._shown = -1
        for j in range(self._shown + 1, k + 1):
            self._advance(j)

    @property
    def version(self) -> int:
        """The feed's version, once caught up."""
        with self._lock:
            self._catch_up()
            return self.feed.version

    def snapshot(self) -> Picture:
        """The picture at the playhead."""
        with self._lock:
            self._catch_up()
            return self.feed.snapshot()

    def audit(self) -> list[AuditEntry]:
        """The operator actions recorded up to the playhead."""
        with self._lock:
            self._catch_up()
            return self.feed.audit()

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]:
        """Refused: a recording is read-only (404 first for an alert not in the picture at the playhead)."""
        with self._lock:
            self._catch_up()
            return self.feed.acknowledge(alert_id, user)

    def override_identity(self, system_id: int, identity: str, user: str) -> dict[str, Any]:
        """Refused: a recording is read-only (404/422 first, as for a live picture)."""
        with self._lock:
            self._catch_up()
            return self.feed.override_identity(system_id, identity, user)

    def seek(self, time_s: float) -> None:
        """Move this view only to the last tick at or before `time_s` (clamped to the recording); play on from there."""
        k = max(0, int(np.searchsorted(self._replay.times, time_s, side="right")) - 1)
        with self._lock:
            self._anchor = (k, self._clock())
            self._catch_up()

    def session_view(self) -> ReplayView:
        """A fresh playhead over the same recording."""
        return ReplayView(self._replay, self._clock)

    def start(self) -> None:
        """Nothing to start: a view plays lazily."""

    def close(self) -> None:
        """Nothing to release: the ticks are the recording's."""


class ReplaySource:
    """A node recording replayed at `speed` x real time, seekable, read-only; each session gets its own playhead.

    The recording is replayed through a fresh node once at construction (its recorded operator
    actions re-applied by the node; ticks kept in memory, immutable), so every picture, identity and
    alert is the one the node had. `session_view()` hands out `ReplayView`s over those shared ticks;
    used directly, the source shows its own default view. Acting on a recording is refused (409).
    """

    def __init__(
        self,
        recording: str | Path,
        speed: float = 1.0,
        zones: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from commonsky.network.node import replay_start
        from commonsky.store import plots_from_bytes, read_events

        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        start = replay_start(recording)  # the start, or the oldest checkpoint retention kept
        node = start.node
        self.partner = node.config.partner
        ticks: list[_Tick] = []
        last_plot: dict[str, float] = {}
        audit: list[AuditEntry] = []
        for event in read_events(recording, after=start.checkpoint):
            if event.kind == "action":
                audit.append(_audit_entry(len(audit) + 1, json.loads(event.payload), event.time_s))
            if event.kind == "plots":
                plots = plots_from_bytes(event.payload)
                for sid, t in zip(plots.sensor_id.tolist(), plots.time_s.tolist(), strict=True):
                    last_plot[sid] = max(t, last_plot.get(sid, -math.inf))
            out = node.apply(event.kind, event.time_s, event.payload)
            if out is not None:
                partners = [
                    {"id": p, "status": s, "last_message_s": node.monitor.last_seen_s.get(p)}
                    for p, s in out.partners.items()
                ]
                ticks.append(
                    _Tick(
                        out.time_s,
                        out.fused,
                        partners,
                        dict(last_plot),
                        out.assessment,
                        node.assessment.identity_history,
                        list(audit),
                        registration_report(node.tracker),
                    )
                )
        if not ticks:
            raise ValueError(f"{recording}: the recording holds no ticks")
        self.ticks = tuple(ticks)
        self.times = np.array([t.time_s for t in ticks])
        self.sensors = [*node.config.sensors, *node.config.known_sensors]
        self.zones = zones if zones is not None else node.config.zones
        self._clock = clock
        self._view = ReplayView(self, clock)

    @property
    def seekable(self) -> bool:
        """Recordings can seek."""
        return True

    def replay_state(self, k: int) -> dict[str, Any]:
        """The `Picture.replay` of tick `k`: the recording's span and the tick's time."""
        return {"start_s": self.ticks[0].time_s, "end_s": self.ticks[-1].time_s, "time_s": self.ticks[k].time_s}

    def session_view(self) -> ReplayView:
        """A fresh playhead over the recording, at its start: one per session, so one viewer's seek moves no other's."""
        return ReplayView(self, self._clock)

    @property
    def version(self) -> int:
        """The default view's version."""
        return self._view.version

    def snapshot(self) -> Picture:
        """The default view's picture."""
        return self._view.snapshot()

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]:
        """Refused: a recording is read-only."""
        return self._view.acknowledge(alert_id, user)

    def override_identity(self, system_id: int, identity: str, user: str) -> dict[str, Any]:
        """Refused: a recording is read-only."""
        return self._view.override_identity(system_id, identity, user)

    def audit(self) -> list[AuditEntry]:
        """The operator actions recorded up to the default view's picture."""
        return self._view.audit()

    def seek(self, time_s: float) -> None:
        """Move the default view (not the session views) to `time_s`."""
        self._view.seek(time_s)

    def start(self) -> None:
        """Nothing to start: views play lazily, from their creation."""

    def close(self) -> None:
        """Nothing to release: no thread."""
