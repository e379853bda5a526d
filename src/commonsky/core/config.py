"""Typed configuration objects read from TOML: one validation rule set for every stage's config.

A stage's configuration is a frozen dataclass whose defaults are the documented values; a file
or mapping supplies overrides, checked here against each field's type once, with errors naming
the file, the key and what is allowed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TypeVar

from commonsky.core.errors import ConfigError

T = TypeVar("T")


def read_toml_section(path: str | Path, section: str) -> tuple[dict[str, Any], str]:
    """The `[section]` table of a TOML file, or its top level when there is no such table."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except OSError as exc:
        raise ConfigError(str(p), "(file)", f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), "(file)", f"not valid TOML: {exc}") from None
    table = data.get(section, data)
    if not isinstance(table, dict):
        raise ConfigError(str(p), section, "expected a table")
    return table, str(p)


def with_overrides(
    defaults: T,
    data: Mapping[str, Any],
    source: str,
    *,
    non_negative: frozenset[str] = frozenset(),
    choices: Mapping[str, tuple[str, ...]] | None = None,
) -> T:
    """`defaults` with the overrides in `data`, each checked against its field's type.

    Booleans must be booleans, integers positive integers, text one of `choices[key]`, and
    numbers positive (or >= 0 for the keys in `non_negative`); unknown keys are errors.
    """
    known = {f.name for f in fields(defaults)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(source, key, f"unknown key; allowed: {', '.join(sorted(known))}")
        default = getattr(defaults, key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(source, key, f"expected true or false, got {value!r}")
        elif isinstance(default, str):
            allowed = (choices or {}).get(key)
            if not isinstance(value, str) or (allowed is not None and value not in allowed):
                raise ConfigError(source, key, f"expected one of {', '.join(allowed or ())}, got {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(source, key, f"expected a positive integer, got {value!r}")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise ConfigError(source, key, f"expected a number, got {value!r}")
            if key in non_negative and value < 0:
                raise ConfigError(source, key, f"expected a number >= 0, got {value!r}")
            if key not in non_negative and value <= 0:
                raise ConfigError(source, key, f"expected a positive number, got {value!r}")
        values[key] = value
    return replace(defaults, **values)  # type: ignore[type-var]
