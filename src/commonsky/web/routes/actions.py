"""Operator actions on the picture: acknowledge an alert, give a track an identity (operators, with the CSRF
token), and the audit log of both. The node applies and records each action (`PictureFeed`, `Node.act`)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from commonsky.assess import AlertView
from commonsky.web.access import ActingOperator, View
from commonsky.web.actions import ActionError, AuditEntry
from commonsky.web.models import IdentityChange, IdentityRequest

router = APIRouter()


@router.post("/api/alerts/{alert_id}/ack", tags=["alerts"])
def acknowledge(alert_id: str, user: ActingOperator, view: View) -> AlertView:
    """Acknowledge a raised alert (operators; audited)."""
    try:
        return AlertView(**view.acknowledge(alert_id, user.name))
    except ActionError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/api/tracks/{system_id}/identity", tags=["picture"])
def override_identity(system_id: int, body: IdentityRequest, user: ActingOperator, view: View) -> IdentityChange:
    """Give a system track an identity by hand (operators; audited)."""
    try:
        return IdentityChange.model_validate(view.override_identity(system_id, body.identity.value, user.name))
    except ActionError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.get("/api/audit", tags=["alerts"])
def audit(view: View) -> list[AuditEntry]:
    """Every operator action, oldest first."""
    return view.audit()
