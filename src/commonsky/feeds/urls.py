"""Feed URLs (`udp://`, `tcp://`, `file://`): one checked split shared by inputs and outputs."""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from commonsky.core.errors import ConfigError


def split_url(url: str, allowed: dict[str, Any]) -> tuple[SplitResult, dict[str, str]]:
    """A feed URL's parts and query parameters, checked: a known scheme, known parameters, each once.

    `allowed` maps each scheme to its parameter names; every problem raises `ConfigError` naming it.
    """
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in allowed:
        raise ConfigError(url, "scheme", f"{scheme or '(none)'!r} is not one of {', '.join(allowed)}")
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise ConfigError(url, "query", str(exc)) from None
    params: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed[scheme]:
            raise ConfigError(url, key, f"unknown parameter for {scheme}:// (allowed: {sorted(allowed[scheme])})")
        if key in params:
            raise ConfigError(url, key, "given twice")
        params[key] = value
    return parts, params
