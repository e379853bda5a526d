"""Recording containers that carry ASTERIX: raw data blocks, pcap/pcapng of UDP, EUROCONTROL Final Format, GPS.

A container is cut into `Frame`s, the units the ASTERIX decoder resynchronises on: one UDP datagram,
one Final Format record, one GPS-format block, or a whole raw file. Container damage (a truncated
pcap, a Final Format record with a wrong length) is counted in the `DecodeReport` and the reader
goes on where it can; it never raises for bad input.

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

import io
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import dpkt

from commonsky.formats.report import DecodeReport

ASTERIX: Final = "asterix"
PCAP: Final = "pcap"
PCAPNG: Final = "pcapng"
FINAL_FORMAT: Final = "final_format"
GPS: Final = "gps"
UNKNOWN: Final = "unknown"
FORMATS: Final = (ASTERIX, PCAP, PCAPNG, FINAL_FORMAT, GPS)
"""Every container `read_recording` accepts."""

FF_HEADER_BYTES: Final = 8
FF_PADDING: Final = b"\xa5\xa5\xa5\xa5"
GPS_HEADER_BYTES: Final = 2200
GPS_POST_BYTES: Final = 10
ORADIS_HEADER_BYTES: Final = 6
_PCAP_MAGICS: Final = {b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1"}
_PCAPNG_MAGIC: Final = b"\x0a\x0d\x0d\x0a"
_RAW_IP_LINKS: Final = {dpkt.pcap.DLT_RAW, dpkt.pcap.DLT_IPV4, dpkt.pcap.DLT_IPV6, 12, 14, 101}
"""Link types whose frames are bare IP packets (DLT_RAW differs between platforms: 12, 14, 101)."""
_SNIFF_RECORDS: Final = 8
"""Consecutive well-formed Final Format records that identify the container."""


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


def plausible_blocks(data: bytes, start: int = 0, stride: int = 0) -> bool:
    """True when `data[start:]` is a chain of ASTERIX block headers (category 1-255, length >= 3) to the very end.

    Blocks follow each other with `stride` extra bytes between them (the GPS post-data). Checking the
    whole chain is what tells a raw recording from any other file whose first bytes happen to parse.
    """
    pos = start
    while pos < len(data):
        if len(data) - pos < 3:
            return False
        length = (data[pos + 1] << 8) | data[pos + 2]
        if data[pos] == 0 or length < 3 or pos + length + stride > len(data):
            return False
        pos += length + stride
    return pos > start


def _oradis_payloads(data: bytes) -> list[bytes] | None:
    """The data blocks of each ORADIS frame when `data` is a chain of them to the very end, else None."""
    payloads: list[bytes] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < ORADIS_HEADER_BYTES + 3:
            return None
        length = (data[pos] << 8) | data[pos + 1]
        end = pos + length
        if length < ORADIS_HEADER_BYTES + 3 or end > len(data):
            return None
        payload = data[pos + ORADIS_HEADER_BYTES : end]
        if not plausible_blocks(payload):
            return None
        payloads.append(payload)
        pos = end
    return payloads or None


def strip_oradis(frame: Frame) -> Frame:
    """The frame with its ORADIS headers taken off, or unchanged when it is not ORADIS-framed.

    Bytes that also chain as plain ASTERIX blocks to the end are never reinterpreted. The ORADIS
    reading is tried first because it fails within a few bytes on plain blocks, while walking a long
    raw file's block chain costs a Python step per block."""
    payloads = _oradis_payloads(frame.payload)
    if payloads is None or plausible_blocks(frame.payload):
        return frame
    return Frame(frame.offset, b"".join(payloads), frame.time_s)


def _plausible_final_format(data: bytes) -> bool:
    pos = 0
    for _ in range(_SNIFF_RECORDS):
        if pos == len(data):
            return pos > 0
        if len(data) - pos < FF_HEADER_BYTES + len(FF_PADDING):
            return False
        size = (data[pos] << 8) | data[pos + 1]
        if size < FF_HEADER_BYTES + len(FF_PADDING) or pos + size > len(data):
            return False
        if data[pos + size - len(FF_PADDING) : pos + size] != FF_PADDING:
            return False
        payload_start = pos + FF_HEADER_BYTES
        if not plausible_blocks(data[payload_start : pos + size - len(FF_PADDING)]):
            return False
        pos += size
    return True


def _load(source: str | Path | bytes) -> bytes:
    return source if isinstance(source, bytes) else Path(source).read_bytes()


def detect_format(source: str | Path | bytes) -> str:
    """Name of the container of a file or of its bytes (one of `FORMATS`), or `"unknown"`."""
    data = _load(source)
    head = data[:4]
    if head in _PCAP_MAGICS:
        return PCAP
    if head == _PCAPNG_MAGIC:
        return PCAPNG
    if _plausible_final_format(data):
        return FINAL_FORMAT
    if plausible_blocks(data) or _oradis_payloads(data) is not None:
        return ASTERIX
    if len(data) > GPS_HEADER_BYTES and plausible_blocks(data, GPS_HEADER_BYTES, GPS_POST_BYTES):
        return GPS
    return UNKNOWN


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
    if fmt in (PCAP, PCAPNG):
        return _read_pcap(data, fmt, report)
    if fmt == FINAL_FORMAT:
        return _read_final_format(data, report)
    if fmt == GPS:
        return _read_gps(data, report)
    report.error(0, f"not a recognised ASTERIX recording (expected one of {', '.join(FORMATS)})")
    return Recording(UNKNOWN, [], utc_times=False)


def _read_final_format(data: bytes, report: DecodeReport) -> Recording:
    frames: list[Frame] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < FF_HEADER_BYTES + len(FF_PADDING):
            report.error(pos, f"Final Format: {len(data) - pos} trailing bytes, too short for a record")
            break
        size = (data[pos] << 8) | data[pos + 1]
        end = pos + size
        if size < FF_HEADER_BYTES + len(FF_PADDING) or end > len(data):
            report.error(pos, f"Final Format: record length {size} does not fit the file; rest skipped")
            break
        if data[end - len(FF_PADDING) : end] != FF_PADDING:
            report.error(pos, "Final Format: record does not end with the A5 A5 A5 A5 padding")
        hundredths = (data[pos + 5] << 16) | (data[pos + 6] << 8) | data[pos + 7]
        payload = data[pos + FF_HEADER_BYTES : end - len(FF_PADDING)]
        frames.append(Frame(pos + FF_HEADER_BYTES, payload, hundredths / 100.0))
        pos = end
    return Recording(FINAL_FORMAT, frames, utc_times=False)


def _read_gps(data: bytes, report: DecodeReport) -> Recording:
    frames: list[Frame] = []
    pos = GPS_HEADER_BYTES
    while pos < len(data):
        if len(data) - pos < 3:
            report.error(pos, f"GPS format: {len(data) - pos} trailing bytes, too short for a block")
            break
        length = (data[pos + 1] << 8) | data[pos + 2]
        if length < 3 or pos + length > len(data):
            report.error(pos, f"GPS format: block length {length} does not fit the file; rest skipped")
            break
        frames.append(Frame(pos, data[pos : pos + length]))
        pos += length + GPS_POST_BYTES
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


def _read_pcap(data: bytes, fmt: str, report: DecodeReport) -> Recording:
    recording = Recording(fmt, [], utc_times=True)
    try:
        reader = dpkt.pcap.Reader(io.BytesIO(data)) if fmt == PCAP else dpkt.pcapng.Reader(io.BytesIO(data))
        datalink = reader.datalink()
    except (ValueError, dpkt.Error, struct.error) as exc:
        report.error(0, f"{fmt}: unreadable file header ({exc})")
        return recording
    packets = iter(reader)
    index = 0
    while True:
        try:
            ts, buf = next(packets)
        except StopIteration:
            break
        except (ValueError, dpkt.Error, struct.error) as exc:
            report.error(index, f"{fmt}: packet {index} unreadable, rest of the capture skipped ({exc})")
            break
        try:
            ip = _ip_of_link(datalink, bytes(buf))
            found = _udp_payload(ip) if ip is not None else None
        except (ValueError, IndexError, dpkt.Error, struct.error) as exc:
            report.error(index, f"{fmt}: packet {index}: malformed link, IP or UDP header ({exc})")
            found = None
        if found is None:
            recording.skipped_packets += 1
        else:
            payload, destination = found
            recording.destinations[len(recording.frames)] = destination
            recording.frames.append(Frame(index, payload, float(ts)))
        index += 1
    return recording
