"""Sharing policies: what one exporting partner may send to one receiving partner, and how it is written.

Rules (every default shares less, so a forgotten key withholds instead of leaking):
- `areas`: GeoJSON (Multi)Polygon(s) inside which tracks may be shared. Without areas nothing is
  shared, unless `everywhere = true` is said explicitly (and then no areas may be given).
- `altitude_bands_m`: [low, high] bands, ends included, that may be shared; none given = no track
  with a known altitude is shared. Unknown altitude travels only with `share_unknown_altitude = true`.
- `fields`: which identity fields travel, among callsign, mode_s, squawk, mmsi (a vessel's); the others are blanked.
  Covariance, quality, status, velocities and sensor kinds always travel: fusion needs them.
- `min_delay_s`: a report travels only once it is at least this old (default 0).
- `max_rate_hz`: at most this many reports per track per second (default: no limit; at most 100).
- `content`: "tracks" or "plots"; a batch of the other kind is refused.
A `SharingAgreement` holds the policies of a coalition, one per (exporter, receiver); a pair with
no policy shares nothing. Policies load from TOML (`[[sharing]]` tables) and publish as canonical
JSON, whose SHA-256 (`policy_digest`) lets the receiver verify it checks against the agreed text.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from commonsky.core.batches import OWNER_DTYPE
from commonsky.core.config import read_toml
from commonsky.core.errors import ConfigError
from commonsky.sharing.geometry import Area

SCHEMA = "commonsky.sharing.policy/1"
"""Value of the "schema" key of a published policy."""
IDENTITY_FIELDS = ("callsign", "mode_s", "squawk", "mmsi")
"""Identity fields a policy may share or withhold."""
ALWAYS_SHARED = ("covariance", "quality", "status", "velocity", "sensor_kinds", "domain")
"""Parts of a report that always travel (naming them in `fields` is an error that says so)."""
CONTENTS = ("tracks", "plots")
MAX_RATE_LIMIT_HZ = 100.0
"""Largest accepted `max_rate_hz` (keeps the rate slack negligible against the interval)."""
POLICY_KEYS = (
    "from",
    "to",
    "content",
    "areas",
    "everywhere",
    "altitude_bands_m",
    "share_unknown_altitude",
    "fields",
    "min_delay_s",
    "max_rate_hz",
)
"""Keys of one policy, in TOML (`[[sharing]]`) and in published JSON alike."""
_PARTNER_ID_MAX = int(OWNER_DTYPE[2:])


@dataclass(frozen=True)
class SharingPolicy:
    """What `exporter` may send to `receiver` (see the module rules); validated and normalised on creation."""

    exporter: str
    receiver: str
    content: str = "tracks"
    areas: Area | None = None
    everywhere: bool = False
    altitude_bands_m: tuple[tuple[float, float], ...] = ()
    share_unknown_altitude: bool = False
    fields: frozenset[str] = field(default_factory=frozenset)
    min_delay_s: float = 0.0
    max_rate_hz: float | None = None

    def __post_init__(self) -> None:
        src = "SharingPolicy"
        for key, value in (("from", self.exporter), ("to", self.receiver)):
            if not isinstance(value, str) or not value or len(value) > _PARTNER_ID_MAX:
                raise ConfigError(
                    src, key, f"expected a partner id of 1 to {_PARTNER_ID_MAX} characters, got {value!r}"
                )
        if self.exporter == self.receiver:
            raise ConfigError(src, "to", f"a partner does not share with itself ({self.receiver!r})")
        if self.content not in CONTENTS:
            raise ConfigError(src, "content", f"got {self.content!r}; allowed: {', '.join(CONTENTS)}")
        for key, flag in (("everywhere", self.everywhere), ("share_unknown_altitude", self.share_unknown_altitude)):
            if not isinstance(flag, bool):
                raise ConfigError(src, key, f"expected true or false, got {flag!r}")
        if self.areas is not None and not isinstance(self.areas, Area):
            raise ConfigError(src, "areas", f"expected an Area, got {type(self.areas).__name__}")
        if self.everywhere and self.areas is not None:
            raise ConfigError(src, "everywhere", "give either areas or everywhere = true, not both")
        bands: list[tuple[float, float]] = []
        for i, band in enumerate(self.altitude_bands_m):
            if not (isinstance(band, list | tuple) and len(band) == 2 and all(_is_number(v) for v in band)):
                raise ConfigError(src, f"altitude_bands_m[{i}]", f"expected [low, high] in metres, got {band!r}")
            low, high = float(band[0]) + 0.0, float(band[1]) + 0.0
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ConfigError(src, f"altitude_bands_m[{i}]", f"expected finite low <= high, got {[low, high]}")
            bands.append((low, high))
        object.__setattr__(self, "altitude_bands_m", tuple(sorted(bands)))
        if isinstance(self.fields, str) or not all(isinstance(f, str) for f in self.fields):
            raise ConfigError(src, "fields", f"expected a list of names, got {self.fields!r}")
        for name in self.fields:
            if name in ALWAYS_SHARED:
                raise ConfigError(
                    src,
                    "fields",
                    f"{name!r} always travels (fusion needs it); withholdable: {', '.join(IDENTITY_FIELDS)}",
                )
            if name not in IDENTITY_FIELDS:
                raise ConfigError(src, "fields", f"unknown field {name!r}; allowed: {', '.join(IDENTITY_FIELDS)}")
        object.__setattr__(self, "fields", frozenset(self.fields))
        if not _is_number(self.min_delay_s) or not (0.0 <= self.min_delay_s < math.inf):
            raise ConfigError(src, "min_delay_s", f"expected a finite number of seconds >= 0, got {self.min_delay_s!r}")
        object.__setattr__(self, "min_delay_s", float(self.min_delay_s) + 0.0)
        if self.max_rate_hz is not None:
            if not _is_number(self.max_rate_hz) or not (0.0 < self.max_rate_hz <= MAX_RATE_LIMIT_HZ):
                raise ConfigError(
                    src,
                    "max_rate_hz",
                    f"expected a rate in (0, {MAX_RATE_LIMIT_HZ:g}] Hz or no key (no limit), got {self.max_rate_hz!r}",
                )
            object.__setattr__(self, "max_rate_hz", float(self.max_rate_hz))

    @classmethod
    def deny_all(cls, exporter: str, receiver: str) -> SharingPolicy:
        """The policy of a pair without agreement: nothing is shared."""
        return cls(exporter=exporter, receiver=receiver)

    @property
    def min_interval_s(self) -> float:
        """Least time between two reports of one track (0 without a rate limit)."""
        return 0.0 if self.max_rate_hz is None else 1.0 / self.max_rate_hz

    def withheld(self) -> tuple[str, ...]:
        """Identity fields this policy blanks."""
        return tuple(f for f in IDENTITY_FIELDS if f not in self.fields)

    @cached_property
    def _canonical_json(self) -> str:
        return json.dumps(_canonical(self), sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _canonical(policy: SharingPolicy) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "from": policy.exporter,
        "to": policy.receiver,
        "content": policy.content,
        "areas": None if policy.areas is None else policy.areas.to_geojson(),
        "everywhere": policy.everywhere,
        "altitude_bands_m": [[low, high] for low, high in policy.altitude_bands_m],
        "share_unknown_altitude": policy.share_unknown_altitude,
        "fields": sorted(policy.fields),
        "min_delay_s": policy.min_delay_s,
        "max_rate_hz": policy.max_rate_hz,
    }


def to_json(policy: SharingPolicy) -> str:
    """Canonical JSON of a policy (sorted keys, no spaces): what an exporter publishes."""
    return policy._canonical_json


def policy_digest(policy: SharingPolicy) -> str:
    """Stable "sha256:<hex>" of the canonical JSON: equal policies, equal digests."""
    return "sha256:" + hashlib.sha256(to_json(policy).encode("ascii")).hexdigest()


def from_json(text: str, *, source: str = "published policy", expected_digest: str | None = None) -> SharingPolicy:
    """Read a published policy, validated like TOML; with `expected_digest`, refuse any other text."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "(json)", f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(source, "(json)", f"expected an object, got {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise ConfigError(source, "schema", f"got {data.get('schema')!r}; allowed: {SCHEMA!r}")
    body = {k: v for k, v in data.items() if k != "schema" and v is not None}  # null = key absent
    if "areas" in body and not isinstance(body["areas"], dict):  # never a path: the text comes from a partner
        raise ConfigError(source, "areas", f"expected an inline GeoJSON object, got {type(body['areas']).__name__}")
    policy = policy_from_mapping(body, source=source)
    if expected_digest is not None and policy_digest(policy) != expected_digest:
        raise ConfigError(source, "digest", f"expected {expected_digest}, the policy hashes to {policy_digest(policy)}")
    return policy


def policy_from_mapping(
    data: Mapping[str, Any],
    source: str = "sharing config",
    key: str = "",
    base_dir: Path | None = None,
    exporter: str | None = None,
) -> SharingPolicy:
    """One policy from a TOML table or JSON object; `areas` may be inline GeoJSON, JSON text or a file path.

    `key` prefixes the keys named in errors (say "sharing[2]."); a relative areas path is read from
    `base_dir`; `exporter` stands in for a missing "from" (a node's own config).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(source, key.rstrip(".") or "(policy)", f"expected a table, got {type(data).__name__}")
    unknown = sorted(set(data) - set(POLICY_KEYS))
    if unknown:
        raise ConfigError(source, key + unknown[0], f"unknown key; allowed: {', '.join(POLICY_KEYS)}")
    values = dict(data)
    if "from" not in values:
        if exporter is None:
            raise ConfigError(source, key + "from", "missing: the exporting partner id")
        values["from"] = exporter
    if "to" not in values:
        raise ConfigError(source, key + "to", "missing: the receiving partner id")
    areas = None
    if "areas" in values:
        areas = _load_areas(values["areas"], source, key + "areas", base_dir)
    for name in ("altitude_bands_m", "fields"):
        if name in values and not isinstance(values[name], list | tuple):
            raise ConfigError(source, key + name, f"expected a list, got {values[name]!r}")
    fields = values.get("fields", ())
    if not all(isinstance(f, str) for f in fields):
        raise ConfigError(source, key + "fields", f"expected a list of names; allowed: {', '.join(IDENTITY_FIELDS)}")
    try:
        return SharingPolicy(
            exporter=values["from"],
            receiver=values["to"],
            content=values.get("content", "tracks"),
            areas=areas,
            everywhere=values.get("everywhere", False),
            altitude_bands_m=tuple(values.get("altitude_bands_m", ())),
            share_unknown_altitude=values.get("share_unknown_altitude", False),
            fields=frozenset(fields),
            min_delay_s=values.get("min_delay_s", 0.0),
            max_rate_hz=values.get("max_rate_hz"),
        )
    except ConfigError as exc:
        raise ConfigError(source, key + exc.key, exc.problem) from None


def _load_areas(value: Any, source: str, key: str, base_dir: Path | None) -> Area:
    """Areas given inline (a table), as GeoJSON text, or as the path of a GeoJSON file."""
    if isinstance(value, str):
        if value.lstrip().startswith("{"):
            try:
                obj = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigError(source, key, f"inline GeoJSON is not valid JSON: {exc}") from None
            return Area.from_geojson(obj, source, key)
        path = Path(value)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(source, key, f"cannot read GeoJSON file {str(path)!r}: {exc.strerror}") from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(str(path), "(file)", f"not valid JSON: {exc}") from None
        return Area.from_geojson(obj, str(path), "(root)")
    if isinstance(value, Mapping):
        return Area.from_geojson(dict(value), source, key)
    raise ConfigError(source, key, f"expected a GeoJSON file path, GeoJSON text or inline table, got {value!r}")


@dataclass(frozen=True)
class SharingAgreement:
    """The policies of a coalition, at most one per (exporter, receiver); pairs without one share nothing."""

    policies: tuple[SharingPolicy, ...] = ()

    def __post_init__(self) -> None:
        seen: set[tuple[str, str]] = set()
        for i, p in enumerate(self.policies):
            pair = (p.exporter, p.receiver)
            if pair in seen:
                raise ConfigError("SharingAgreement", f"sharing[{i}]", f"second policy from {pair[0]!r} to {pair[1]!r}")
            seen.add(pair)
        object.__setattr__(self, "policies", tuple(self.policies))

    def policy(self, exporter: str, receiver: str) -> SharingPolicy:
        """The policy from `exporter` to `receiver`, or one that shares nothing."""
        for p in self.policies:
            if p.exporter == exporter and p.receiver == receiver:
                return p
        return SharingPolicy.deny_all(exporter, receiver)

    def receivers(self, exporter: str) -> tuple[str, ...]:
        """Partners `exporter` has a policy towards, in declaration order."""
        return tuple(p.receiver for p in self.policies if p.exporter == exporter)

    @classmethod
    def load(cls, path: str | Path, exporter: str | None = None) -> SharingAgreement:
        """Read the `[[sharing]]` tables of a TOML file (other sections are left to their owners)."""
        data, source = read_toml(path)
        return cls.from_dict(data, source=source, base_dir=Path(path).parent, exporter=exporter)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        source: str = "sharing config",
        base_dir: Path | None = None,
        exporter: str | None = None,
    ) -> SharingAgreement:
        """Validate the `sharing` list of a parsed config; `exporter` stands in for missing "from" keys."""
        entries = data.get("sharing", [])
        if not isinstance(entries, list):
            raise ConfigError(source, "sharing", "expected an array of tables ([[sharing]])")
        policies = [
            policy_from_mapping(entry, source, f"sharing[{i}].", base_dir, exporter) for i, entry in enumerate(entries)
        ]
        try:
            return cls(tuple(policies))
        except ConfigError as exc:
            raise ConfigError(source, exc.key, exc.problem) from None
