"""The alert kinds for the display, from the assessment's registry of alert rules (`commonsky.assess.ALERT_KINDS`).

The page labels, colours and explains alerts with what `GET /api/alert-kinds` returns, so its names
cannot drift from the rules that raise them; a rule registered later is listed too.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from pydantic import BaseModel, Field

from commonsky.assess import ALERT_KINDS, AlertKind


class AlertKindInfo(BaseModel):
    """One kind of alert as the display shows it."""

    kind: str = Field(description="The `kind` of the alerts it describes, e.g. zone_entry.")
    label: str = Field(description="Operator-facing name.")
    severities: list[str] = Field(description="The severities the rule raises it with, most severe first.")
    colour: str = Field(pattern=r"^#[0-9a-f]{6}$", description="Display colour, CSS #rrggbb.")
    help: str = Field(description="What the alert means, for a tooltip.")


def alert_kinds_payload() -> list[dict[str, Any]]:
    """Every registered alert kind as operators see it (the `AlertKind` part of its rule), JSON-ready, in order."""
    return [
        {f.name: getattr(rule, f.name) for f in fields(AlertKind)} | {"severities": list(rule.severities)}
        for rule in ALERT_KINDS.values()
    ]
