"""Rate-limited warnings: per key the first at once, then at most one per interval, saying how many were left out."""

from __future__ import annotations

import logging

import pytest

from commonsky.core.logs import RateLimitedLog


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.ratelimit"]


def test_first_then_one_per_interval_per_key_with_the_count_left_out(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("test.ratelimit"), per_key_interval_s=10.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="test.ratelimit")
    logged = []
    for step in range(25):  # a bad message every second from feed a, and one from feed b at 3 s
        now[0] = float(step)
        logged.append(limited.warning("a", "a: bad message %d", step))
        if step == 3:
            logged.append(limited.warning("b", "b: bad message"))
    assert _messages(caplog) == [
        "a: bad message 0",
        "b: bad message",  # another key is not held back by the first
        "a: bad message 10 (9 similar suppressed)",
        "a: bad message 20 (9 similar suppressed)",
    ]
    assert logged.count(True) == 4 and limited.suppressed == 22
    now[0] = 100.0  # quiet for long: the next one is logged at once, with what was left out before
    assert limited.warning("a", "a: again")
    assert _messages(caplog)[-1] == "a: again (4 similar suppressed)"
    assert limited.warning("b", "b: again")
    assert _messages(caplog)[-1] == "b: again"


def test_keys_from_input_cannot_grow_memory() -> None:
    limited = RateLimitedLog(logging.getLogger("test.ratelimit"), clock=lambda: 0.0, max_keys=8)
    for sender in range(1000):  # e.g. unknown partners named by the messages themselves
        assert limited.warning(("unknown", sender), "unknown partner %d", sender)
    # only the 8 latest keys are remembered: an old one logs again at once, a recent one is held back
    assert limited.warning(("unknown", 0), "unknown partner %d", 0)
    assert not limited.warning(("unknown", 999), "unknown partner %d", 999)
