"""The display beside a live node says why a partner is down or degraded: the coalition link's state."""

from __future__ import annotations

from typing import Any

from commonsky.web.live import link_rows

ROWS = [
    {"id": "east", "status": "up", "last_message_s": 10.0},
    {"id": "west", "status": "degraded", "last_message_s": 5.0},
]


def _link(**changes: Any) -> dict[str, Any]:
    base = {"state": "up", "since_s": 0.0, "reconnects": 0, "outbox": {}, "dropped": {}, "throttled": {}}
    return base | {"last_error": None} | changes


def test_stand_alone_node_rows_are_unchanged() -> None:
    assert link_rows(ROWS, None) == ROWS


def test_link_down_takes_every_partner_down_and_says_why() -> None:
    rows = link_rows(ROWS, _link(state="down", last_error="disconnected"))
    assert [r["status"] for r in rows] == ["down", "down"]
    assert all(r["reason"] == "coalition link down: disconnected" for r in rows)


def test_throttled_or_dropped_partner_is_degraded_with_the_reason() -> None:
    link = _link(throttled={"east": "over quota: more than 100 messages/s"}, dropped={"west": 12})
    east, west = link_rows(ROWS, link)
    assert (east["status"], east["reason"]) == ("degraded", "over quota: more than 100 messages/s")
    assert (west["status"], west["reason"]) == ("degraded", "12 of our messages to it dropped while unreachable")
    healthy = link_rows(ROWS, _link())
    assert [(r["status"], r["reason"]) for r in healthy] == [("up", None), ("degraded", None)]
