"""The registry of alert rules: one `AlertRule` per kind, from which the assessment, its config and the display derive.

A rule is everything about one kind of alert: what operators see (label, severities, colour, help), its
settings (raise and clear time, thresholds, with defaults) and its conditions, a vectorised function over the
tick's picture that returns the conditions holding now with their evidence. `assess` runs the registered rules
in registration order (also the order of the ids of alerts raised at the same tick); `ALERT_KINDS` is the
registry itself, read-only. A rule registered from outside the package runs like the built-in ones
(`commonsky.assess.rules`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from commonsky.assess.alerts import Condition
from commonsky.assess.config import add_rule_settings, remove_rule_settings

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from commonsky.assess.state import AssessmentState, SystemPicture
    from commonsky.core.batches import Plots, TrackReports

SEVERITIES = ("critical", "high", "medium")
"""Alert severities, most severe first."""


@dataclass(frozen=True)
class AlertKind:
    """One kind of alert as operators see it: what it is called, how severe it can be, its colour and help."""

    kind: str
    label: str
    severities: tuple[str, ...]
    """The severities the rule raises it with, most severe first (a subset of `SEVERITIES`)."""
    colour: str
    """Display colour, CSS #rrggbb."""
    help: str
    """What the alert means, in a sentence or two for the operator."""


@dataclass(frozen=True)
class Tick:
    """What the rules see at one tick: the picture with each track's memory row, position and identity, and the
    node's other inputs (None where the node has none)."""

    time_s: float
    system: SystemPicture
    rows: NDArray[np.int64]
    """Row of each system track in the state's `memory`."""
    points: NDArray[np.float64]
    """(tracks, 2): east and north (m) of each system track in the state's frame."""
    identity: NDArray[np.int8]
    """Identity code of each system track, as identified at this tick."""
    plots: Plots | None
    """The node's own sensors' plots of the tick."""
    local: TrackReports | None
    """The node's own confirmed track reports."""
    partner: TrackReports | None
    """The partner reports imported this tick."""


Conditions = Callable[["AssessmentState", Tick], tuple["AssessmentState", list[Condition]]]
"""A rule's conditions at a tick: the state (with what the rule remembers) and the conditions that hold now."""


@dataclass(frozen=True)
class AlertRule(AlertKind):
    """One kind of alert and how it is raised: its conditions and the settings that hold its raise and clear time."""

    conditions: Conditions
    raise_s: str
    """The setting that says how long a condition must hold before its alert is raised (0 allowed)."""
    clear_s: str = "clear_s"
    """The setting that says how long a raised alert's condition must be false before it clears."""
    settings: DataclassInstance | None = None
    """Settings the rule brings beyond `AssessmentConfig`'s fields: a frozen dataclass of their defaults, whose
    fields are keys of the `[assess]` table like the others (`AssessmentConfig.setting` reads them)."""


_RULES: dict[str, AlertRule] = {}
ALERT_KINDS: Mapping[str, AlertRule] = MappingProxyType(_RULES)
"""Every registered rule by kind, in registration order (the order `assess` runs them)."""


def register(rule: AlertRule) -> AlertRule:
    """Add a rule after the registered ones; errors if its kind, severities or settings do not fit."""
    if rule.kind in _RULES:
        raise ValueError(f"alert kind {rule.kind!r} is already registered")
    if not rule.severities or rule.severities != tuple(s for s in SEVERITIES if s in rule.severities):
        raise ValueError(f"{rule.kind}: severities {rule.severities} are not some of {SEVERITIES}, most severe first")
    add_rule_settings(rule.kind, rule.settings, rule.raise_s, rule.clear_s)
    _RULES[rule.kind] = rule
    return rule


def unregister(kind: str) -> None:
    """Remove a registered rule and its settings."""
    del _RULES[kind]
    remove_rule_settings(kind)
