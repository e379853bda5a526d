"""A rule registered from outside the package runs in `assess` like the built-in ones, with its own settings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from commonsky.assess import (
    ALERT_KINDS,
    AlertRule,
    AssessmentConfig,
    AssessmentState,
    Condition,
    Tick,
    assess,
    new_assessment_state,
    register,
    unregister,
)
from commonsky.assess.rules import ZONE_ENTRY_RULE
from commonsky.assess.zones import Zones
from commonsky.core.errors import ConfigError
from commonsky.web.kinds import alert_kinds_payload

from .helpers import T0, picture

LOW = "low_flying"


@dataclass(frozen=True)
class LowSettings:
    """The toy rule's settings and their defaults."""

    low_ceiling_m: float = 1000.0
    low_raise_s: float = 2.0
    low_clear_s: float = 3.0


def low_flying(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Tracks below the ceiling, with their altitude and the ceiling as evidence."""
    ceiling = state.config.setting("low_ceiling_m")
    out = []
    for k in np.flatnonzero(tick.system.alt_m < ceiling):
        sid = int(tick.system.system_id[k])
        evidence = {"alt_m": float(tick.system.alt_m[k]), "thresholds": {"ceiling_m": ceiling}}
        out.append(Condition(f"{LOW}|{sid}", LOW, sid, "medium", evidence))
    return state, out


LOW_RULE = AlertRule(
    LOW,
    "Low flying",
    ("medium",),
    "#123abc",
    "The track flies below the ceiling.",
    low_flying,
    raise_s="low_raise_s",
    clear_s="low_clear_s",
    settings=LowSettings(),
)


@pytest.fixture
def low_rule() -> Iterator[AlertRule]:
    """The toy rule, registered for one test only."""
    register(LOW_RULE)
    try:
        yield LOW_RULE
    finally:
        unregister(LOW)


def _drive(st: AssessmentState, altitudes: list[float], start: int = 0) -> tuple[AssessmentState, list[dict[str, Any]]]:
    """One picture per second of track 1 at each altitude; all events."""
    events: list[dict[str, Any]] = []
    for k, alt in enumerate(altitudes, start):
        st, out = assess(st, T0 + k, picture(T0 + k, system_id=[1], alt_m=[alt]))
        events += out.events
    return st, events


def _state(config: AssessmentConfig) -> AssessmentState:
    return new_assessment_state(config, Zones.empty(), [])


@pytest.mark.usefixtures("low_rule")
def test_registered_rule_raises_with_its_evidence_and_clears_after_its_own_clear_time() -> None:
    st, events = _drive(_state(AssessmentConfig()), [500.0] * 4)
    assert [(e["event"], e["time_s"], e["kind"]) for e in events] == [("raised", T0 + 2, LOW)]
    assert events[0]["evidence"] == {"alt_m": 500.0, "thresholds": {"ceiling_m": 1000.0}}
    assert events[0]["severity"] == "medium" and events[0]["condition_since_s"] == T0
    # False since T0 + 4: cleared 3 s later (its `low_clear_s`), not after the config's 15 s `clear_s`.
    st, events = _drive(st, [5000.0] * 5, start=4)
    assert [(e["event"], e["time_s"]) for e in events] == [("cleared", T0 + 6)]


@pytest.mark.usefixtures("low_rule")
def test_its_settings_are_keys_of_the_assess_table() -> None:
    cfg = AssessmentConfig.from_dict({"low_ceiling_m": 6000, "low_raise_s": 0, "clear_s": 20})
    assert (cfg.setting("low_ceiling_m"), cfg.setting("low_raise_s"), cfg.setting("low_clear_s")) == (6000, 0, 3.0)
    _, events = _drive(_state(cfg), [5000.0] * 2)
    assert [(e["event"], e["time_s"]) for e in events] == [("raised", T0 + 1)]
    with pytest.raises(ConfigError) as err:
        AssessmentConfig.from_dict({"low_ceiling_m": -5})
    assert err.value.key == "low_ceiling_m"


def test_it_is_listed_for_the_display_while_registered(low_rule: AlertRule) -> None:
    assert list(ALERT_KINDS)[-1] == LOW
    assert alert_kinds_payload()[-1] == {
        "kind": LOW,
        "label": "Low flying",
        "severities": ["medium"],
        "colour": "#123abc",
        "help": "The track flies below the ceiling.",
    }
    unregister(LOW)
    try:
        assert LOW not in [k["kind"] for k in alert_kinds_payload()]
        with pytest.raises(ConfigError):
            AssessmentConfig.from_dict({"low_ceiling_m": 6000})
        _, events = _drive(_state(AssessmentConfig()), [500.0] * 4)
        assert events == []
    finally:
        register(low_rule)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": ZONE_ENTRY_RULE.kind}, "already registered"),
        ({"kind": "other", "severities": ("medium", "high")}, "most severe first"),
        ({"kind": "other", "settings": None, "raise_s": "no_such_s"}, "no setting"),
        ({"kind": "other"}, "already assessment settings"),
    ],
)
def test_a_rule_that_does_not_fit_is_refused(low_rule: AlertRule, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        register(replace(low_rule, **changes))
    assert list(ALERT_KINDS)[-1] == LOW and "other" not in ALERT_KINDS
