"""One entry point for recordings in any supported format: sniff the format, decode, count.

`decode_file` is what `commonsky decode` and `commonsky track` call: it reads a file (gzip
allowed), recognises its format from the first bytes when asked for `auto`, and returns the plots
(radar and ADS-B reports), the system tracks (CAT062) and the decode report of the file. The
formats themselves are the entries of `formats.registry`.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from commonsky.core.batches import Plots, Tracks
from commonsky.core.errors import ConfigError
from commonsky.formats.registry import BY_NAME, REGISTRY, SNIFF_ORDER, DecodeOptions, Sample
from commonsky.formats.report import DecodeReport

FORMATS: Final = ("auto", *(f.name for f in REGISTRY))
"""What `--format` accepts: `auto` (sniffed) or a format of `formats.registry.REGISTRY`."""
DEFAULT_SENSOR_ID = "receiver"
"""Sensor id given to plots of formats that carry none (Beast, SBS, Mode S text, AIS)."""


@dataclass(frozen=True)
class DecodedFile:
    """A decoded recording: its format, plots, system tracks and what the decoder counted."""

    format: str
    plots: Plots
    tracks: Tracks
    report: DecodeReport


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, gunzipped when it is gzip (by its magic number, whatever its name)."""
    data = Path(path).read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def sniff_format(data: bytes) -> str:
    """The format of a recording from its first bytes (one of `FORMATS` but `auto`, or `"unknown"`)."""
    sample = Sample(data)
    return next((f.name for f in SNIFF_ORDER if f.sniff(sample)), "unknown")


def decode_file(
    path: str | Path,
    fmt: str = "auto",
    sensor_id: str = DEFAULT_SENSOR_ID,
    reference: tuple[float, float] | None = None,
    day_start_utc_s: float | None = None,
    start_time_s: float = math.nan,
) -> DecodedFile:
    """Decode a recording into plots and system tracks; bad messages are counted in the report, never raised.

    `reference` (lat, lon) is the receiver position for local CPR decoding; `day_start_utc_s` the
    UTC midnight of an ASTERIX recording's day; `start_time_s` the UTC time of a Beast file's first
    frame (Beast carries only a 12 MHz counter) or of Mode S lines without times.
    """
    if fmt not in FORMATS:
        raise ConfigError("--format", fmt, f"expected one of {', '.join(FORMATS)}")
    data = read_bytes(path)
    name = str(path)
    kind = sniff_format(data) if fmt == "auto" else fmt
    entry = BY_NAME.get(kind)
    if entry is None:
        raise ConfigError(name, "format", "not recognised; give --format (one of " + ", ".join(FORMATS[1:]) + ")")
    plots, tracks, report = entry.decode(data, name, DecodeOptions(sensor_id, reference, day_start_utc_s, start_time_s))
    return DecodedFile(kind, plots, tracks, report)
