"""ALERT_KINDS: one complete rule per kind the engine can raise, and the rule modules' docstrings agree with it."""

from __future__ import annotations

import re

import pytest

from commonsky.assess import ALERT_KINDS, EMERGENCY, SEVERITIES, AlertKind, AssessmentConfig, engine, rules
from commonsky.assess.rules import partner, surface, transponder, zones


def test_the_table_holds_exactly_the_kinds_the_engine_raises() -> None:
    assert set(engine.raise_delays(AssessmentConfig())) == set(ALERT_KINDS)
    assert set(engine.clear_delays(AssessmentConfig())) == set(ALERT_KINDS)
    assert tuple(ALERT_KINDS.values()) == rules.BUILT_IN


@pytest.mark.parametrize("entry", ALERT_KINDS.values(), ids=list(ALERT_KINDS))
def test_every_entry_is_complete(entry: AlertKind) -> None:
    assert entry is ALERT_KINDS[entry.kind]
    assert entry.label.strip()
    assert entry.help.strip()
    assert re.fullmatch(r"#[0-9a-f]{6}", entry.colour)
    assert entry.severities
    assert entry.severities == tuple(s for s in SEVERITIES if s in entry.severities), "most severe first, no repeats"


def test_emergency_severities_are_those_of_the_codes() -> None:
    assert set(ALERT_KINDS[EMERGENCY].severities) == set(transponder.EMERGENCY_SEVERITY.values())


def test_the_rule_docstrings_list_the_table_with_its_severities() -> None:
    documented = [
        kind_and_bracket
        for module in (zones, transponder, partner, surface)
        for kind_and_bracket in re.findall(r"^- `(\w+)` \[([^\]]+)\]", module.__doc__ or "", flags=re.MULTILINE)
    ]
    assert sorted(kind for kind, _ in documented) == sorted(ALERT_KINDS)
    for kind, bracket in documented:
        assert set(re.findall(r"\w+", bracket)) & set(SEVERITIES) == set(ALERT_KINDS[kind].severities), kind
