"""Typed errors shared by every stage, so callers can tell bad input from bugs."""

from __future__ import annotations


class CommonskyError(Exception):
    """Base of all errors commonsky raises on purpose."""


class SchemaError(CommonskyError):
    """A batch or file does not have the columns, types or lengths its contract requires."""


class ConfigError(CommonskyError):
    """A configuration or scenario file is invalid; the message names file, key and allowed values."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem


class DecodeError(CommonskyError):
    """One message, record or line could not be decoded; the decoder skips it and goes on."""

    def __init__(self, source: str, offset: int, problem: str) -> None:
        super().__init__(f"{source} @ {offset}: {problem}")
        self.source = source
        self.offset = offset
        self.problem = problem
