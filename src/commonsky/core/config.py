"""Typed configuration read from TOML: one validation rule set for every config and scenario file.

`Table` reads one TOML table through typed accessors (numbers within ranges, integers, text,
choices, sub-tables), so every mistake is a `ConfigError` naming the file, the dotted key (e.g.
`partners[0].sensors[1].pd`) and what is allowed, and a key never read is an error, never silently
ignored. A stage's configuration is a frozen dataclass whose defaults are the documented values;
`with_overrides` checks a mapping of overrides against each field's type through the same `Table`,
and `SectionConfig` gives such a dataclass its `load` (one TOML table) and `from_dict`.
"""

from __future__ import annotations

import difflib
import json
import math
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from commonsky.core.errors import ConfigError

T = TypeVar("T")

REQUIRED: Any = object()
"""The default of an accessor whose key must be present."""


def read_toml(path: str | Path) -> tuple[dict[str, Any], str]:
    """A TOML file's document and its path as the errors' source; an unreadable or invalid file is a ConfigError."""
    data: dict[str, Any] = _read_document(path, tomllib.loads, tomllib.TOMLDecodeError, "TOML")
    return data, str(Path(path))


def read_json(path: str | Path) -> tuple[Any, str]:
    """A JSON (or GeoJSON) file's document and its path as the errors' source; an unreadable or invalid file is
    a ConfigError."""
    return _read_document(path, json.loads, json.JSONDecodeError, "JSON"), str(Path(path))


def _read_document(path: str | Path, parse: Callable[[str], Any], invalid: type[Exception], what: str) -> Any:
    """`parse` of a UTF-8 text file; unreadable or invalid (`invalid` raised), a ConfigError naming the file."""
    p = Path(path)
    try:
        return parse(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(p), "(file)", f"cannot read: {exc.strerror}") from None
    except invalid as exc:
        raise ConfigError(str(p), "(file)", f"not valid {what}: {exc}") from None


def read_toml_section(path: str | Path, section: str) -> tuple[dict[str, Any], str]:
    """The `[section]` table of a TOML file, or its top level when there is no such table."""
    data, source = read_toml(path)
    table = data.get(section, data)
    if not isinstance(table, dict):
        raise ConfigError(source, section, "expected a table")
    return table, source


def _bounded(noun: str, lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    """What a range allows, e.g. "a positive number", "an integer >= 0 and <= 11"."""
    positive = (lo, lo_open) == ((1, False) if noun == "integer" else (0, True))
    if positive and hi is None:
        return f"a positive {noun}"
    limits = [f"{'>' if lo_open else '>='} {lo:g}"] if lo is not None else []
    limits += [f"<= {hi:g}"] if hi is not None else []
    return " ".join(["an" if noun[0] in "aeiou" else "a", noun, " and ".join(limits)]).rstrip()


class Table:
    """A TOML table being read: typed accessors that raise ConfigError naming the source and dotted key."""

    def __init__(self, data: Any, source: str, path: str = "") -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(source, path or "<root>", f"expected a table, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data
        self.source = source
        self.path = path
        self._read: list[str] = []

    def key(self, name: str) -> str:
        """The dotted key of `name` in this table."""
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, problem: str) -> ConfigError:
        """A ConfigError about key `name` of this table."""
        return ConfigError(self.source, self.key(name), problem)

    def expected(self, name: str, what: str, value: Any) -> ConfigError:
        """A ConfigError saying what key `name` allows and what it got."""
        return self.error(name, f"expected {what}, got {value!r}")

    def raw(self, name: str, default: Any = REQUIRED) -> Any:
        """The value of `name`, or `default`; a missing required key is an error."""
        self._read.append(name)
        if name in self.data:
            return self.data[name]
        if default is REQUIRED:
            close = difflib.get_close_matches(name, [str(k) for k in self.data], n=1)
            raise self.error(name, "missing (required)" + (f"; did you mean to write {close[0]!r}?" if close else ""))
        return default

    def number(
        self,
        name: str,
        default: Any = REQUIRED,
        *,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
        finite: bool = True,
    ) -> float:
        """A number within [lo, hi] ((lo, hi] when lo_open), never NaN; infinite only when not `finite`."""
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise self.expected(name, "a number", value)
        if finite and not math.isfinite(value):
            raise self.expected(name, "a finite number", value)
        if (lo is not None and (value < lo or (lo_open and value == lo))) or (hi is not None and value > hi):
            raise self.expected(name, _bounded("number", lo, hi, lo_open), value)
        return float(value)

    def integer(self, name: str, default: Any = REQUIRED, *, lo: int | None = None, hi: int | None = None) -> int:
        """An integer within [lo, hi]."""
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.expected(name, "an integer", value)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.expected(name, _bounded("integer", lo, hi), value)
        return value

    def boolean(self, name: str, default: Any = REQUIRED) -> bool:
        """true or false."""
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.expected(name, "true or false", value)
        return value

    def whole_seconds(self, name: str, *, positive: bool = False) -> float:
        """A time that is a whole number of seconds, so truth samples fall on whole UTC seconds."""
        value = self.number(name, lo=0.0, lo_open=positive)
        if value != math.floor(value):
            raise self.expected(name, "a whole number of seconds", value)
        return value

    def text(self, name: str, default: Any = REQUIRED, *, max_len: int | None = None) -> str:
        """A non-empty string (or the default, which may be empty) of at most max_len characters."""
        value = self.raw(name, default)
        if not isinstance(value, str) or (not value and default is REQUIRED):
            raise self.expected(name, "a non-empty string", value)
        if max_len is not None and len(value) > max_len:
            raise self.expected(name, f"at most {max_len} characters", value)
        return value

    def choice(self, name: str, allowed: tuple[str, ...], default: Any = REQUIRED) -> str:
        """One of the allowed strings."""
        value = self.raw(name, default)
        if not isinstance(value, str) or value not in allowed:
            raise self.expected(name, f"one of {', '.join(allowed)}", value)
        return value

    def texts(self, name: str, default: Any = REQUIRED) -> tuple[str, ...]:
        """An array of strings."""
        value = self.raw(name, default)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self.expected(name, "an array of strings", value)
        return tuple(value)

    def present(self, name: str) -> bool:
        """Whether the optional key `name` is given; either way a key this table allows."""
        self._read.append(name)
        return name in self.data

    def squawk(self, name: str, default: Any = REQUIRED) -> int:
        """A Mode A code given as "7700" or 7700: four octal digits, held as that decimal integer."""
        value = self.raw(name, default)
        if name not in self.data:
            return int(default)
        text = value if isinstance(value, str) else str(value) if isinstance(value, int) else ""
        if isinstance(value, bool) or not text.isdigit() or len(text) > 4 or any(c in "89" for c in text):
            raise self.expected(name, "a 4-digit octal squawk", value)
        return int(text)

    def mode_s(self, name: str, default: Any = REQUIRED) -> int:
        """A 24-bit Mode S address given as a hex string ("4B1A2C") or an integer."""
        value = self.raw(name, default)
        if name not in self.data:
            return int(default)
        try:
            address = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value), 16)
        except ValueError:
            raise self.expected(name, "a hex Mode S address", value) from None
        if not 0 < address < 0xFFFFFF:
            raise self.expected(name, "a 24-bit address (000001..FFFFFE)", value)
        return address

    def table(self, name: str, *, required: bool = True) -> Table:
        """A sub-table (an empty one when optional and missing)."""
        return Table(self.raw(name, REQUIRED if required else {}), self.source, self.key(name))

    def tables(self, name: str, *, required: bool = False) -> list[Table]:
        """An array of tables."""
        value = self.raw(name, REQUIRED if required else [])
        if not isinstance(value, list) or (required and not value):
            raise self.expected(name, "a non-empty array of tables" if required else "an array of tables", value)
        return [Table(item, self.source, f"{self.key(name)}[{i}]") for i, item in enumerate(value)]

    def finish(self) -> None:
        """Reject keys that were never read: typos must not pass silently."""
        for name in self.data:
            if name not in self._read:
                allowed = sorted(set(self._read))
                close = difflib.get_close_matches(str(name), allowed, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise self.error(name, f"unknown key; {hint}allowed: {', '.join(allowed) or 'none'}")


def with_overrides(
    defaults: T,
    data: Mapping[str, Any],
    source: str,
    *,
    non_negative: frozenset[str] = frozenset(),
    choices: Mapping[str, tuple[str, ...]] | None = None,
) -> T:
    """`defaults` with the overrides in `data`, each checked against its field's type.

    Booleans must be booleans, integers positive integers, text one of `choices[key]` (any text
    without), and numbers positive (or >= 0 for the keys in `non_negative`; infinity allowed);
    unknown keys are errors.
    """
    table = Table(data, source)
    values: dict[str, Any] = {}
    for f in fields(defaults):  # type: ignore[arg-type]
        key, default = f.name, getattr(defaults, f.name)
        if not table.present(key):
            continue
        if isinstance(default, bool):
            values[key] = table.boolean(key)
        elif isinstance(default, str):
            allowed = (choices or {}).get(key)
            values[key] = table.text(key, "") if allowed is None else table.choice(key, allowed)
        elif isinstance(default, int):
            values[key] = table.integer(key, lo=1)
        else:
            values[key] = table.number(key, lo=0.0, lo_open=key not in non_negative, finite=False)
    table.finish()
    return replace(defaults, **values)  # type: ignore[type-var]


class SectionConfig:
    """Base of a stage's frozen config dataclass: `load` reads its `[SECTION]` table, `from_dict` checks overrides.

    One definition of how a stage's settings are read, so every stage reports the same errors the same way.
    """

    SECTION: ClassVar[str]
    """The TOML table of the settings (`[tracker]`, `[fusion]`); a file may also give them at its top level."""
    NON_NEGATIVE: ClassVar[frozenset[str]] = frozenset()
    """Numeric fields that may be zero; every other number must be strictly positive."""
    CHOICES: ClassVar[Mapping[str, Collection[str]]] = {}
    """Text fields taking one of a list; the list is read at each check, so a registry may grow after import."""

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a TOML file (keys at top level or under `[SECTION]`); unknown keys are errors."""
        data, source = read_toml_section(path, cls.SECTION)
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "") -> Self:
        """Validate a mapping of overrides against the declared fields, their types and ranges, then `check`."""
        source = source or f"{cls.SECTION} config"
        choices = {name: tuple(allowed) for name, allowed in cls.CHOICES.items()}
        config = with_overrides(cls(), data, source, non_negative=cls.NON_NEGATIVE, choices=choices)
        config.check(source)
        return config

    def check(self, source: str) -> None:
        """Relations between fields, beyond each field's own type and range; none unless a stage adds them."""
