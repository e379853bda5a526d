"""Recording containers that carry ASTERIX: raw data blocks, pcap/pcapng of UDP, EUROCONTROL Final Format, GPS.

A container is cut into `Frame`s, the units the ASTERIX decoder resynchronises on: one UDP datagram,
one Final Format record, one GPS-format block, or a whole raw file. Container damage (a flipped byte
in a record length, a truncated file) is counted in the `DecodeReport`, one error per damaged span
at its offset, and the reader resumes at the next plausible record (`commonsky.formats.resync`); it
never raises for bad input.

Formats (`detect_format` names):
- `"asterix"`: data blocks back to back (`.ast`, `.raw`, `.bin`), ORADIS-framed or not.
- `"pcap"`, `"pcapng"`: captured packets (Ethernet, Linux cooked, raw IP or BSD loopback); the
  UDP payloads over IPv4/IPv6 are the frames, stamped with the capture time (UTC). IP fragments and
  non-UDP packets are skipped and counted in `Recording.skipped_packets`.
- `"final_format"`: EUROCONTROL Final Format (`.ff`): per record an 8-byte header (byte count of
  the whole record, board, line, recording day, time of day in 10 ms units on 3 bytes), the
  ASTERIX payload, and the padding A5 A5 A5 A5. The time is the recorder's clock (often local
  time), so it is kept as seconds of day and not used as UTC.
- `"gps"`: the ASTERIX "GPS" recording format: a 2200-byte file header, then each data block
  followed by 10 bytes of GPS post-data.

Inside any of them (a UDP datagram, or a raw file), ORADIS framing is recognised and taken off
(`strip_oradis`): per frame a 6-byte header (2-byte length of the frame including the header, then
4 bytes) before its data blocks, as some radar heads and recorders send them.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Final

import dpkt
import numpy as np
from numpy.typing import NDArray

from commonsky.formats.report import DecodeReport
from commonsky.formats.resync import (
    FF_EMPTY_BYTES,
    FF_HEADER_BYTES,
    FF_PADDING_DAMAGED,
    ORADIS_HEADER_BYTES,
    PCAP_RECORD_BYTES,
    Walk,
    chains_each,
    known_categories,
    walk_blocks,
    walk_final_format,
    walk_oradis,
    walk_pcap,
    walk_pcapng,
)

ASTERIX: Final = "asterix"
PCAP: Final = "pcap"
PCAPNG: Final = "pcapng"
FINAL_FORMAT: Final = "final_format"
GPS: Final = "gps"
UNKNOWN: Final = "unknown"
FORMATS: Final = (ASTERIX, PCAP, PCAPNG, FINAL_FORMAT, GPS)
"""Every container `read_recording` accepts."""

FF_PADDING: Final = b"\xa5\xa5\xa5\xa5"
GPS_HEADER_BYTES: Final = 2200
GPS_POST_BYTES: Final = 10
PCAP_HEADER_BYTES: Final = 24
_PCAP_MAGICS: Final = {b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1"}
_PCAP_LITTLE: Final = {b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"}
_PCAP_NANO: Final = {b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1"}
_PCAPNG_MAGIC: Final = b"\x0a\x0d\x0d\x0a"
_PCAPNG_LITTLE: Final = b"\x4d\x3c\x2b\x1a"
_PCAPNG_BIG: Final = b"\x1a\x2b\x3c\x4d"
_PCAPNG_IDB: Final = 1
_PCAPNG_EPB: Final = 6
_PCAPNG_EPB_BYTES: Final = 32
"""Enhanced packet block without packet data or options: 7 fields of 4 bytes and the trailing length."""
_PCAPNG_EPB_DATA: Final = 28
"""Where an enhanced packet block's packet data starts."""
_RAW_IP_LINKS: Final = {dpkt.pcap.DLT_RAW, dpkt.pcap.DLT_IPV4, dpkt.pcap.DLT_IPV6, 12, 14, 101}
"""Link types whose frames are bare IP packets (DLT_RAW differs between platforms: 12, 14, 101)."""
_SNIFF_RECORDS: Final = 8
"""Consecutive well-formed records (all, when fewer) that identify a container."""
SNIFF_BYTES: Final = 1 << 20
"""Bytes of a file `detect_format` looks at."""
_BINARY_SHARE: Final = 0.25
"""Share of non-text bytes above which data may be ASTERIX blocks (the fixtures: 0.56-0.93; text: under 0.01)."""


@dataclass(frozen=True)
class Frame:
    """One unit of ASTERIX bytes as recorded, with where it sits and when it was captured."""

    offset: int
    """Where the payload sits, for error messages: byte offset in the file, or packet number (pcap)."""
    payload: bytes
    time_s: float = math.nan
    """Capture time: UTC seconds (pcap), recorder seconds of day (Final Format) or NaN."""


@dataclass
class Recording:
    """The frames of one recording and what the container said about them."""

    format: str
    frames: list[Frame]
    utc_times: bool
    """True when `Frame.time_s` is UTC (pcap); False for recorder time of day or none."""
    skipped_packets: int = 0
    """Captured packets that carried no UDP payload (other protocols, IP fragments)."""
    destinations: dict[int, str] = field(default_factory=dict)
    """Frame index -> "address:port" of the UDP datagram (pcap only)."""


@cache
def _decoded_categories() -> tuple[int, ...]:
    """The categories commonsky decodes: what resynchronisation trusts before it has seen a recording.

    Imported here, not at the top: the ASTERIX decoder package imports this module."""
    from commonsky.formats.asterix.specs import CATEGORIES

    return CATEGORIES


def strip_oradis(frames: Sequence[Frame], report: DecodeReport, packets: bool = False) -> list[Frame]:
    """The frames with their ORADIS headers taken off: each ORADIS frame becomes a frame of its own.

    A frame is read as ORADIS when it is not a chain of plain blocks to its end and intact ORADIS
    frames cover at least half of it; its damaged spans are then errors (`packets`: the frame offset
    is a packet number, kept by its ORADIS frames). Bytes that chain as plain ASTERIX blocks to the
    end are never reinterpreted; frames that are not ORADIS-framed stay as they are.
    """
    if not frames:
        return []
    sizes = np.array([len(f.payload) for f in frames], dtype=np.int64)
    ends = np.cumsum(sizes)
    joined = np.frombuffer(b"".join(f.payload for f in frames), dtype=np.uint8)
    plain = chains_each(joined, ends - sizes, ends)
    if plain.all():
        return list(frames)
    out: list[Frame] = []
    for frame, is_plain in zip(frames, plain.tolist(), strict=True):
        out.extend([frame] if is_plain else _strip_one(frame, report, packets))
    return out


def _strip_one(frame: Frame, report: DecodeReport, packets: bool) -> list[Frame]:
    buf = np.frombuffer(frame.payload, dtype=np.uint8)
    walk = walk_oradis(buf)
    if int((walk.kept[:, 1] - walk.kept[:, 0]).sum()) * 2 < len(buf):
        return [frame]
    for start, end, _ in walk.damaged.tolist():
        problem = f"ORADIS: damaged frame; {_skipped('frame', start, end, len(buf))}"
        if packets:
            report.error(frame.offset, f"packet {frame.offset}, byte {start}: {problem}")
        else:
            report.error(frame.offset + start, problem)
    return [
        Frame(
            frame.offset if packets else frame.offset + s + ORADIS_HEADER_BYTES,
            frame.payload[s + ORADIS_HEADER_BYTES : e],
            frame.time_s,
        )
        for s, e, _ in walk.kept.tolist()
    ]


def _load(source: str | Path | bytes) -> bytes:
    return source if isinstance(source, bytes) else Path(source).read_bytes()


def _walk_gps(buf: NDArray[np.uint8]) -> Walk:
    known = known_categories(_decoded_categories())
    return walk_blocks(buf, np.array([GPS_HEADER_BYTES]), np.array([len(buf)]), known, GPS_POST_BYTES)


def _binary(buf: NDArray[np.uint8]) -> bool:
    """At least `_BINARY_SHARE` of the bytes are neither printable ASCII nor whitespace (ASTERIX has over half)."""
    text = ((buf >= 0x20) & (buf < 0x7F)) | (buf == 0x09) | (buf == 0x0A) | (buf == 0x0D)
    return bool(len(buf)) and 1.0 - float(text.mean()) >= _BINARY_SHARE


def detect_format(source: str | Path | bytes) -> str:
    """Name of the container of a file or of its bytes (one of `FORMATS`), or `"unknown"`.

    Beyond the pcap magic numbers, a container is recognised when its records explain the first
    `SNIFF_BYTES`: a run of well-formed records (opening the file, and in binary data, but for Final
    Format) and at most a tenth of the bytes damaged.
    """
    data = _load(source)
    head = data[:4]
    if head in _PCAP_MAGICS:
        return PCAP
    if head == _PCAPNG_MAGIC:
        return PCAPNG
    buf = np.frombuffer(data, dtype=np.uint8)[:SNIFF_BYTES]
    n, cut = len(buf), len(data) > SNIFF_BYTES
    if walk_final_format(buf).plausible(0, n, cut, _SNIFF_RECORDS):
        return FINAL_FORMAT
    # Data blocks are not self-identifying like Final Format's padding: their run must open the file, and the
    # file must be binary (text has category bytes too: '"' is 34, '0' is 48, 'A' is 65).
    if not _binary(buf):
        return UNKNOWN
    if n > GPS_HEADER_BYTES and _walk_gps(buf).plausible(GPS_HEADER_BYTES, n, cut, _SNIFF_RECORDS, at_start=True):
        return GPS
    blocks = walk_blocks(buf, np.array([0]), np.array([n]), known_categories(_decoded_categories()))
    if blocks.plausible(0, n, cut, _SNIFF_RECORDS, at_start=True):
        return ASTERIX
    return ASTERIX if walk_oradis(buf).plausible(0, n, cut, _SNIFF_RECORDS, at_start=True) else UNKNOWN


def read_recording(
    source: str | Path | bytes, report: DecodeReport, fmt: str | None = None, *, sniff: bool = True
) -> Recording:
    """Cut a recording into frames; `fmt` forces the container (else `detect_format`).

    An unrecognised container is one error in `report` and gives no frames.
    """
    data = _load(source)
    fmt = fmt or (detect_format(data) if sniff else ASTERIX)
    if fmt == ASTERIX:
        return Recording(ASTERIX, [Frame(0, data)] if data else [], utc_times=False)
    if fmt == PCAP:
        return _read_pcap(data, report)
    if fmt == PCAPNG:
        return _read_pcapng(data, report)
    if fmt == FINAL_FORMAT:
        return _read_final_format(data, report)
    if fmt == GPS:
        return _read_gps(data, report)
    report.error(0, f"not a recognised ASTERIX recording (expected one of {', '.join(FORMATS)})")
    return Recording(UNKNOWN, [], utc_times=False)


def _skipped(what: str, start: int, end: int, size: int) -> str:
    """How a damaged span [start, end) of a file of `size` bytes was got over."""
    if end < size:
        return f"{end - start} bytes skipped up to the next plausible {what} at byte {end}"
    return f"no plausible {what} in the last {size - start} bytes"


def _read_final_format(data: bytes, report: DecodeReport) -> Recording:
    buf = np.frombuffer(data, dtype=np.uint8)
    walk = walk_final_format(buf)
    kept = walk.kept
    starts = kept[:, 0]
    hundredths = (buf[starts + 5].astype(np.int64) << 16) | (buf[starts + 6].astype(np.int64) << 8) | buf[starts + 7]
    first = (starts + FF_HEADER_BYTES).tolist()
    last = (kept[:, 1] - len(FF_PADDING)).tolist()
    times = (hundredths / 100.0).tolist()
    frames = [Frame(a, data[a:b], t) for a, b, t in zip(first, last, times, strict=True)]
    problems = [(s, "Final Format: record does not end with the A5 A5 A5 A5 padding") for s in
                starts[kept[:, 2] == FF_PADDING_DAMAGED].tolist()]  # fmt: skip
    for start, end, _ in walk.damaged.tolist():
        if end == len(data) and end - start < FF_EMPTY_BYTES:
            problems.append((start, f"Final Format: {end - start} trailing bytes, too short for a record"))
        else:
            length = (data[start] << 8) | data[start + 1]
            skipped = _skipped("record", start, end, len(data))
            problems.append((start, f"Final Format: damaged record (length {length}); {skipped}"))
    for offset, problem in sorted(problems):
        report.error(offset, problem)
    return Recording(FINAL_FORMAT, frames, utc_times=False)


def _read_gps(data: bytes, report: DecodeReport) -> Recording:
    walk = _walk_gps(np.frombuffer(data, dtype=np.uint8))
    frames = [Frame(s, data[s:e]) for s, e, _ in walk.kept.tolist()]
    for start, end, _ in walk.damaged.tolist():
        if end == len(data) and end - start < 3:
            report.error(start, f"GPS format: {end - start} trailing bytes, too short for a block")
        else:
            header = f"category {data[start]}, length {int.from_bytes(data[start + 1 : start + 3], 'big')}"
            report.error(
                start, f"GPS format: bad data block header ({header}); {_skipped('block', start, end, len(data))}"
            )
    return Recording(GPS, frames, utc_times=False)


def _ip_of_link(datalink: int, buf: bytes) -> dpkt.Packet | None:
    """The IP packet inside one captured link-layer frame (None for other protocols)."""
    if datalink == dpkt.pcap.DLT_EN10MB:
        return _ip_or_none(dpkt.ethernet.Ethernet(buf).data)
    if datalink == dpkt.pcap.DLT_LINUX_SLL:
        return _ip_or_none(dpkt.sll.SLL(buf).data)
    if datalink in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
        return _ip_or_none(dpkt.loopback.Loopback(buf).data)
    if datalink in _RAW_IP_LINKS:
        version = buf[0] >> 4 if buf else 0
        return dpkt.ip.IP(buf) if version == 4 else dpkt.ip6.IP6(buf) if version == 6 else None
    return None


def _ip_or_none(packet: object) -> dpkt.Packet | None:
    return packet if isinstance(packet, dpkt.ip.IP | dpkt.ip6.IP6) else None


def _udp_payload(ip: dpkt.Packet) -> tuple[bytes, str] | None:
    """UDP payload and "destination:port" of an IP packet, or None (not UDP, or a fragment)."""
    if isinstance(ip, dpkt.ip.IP) and (ip.mf or ip.offset):
        return None
    udp, dst = ip.data, _inet(ip.dst)
    if not isinstance(udp, dpkt.udp.UDP):
        return None
    return bytes(udp.data), f"{dst}:{udp.dport}"


def _inet(address: bytes) -> str:
    if len(address) == 4:
        return ".".join(str(b) for b in address)
    return ":".join(address[i : i + 2].hex() for i in range(0, len(address), 2))


def _add_packet(recording: Recording, report: DecodeReport, index: int, datalink: int, buf: bytes, ts: float) -> None:
    """One captured packet: its UDP payload becomes a frame; anything else is skipped (and counted)."""
    try:
        ip = _ip_of_link(datalink, buf)
        found = _udp_payload(ip) if ip is not None else None
    except (ValueError, IndexError, dpkt.Error, struct.error) as exc:
        report.error(index, f"{recording.format}: packet {index}: malformed link, IP or UDP header ({exc})")
        found = None
    if found is None:
        recording.skipped_packets += 1
        return
    payload, destination = found
    recording.destinations[len(recording.frames)] = destination
    recording.frames.append(Frame(index, payload, ts))


def _capture_damage(recording: Recording, report: DecodeReport, walk: Walk, size: int, before: list[int]) -> None:
    """One error per damaged span of a capture, at the number of the packet that follows it (`before`)."""
    for (start, end, _), index in zip(walk.damaged.tolist(), before, strict=True):
        skipped = _skipped("packet", start, end, size)
        report.error(index, f"{recording.format}: damaged packet record at byte {start}; {skipped}")


def _read_pcap(data: bytes, report: DecodeReport) -> Recording:
    recording = Recording(PCAP, [], utc_times=True)
    magic = data[:4]
    if len(data) < PCAP_HEADER_BYTES or magic not in _PCAP_MAGICS:
        report.error(0, "pcap: unreadable file header")
        return recording
    little = magic in _PCAP_LITTLE
    divisor = 10**9 if magic in _PCAP_NANO else 10**6
    datalink = struct.unpack_from("<I" if little else ">I", data, 20)[0]
    buf = np.frombuffer(data, dtype=np.uint8)
    walk = walk_pcap(buf, PCAP_HEADER_BYTES, little, divisor)
    starts = walk.kept[:, 0]
    words = buf[starts[:, None] + np.arange(8)].view("<u4" if little else ">u4").astype(np.float64)
    times = (words[:, 0] + words[:, 1] / divisor).tolist()
    for index, ((start, end, _), ts) in enumerate(zip(walk.kept.tolist(), times, strict=True)):
        _add_packet(recording, report, index, datalink, data[start + PCAP_RECORD_BYTES : end], ts)
    _capture_damage(recording, report, walk, len(data), np.searchsorted(starts, walk.damaged[:, 0]).tolist())
    return recording


def _read_pcapng(data: bytes, report: DecodeReport) -> Recording:
    """Enhanced packet blocks, each with the link type and time resolution of its interface."""
    recording = Recording(PCAPNG, [], utc_times=True)
    order = data[8:12]
    if data[:4] != _PCAPNG_MAGIC or order not in (_PCAPNG_LITTLE, _PCAPNG_BIG):
        report.error(0, "pcapng: unreadable file header")
        return recording
    little = order == _PCAPNG_LITTLE
    walk = walk_pcapng(np.frombuffer(data, dtype=np.uint8), little)
    interfaces: list[tuple[int, float, int]] = []  # per interface: link type, time divisor, time offset (s)
    packets: list[int] = []  # where each enhanced packet block starts
    u32 = "<I" if little else ">I"
    for start, end, _ in walk.kept.tolist():
        kind = struct.unpack_from(u32, data, start)[0]
        if kind == _PCAPNG_IDB:
            interfaces.append(_interface(data[start:end], little, report, start))
        elif kind == _PCAPNG_EPB:
            _add_enhanced_packet(recording, report, len(packets), data[start:end], u32, interfaces)
            packets.append(start)
    _capture_damage(recording, report, walk, len(data), np.searchsorted(packets, walk.damaged[:, 0]).tolist())
    return recording


def _interface(block: bytes, little: bool, report: DecodeReport, start: int) -> tuple[int, float, int]:
    """Link type, time divisor and time offset of an interface description block (as dpkt reads them);
    damaged options are an error and leave microseconds from the epoch."""
    link = struct.unpack_from("<H" if little else ">H", block, 8)[0]
    divisor, offset = 1e6, 0
    try:
        idb = dpkt.pcapng.InterfaceDescriptionBlockLE(block) if little else dpkt.pcapng.InterfaceDescriptionBlock(block)
        for opt in idb.opts:
            if opt.code == dpkt.pcapng.PCAPNG_OPT_IF_TSRESOL:
                value = opt.data[0]
                divisor = float((2 if value & 0x80 else 10) ** (value & 0x7F))
            elif opt.code == dpkt.pcapng.PCAPNG_OPT_IF_TSOFFSET:
                offset = struct.unpack("<q" if little else ">q", opt.data)[0]
    except (ValueError, IndexError, dpkt.Error, struct.error) as exc:
        report.error(start, f"pcapng: interface description at byte {start} has damaged options ({exc})")
        return link, 1e6, 0
    return link, divisor, offset


def _add_enhanced_packet(
    recording: Recording,
    report: DecodeReport,
    index: int,
    block: bytes,
    u32: str,
    interfaces: list[tuple[int, float, int]],
) -> None:
    """The packet of an enhanced packet block, stamped with its interface's clock."""
    interface, high, low, captured = struct.unpack_from(u32[0] + "4I", block, 8)
    if captured > len(block) - _PCAPNG_EPB_BYTES or interface >= len(interfaces):
        report.error(index, f"pcapng: packet {index}: captured length {captured} or interface {interface} does not fit")
        return
    link, divisor, offset = interfaces[interface]
    ts = offset + ((high << 32) | low) / divisor
    _add_packet(recording, report, index, link, block[_PCAPNG_EPB_DATA : _PCAPNG_EPB_DATA + captured], ts)
