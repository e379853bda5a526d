"""Shared ground: time base, WGS-84 geodesy, columnar batch types, sensor descriptions, errors."""

from commonsky.core.batches import Columns, Plots, Tracks, Truth
from commonsky.core.errors import CommonskyError, ConfigError, DecodeError, SchemaError
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import SensorKind, SensorSpec

__all__ = [
    "Columns",
    "CommonskyError",
    "ConfigError",
    "DecodeError",
    "LocalFrame",
    "Plots",
    "SchemaError",
    "SensorKind",
    "SensorSpec",
    "Tracks",
    "Truth",
]
