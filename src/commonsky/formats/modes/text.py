"""Raw Mode S text containers (plain `HEX`, dump1090's `*HEX;`, `TIME,HEX`, pyModeS CSV) to frames, and decoded."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from commonsky.core.errors import DecodeError
from commonsky.formats.modes.decoder import ModeSDecoder
from commonsky.formats.modes.schema import FRAME_DTYPE, ModeSBatch, RawFrames
from commonsky.formats.report import DecodeReport


def _parse_line(line: str, default_time_s: float, source: str, lineno: int) -> tuple[float, str]:
    """(time, hex frame) of one text line; raises DecodeError when the line has no frame field."""
    if line.startswith("*"):
        if not line.endswith(";"):
            raise DecodeError(source, lineno, "'*' frame without the closing ';'")
        return default_time_s, _frame_field(line[1:-1], source, lineno)
    fields = line.split(",")
    if len(fields) == 1:
        return default_time_s, _frame_field(line, source, lineno)
    first = fields[0].strip().strip('"')
    try:
        t = float(first)
    except ValueError:
        raise DecodeError(source, lineno, f"time field {first[:32]!r} is not a number") from None
    if not math.isfinite(t):
        raise DecodeError(source, lineno, f"time field {first[:32]!r} is not finite")
    for f in fields[1:]:
        value = f.strip().strip('"')
        if value.startswith("*") and value.endswith(";"):
            value = value[1:-1]
        if len(value) in (14, 28):
            return t, value
    raise DecodeError(source, lineno, "no field of 14 or 28 characters (the frame)")


def _frame_field(value: str, source: str, lineno: int) -> str:
    """The frame itself when it has 14 or 28 characters; raises DecodeError otherwise."""
    if len(value) not in (14, 28):
        raise DecodeError(source, lineno, f"frame of {len(value)} characters (14 or 28 hex digits expected)")
    return value


def read_modes_text(
    lines: str | Iterable[str], *, time_s: float = math.nan, report: DecodeReport | None = None
) -> RawFrames:
    """Frames of a raw Mode S text container, one frame a line; `offset` is the 1-based line number.

    Accepted lines: `HEX`, dump1090's `*HEX;`, `TIME,HEX` and CSV lines whose first field is the time
    and a later field the 14- or 28-digit frame (pyModeS's `time,"hex","icao",tc` and `time,icao,hex`).
    Lines without a time get `time_s`. Empty lines and `#` comments are skipped; a UTF-8 BOM is ignored.
    The hex digits themselves are checked by the decoder.
    """
    report = report if report is not None else DecodeReport(source="modes-text")
    source = report.source
    it = lines.splitlines() if isinstance(lines, str) else lines
    times: list[float] = []
    frames: list[str] = []
    offsets: list[int] = []
    for lineno, raw_line in enumerate(it, start=1):
        line = raw_line.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        try:
            t, frame = _parse_line(line, time_s, source, lineno)
        except DecodeError as err:
            report.error(err.offset, err.problem)
            continue
        times.append(t)
        frames.append(frame)
        offsets.append(lineno)
    return RawFrames(np.array(times, dtype=np.float64), np.array(frames, dtype=FRAME_DTYPE), np.array(offsets))


def decode_modes_text(
    lines: str | Iterable[str],
    sensor_id: str,
    *,
    reference: tuple[float, float] | None = None,
    time_s: float = math.nan,
    report: DecodeReport | None = None,
) -> ModeSBatch:
    """Read and decode a raw Mode S text container (`read_modes_text`, then `ModeSDecoder`), one report for both."""
    report = report if report is not None else DecodeReport(source=sensor_id)
    raw = read_modes_text(lines, time_s=time_s, report=report)
    return ModeSDecoder(sensor_id, reference=reference, report=report).decode_raw(raw)
