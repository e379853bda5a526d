"""The recording and feed formats commonsky reads, one `Format` entry each; everything else derives from `REGISTRY`.

An entry says how to recognise a format from a file's first bytes, decode a whole file, decode a
live input as it arrives and which transport carries it live. `formats.files` (`sniff_format`,
`decode_file`), `feeds.inputs` (accepted formats, stream decoders), the CLI's `--format` help and
the table of docs/formats.md (`formats_table`) are built from it: a new format is its decoder module
and one entry here. Decoders are imported on first use, so that `commonsky --help` starts quickly.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from commonsky.core.batches import Plots, Tracks
from commonsky.formats.containers import ASTERIX, FINAL_FORMAT, GPS, PCAP, PCAPNG, detect_format
from commonsky.formats.report import DecodeReport

if TYPE_CHECKING:
    from commonsky.formats.streams import StreamDecoder, StreamSource

SNIFF_BYTES: Final = 8192
"""Bytes of a text recording whose first lines the text formats are recognised by."""
SNIFF_LINES: Final = 20
_HEX_LINE = re.compile(r"^\s*(\*?[0-9A-Fa-f]{14}(?:[0-9A-Fa-f]{14})?;?|[0-9.]+\s*,.*[0-9A-Fa-f]{14}.*)\s*$")
_AIS_TALKERS: Final = ("!AIVD", "!ABVD", "!BSVD")
_RADAR_TARGET = re.compile(rb"\$[A-Z]{2}(?:TTM|TLL),")
"""A radar's tracked-target sentence anywhere in a recording's first bytes."""


@dataclass(frozen=True)
class DecodeOptions:
    """What a file decoder may need besides the bytes (see `formats.files.decode_file`)."""

    sensor_id: str
    reference: tuple[float, float] | None
    day_start_utc_s: float | None
    start_time_s: float


class Sample:
    """A recording as the sniffers see it: its bytes, container and first text lines, each worked out once."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @cached_property
    def container(self) -> str:
        """The `containers` name of the recording (`"unknown"` when it is none of them)."""
        return detect_format(self.data)

    @cached_property
    def lines(self) -> list[str]:
        """The first non-blank lines of the recording read as text, stripped."""
        head = self.data[:SNIFF_BYTES].decode("latin-1").lstrip("\ufeff\xef\xbb\xbf")
        return [line.strip() for line in head.splitlines() if line.strip()][:SNIFF_LINES]


FileDecoder = Callable[[bytes, str, DecodeOptions], tuple[Plots, Tracks, DecodeReport]]
"""A whole recording (its bytes, its name for the report) to plots, system tracks and the decode report."""
StreamFactory: TypeAlias = "Callable[[StreamSource], StreamDecoder]"
"""Opens the stream decoder of a live input or a replayed file."""


@dataclass(frozen=True)
class Format:
    """One format: its name (`--format`, `format=`), how it is recognised, decoded whole and decoded live."""

    name: str
    title: str
    """As help texts name it (`Final Format`, `Mode S`)."""
    what: str
    """What a recording in it is (docs/formats.md's table)."""
    notes: str
    sniff: Callable[[Sample], bool]
    sniff_rank: int
    """Formats are tried by increasing rank: magic numbers first, then containers, then text heuristics."""
    decode: FileDecoder
    stream: StreamFactory | None = None
    live: tuple[Literal["udp", "tcp"], ...] = ()
    """The live inputs that carry it: datagrams (`udp://`), a byte stream (`tcp://`), or both."""
    container: str | None = None
    """The `containers` name of an ASTERIX recording, which a file replay decodes record by record."""


def _asterix_file(data: bytes, name: str, options: DecodeOptions) -> tuple[Plots, Tracks, DecodeReport]:
    from commonsky.formats.asterix import decode_recording

    decoded = decode_recording(data, name, options.day_start_utc_s)
    return decoded.plots, decoded.tracks, decoded.report


def _beast_file(data: bytes, name: str, options: DecodeOptions) -> tuple[Plots, Tracks, DecodeReport]:
    from commonsky.formats.beast import decode_beast

    report = DecodeReport(name)
    t0 = options.start_time_s if math.isfinite(options.start_time_s) else 0.0
    batch = decode_beast(data, options.sensor_id, start_time_s=t0, reference=options.reference, report=report)
    return batch.plots, Tracks.empty(), report


def _sbs_file(data: bytes, name: str, options: DecodeOptions) -> tuple[Plots, Tracks, DecodeReport]:
    from commonsky.formats.sbs import decode_sbs

    report = DecodeReport(name)
    batch = decode_sbs(data.decode("utf-8", errors="replace"), options.sensor_id, report=report)
    return batch.plots, Tracks.empty(), report


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


def _modes_file(data: bytes, name: str, options: DecodeOptions) -> tuple[Plots, Tracks, DecodeReport]:
    from commonsky.formats.modes import decode_modes_text

    report = DecodeReport(name)
    text = data.decode("utf-8", errors="replace")
    first = text.lstrip("\ufeff").lstrip()
    lines: str | list[str] = _json_frames(text, report) if first.startswith("{") else text
    batch = decode_modes_text(
        lines, options.sensor_id, reference=options.reference, time_s=options.start_time_s, report=report
    )
    return batch.plots, Tracks.empty(), report


def _ais_file(data: bytes, name: str, options: DecodeOptions) -> tuple[Plots, Tracks, DecodeReport]:
    from commonsky.formats.ais import decode_ais

    report = DecodeReport(name)
    text = data.decode("utf-8", errors="replace")
    reports = decode_ais(text, options.sensor_id, time_s=options.start_time_s, report=report)
    return reports.to_plots(), Tracks.empty(), report


def _nmea_targets_file(data: bytes, name: str, options: DecodeOptions) -> tuple[Plots, Tracks, DecodeReport]:
    from commonsky.formats.nmea_targets import decode_nmea_targets

    report = DecodeReport(name)
    if math.isfinite(options.start_time_s):
        time_s = options.start_time_s
    else:
        time_s = math.nan if options.day_start_utc_s is None else options.day_start_utc_s + 43200.0
    text = data.decode("utf-8", errors="replace")
    targets = decode_nmea_targets(
        text, options.sensor_id, radar_position=options.reference, time_s=time_s, report=report
    )
    return Plots.empty(), targets.to_tracks(), report


def _is_sbs(sample: Sample) -> bool:
    """The first lines all SBS-1 records (`MSG,...`, `STA,...`)."""
    from commonsky.formats.sbs import RECORD_TYPES

    return bool(sample.lines) and all(line.split(",", 1)[0] in RECORD_TYPES for line in sample.lines[:5])


def _is_modes(sample: Sample) -> bool:
    """JSON frame lines, or at least half the first lines Mode S hex (`HEX`, `*HEX;`, `TIME,...HEX...`)."""
    lines = sample.lines
    if lines and lines[0].startswith("{") and '"frame"' in lines[0]:
        return True
    return sum(bool(_HEX_LINE.match(line)) for line in lines) >= max(1, len(lines) // 2)


def _lazy_stream(module: str, name: str) -> StreamFactory:
    """The stream factory of decoder class `name` in `module`, imported when an input first opens one."""

    def open_stream(source: StreamSource) -> StreamDecoder:
        decoder: StreamDecoder = getattr(importlib.import_module(module), name).from_source(source)
        return decoder

    return open_stream


REGISTRY: Final = (
    Format(
        "asterix",
        "ASTERIX",
        "raw ASTERIX data blocks",
        "several records per block, several blocks per file; ORADIS frame headers are taken off",
        sniff=lambda s: s.container in (ASTERIX, GPS),
        sniff_rank=3,
        decode=_asterix_file,
        stream=_lazy_stream("commonsky.formats.streams", "AsterixStream"),
        live=("udp",),
        container=ASTERIX,
    ),
    Format(
        "pcap",
        "pcap",
        "pcap / pcapng of UDP packets holding ASTERIX",
        "one datagram at a time; times from the capture",
        sniff=lambda s: s.container in (PCAP, PCAPNG),
        sniff_rank=1,
        decode=_asterix_file,
        container=PCAP,
    ),
    Format(
        "final",
        "Final Format",
        "EUROCONTROL Final Format",
        "the header's recorder clock is not taken as UTC",
        sniff=lambda s: s.container == FINAL_FORMAT,
        sniff_rank=2,
        decode=_asterix_file,
        container=FINAL_FORMAT,
    ),
    Format(
        "beast",
        "Beast",
        "Beast binary (dump1090/readsb port 30005)",
        "times: `start_time_s` + the 12 MHz MLAT counter; live, a counter that runs back more than 2 s or gets "
        "60 s ahead of the clock is anchored again at the arrival time",
        sniff=lambda s: len(s.data) >= 2 and s.data[0] == 0x1A and s.data[1] in b"1234",
        sniff_rank=0,
        decode=_beast_file,
        stream=_lazy_stream("commonsky.formats.streams", "BeastStream"),
        live=("tcp",),
    ),
    Format(
        "sbs",
        "SBS",
        "SBS-1 BaseStation text (port 30003)",
        "in and out (`encode_sbs`)",
        sniff=_is_sbs,
        sniff_rank=4,
        decode=_sbs_file,
        stream=_lazy_stream("commonsky.formats.streams", "SbsStream"),
        live=("tcp",),
    ),
    Format(
        "modes",
        "Mode S",
        "raw Mode S: `HEX`, `*HEX;`, `TIME,HEX`, pyModeS CSV, or JSON lines with `timestamp` and `frame`",
        "",
        sniff=_is_modes,
        sniff_rank=6,
        decode=_modes_file,
        stream=_lazy_stream("commonsky.formats.streams", "ModeSTextStream"),
        live=("tcp",),
    ),
    Format(
        "ais",
        "AIS",
        "AIS NMEA, with or without NMEA 4.10 tag blocks",
        "",
        sniff=lambda s: any(talker in line for line in s.lines for talker in _AIS_TALKERS),
        sniff_rank=5,
        decode=_ais_file,
        stream=_lazy_stream("commonsky.formats.streams", "AisStream"),
        live=("tcp",),
    ),
    Format(
        "nmea-targets",
        "NMEA radar targets",
        "marine radar tracked targets: NMEA 0183 `TTM` / `TLL` (plain or IEC 61162-450 datagrams)",
        "tracks, not plots; a TTM is placed from `ref` (the radar's site) or the stream's RMC/GGA/GLL fixes; "
        "times of day take the date of the latest RMC/ZDA, else `--day`",
        sniff=lambda s: _RADAR_TARGET.search(s.data[:SNIFF_BYTES]) is not None,
        sniff_rank=5,
        decode=_nmea_targets_file,
        stream=_lazy_stream("commonsky.formats.nmea_targets", "NmeaTargetStream"),
        live=("tcp", "udp"),
    ),
)
"""Every format, in the order help texts and docs list them."""
BY_NAME: Final = {f.name: f for f in REGISTRY}
SNIFF_ORDER: Final = tuple(sorted(REGISTRY, key=lambda f: f.sniff_rank))


def live_formats(transport: Literal["udp", "tcp"]) -> tuple[str, ...]:
    """Names of the formats a live input over `transport` accepts, in registry order."""
    return tuple(f.name for f in REGISTRY if transport in f.live)


def choices_text(names: tuple[str, ...]) -> str:
    """`a, b or c`: format names as a help text lists them."""
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)


def titles_text() -> str:
    """The formats as prose names them, comma-separated (`ASTERIX, pcap, Final Format, ...`)."""
    return ", ".join(f.title for f in REGISTRY)


def formats_table() -> str:
    """The Markdown table of docs/formats.md: one row per format (name, what it is, notes)."""
    rows = ["| format | what | notes |", "|---|---|---|"]
    rows += [f"| `{f.name}` | {f.what} | {f.notes}".rstrip() + " |" for f in REGISTRY]
    return "\n".join(rows) + "\n"
