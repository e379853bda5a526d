"""Alerts and their lifecycle: raised -> acknowledged -> cleared, with raise and clear hysteresis.

Each tick the rules hand in the conditions that hold now, each under a stable key (kind, subject,
detail). A key's condition must hold on consecutive ticks for the kind's raise time (and at least
`min_ticks` ticks) before an alert is raised; a raised alert stays active, keeping the evidence it
was raised with, until its condition has been false for `clear_s`. An operator acknowledges an
active alert (recorded who and when); acknowledging does not clear it, only the condition does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from commonsky.core.errors import CommonskyError

RAISED = "raised"
ACKNOWLEDGED = "acknowledged"
CLEARED = "cleared"


class AlertError(CommonskyError):
    """An operator action refers to an alert or track it cannot apply to."""


@dataclass(frozen=True)
class Condition:
    """A rule's finding at one tick: what holds, for which system track, and the evidence."""

    key: str
    """Stable identity of the condition (kind, subject, detail), e.g. "zone_entry|42|R-Lake"."""
    kind: str
    system_id: int
    severity: str
    evidence: dict[str, Any]


@dataclass(frozen=True)
class Alert:
    """One alert and where it is in its lifecycle (all fields JSON-ready through `to_dict`)."""

    id: int
    kind: str
    system_id: int
    severity: str
    state: str
    """raised, acknowledged or cleared."""
    raised_s: float
    condition_since_s: float
    """When the condition started to hold (raised_s minus the raise delay)."""
    last_true_s: float
    evidence: dict[str, Any]
    """The triggering values as at raise time: track, sensors or sources, values, thresholds."""
    key: str
    acknowledged_by: str = ""
    acknowledged_s: float | None = None
    cleared_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for alerts.jsonl and displays)."""
        return {
            "alert_id": self.id,
            "kind": self.kind,
            "system_id": self.system_id,
            "severity": self.severity,
            "state": self.state,
            "raised_s": self.raised_s,
            "condition_since_s": self.condition_since_s,
            "last_true_s": self.last_true_s,
            "acknowledged_by": self.acknowledged_by or None,
            "acknowledged_s": self.acknowledged_s,
            "cleared_s": self.cleared_s,
            "key": self.key,
            "evidence": self.evidence,
        }

    def view(self) -> AlertView:
        """The alert as the display shows it."""
        return AlertView.from_record(self.to_dict())


@dataclass(frozen=True)
class AlertView:
    """An alert as the display shows it: a string id and `time_s`, when it was raised; no hysteresis internals."""

    id: str
    kind: str
    state: str
    system_id: int
    time_s: float
    """When the alert was raised."""
    severity: str
    evidence: dict[str, Any]
    acknowledged_by: str | None = None
    acknowledged_s: float | None = None
    cleared_s: float | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> AlertView:
        """The view of an `Alert.to_dict()` or of a line of alerts.jsonl (the alert as it was after that event)."""
        return cls(
            id=str(record["alert_id"]),
            kind=record["kind"],
            state=record["state"],
            system_id=int(record["system_id"]),
            time_s=record["raised_s"],
            severity=record["severity"],
            evidence=record["evidence"],
            acknowledged_by=record.get("acknowledged_by"),
            acknowledged_s=record.get("acknowledged_s"),
            cleared_s=record.get("cleared_s"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the API's alert objects)."""
        return asdict(self)


@dataclass(frozen=True)
class _Run:
    """A key whose condition holds (or whose alert is active): since when, how many ticks, its alert."""

    since_s: float
    ticks: int
    last_true_s: float
    alert_id: int | None


@dataclass(frozen=True)
class AlertBook:
    """All the alerting memory: condition runs by key, active alerts by id, the next id."""

    runs: dict[str, _Run] = field(default_factory=dict)
    active: dict[int, Alert] = field(default_factory=dict)
    next_id: int = 1
    last_tick_s: float | None = None


def update(
    book: AlertBook,
    time_s: float,
    conditions: list[Condition],
    raise_s: Mapping[str, float],
    min_ticks: int,
    clear_s: Mapping[str, float],
) -> tuple[AlertBook, list[dict[str, Any]]]:
    """Advance every key by one tick; return the new book and the raised/cleared events of this tick.

    `raise_s` and `clear_s` give each kind's raise and clear time."""
    runs: dict[str, _Run] = {}
    active = dict(book.active)
    events: list[dict[str, Any]] = []
    next_id = book.next_id
    for c in conditions:
        if c.key in runs:
            continue
        previous = book.runs.get(c.key)
        continuing = previous is not None and (
            previous.alert_id is not None or previous.last_true_s == book.last_tick_s
        )
        run = (
            replace(previous, ticks=previous.ticks + 1, last_true_s=time_s)
            if previous is not None and continuing
            else _Run(time_s, 1, time_s, None)
        )
        if run.alert_id is None and run.ticks >= min_ticks and time_s - run.since_s >= raise_s[c.kind]:
            alert = Alert(
                id=next_id,
                kind=c.kind,
                system_id=c.system_id,
                severity=c.severity,
                state=RAISED,
                raised_s=time_s,
                condition_since_s=run.since_s,
                last_true_s=time_s,
                evidence=c.evidence,
                key=c.key,
            )
            next_id += 1
            active[alert.id] = alert
            run = replace(run, alert_id=alert.id)
            events.append(_event(RAISED, time_s, alert))
        elif run.alert_id is not None:
            active[run.alert_id] = replace(active[run.alert_id], last_true_s=time_s)
        runs[c.key] = run
    for key, previous in book.runs.items():
        if key in runs or previous.alert_id is None:
            continue
        if time_s - previous.last_true_s >= clear_s[active[previous.alert_id].kind]:
            cleared = replace(active.pop(previous.alert_id), state=CLEARED, cleared_s=time_s)
            events.append(_event(CLEARED, time_s, cleared))
        else:
            runs[key] = previous
    return AlertBook(runs, active, next_id, time_s), events


def acknowledge(book: AlertBook, alert_id: int, user: str, time_s: float) -> tuple[AlertBook, dict[str, Any]]:
    """Record that `user` acknowledged an active alert at `time_s`; errors say why it cannot be."""
    alert = book.active.get(alert_id)
    if alert is None:
        if 1 <= alert_id < book.next_id:
            raise AlertError(f"alert {alert_id} is already cleared; only active alerts can be acknowledged")
        raise AlertError(f"no alert {alert_id} was ever raised")
    if alert.state == ACKNOWLEDGED:
        raise AlertError(
            f"alert {alert_id} was already acknowledged by {alert.acknowledged_by} at {alert.acknowledged_s}"
        )
    if not user:
        raise AlertError("an acknowledgement needs the user's name")
    acked = replace(alert, state=ACKNOWLEDGED, acknowledged_by=user, acknowledged_s=time_s)
    return replace(book, active={**book.active, alert_id: acked}), _event(ACKNOWLEDGED, time_s, acked)


def _event(event: str, time_s: float, alert: Alert) -> dict[str, Any]:
    """One line of alerts.jsonl: what happened to which alert, when, and the alert as it is now."""
    return {"event": event, "time_s": time_s, **alert.to_dict()}
