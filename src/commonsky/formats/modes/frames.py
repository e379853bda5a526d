"""Hex frames to bytes, downlink format and CRC-24 parity, vectorised over a whole chunk.

The 24-bit parity is checked for every frame. DF17/18 must have a zero remainder and DF11 a
remainder below 0x80 (zero or an interrogator code); other DF11/17/18 frames are rejected as
"CRC mismatch". Short formats (DF0/4/5/11) use the first 56 bits even when the frame has 112
(receivers that pad short frames). For DF0/4/5/16/20/21 the remainder is the AP address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

SHORT_DFS = (0, 4, 5, 11)
LONG_DFS = (16, 17, 18, 19, 20, 21, 24)
REPLY_DFS = (0, 4, 5, 16, 20, 21)
ALTITUDE_DFS = (0, 4, 16, 20)
IDENTITY_DFS = (5, 21)
DF18_ICAO_CF = (0, 2, 6)
"""DF18 control fields whose AA is an ICAO address and whose ME is laid out as in DF17."""


def _crc_table() -> NDArray[np.uint32]:
    """CRC-24 (generator 0x1FFF409) of every byte value, for byte-wise table-driven parity."""
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i << 16
        for _ in range(8):
            c = (c << 1) ^ 0xFFF409 if c & 0x800000 else c << 1
        table[i] = c & 0xFFFFFF
    return table


_CRC_TABLE = _crc_table()
_HEX_VALUE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate("0123456789abcdef"):
    _HEX_VALUE[ord(_c)] = _HEX_VALUE[ord(_c.upper())] = _i


def hex_to_bytes(frames: Sequence[str]) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.bool_]]:
    """(n,14) bytes of each frame (zero padded), its hex length, and whether it is 14 or 28 valid hex digits."""
    n = len(frames)
    lengths = np.fromiter(map(len, frames), dtype=np.int64, count=n)
    raw = np.frombuffer("".join(frames).encode("ascii", "replace"), dtype=np.uint8)
    nib_all = np.append(_HEX_VALUE[raw], np.uint8(0))  # one spare so empty input still indexes
    length_ok = (lengths == 14) | (lengths == 28)
    starts = np.cumsum(lengths) - lengths
    cols = np.arange(28)
    within = (cols < lengths[:, None]) & length_ok[:, None]
    nib = np.where(within, nib_all[np.where(within, starts[:, None] + cols, len(nib_all) - 1)], 0)
    ok = length_ok & (nib.max(axis=1, initial=0) < 16)
    nib[~ok] = 0
    return (nib[:, 0::2] << 4 | nib[:, 1::2]).astype(np.uint8), lengths, ok


def parity_remainder(b: NDArray[np.uint8], short: NDArray[np.bool_]) -> NDArray[np.uint32]:
    """CRC remainder (CRC of the data bits XOR the parity field) of each frame, over 56 or 112 bits."""
    crc = np.zeros(len(b), dtype=np.uint32)
    crc_short = crc
    for k in range(11):
        if k == 4:
            crc_short = crc.copy()
        crc = ((crc << 8) & 0xFFFFFF) ^ _CRC_TABLE[((crc >> 16) ^ b[:, k]) & 0xFF]
    p_short = u24(b, 4)
    p_long = u24(b, 11)
    return np.where(short, crc_short ^ p_short, crc ^ p_long).astype(np.uint32)


def u24(b: NDArray[np.uint8], k: int) -> NDArray[np.uint32]:
    """Big-endian 24-bit value of bytes k, k+1, k+2 of each row."""
    value = (b[:, k].astype(np.uint32) << 16) | (b[:, k + 1].astype(np.uint32) << 8) | b[:, k + 2]
    return value.astype(np.uint32)


@dataclass(frozen=True)
class ParsedFrames:
    """A chunk of frames as bytes with their downlink format, parity remainder and checks (one row per frame)."""

    b: NDArray[np.uint8]
    """(n,14) bytes; short formats are zeroed past their 7 bytes."""
    df: NDArray[np.int64]
    """Downlink format; 24 and above all read as 24 (Comm-D)."""
    rem: NDArray[np.uint32]
    """CRC remainder: zero for a clean DF17/18, the address for the AP-addressed replies."""
    aa: NDArray[np.int64]
    """The address field of DF11/17/18 (bytes 1-3)."""
    valid: NDArray[np.bool_]
    """Valid hex of a known format with the length that format needs, and not rejected by the CRC check."""
    es: NDArray[np.bool_]
    """Valid extended squitters with an ICAO address: DF17, and DF18 with CF 0, 2 or 6."""
    crc_bad: NDArray[np.bool_]
    """Well formed but rejected by the CRC check."""
    problems: list[tuple[int, str]]
    """(row, why) of each rejected frame, for `DecodeReport.error`."""


def parse_frames(frames: Sequence[str]) -> ParsedFrames:
    """Bytes, downlink format, parity and the format/CRC checks of each hex frame."""
    b, lengths, hex_ok = hex_to_bytes(frames)
    df = (b[:, 0] >> 3).astype(np.int64)
    df[df >= 24] = 24
    short = np.isin(df, SHORT_DFS)
    known = short | np.isin(df, LONG_DFS)
    well_formed = hex_ok & known & (short | (lengths == 28))
    b[short, 7:] = 0
    rem = parity_remainder(b, short)
    cf = b[:, 0] & 7
    es = well_formed & ((df == 17) | ((df == 18) & np.isin(cf, DF18_ICAO_CF)))
    crc_bad = well_formed & ((((df == 17) | (df == 18)) & (rem != 0)) | ((df == 11) & (rem >= 0x80)))
    problems: list[tuple[int, str]] = []
    for i in np.flatnonzero(~well_formed | crc_bad).tolist():
        if lengths[i] not in (14, 28):
            problem = f"frame of {int(lengths[i])} characters (14 or 28 hex digits expected)"
        elif not hex_ok[i]:
            problem = f"not hexadecimal: {frames[i][:28]!r}"
        elif not known[i]:
            problem = f"unknown downlink format {int(df[i])}"
        elif not well_formed[i]:
            problem = f"DF{int(df[i])} needs 28 hex digits, got 14"
        else:
            problem = f"DF{int(df[i])} CRC mismatch (remainder {int(rem[i]):06X})"
        problems.append((i, problem))
    valid = well_formed & ~crc_bad
    return ParsedFrames(b, df, rem, u24(b, 1).astype(np.int64), valid, es & ~crc_bad, crc_bad, problems)
