"""The alert kinds payload the display labels alerts with, and no hand-written kind names left in the page script."""

from __future__ import annotations

import re
from pathlib import Path

from commonsky.assess import ALERT_KINDS
from commonsky.web.kinds import AlertKindInfo, alert_kinds_payload

APP_JS = Path(__file__).resolve().parents[2] / "src" / "commonsky" / "web" / "static" / "app.js"


def test_payload_is_the_table_and_validates() -> None:
    payload = alert_kinds_payload()
    assert [AlertKindInfo.model_validate(p).kind for p in payload] == list(ALERT_KINDS)
    first = next(iter(ALERT_KINDS.values()))
    assert payload[0] == {
        "kind": first.kind,
        "label": first.label,
        "severities": list(first.severities),
        "colour": first.colour,
        "help": first.help,
    }


def test_page_script_names_no_alert_kind() -> None:
    """Labels come from /api/alert-kinds: a kind written into app.js (string or object key) would drift again."""
    script = APP_JS.read_text()
    assert [k for k in ALERT_KINDS if re.search(rf"\b{k}\b", script)] == []
