"""ALERT_KINDS: one entry per kind the engine can raise, each complete, and the engine docstring agrees with it."""

from __future__ import annotations

import re

import pytest

from commonsky.assess import ALERT_KINDS, EMERGENCY, SEVERITIES, AlertKind, AssessmentConfig, engine


def test_the_table_holds_exactly_the_kinds_the_engine_raises() -> None:
    assert set(engine.raise_delays(AssessmentConfig())) == set(ALERT_KINDS)


@pytest.mark.parametrize("entry", ALERT_KINDS.values(), ids=list(ALERT_KINDS))
def test_every_entry_is_complete(entry: AlertKind) -> None:
    assert entry is ALERT_KINDS[entry.kind]
    assert entry.label.strip()
    assert entry.help.strip()
    assert re.fullmatch(r"#[0-9a-f]{6}", entry.colour)
    assert entry.severities
    assert entry.severities == tuple(s for s in SEVERITIES if s in entry.severities), "most severe first, no repeats"


def test_emergency_severities_are_those_of_the_codes() -> None:
    assert set(ALERT_KINDS[EMERGENCY].severities) == set(engine.EMERGENCY_SEVERITY.values())


def test_the_engine_docstring_lists_the_table_with_its_severities() -> None:
    assert engine.__doc__ is not None
    documented = re.findall(r"^- `(\w+)` \[([^\]]+)\]", engine.__doc__, flags=re.MULTILINE)
    assert [kind for kind, _ in documented] == list(ALERT_KINDS)
    for kind, bracket in documented:
        assert set(re.findall(r"\w+", bracket)) & set(SEVERITIES) == set(ALERT_KINDS[kind].severities), kind
