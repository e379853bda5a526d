"""`AssessmentConfig`: identity lists, alert thresholds and hysteresis, with defaults and TOML loading.

All times are seconds, distances metres. A TOML `[assess]` table overrides any field; the identity
lists take Mode S addresses as hex strings ("4B1A2C"), Mode A codes as four octal digits ("1000") and
vessels' MMSIs as integers (211234560).
Alert rules registered beside the built-in ones (`commonsky.assess.registry`) add their own settings as
keys of the same table; a rule's raise time, like every `*_raise_s`, may be 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from commonsky.core.config import SectionConfig, with_overrides
from commonsky.core.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

TRANSPONDER_IDENTITIES = ("assumed_friend", "neutral", "unknown")
"""Identities a transponder-equipped track without a full ADS-B identity may be given by rule."""
_LIST_KEYS = ("friend_mode_s", "friend_squawks", "neutral_mode_s", "neutral_squawks", "friend_mmsi", "neutral_mmsi")
_MMSI_MAX = 999_999_999
_NON_NEGATIVE = frozenset({"startup_grace_s", "radar_bias_sigma_m", "partner_bias_sigma_m"})
"""Settings that may be 0 besides the registered rules' raise times."""


@dataclass(frozen=True)
class AssessmentConfig(SectionConfig):
    """Rules and thresholds of identification and alerting; the defaults are the documented values."""

    SECTION: ClassVar[str] = "assess"

    # Identity.
    friend_mode_s: tuple[int, ...] = ()
    """Mode S addresses of friendly aircraft (e.g. state aircraft of the partners)."""
    friend_squawks: tuple[int, ...] = ()
    """Mode A codes assigned to friendly aircraft."""
    neutral_mode_s: tuple[int, ...] = ()
    """Mode S addresses declared neutral."""
    neutral_squawks: tuple[int, ...] = ()
    """Mode A codes declared neutral."""
    friend_mmsi: tuple[int, ...] = ()
    """MMSIs of friendly vessels (the partners' patrol boats, the works' own craft)."""
    neutral_mmsi: tuple[int, ...] = ()
    """MMSIs of vessels declared neutral."""
    transponder_identity: str = "assumed_friend"
    """Identity of a track with a transponder (address or code) but no full ADS-B identity."""
    pending_s: float = 10.0
    """A system track is `pending` until it is this old (and while tentative), unless a list names it."""
    duplicate_m: float = 3_000.0
    """A track without transponder this close to one with a transponder stays pending (likely a duplicate)."""
    surface_duplicate_m: float = 100.0
    """The same for vessels: a radar-only surface track this close to one that AIS identified stays pending."""
    identity_confirm_s: float = 10.0
    """A rule-based change between settled identities must be proposed this long before it is made."""

    # Hysteresis: raise once the condition has held this long (and for `raise_min_ticks` ticks).
    raise_min_ticks: int = 2
    clear_s: float = 15.0
    """An alert clears once its condition has been false this long."""
    zone_raise_s: float = 2.0
    predicted_raise_s: float = 4.0
    emergency_raise_s: float = 2.0
    transponder_raise_s: float = 5.0
    adsb_raise_s: float = 0.0
    partner_raise_s: float = 30.0
    border_raise_s: float = 5.0
    dark_vessel_raise_s: float = 20.0
    """Long enough for a clutter track to die: a dark vessel is a radar track without AIS for this long."""
    work_zone_raise_s: float = 5.0
    ais_gap_raise_s: float = 0.0
    """0: the silence threshold (`ais_gap_factor` report intervals) is the delay."""
    ais_radar_raise_s: float = 10.0
    """Beyond `ais_radar_min_inconsistent` reports: a radar back from an outage re-confirms its tracks first."""
    mmsi_conflict_raise_s: float = 5.0
    loitering_raise_s: float = 0.0
    """0: `loiter_min_s` is the delay."""
    fast_approach_raise_s: float = 3.0
    border_crossing_raise_s: float = 2.0

    # Zones.
    predict_horizon_s: float = 120.0
    """Straight-line prediction horizon of predicted zone entry."""
    predict_min_speed_mps: float = 15.0
    """Slower tracks are not predicted (their velocity direction is noise)."""
    unknown_altitude_in_band: bool = True
    """A track of unknown altitude counts as inside every altitude band (it cannot be excluded)."""
    border_distance_m: float = 10_000.0
    """A new unknown track first seen this close to a border line or border buffer zone is alerted."""
    new_track_s: float = 60.0
    """... and was found unknown within this time of appearing (later it is no new track)."""
    startup_grace_s: float = 30.0
    """Tracks first seen this soon after the assessment started were there already: they do not 'appear'."""

    # Transponder loss.
    transponder_loss_s: float = 12.0
    """No SSR or ADS-B contribution for this long while primary radar still holds the track."""
    transponder_history_s: float = 10.0
    """The track must have been cooperative (SSR or ADS-B) over at least this long before."""
    psr_recent_s: float = 15.0
    """Primary radar still holds the track if it fed it within this time."""
    common_mode_tracks: int = 2
    """This many tracks losing SSR/ADS-B within `common_mode_window_s` of each other is an outage, not a loss."""
    common_mode_window_s: float = 10.0

    # Sensor liveness and coverage.
    sensor_alive_periods: float = 3.0
    """A sensor is up if it produced a plot within this many scan periods (plus one second)."""
    coverage_fraction: float = 0.9
    """Only this fraction of a sensor's range and radar horizon counts as coverage (edges excluded)."""

    # ADS-B versus radar.
    adsb_gate_chi2: float = 13.82
    """Chi-square (2 dof) above which an ADS-B/radar pair is inconsistent (13.82: p = 0.001)."""
    adsb_pair_window_s: float = 1.0
    """Largest time difference of an ADS-B plot and an SSR plot paired by Mode S address."""
    adsb_speed_sigma_mps: float = 10.0
    """Velocity uncertainty used to bridge the pair's time difference."""
    radar_bias_sigma_m: float = 100.0
    """Allowance for unregistered radar bias, added per axis to the combined uncertainty."""
    adsb_min_inconsistent: int = 3
    """Inconsistent pairs in a row (no consistent pair between) before the condition holds."""
    adsb_memory_s: float = 30.0
    """The condition lapses when no pair of that address was seen for this long."""

    # Partner versus own picture.
    partner_gate_chi2: float = 18.42
    """Chi-square (2 dof) above which same-address own and partner tracks disagree (18.42: p = 1e-4)."""
    partner_bias_sigma_m: float = 300.0
    """Allowance for registration differences between partners, added per axis."""
    partner_explain_m: float = 3_000.0
    """An own track within this distance explains a partner track in own radar coverage."""

    # Surface (vessels: AIS and shore radar).
    dark_vessel_distance_m: float = 500.0
    """A dark vessel (radar, no AIS) is alerted inside or this close to a surface zone that alerts on it."""
    ais_gap_factor: float = 3.0
    """An AIS vessel is silent once no AIS fed it for this many expected report intervals (ITU-R M.1371)."""
    ais_gap_history_s: float = 20.0
    """AIS must have fed the track over at least this long before (one stray association is no history)."""
    ais_interval_max_s: float = 30.0
    """Longest report interval learned from a vessel's own silences (a class B unit under way reports every 30 s)."""
    ais_radar_distance_m: float = 150.0
    """An AIS position with no own radar-fed vessel track this close, inside an up own shore radar's coverage, is
    unsupported (covers AIS antenna offset on long hulls and radar error)."""
    ais_radar_min_inconsistent: int = 3
    """Unsupported AIS reports of an MMSI in a row (no supported one between) before the condition holds."""
    ais_radar_memory_s: float = 60.0
    """The condition lapses when no report of that MMSI was tested for this long."""
    mmsi_conflict_distance_m: float = 1_000.0
    """Two surface tracks of one MMSI this far apart, or two AIS reports of one MMSI farther apart than this
    plus `mmsi_conflict_speed_mps` times their time difference, are two vessels."""
    mmsi_conflict_speed_mps: float = 20.0
    """Fastest plausible speed of a vessel between two AIS reports (about 39 kn)."""
    mmsi_conflict_reports: int = 2
    """Conflicting report pairs within `mmsi_conflict_memory_s` before the condition holds (one jump is a glitch)."""
    mmsi_conflict_memory_s: float = 60.0
    loiter_radius_m: float = 300.0
    """A vessel whose positions over `loiter_min_s` all lie within this of the first of them loiters."""
    loiter_min_s: float = 240.0
    loiter_distance_m: float = 500.0
    """Loitering is alerted inside or this close to a works zone ..."""
    loiter_border_m: float = 50.0
    """... or this close to a border line (on a river narrower than a kilometre every vessel is within 500 m of a
    mid-river border: fishing by the bank or waiting in a lane is no border matter, lingering on the line is)."""
    approach_speed_mps: float = 5.0
    """Closing speed above which a vessel approaches a protected vessel or works zone fast."""
    approach_time_s: float = 120.0
    """... when it would reach it within this time."""
    approach_cpa_m: float = 100.0
    """... and, for a protected vessel, would pass within this distance of it (closest point of approach): on a
    river all traffic passes a dredger in the channel within a few hundred metres; this close is a collision course."""
    border_margin_m: float = 50.0
    """A vessel changes side of a border line once it is this far beyond it (no flapping along the line)."""
    border_crossing_hold_s: float = 60.0
    """The crossing condition holds this long after the crossing."""
    border_crossing_all: bool = False
    """Also alert (at medium) identified vessels crossing; by default only unknown, suspect and hostile ones."""

    forget_s: float = 300.0
    """Memory of a system track (identity, history) is dropped this long after it was last seen."""

    rule_settings: tuple[tuple[str, Any], ...] = ()
    """(name, value) of the registered rules' own settings that the table set; the others keep their defaults."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<assess config>") -> Self:
        """Defaults overridden by a mapping (a TOML `[assess]` table); errors name the source and key."""
        if "rule_settings" in data:
            raise ConfigError(source, "rule_settings", "unknown key; the rules' own settings are keys of the table")
        non_negative = _NON_NEGATIVE | {d.raise_s for d in _DECLARED.values()}
        lists: dict[str, Any] = {k: _codes(k, data[k], source) for k in _LIST_KEYS if k in data}
        rule_settings: dict[str, Any] = {}
        for declared in _DECLARED.values():
            own = {k: v for k, v in data.items() if k in declared.names}
            if own and declared.settings is not None:
                checked = with_overrides(declared.settings, own, source, non_negative=non_negative)
                rule_settings.update((k, getattr(checked, k)) for k in own)
        rest = {k: v for k, v in data.items() if k not in _LIST_KEYS and k not in rule_settings}
        return with_overrides(
            replace(cls(), **lists, rule_settings=tuple(rule_settings.items())),
            rest,
            source,
            non_negative=non_negative,
            choices={"transponder_identity": TRANSPONDER_IDENTITIES},
        )

    def setting(self, name: str) -> Any:
        """A setting by name: a field of this class, or a registered rule's own setting (set here or its default)."""
        if name in _FIELDS:
            return getattr(self, name)
        values = dict(self.rule_settings)
        if name in values:
            return values[name]
        for declared in _DECLARED.values():
            if name in declared.names:
                return getattr(declared.settings, name)
        raise KeyError(f"{name!r} is no assessment setting")


@dataclass(frozen=True)
class _RuleSettings:
    """What the config knows of a registered alert rule: its own settings and the name of its raise time."""

    settings: DataclassInstance | None
    names: frozenset[str]
    raise_s: str


_FIELDS = frozenset(f.name for f in fields(AssessmentConfig)) - {"rule_settings"}
_DECLARED: dict[str, _RuleSettings] = {}
"""By alert kind, the registered rules' settings."""


def add_rule_settings(kind: str, settings: DataclassInstance | None, raise_s: str, clear_s: str) -> None:
    """Accept an alert rule's own settings as keys; errors if one is taken or its raise or clear time is unknown."""
    names = frozenset(f.name for f in fields(settings)) if settings is not None else frozenset()
    taken = names & (_FIELDS | {"rule_settings"} | {n for d in _DECLARED.values() for n in d.names})
    if taken:
        raise ValueError(f"{kind}: settings {sorted(taken)} are already assessment settings")
    unknown = {raise_s, clear_s} - _FIELDS - names
    if unknown:
        raise ValueError(f"{kind}: raise or clear time {sorted(unknown)} is no setting of the rule or the config")
    _DECLARED[kind] = _RuleSettings(settings, names, raise_s)


def remove_rule_settings(kind: str) -> None:
    """Forget an unregistered rule's settings."""
    del _DECLARED[kind]


def load_assessment_config(path: str | Path) -> AssessmentConfig:
    """The `[assess]` table of a TOML file (or its top level) over the defaults."""
    return AssessmentConfig.load(path)


def _codes(key: str, value: Any, source: str) -> tuple[int, ...]:
    """A list of hex Mode S addresses (`*_mode_s`), octal Mode A codes (`*_squawks`) or MMSIs (`*_mmsi`) as integers."""
    if not isinstance(value, list):
        raise ConfigError(source, key, f"expected an array of strings, got {value!r}")
    out: list[int] = []
    for item in value:
        text = str(item) if isinstance(item, str | int) and not isinstance(item, bool) else ""
        if key.endswith("mmsi"):
            if isinstance(item, bool) or not isinstance(item, int) or not 0 < item <= _MMSI_MAX:
                raise ConfigError(source, key, f"{item!r} is not an MMSI (an integer 1..{_MMSI_MAX})")
            out.append(item)
        elif key.endswith("mode_s"):
            try:
                address = int(text, 16)
            except ValueError:
                address = -1
            if not 0 < address < 0xFFFFFF:
                raise ConfigError(source, key, f"{item!r} is not a hex Mode S address (000001..FFFFFE)")
            out.append(address)
        else:
            if not text.isdigit() or len(text) > 4 or any(c in "89" for c in text):
                raise ConfigError(source, key, f"{item!r} is not a 4-digit octal Mode A code")
            out.append(int(text))
    return tuple(out)
