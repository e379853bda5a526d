"""One entry point for recordings in any supported format: sniff the format, decode, count.

`decode_file` is what `commonsky decode` and `commonsky track` call: it reads a file (gzip
allowed), recognises its format from the first bytes when asked for `auto`, and returns the plots
(radar and ADS-B reports), the system tracks (CAT062) and the decode report of the file.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from commonsky.core.batches import Plots, Tracks
from commonsky.core.errors import ConfigError
from commonsky.formats.ais import decode_ais
from commonsky.formats.asterix import decode_recording
from commonsky.formats.beast import decode_beast
from commonsky.formats.containers import detect_format
from commonsky.formats.modes import decode_modes_text
from commonsky.formats.report import DecodeReport
from commonsky.formats.sbs import decode_sbs

FORMATS = ("auto", "asterix", "pcap", "final", "beast", "sbs", "modes", "ais")
"""What `--format` accepts: ASTERIX containers (raw blocks, pcap/pcapng, Final Format), Beast
binary, SBS-1 text, raw Mode S text (one frame a line, or JSON lines with `timestamp` and
`frame`), AIS NMEA."""
DEFAULT_SENSOR_ID = "receiver"
"""Sensor id given to plots of formats that carry none (Beast, SBS, Mode S text, AIS)."""
_HEX_LINE = re.compile(r"^\s*(\*?[0-9A-Fa-f]{14}(?:[0-9A-Fa-f]{14})?;?|[0-9.]+\s*,.*[0-9A-Fa-f]{14}.*)\s*$")


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
    if len(data) >= 2 and data[0] == 0x1A and data[1] in b"1234":
        return "beast"
    container = detect_format(data)
    if container in ("pcap", "pcapng"):
        return "pcap"
    if container == "final_format":
        return "final"
    if container in ("asterix", "gps"):
        return "asterix"
    head = data[:8192].decode("latin-1").lstrip("\ufeff\xef\xbb\xbf")
    lines = [line.strip() for line in head.splitlines() if line.strip()][:20]
    if not lines:
        return "unknown"
    if all(line.split(",", 1)[0] in ("MSG", "SEL", "ID", "AIR", "STA", "CLK") for line in lines[:5]):
        return "sbs"
    if any("!AIVD" in line or "!ABVD" in line or "!BSVD" in line for line in lines):
        return "ais"
    if lines[0].startswith("{") and '"frame"' in lines[0]:
        return "modes"
    if sum(bool(_HEX_LINE.match(line)) for line in lines) >= max(1, len(lines) // 2):
        return "modes"
    return "unknown"


def _json_frames(text: str, report: DecodeReport) -> list[str]:
    """JSON lines with `timestamp` and `frame` (jet1090 / traffic) as `TIME,HEX` lines."""
    out: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            out.append(f"{float(record['timestamp'])!r},{record['frame']}")
        except (ValueError, KeyError, TypeError) as exc:
            report.error(lineno, f"not a JSON frame line: {exc}")
    return out


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
    if kind in ("asterix", "pcap", "final"):
        decoded = decode_recording(data, name, day_start_utc_s)
        return DecodedFile(kind, decoded.plots, decoded.tracks, decoded.report)
    report = DecodeReport(name)
    if kind == "beast":
        t0 = start_time_s if math.isfinite(start_time_s) else 0.0
        batch = decode_beast(data, sensor_id, start_time_s=t0, reference=reference, report=report)
        return DecodedFile(kind, batch.plots, Tracks.empty(), report)
    text = data.decode("utf-8", errors="replace")
    if kind == "sbs":
        batch = decode_sbs(text, sensor_id, report=report)
        return DecodedFile(kind, batch.plots, Tracks.empty(), report)
    if kind == "modes":
        first = text.lstrip("\ufeff").lstrip()
        lines: str | list[str] = _json_frames(text, report) if first.startswith("{") else text
        batch = decode_modes_text(lines, sensor_id, reference=reference, time_s=start_time_s, report=report)
        return DecodedFile(kind, batch.plots, Tracks.empty(), report)
    if kind == "ais":
        reports = decode_ais(text, sensor_id, time_s=start_time_s, report=report)
        return DecodedFile(kind, reports.to_plots(), Tracks.empty(), report)
    raise ConfigError(name, "format", "not recognised; give --format (one of " + ", ".join(FORMATS[1:]) + ")")
