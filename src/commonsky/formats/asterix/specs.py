"""The libasterix editions commonsky reads and writes, and where each decoded field sits in them.

Every item layout, scale factor and string coding comes from libasterix's generated specifications
(`asterix.generated`); this module only names the fields commonsky needs and resolves them to
bit positions (for the NumPy/Numba fast path) and to libasterix accessors (for the reference path).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import asterix.generated as gen
from asterix import base

from commonsky.core.errors import ConfigError

DEFAULT_EDITIONS: Final[dict[int, str]] = {
    1: "1.4",
    2: "1.2",
    21: "2.7",
    34: "1.29",
    48: "1.32",
    62: "1.21",
    63: "1.7",
    65: "1.6",
}
"""Edition per decoded category: the newest libasterix has (CAT048 1.32 is the first with a signed I048/090 FL).
CAT001/002 are the monoradar reports and service messages of older radars (before CAT048/034).

ASTERIX blocks do not say their edition; pass `editions={21: "0.26"}` for older CAT021 ADS-B, whose
layout differs completely (a 2.x decoder reads it as different items)."""
CATEGORIES: Final = tuple(sorted(DEFAULT_EDITIONS))

KIND_QUANTITY: Final = "quantity"
KIND_ICAO: Final = "icao"
KIND_ASCII: Final = "ascii"
KIND_OCTAL: Final = "octal"
KIND_UINT: Final = "uint"
KIND_INT: Final = "int"


def spec_for(category: int, edition: str | None = None) -> Any:
    """libasterix's class for a category edition ("1.32"); the default edition when `edition` is None."""
    wanted = edition or DEFAULT_EDITIONS.get(category)
    cats: dict[int, list[Any]] = gen.manifest["CATS"]  # type: ignore[assignment]
    available = cats.get(category, [])
    for spec in available:
        if f"{spec.cv_edition[0]}.{spec.cv_edition[1]}" == wanted:
            return spec
    have = ", ".join(f"{s.cv_edition[0]}.{s.cv_edition[1]}" for s in available) or "none"
    raise ConfigError("editions", f"{category:03d}", f"libasterix has no edition {wanted!r} (it has: {have})")


def resolve_editions(editions: Mapping[int, str] | None) -> dict[int, Any]:
    """Category -> libasterix class for every decoded category, with `editions` overriding the defaults."""
    chosen = {**DEFAULT_EDITIONS, **(editions or {})}
    unknown = set(chosen) - set(CATEGORIES)
    if unknown:
        raise ConfigError("editions", str(sorted(unknown)), f"commonsky decodes only {list(CATEGORIES)}")
    return {cat: spec_for(cat, ed) for cat, ed in chosen.items()}


@dataclass(frozen=True)
class Field:
    """A value commonsky takes from a record: a column name and the item path (`("040", "RHO")`)."""

    name: str
    path: tuple[str, ...]


DATA_SOURCE_FIELDS: Final = (Field("sac", ("010", "SAC")), Field("sic", ("010", "SIC")))
"""I010, the data source identifier every category leads with."""

RADAR_SERVICE_FIELDS: Final = (
    *DATA_SOURCE_FIELDS,
    Field("message_type", ("000",)),
    Field("tod", ("030",)),
    Field("sector", ("020",)),
    Field("period", ("041",)),
)
"""CAT034 and its predecessor CAT002 (north marker, sector crossing) name these items alike."""

FIELDS: Final[dict[int, tuple[Field, ...]]] = {
    1: (
        *DATA_SOURCE_FIELDS,
        Field("typ", ("020", "TYP")),
        Field("tod_truncated", ("141",)),
        Field("rho", ("040", "RHO")),
        Field("theta", ("040", "THETA")),
        Field("mode3a", ("070", "MODE3A")),
        Field("mode3a_g", ("070", "G")),
        Field("fl", ("090", "HGT")),
        Field("fl_g", ("090", "G")),
    ),
    2: RADAR_SERVICE_FIELDS,
    48: (
        *DATA_SOURCE_FIELDS,
        Field("tod", ("140",)),
        Field("rho", ("040", "RHO")),
        Field("theta", ("040", "THETA")),
        Field("mode3a", ("070", "MODE3A")),
        Field("mode3a_g", ("070", "G")),
        Field("fl", ("090", "FL")),
        Field("fl_g", ("090", "G")),
        Field("address", ("220",)),
        Field("callsign", ("240",)),
    ),
    21: (
        *DATA_SOURCE_FIELDS,
        Field("tod_073", ("073",)),
        Field("tod_071", ("071",)),
        Field("tod_075", ("075",)),
        Field("tod_030", ("030",)),
        Field("lat_hr", ("131", "LAT")),
        Field("lon_hr", ("131", "LON")),
        Field("lat", ("130", "LAT")),
        Field("lon", ("130", "LON")),
        Field("fl", ("145",)),
        Field("address", ("080",)),
        Field("mode3a", ("070", "MODE3A")),
        Field("callsign", ("170",)),
        Field("nacp", ("090", "NACP")),
    ),
    62: (
        *DATA_SOURCE_FIELDS,
        Field("tod", ("070",)),
        Field("lat", ("105", "LAT")),
        Field("lon", ("105", "LON")),
        Field("vx", ("185", "VX")),
        Field("vy", ("185", "VY")),
        Field("rocd", ("220",)),
        Field("baro_fl", ("135", "CTB")),
        Field("measured_fl", ("136",)),
        Field("geo_alt_ft", ("130",)),
        Field("track_number", ("040",)),
        Field("mode3a", ("060", "MODE3A")),
        Field("mode3a_g", ("060", "G")),
        Field("address", ("380", "ADR")),
        Field("callsign_380", ("380", "ID")),
        Field("callsign_245", ("245", "CHR")),
        Field("callsign_390", ("390", "CS")),
        Field("cnf", ("080", "CNF")),
        Field("cst", ("080", "CST")),
    ),
    34: RADAR_SERVICE_FIELDS,
    63: (
        *DATA_SOURCE_FIELDS,
        Field("service_id", ("015",)),
        Field("tod", ("030",)),
        Field("subject_sac", ("050", "SAC")),
        Field("subject_sic", ("050", "SIC")),
        Field("status", ("060", "CON")),
    ),
    65: (
        *DATA_SOURCE_FIELDS,
        Field("message_type", ("000",)),
        Field("service_id", ("015",)),
        Field("tod", ("030",)),
        Field("batch", ("020",)),
        Field("status", ("040", "NOGO")),
    ),
}
"""The fields decoded per category; a path missing from an edition is simply never present."""


@dataclass(frozen=True)
class Leaf:
    """Where one field sits in an edition: item FRN, compound subitem slot, bits, and how to read them."""

    field: Field
    frn: int
    """1-based field reference number of the top-level item."""
    slot: int
    """0-based slot of the compound subitem (-1: the field is in the top-level item itself)."""
    bit_offset: int
    """Bit offset of the value from the start of the item (or subitem)."""
    bit_size: int
    min_bytes: int
    """Bytes the item must have for the value to be present (later groups of extended items)."""
    kind: str
    lsb: float
    signed: bool
    unit: str


def _variation(rule: Any) -> Any:
    """The variation class behind a rule (the default structure of a context-dependent one)."""
    if issubclass(rule, base.RuleVariationDependent):
        return rule.cv_default_variation
    return rule.cv_variation


def _content(element: Any) -> Any:
    rule = element.cv_rule
    return rule.cv_default_content if issubclass(rule, base.RuleContentDependent) else rule.cv_content


def _leaf_in(variation: Any, names: tuple[str, ...]) -> tuple[Any, int, int] | None:
    """(element class, bit offset, bytes needed) of `names` inside a non-compound variation, or None."""
    if not names:
        if issubclass(variation, base.Element):
            return variation, 0, (variation.cv_bit_size + 7) // 8
        return None
    name, rest = names[0], names[1:]
    offset = 0
    if issubclass(variation, base.Group):
        entries: list[Any] = list(variation.cv_items_list)
    elif issubclass(variation, base.Extended):
        entries = [e if e is not None else (None, 1) for group in variation.cv_items_list for e in group]
    else:
        return None
    for item, size in entries:
        if item is not None and issubclass(item, base.Item) and item.cv_non_spare.cv_name == name:
            found = _leaf_in(_variation(item.cv_non_spare.cv_rule), rest)
            if found is None:
                return None
            element, inner, _ = found
            start = offset + inner
            if issubclass(variation, base.Extended):
                return element, start, _extended_bytes_through(variation, start)
            return element, start, (variation.cv_bit_size + 7) // 8
        offset += size
    return None


def _extended_bytes_through(variation: Any, bit: int) -> int:
    """Bytes of an extended item up to the end of the group holding `bit`."""
    end = 0
    for group in variation.cv_items_list:
        end += sum(1 if e is None else e[1] for e in group)
        if bit < end:
            return (end + 7) // 8
    return (end + 7) // 8


def single_uap(spec: Any) -> bool:
    """True when the category has one record layout (CAT001 has two, chosen per record by I020 TYP)."""
    return issubclass(spec.cv_uap, base.UapSingle)


def uap_records(spec: Any) -> list[Any]:
    """The record classes of the category's UAPs (one, or one per UAP of a multiple-UAP category)."""
    return [spec.cv_uap.cv_record] if single_uap(spec) else list(spec.cv_uap.cv_uaps.values())


def uap_items(spec: Any, record: Any | None = None) -> list[Any]:
    """A record layout's UAP entries in FRN order (UapItem, UapItemSpare or UapItemRFS classes)."""
    return list((record or spec.cv_uap.cv_record).cv_items_list)


def resolve(spec: Any, fld: Field) -> Leaf | None:
    """Where `fld` sits in edition `spec`, or None when the edition has no such item.

    For a multiple-UAP category, the first layout holding the item (its FRN is that layout's: only
    the single-UAP fast path reads FRNs)."""
    for record in uap_records(spec):
        leaf = _resolve_in(spec, record, fld)
        if leaf is not None:
            return leaf
    return None


def _resolve_in(spec: Any, record: Any, fld: Field) -> Leaf | None:
    for frn, uap_item in enumerate(uap_items(spec, record), start=1):
        if not issubclass(uap_item, base.UapItem) or uap_item.cv_non_spare.cv_name != fld.path[0]:
            continue
        variation = _variation(uap_item.cv_non_spare.cv_rule)
        slot, rest = -1, fld.path[1:]
        if issubclass(variation, base.Compound):
            names = [None if n is None else n.cv_name for n in variation.cv_items_list]
            if not rest or rest[0] not in names:
                return None
            slot = names.index(rest[0])
            variation = _variation(variation.cv_items_list[slot].cv_rule)
            rest = rest[1:]
        found = _leaf_in(variation, rest)
        if found is None:
            return None
        element, bit_offset, min_bytes = found
        return _make_leaf(fld, frn, slot, element, bit_offset, min_bytes)
    return None


def _make_leaf(fld: Field, frn: int, slot: int, element: Any, bit_offset: int, min_bytes: int) -> Leaf:
    content = _content(element)
    lsb, signed, unit = 1.0, False, ""
    if issubclass(content, base.ContentQuantity):
        kind, lsb, unit = KIND_QUANTITY, float(content.cv_lsb), str(content.cv_unit)
        signed = issubclass(content.cv_signedness, base.Signed)
    elif issubclass(content, base.ContentString):
        string_type = content.cv_string_type
        kind = {base.StringICAO: KIND_ICAO, base.StringAscii: KIND_ASCII, base.StringOctal: KIND_OCTAL}[string_type]
    elif issubclass(content, base.ContentInteger):
        kind, signed = KIND_INT, issubclass(content.cv_signedness, base.Signed)
    else:
        kind = KIND_UINT
    return Leaf(fld, frn, slot, bit_offset, element.cv_bit_size, min_bytes, kind, lsb, signed, unit)


def leaves(spec: Any, category: int) -> list[Leaf]:
    """The resolvable fields of a category in edition `spec`."""
    return [leaf for fld in FIELDS[category] if (leaf := resolve(spec, fld)) is not None]
