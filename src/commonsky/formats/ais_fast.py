"""Fast path of the AIS decoder: NMEA sentences checked and the common messages decoded by Numba kernels.

pyais decodes a few tens of thousands of messages/s in Python. These kernels check every line's NMEA framing
(tag block, checksums, fields) in compiled code and read the bit fields of the messages a surface
picture is made of: position reports 1, 2, 3, 18, 19, 27, base stations 4, aids to navigation 21
and static data 5, 24.
They accept only what they can decode exactly as pyais does: strict ASCII, single-digit fragment
counts and fill bits, every payload character in the 6-bit armour alphabet, a payload long enough
for every field read, a type-24 part number 0 or 1. Anything else (errors included) is marked
`PY` and goes through the reference path in `ais.py`, which is pyais line by line; the tests
compare both paths on every real recording and on fuzzed input.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numba import njit
from numpy.typing import NDArray

from commonsky.core.arrays import F64, I64

SKIP: Final = 0
"""Line kind: nothing to do (blank, `#` comment, an NMEA `$` sentence with a good checksum that is not RMC)."""
FAST: Final = 1
"""Line kind: a single-sentence message the kernels decode."""
PART: Final = 2
"""Line kind: a well-formed part of a multi-sentence message whose payload is all armour characters."""
SENTENCE: Final = 3
"""Line kind: a well-formed AIS sentence (checks done) whose message is pyais's to decode."""
RMC: Final = 4
"""Line kind: a `$..RMC` sentence with a good checksum: the reference path reads its clock."""
PY: Final = 5
"""Line kind: for the reference path from the start (errors, anything unusual)."""

POSITION_FAST_TYPES: Final = (1, 2, 3, 4, 18, 19, 21, 27)
STATIC_FAST_TYPES: Final = (5, 19, 21, 24)
NAME_CHARS: Final = 20
CALLSIGN_CHARS: Final = 7

_REQUIRED = np.full(64, 1 << 30, dtype=np.int64)
for _type, _bits in (
    (1, 137),
    (2, 137),
    (3, 137),
    (4, 134),
    (5, 422),
    (18, 133),
    (19, 301),
    (21, 249),
    (24, 162),
    (27, 94),
):
    _REQUIRED[_type] = _bits  # the end of the last field read: fields cut short are pyais's to decode
_REQUIRED_24A = 160
"""A type 24 part A is read up to the end of its name (many stations leave out its 8 spare bits)."""
ARMOUR = np.full(256, -1, dtype=np.int64)
ARMOUR[48:88] = np.arange(40)
ARMOUR[96:120] = np.arange(40, 64)
"""6-bit value of each payload character, -1 outside the armour alphabet ('0'..'W', '`'..'w')."""
_MAX_PAYLOAD = 200
"""pyais's longest payload per sentence."""
_MAX_DIGITS = 15
"""Longest digit string read here as a time: below 2**53, so the value is exact, as Python's float() gives it."""


@njit(cache=True)
def _is_space(c: int) -> bool:
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31


@njit(cache=True)
def _find(buf: NDArray[np.uint8], ch: int, lo: int, hi: int) -> int:
    for j in range(lo, hi):
        if buf[j] == ch:
            return j
    return -1


@njit(cache=True)
def _checksum_ok(buf: NDArray[np.uint8], lo: int, hi: int, hex_at: int) -> bool:
    """XOR of buf[lo:hi] equals the two hex digits (either case) at hex_at."""
    x = 0
    for j in range(lo, hi):
        x ^= buf[j]
    value = 0
    for j in range(hex_at, hex_at + 2):
        c = buf[j]
        if 48 <= c <= 57:
            d = c - 48
        elif 65 <= c <= 70:
            d = c - 55
        elif 97 <= c <= 102:
            d = c - 87
        else:
            return False
        value = value * 16 + d
    return value == x


@njit(cache=True)
def _digits(buf: NDArray[np.uint8], lo: int, hi: int) -> float:
    """The value of the digit string buf[lo:hi]; -1 if empty, longer than _MAX_DIGITS or not all digits."""
    if hi <= lo or hi - lo > _MAX_DIGITS:
        return -1.0
    v = 0
    for j in range(lo, hi):
        c = buf[j]
        if c < 48 or c > 57:
            return -1.0
        v = v * 10 + (c - 48)
    return float(v)


@njit(cache=True)
def _tag_time(buf: NDArray[np.uint8], lo: int, hi: int) -> tuple[bool, float]:
    """(ok, time) of the tag block buf[lo:hi] (`key:value,...*hh`); not ok where the reference must judge it."""
    star = -1
    for j in range(hi - 1, lo - 1, -1):
        if buf[j] == 42:
            star = j
            break
    if star < 0 or hi - star != 3 or not _checksum_ok(buf, lo, star, star + 1):
        return False, np.nan
    j = lo
    while j < star:
        e = _find(buf, 44, j, star)
        e = star if e < 0 else e
        if buf[j] == 99 and (e - j == 1 or buf[j + 1] == 58):  # key "c"
            t = _digits(buf, j + 2, e)
            if t < 0:
                return False, np.nan
            return True, t / 1000.0 if t > 1e11 else t
        j = e + 1
    return True, np.nan


@njit(cache=True)
def _trailing_time(buf: NDArray[np.uint8], lo: int, hi: int) -> tuple[bool, float]:
    """(ok, time) of the last non-empty comma field after the checksum: a UNIX time when all digits and > 1e8."""
    while hi > lo and buf[hi - 1] == 44:
        hi -= 1
    if hi == lo:
        return True, np.nan
    start = lo
    for j in range(hi - 1, lo - 1, -1):
        if buf[j] == 44:
            start = j + 1
            break
    for j in range(start, hi):
        if buf[j] < 48 or buf[j] > 57:
            return True, np.nan
    t = _digits(buf, start, hi)
    if t < 0:
        return False, np.nan
    return True, t if t > 1e8 else np.nan


@njit(cache=True)
def bits(buf: NDArray[np.uint8], p0: int, start: int, width: int) -> int:
    """Unsigned field of `width` bits at bit `start` of the armoured payload starting at buf[p0]."""
    v = 0
    for b in range(start, start + width):
        v = (v << 1) | ((ARMOUR[buf[p0 + b // 6]] >> (5 - b % 6)) & 1)
    return v


@njit(cache=True)
def _signed(buf: NDArray[np.uint8], p0: int, start: int, width: int) -> int:
    v = bits(buf, p0, start, width)
    return v - (1 << width) if v >= 1 << (width - 1) else v


@njit(cache=True)
def decodable(buf: NDArray[np.uint8], p0: int, p1: int, fill: int) -> bool:
    """Whether the armoured payload buf[p0:p1] (all armour characters) is a message the kernels decode."""
    if p1 <= p0:
        return False
    n_bits = 6 * (p1 - p0) - fill
    msg_type = ARMOUR[buf[p0]]
    if n_bits < 40 or n_bits < _REQUIRED[msg_type]:
        return msg_type == 24 and n_bits >= _REQUIRED_24A and bits(buf, p0, 38, 2) == 0
    return msg_type != 24 or bits(buf, p0, 38, 2) <= 1


@njit(cache=True)
def _scan_line(buf: NDArray[np.uint8], a: int, b: int, commas: I64) -> tuple[int, float, int, int, int, int, int]:
    """(kind, time from the tag block or the trailing field, sentence span, payload span, fill bits) of buf[a:b]
    (`commas`: room for the positions of the sentence's six commas)."""
    while a < b and _is_space(buf[a]):
        a += 1
    while b > a and _is_space(buf[b - 1]):
        b -= 1
    if a == b or buf[a] == 35:
        return SKIP, np.nan, 0, 0, 0, 0, 0
    for j in range(a, b):
        if buf[j] < 33 or buf[j] > 126:
            return PY, np.nan, 0, 0, 0, 0, 0
    t = np.nan
    s = a
    if buf[a] == 92:  # tag block
        k = _find(buf, 92, a + 1, b)
        if k < 0:
            return PY, np.nan, 0, 0, 0, 0, 0
        ok, t = _tag_time(buf, a + 1, k)
        if not ok:
            return PY, np.nan, 0, 0, 0, 0, 0
        s = k + 1
    if s >= b or (buf[s] != 33 and buf[s] != 36):
        return PY, np.nan, 0, 0, 0, 0, 0
    star = _find(buf, 42, s, b)
    if star < 0 or b < star + 3 or not _checksum_ok(buf, s + 1, star, star + 1):
        return PY, np.nan, 0, 0, 0, 0, 0
    if np.isnan(t):
        ok, t = _trailing_time(buf, star + 3, b)
        if not ok:
            return PY, np.nan, 0, 0, 0, 0, 0
    if buf[s] == 36:
        first = _find(buf, 44, s, star)
        first = star if first < 0 else first
        rmc = first - s == 6 and buf[s + 3] == 82 and buf[s + 4] == 77 and buf[s + 5] == 67
        return (RMC if rmc else SKIP), np.nan, s, star + 3, 0, 0, 0
    n = 0
    for j in range(s, star + 3):
        if buf[j] == 44:
            if n == 6:
                return PY, np.nan, 0, 0, 0, 0, 0
            commas[n] = j
            n += 1
    if n != 6 or commas[0] - s != 6 or buf[s + 3] != 86 or buf[s + 4] != 68:  # "VD"
        return PY, np.nan, 0, 0, 0, 0, 0
    if buf[s + 5] != 77 and buf[s + 5] != 79:  # M or O
        return PY, np.nan, 0, 0, 0, 0, 0
    if commas[1] - commas[0] != 2 or commas[2] - commas[1] != 2:
        return PY, np.nan, 0, 0, 0, 0, 0
    count, number = buf[commas[0] + 1] - 48, buf[commas[1] + 1] - 48
    if not 1 <= number <= count <= 9:
        return PY, np.nan, 0, 0, 0, 0, 0
    for j in range(commas[2] + 1, commas[3]):
        if buf[j] < 48 or buf[j] > 57:
            return PY, np.nan, 0, 0, 0, 0, 0
    p0, p1 = commas[4] + 1, commas[5]
    if p1 - p0 > _MAX_PAYLOAD or star - commas[5] != 2 or not 48 <= buf[star - 1] <= 53:
        return PY, np.nan, 0, 0, 0, 0, 0
    fill = buf[star - 1] - 48
    for j in range(p0, p1):
        if ARMOUR[buf[j]] < 0:
            return SENTENCE, t, s, star + 3, p0, p1, fill
    if count > 1:
        return PART, t, s, star + 3, p0, p1, fill
    return (FAST if decodable(buf, p0, p1, fill) else SENTENCE), t, s, star + 3, p0, p1, fill


@njit(cache=True)
def scan_lines(
    buf: NDArray[np.uint8], starts: I64, ends: I64
) -> tuple[NDArray[np.int8], F64, I64, I64, I64, I64, NDArray[np.int8]]:
    """Per line buf[starts[i]:ends[i]]: kind, time (tag block, else trailing field; NaN), sentence span (up to
    its checksum), payload span, fill bits."""
    n = len(starts)
    kind = np.empty(n, dtype=np.int8)
    time = np.empty(n)
    s0, s1, p0, p1 = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    fill = np.zeros(n, dtype=np.int8)
    commas = np.empty(6, dtype=np.int64)
    for i in range(n):
        kind[i], time[i], s0[i], s1[i], p0[i], p1[i], fill[i] = _scan_line(buf, starts[i], ends[i], commas)
    return kind, time, s0, s1, p0, p1, fill


@njit(cache=True)
def _lat_lon(raw: int, unavailable: float) -> float:
    """pyais's `to_lat_lon` (1/10000 minute) exactly: round(raw / 600000, 6) in integers; NaN if unavailable."""
    v = ((10 * raw + 3) // 6) / 1e6
    return np.nan if v == unavailable else v


@njit(cache=True)
def _lat_lon_600(raw: int, unavailable: float) -> float:
    """pyais's `to_lat_lon_600` (1/10 minute, type 27) exactly; NaN if unavailable."""
    v = ((10000 * raw + 3) // 6) / 1e6
    return np.nan if v == unavailable else v


@njit(cache=True)
def _or_nan(v: float, unavailable: float) -> float:
    return np.nan if v == unavailable else v


@njit(cache=True)
def decode_headers(buf: NDArray[np.uint8], p0: I64) -> tuple[NDArray[np.int8], NDArray[np.int32]]:
    """Message type and MMSI of each payload starting at buf[p0[i]]."""
    n = len(p0)
    msg_type = np.empty(n, dtype=np.int8)
    mmsi = np.empty(n, dtype=np.int32)
    for i in range(n):
        msg_type[i], mmsi[i] = bits(buf, p0[i], 0, 6), bits(buf, p0[i], 8, 30)
    return msg_type, mmsi


@njit(cache=True)
def decode_positions(
    buf: NDArray[np.uint8], p0: I64
) -> tuple[F64, F64, F64, F64, F64, NDArray[np.int8], NDArray[np.int8]]:
    """lat, lon, speed (kn), course, heading, navigation status (-1), accuracy flag of the position messages."""
    n = len(p0)
    lat, lon, sog, cog, heading = np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    status = np.full(n, -1, dtype=np.int8)
    accuracy = np.empty(n, dtype=np.int8)
    for i in range(n):
        p = p0[i]
        t = bits(buf, p, 0, 6)
        sog[i] = cog[i] = heading[i] = np.nan
        if t <= 3:
            status[i] = bits(buf, p, 38, 4)
            sog[i] = _or_nan(bits(buf, p, 50, 10) / 10.0, 102.3)
            accuracy[i] = bits(buf, p, 60, 1)
            lon[i] = _lat_lon(_signed(buf, p, 61, 28), 181.0)
            lat[i] = _lat_lon(_signed(buf, p, 89, 27), 91.0)
            cog[i] = _or_nan(bits(buf, p, 116, 12) / 10.0, 360.0)
            heading[i] = _or_nan(float(bits(buf, p, 128, 9)), 511.0)
        elif t == 4:
            accuracy[i] = bits(buf, p, 78, 1)
            lon[i] = _lat_lon(_signed(buf, p, 79, 28), 181.0)
            lat[i] = _lat_lon(_signed(buf, p, 107, 27), 91.0)
        elif t == 21:
            accuracy[i] = bits(buf, p, 163, 1)
            lon[i] = _lat_lon(_signed(buf, p, 164, 28), 181.0)
            lat[i] = _lat_lon(_signed(buf, p, 192, 27), 91.0)
        elif t == 27:
            accuracy[i] = bits(buf, p, 38, 1)
            status[i] = bits(buf, p, 40, 4)
            lon[i] = _lat_lon_600(_signed(buf, p, 44, 18), 181.0)
            lat[i] = _lat_lon_600(_signed(buf, p, 62, 17), 91.0)
            sog[i] = _or_nan(float(bits(buf, p, 79, 6)), 63.0)
            cog[i] = _or_nan(float(bits(buf, p, 85, 9)), 511.0)
        else:  # 18, 19
            sog[i] = _or_nan(bits(buf, p, 46, 10) / 10.0, 102.3)
            accuracy[i] = bits(buf, p, 56, 1)
            lon[i] = _lat_lon(_signed(buf, p, 57, 28), 181.0)
            lat[i] = _lat_lon(_signed(buf, p, 85, 27), 91.0)
            cog[i] = _or_nan(bits(buf, p, 112, 12) / 10.0, 360.0)
            heading[i] = _or_nan(float(bits(buf, p, 124, 9)), 511.0)
    return lat, lon, sog, cog, heading, status, accuracy


@njit(cache=True)
def _text(buf: NDArray[np.uint8], p: int, start: int, out: NDArray[np.uint8]) -> None:
    """6-bit text at bit `start` into `out` as ASCII (pyais's table: values below 32 are '@'..'_')."""
    for k in range(len(out)):
        v = bits(buf, p, start + 6 * k, 6)
        out[k] = v + 64 if v < 32 else v


@njit(cache=True)
def _dimensions(buf: NDArray[np.uint8], p: int, start: int, out: NDArray[np.int16]) -> None:
    """To bow, stern, port and starboard (9, 9, 6, 6 bits) from bit `start`."""
    out[0], out[1] = bits(buf, p, start, 9), bits(buf, p, start + 9, 9)
    out[2], out[3] = bits(buf, p, start + 18, 6), bits(buf, p, start + 24, 6)


@njit(cache=True)
def decode_statics(
    buf: NDArray[np.uint8], p0: I64
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.int16], NDArray[np.int16]]:
    """Name, call sign, destination (ASCII, zeros where the message has none), raw ship type (-1) and
    dimensions to bow/stern/port/starboard (-1) of static messages 5, 19, 21, 24."""
    n = len(p0)
    name = np.zeros((n, NAME_CHARS), dtype=np.uint8)
    callsign = np.zeros((n, CALLSIGN_CHARS), dtype=np.uint8)
    destination = np.zeros((n, NAME_CHARS), dtype=np.uint8)
    ship_type = np.full(n, -1, dtype=np.int16)
    dims = np.full((n, 4), -1, dtype=np.int16)
    for i in range(n):
        p = p0[i]
        t = bits(buf, p, 0, 6)
        if t == 5:
            _text(buf, p, 70, callsign[i])
            _text(buf, p, 112, name[i])
            ship_type[i] = bits(buf, p, 232, 8)
            _dimensions(buf, p, 240, dims[i])
            _text(buf, p, 302, destination[i])
        elif t == 19:
            _text(buf, p, 143, name[i])
            ship_type[i] = bits(buf, p, 263, 8)
            _dimensions(buf, p, 271, dims[i])
        elif t == 21:
            _text(buf, p, 43, name[i])
            _dimensions(buf, p, 219, dims[i])
        elif bits(buf, p, 38, 2) == 0:  # 24 part A
            _text(buf, p, 40, name[i])
        else:  # 24 part B; an auxiliary craft (MMSI 98XXXYYYY) gives its mother ship's MMSI instead of dimensions
            ship_type[i] = bits(buf, p, 40, 8)
            _text(buf, p, 90, callsign[i])
            if not 980_000_000 <= bits(buf, p, 8, 30) <= 989_999_999:
                _dimensions(buf, p, 132, dims[i])
    return name, callsign, destination, ship_type, dims
