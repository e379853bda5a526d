"""Operator actions as the display takes them, and their audit record: one `AuditEntry` for the log and the API.

An acknowledgement or identity override becomes `Node.act`'s dict (`acknowledge_action`,
`override_action`, stamped with the wall clock); `audit_entry` turns such a dict into the audit
record, whether it was just made or read back from a recording. `AuditEntry` is a pydantic
dataclass, so the API answers and documents it as it is: no second model to keep in step.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic.dataclasses import dataclass

Act = Callable[[dict[str, Any]], None]
"""Applies an operator action (`Node.act`'s dict) where the assessment lives; raises AlertError/ValueError."""


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


def acknowledge_action(alert_id: str, user: str) -> dict[str, Any]:
    """`Node.act`'s dict acknowledging an alert, stamped with the wall clock."""
    return {"action": "acknowledge", "alert_id": int(alert_id), "user": user, "wall_utc": _now()}


def override_action(system_id: int, identity: str, user: str) -> dict[str, Any]:
    """`Node.act`'s dict giving a system track an identity, stamped with the wall clock."""
    action = {"action": "override_identity", "system_id": system_id, "identity": identity, "user": user}
    return action | {"wall_utc": _now()}


def audit_entry(seq: int, action: dict[str, Any], time_s: float) -> AuditEntry:
    """The audit entry of one operator action (`Node.act`'s dict plus `wall_utc`) taken at picture time `time_s`."""
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


def _now() -> str:
    """Wall-clock UTC time of an operator action, for the audit log."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")
