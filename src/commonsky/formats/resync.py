"""Walking length-framed recordings record by record, and finding the next plausible record after damage.

One flipped byte in a length field would otherwise make a reader lose its place for the rest of a
file. Each walker goes record by record while the records are plausible; at one that is not, it
scans forward byte by byte (compiled with Numba: the walk is sequential) for the next offset where a
plausible record starts and chains with what follows it, or ends the data exactly. It returns the
records it kept and the damaged spans it skipped (`Walk`); the callers count each span as one error
at its offset. The plausibility rules per container:

- ASTERIX data blocks (`walk_blocks`): category > 0, length >= 3 and within the frame. In step, the
  blocks after it must reach one of a known category (or of this block's) within three blocks, or end
  the frame exactly (when they do not, it is still kept if no plausible block starts inside it: the
  damage is in the next header); and no chain of blocks of known categories may start inside it that
  runs on for eight blocks apart from the blocks after it, or meets them after two blocks inside it
  (the real blocks that a damaged, too large length swallows: the walk resumes at the first of them).
  After damage: three blocks of known categories in a row (or fewer that end the frame). Known
  categories are the decoded ones plus those of every kept block followed by a known one (or the
  frame end); once such blocks were seen, only their categories are trusted for resynchronising.
- Final Format (`walk_final_format`): a sane length that ends on the A5 A5 A5 A5 padding; after damage
  also a time of day under 24 h, a payload of ASTERIX blocks (or ORADIS frames) filling it exactly, and
  a plausible record (or the end of the file) after it.
- pcap (`walk_pcap`): sub-second field in range, captured <= original length <= 256 KiB, and the next
  record header plausible too (or, when it is not, no plausible record starting inside the packet);
  after damage also capture times within a day of the last kept packet.
- pcapng (`walk_pcapng`): a known block type whose leading and trailing lengths agree (blocks sit
  on 4-byte boundaries).
- ORADIS (`walk_oradis`): a 6-byte header whose length frames a chain of ASTERIX blocks exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
from numba import njit
from numpy.typing import NDArray

FF_HEADER_BYTES: Final = 8
FF_PADDING_BYTE: Final = 0xA5
FF_EMPTY_BYTES: Final = 12
"""A Final Format record without payload: header and padding."""
FF_PADDING_DAMAGED: Final = 1
"""Tag of a kept Final Format record whose padding is damaged (its length was confirmed by the next record)."""
ORADIS_HEADER_BYTES: Final = 6
PCAP_RECORD_BYTES: Final = 16
PCAP_MAX_PACKET: Final = 262144
"""Largest packet libpcap writes (MAXIMUM_SNAPLEN)."""
DAY_S: Final = 86400
DAY_HUNDREDTHS: Final = 8640000
PCAPNG_BLOCK_TYPES: Final = np.array(
    [0x0A0D0D0A, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x00000BAD, 0x40000BAD], dtype=np.int64
)
"""Section header, interface description, packet (obsolete), simple packet, name resolution, statistics,
enhanced packet, IRIG/ARINC (obsolete), systemd journal, decryption secrets, custom blocks."""
RESYNC_CHAIN: Final = 3
"""Blocks of known categories in a row that an offset must open to resume there after damage."""
INSIDE_CHAIN: Final = 8
"""Blocks of known categories in a row that, starting inside a block, show its length to be damaged."""
INSIDE_BLOCKS: Final = 1
"""How many of those must lie wholly inside the block (fewer: a block's own records may look like one)."""


@dataclass(frozen=True)
class Walk:
    """Records kept and spans skipped by a walker: rows of (start, end exclusive, tag), in order.

    The tag of a kept record is its frame index (blocks) or a flag (`FF_PADDING_DAMAGED`); that of a
    damaged span is the frame index (blocks) or 0.
    """

    kept: NDArray[np.int64]
    damaged: NDArray[np.int64]

    def plausible(self, start: int, end: int, truncated: bool, run: int, *, at_start: bool = False) -> bool:
        """True when the walk explains the data [start, end): at least `run` records in a row (all, when
        fewer; `at_start`: from `start` on) and at most a tenth of the bytes skipped, a record cut by the
        end of truncated data aside."""
        if not len(self.kept):
            return False
        spans = self.damaged
        if truncated and len(spans) and spans[-1, 1] == end:
            spans = spans[:-1]
        skipped = int((spans[:, 1] - spans[:, 0]).sum())
        runs = np.diff(np.searchsorted(self.kept[:, 0], spans[:, 0]), prepend=0, append=len(self.kept))
        longest = int(runs[0]) if at_start else int(runs.max())
        return skipped * 10 <= end - start and longest >= min(run, len(self.kept))


def known_categories(categories: Iterable[int]) -> NDArray[np.bool_]:
    """The per-category table the block walker starts from (and adds the categories it keeps to)."""
    known = np.zeros(256, dtype=np.bool_)
    known[list(categories)] = True
    known[0] = False
    return known


@njit(cache=True)
def _rows(capacity: int) -> tuple[NDArray[np.int64], int]:
    """An empty growable list of (start, end, tag) rows: the array, with room for `capacity`, and its count."""
    return np.empty((capacity, 3), np.int64), 0


@njit(cache=True)
def _push(rows: NDArray[np.int64], n: int, start: int, end: int, tag: int) -> tuple[NDArray[np.int64], int]:
    """Rows with (start, end, tag) written at row n, grown when full, and the new count."""
    if n == rows.shape[0]:
        bigger = np.empty((2 * n + 16, 3), np.int64)
        bigger[:n] = rows[:n]
        rows = bigger
    rows[n, 0] = start
    rows[n, 1] = end
    rows[n, 2] = tag
    return rows, n + 1


@njit(cache=True)
def _be16(buf: NDArray[np.uint8], p: int) -> int:
    return int(buf[p]) << 8 | int(buf[p + 1])


@njit(cache=True)
def _u32(buf: NDArray[np.uint8], p: int, little: bool) -> int:
    if little:
        return int(buf[p]) | int(buf[p + 1]) << 8 | int(buf[p + 2]) << 16 | int(buf[p + 3]) << 24
    return int(buf[p]) << 24 | int(buf[p + 1]) << 16 | int(buf[p + 2]) << 8 | int(buf[p + 3])


# --- ASTERIX data blocks -----------------------------------------------------------------------------


@njit(cache=True)
def _block_end(buf: NDArray[np.uint8], p: int, end: int) -> int:
    """End of the well-formed block at p (category > 0, length >= 3, within `end`), else -1."""
    if end - p < 3 or buf[p] == 0:
        return -1
    stop = p + _be16(buf, p + 1)
    return stop if p + 3 <= stop <= end else -1


@njit(cache=True)
def chains(buf: NDArray[np.uint8], start: int, end: int, stride: int) -> bool:
    """True when [start, end) is well-formed blocks, each followed by `stride` bytes, filling it exactly."""
    p = start
    while p < end:
        stop = _block_end(buf, p, end)
        if stop < 0 or stop + stride > end:
            return False
        p = stop + stride
    return end > start


@njit(cache=True)
def chains_each(buf: NDArray[np.uint8], starts: NDArray[np.int64], ends: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Per frame [starts[i], ends[i]): True when it is well-formed blocks filling it exactly (`chains`)."""
    out = np.empty(len(starts), np.bool_)
    for i in range(len(starts)):
        out[i] = chains(buf, starts[i], ends[i], 0)
    return out


@njit(cache=True)
def _next_in_step(buf: NDArray[np.uint8], p: int, end: int, known: NDArray[np.bool_], stride: int, cat: int) -> bool:
    """The block after one of category `cat` may start at p: from there, up to `RESYNC_CHAIN` blocks whose
    lengths fit (whatever their category: it may be the damaged byte) lead to one of a known category (or of
    `cat`), or to the end of the frame exactly."""
    for _ in range(RESYNC_CHAIN):
        if p >= end:
            return True
        if end - p < 3:
            return False
        stop = p + _be16(buf, p + 1)
        if stop < p + 3 or stop > end:
            return False
        if known[buf[p]] or buf[p] == cat:
            return True
        p = stop + stride
    return p >= end


@njit(cache=True)
def _opens_chain(
    buf: NDArray[np.uint8], q: int, end: int, known: NDArray[np.bool_], stride: int, depth: int, least: int
) -> bool:
    """q opens `depth` well-formed blocks of known categories in a row, or at least `least` that end the
    frame exactly."""
    for k in range(depth):
        if not known[buf[q]]:
            return False
        stop = _block_end(buf, q, end)
        if stop < 0:
            return False
        q = stop + stride
        if q >= end:
            return k + 1 >= least
    return True


@njit(cache=True)
def _step(buf: NDArray[np.uint8], p: int, end: int, stride: int) -> int:
    """Where the block after the one at p starts when its length fits (whatever its category), else -1."""
    if end - p < 3:
        return -1
    stop = p + _be16(buf, p + 1)
    return stop + stride if p + 3 <= stop <= end else -1


@njit(cache=True)
def _contradicts(buf: NDArray[np.uint8], q: int, stop: int, end: int, known: NDArray[np.bool_], stride: int) -> bool:
    """q, inside a block ending at `stop`, opens the real blocks that a damaged, too large length swallowed:
    a chain of blocks of known categories, the first `INSIDE_BLOCKS` wholly inside the block, that runs on
    for `INSIDE_CHAIN` blocks (or to the end of the frame) apart from the blocks from `stop` on, or meets
    them after two or more blocks inside (one may be the block's own records by chance)."""
    next_start = stop + stride
    c = next_start
    inside = 0
    for _ in range(INSIDE_CHAIN):
        if not known[buf[q]] or _block_end(buf, q, end) < 0:
            return False
        q = _step(buf, q, end, stride)
        if q <= next_start:
            inside += 1
        elif inside < INSIDE_BLOCKS:
            return False
        while 0 <= c < min(q, end):
            c = _step(buf, c, end, stride)
        if c == q or (q >= end and c >= end):
            return inside >= 2
        if q >= end:
            return True
    return True


@njit(cache=True)
def _chain_inside(buf: NDArray[np.uint8], pos: int, stop: int, end: int, known: NDArray[np.bool_], stride: int) -> int:
    """Offset in (pos, stop) where the real blocks that a block with a damaged, too large length swallowed
    start (see `_contradicts`), else stop. A block's own records hardly ever look like such a chain."""
    q = pos + 3
    while q < stop and not _contradicts(buf, q, stop, end, known, stride):
        q += 1
    return q


@njit(cache=True)
def _confirmed(buf: NDArray[np.uint8], p: int, end: int, known: NDArray[np.bool_]) -> bool:
    """The block before p is confirmed: the frame ends at p, or a well-formed block of a known category starts there."""
    return p >= end or (_block_end(buf, p, end) >= 0 and known[buf[p]])


@njit(cache=True)
def _resync(buf: NDArray[np.uint8], q: int, end: int, trusted: NDArray[np.bool_], stride: int) -> int:
    """First offset from q that opens `RESYNC_CHAIN` blocks of trusted categories in a row (or fewer that end
    the frame), else end."""
    while q < end and not _opens_chain(buf, q, end, trusted, stride, RESYNC_CHAIN, 1):
        q += 1
    return q


@njit(cache=True)
def _walk_blocks(
    buf: NDArray[np.uint8], starts: NDArray[np.int64], ends: NDArray[np.int64], known: NDArray[np.bool_], stride: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    kept, nk = _rows(64)
    damaged, nd = _rows(16)
    seen = np.zeros(256, np.bool_)  # categories of confirmed blocks: once there are any, the only ones trusted
    confirmed = 0
    for f in range(len(starts)):
        pos = starts[f]
        end = ends[f]
        while pos < end:
            trusted = seen if confirmed else known
            stop = _block_end(buf, pos, end)
            if stop >= 0 and _next_in_step(buf, stop + stride, end, known, stride, buf[pos]):
                q = _chain_inside(buf, pos, stop, end, trusted, stride)
                if q == stop:
                    if _confirmed(buf, stop + stride, end, known):
                        known[buf[pos]] = True
                        seen[buf[pos]] = True
                        confirmed += 1
                    kept, nk = _push(kept, nk, pos, stop, f)
                    pos = stop + stride
                    continue
            else:
                q = _resync(buf, pos + 1, end, trusted, stride)
                if stop >= 0 and trusted[buf[pos]] and q >= stop + stride:
                    # Where the last block ended (or the walk resumed), with nothing plausible starting inside
                    # it: its length holds, and the damage is in the next header.
                    kept, nk = _push(kept, nk, pos, stop, f)
                    pos = stop + stride
                    if q <= pos:
                        continue
            damaged, nd = _push(damaged, nd, pos, q, f)
            pos = q
    return kept[:nk], damaged[:nd]


def walk_blocks(
    buf: NDArray[np.uint8],
    starts: NDArray[np.int64],
    ends: NDArray[np.int64],
    known: NDArray[np.bool_],
    stride: int = 0,
) -> Walk:
    """The data blocks of frames [starts[i], ends[i]) of `buf`, each followed by `stride` bytes (GPS
    post-data); `known` (see `known_categories`) gains the categories of the blocks kept."""
    kept, damaged = _walk_blocks(buf, starts.astype(np.int64), ends.astype(np.int64), known, stride)
    return Walk(kept, damaged)


# --- ORADIS frames -----------------------------------------------------------------------------------


@njit(cache=True)
def _oradis_end(buf: NDArray[np.uint8], p: int, end: int) -> int:
    """End of the ORADIS frame at p when its length frames a chain of blocks exactly, else -1."""
    if end - p < ORADIS_HEADER_BYTES + 3:
        return -1
    stop = p + _be16(buf, p)
    if stop > end or not chains(buf, p + ORADIS_HEADER_BYTES, stop, 0):
        return -1
    return stop


@njit(cache=True)
def _oradis_chains(buf: NDArray[np.uint8], start: int, end: int) -> bool:
    """True when [start, end) is ORADIS frames filling it exactly."""
    p = start
    while p < end:
        p = _oradis_end(buf, p, end)
        if p < 0:
            return False
    return end > start


@njit(cache=True)
def _walk_oradis(buf: NDArray[np.uint8]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    kept, nk = _rows(16)
    damaged, nd = _rows(16)
    n = len(buf)
    pos = 0
    while pos < n:
        stop = _oradis_end(buf, pos, n)
        if stop >= 0:
            kept, nk = _push(kept, nk, pos, stop, 0)
            pos = stop
            continue
        q = pos + 1
        while q < n:
            stop = _oradis_end(buf, q, n)
            if stop >= 0 and (stop == n or _oradis_end(buf, stop, n) >= 0):
                break
            q += 1
        damaged, nd = _push(damaged, nd, pos, q, 0)
        pos = q
    return kept[:nk], damaged[:nd]


def walk_oradis(buf: NDArray[np.uint8]) -> Walk:
    """The ORADIS frames of `buf` (header included in each kept span)."""
    return Walk(*_walk_oradis(buf))


# --- Final Format ------------------------------------------------------------------------------------


@njit(cache=True)
def _ff_end(buf: NDArray[np.uint8], p: int, n: int) -> int:
    """End of the Final Format record at p when its length is sane and fits the data, else -1."""
    if n - p < FF_EMPTY_BYTES:
        return -1
    stop = p + _be16(buf, p)
    return stop if p + FF_EMPTY_BYTES <= stop <= n else -1


@njit(cache=True)
def _padded(buf: NDArray[np.uint8], stop: int) -> bool:
    """The 4 bytes before `stop` are the A5 padding."""
    a5 = FF_PADDING_BYTE
    return buf[stop - 4] == a5 and buf[stop - 3] == a5 and buf[stop - 2] == a5 and buf[stop - 1] == a5


@njit(cache=True)
def _ff_record(buf: NDArray[np.uint8], p: int, n: int) -> int:
    """End of a record at p with a sane length and its padding in place, else -1."""
    stop = _ff_end(buf, p, n)
    return stop if stop >= 0 and _padded(buf, stop) else -1


@njit(cache=True)
def _ff_payload_fills(buf: NDArray[np.uint8], p: int, stop: int) -> bool:
    """The payload of the record [p, stop) is ASTERIX blocks, or ORADIS frames, filling it exactly."""
    return chains(buf, p + FF_HEADER_BYTES, stop - 4, 0) or _oradis_chains(buf, p + FF_HEADER_BYTES, stop - 4)


@njit(cache=True)
def _ff_resumes(buf: NDArray[np.uint8], q: int, n: int) -> bool:
    """A record to resume at after damage: padded, a time of day under 24 h, its payload filled with blocks,
    and a padded record (or the end of the file) after it."""
    stop = _ff_record(buf, q, n)
    if stop < 0:
        return False
    hundredths = int(buf[q + 5]) << 16 | int(buf[q + 6]) << 8 | int(buf[q + 7])
    if hundredths >= DAY_HUNDREDTHS or not _ff_payload_fills(buf, q, stop):
        return False
    return stop == n or _ff_record(buf, stop, n) >= 0


@njit(cache=True)
def _ff_resync(buf: NDArray[np.uint8], start: int, stop: int, n: int) -> int:
    """First offset in [start, stop) to resume at, else stop."""
    q = start
    while q < stop and not _ff_resumes(buf, q, n):
        q += 1
    return q


@njit(cache=True)
def _walk_final_format(buf: NDArray[np.uint8]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    kept, nk = _rows(64)
    damaged, nd = _rows(16)
    n = len(buf)
    pos = 0
    while pos < n:
        stop = _ff_end(buf, pos, n)
        if stop >= 0 and (_padded(buf, stop) or stop == n or _ff_record(buf, stop, n) >= 0):
            if not _ff_payload_fills(buf, pos, stop):
                # Payload damage, or a damaged length that reaches the padding (or the start) of a later
                # record: then a plausible record starts inside, and the span before it is the damage.
                inner = _ff_resync(buf, pos + FF_EMPTY_BYTES, stop - FF_EMPTY_BYTES + 1, n)
                if inner <= stop - FF_EMPTY_BYTES:
                    damaged, nd = _push(damaged, nd, pos, inner, 0)
                    pos = inner
                    continue
            kept, nk = _push(kept, nk, pos, stop, 0 if _padded(buf, stop) else FF_PADDING_DAMAGED)
            pos = stop
            continue
        q = _ff_resync(buf, pos + 1, n, n)
        damaged, nd = _push(damaged, nd, pos, q, 0)
        pos = q
    return kept[:nk], damaged[:nd]


def walk_final_format(buf: NDArray[np.uint8]) -> Walk:
    """The Final Format records of `buf` (tag `FF_PADDING_DAMAGED` where only the padding is wrong)."""
    return Walk(*_walk_final_format(buf))


# --- pcap ----------------------------------------------------------------------------------------------


@njit(cache=True)
def _pcap_end(buf: NDArray[np.uint8], p: int, n: int, little: bool, frac_max: int) -> int:
    """End of the packet record at p when its header is plausible (it may run past n), else -1."""
    if n - p < PCAP_RECORD_BYTES:
        return -1
    frac = _u32(buf, p + 4, little)
    captured = _u32(buf, p + 8, little)
    original = _u32(buf, p + 12, little)
    if frac >= frac_max or captured > original or original > PCAP_MAX_PACKET:
        return -1
    return p + PCAP_RECORD_BYTES + captured


@njit(cache=True)
def _pcap_resumes(buf: NDArray[np.uint8], q: int, n: int, little: bool, frac_max: int, last_s: int) -> bool:
    """A packet record to resume at after damage: plausible, non-empty, within a day of the last kept packet,
    and followed by the end of the file or a plausible record within a day of it."""
    stop = _pcap_end(buf, q, n, little, frac_max)
    if stop < q + PCAP_RECORD_BYTES + 1 or stop > n:
        return False
    seconds = _u32(buf, q, little)
    if last_s >= 0 and abs(seconds - last_s) > DAY_S:
        return False
    if n - stop < PCAP_RECORD_BYTES:
        return True
    return _pcap_end(buf, stop, n, little, frac_max) >= 0 and abs(_u32(buf, stop, little) - seconds) <= DAY_S


@njit(cache=True)
def _walk_pcap(
    buf: NDArray[np.uint8], start: int, little: bool, frac_max: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    kept, nk = _rows(64)
    damaged, nd = _rows(16)
    n = len(buf)
    pos = start
    last_s = -1
    while pos < n:
        stop = _pcap_end(buf, pos, n, little, frac_max)
        if 0 <= stop <= n and (n - stop < PCAP_RECORD_BYTES or _pcap_end(buf, stop, n, little, frac_max) >= 0):
            kept, nk = _push(kept, nk, pos, stop, 0)
            last_s = _u32(buf, pos, little)
            pos = stop
            continue
        q = pos + 1
        while q < n and not _pcap_resumes(buf, q, n, little, frac_max, last_s):
            q += 1
        if pos + PCAP_RECORD_BYTES < stop <= q:
            # Nothing plausible starts inside the packet: its length holds, the damage is in the next header.
            kept, nk = _push(kept, nk, pos, stop, 0)
            last_s = _u32(buf, pos, little)
            pos = stop
        if q > pos:
            damaged, nd = _push(damaged, nd, pos, q, 0)
        pos = q
    return kept[:nk], damaged[:nd]


def walk_pcap(buf: NDArray[np.uint8], start: int, little: bool, frac_max: int) -> Walk:
    """The packet records of a pcap file from `start` (after the file header); `frac_max` is 10^6 for
    microsecond, 10^9 for nanosecond captures."""
    return Walk(*_walk_pcap(buf, start, little, frac_max))


# --- pcapng --------------------------------------------------------------------------------------------


@njit(cache=True)
def _pcapng_end(buf: NDArray[np.uint8], p: int, n: int, little: bool, types: NDArray[np.int64]) -> int:
    """End of the block at p when its type is known and its two length fields agree, else -1."""
    if n - p < 12:
        return -1
    length = _u32(buf, p + 4, little)
    stop = p + length
    if length < 12 or length % 4 or stop > n or _u32(buf, stop - 4, little) != length:
        return -1
    kind = _u32(buf, p, little)
    for t in types:
        if kind == t:
            return stop
    return -1


@njit(cache=True)
def _walk_pcapng(
    buf: NDArray[np.uint8], little: bool, types: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    kept, nk = _rows(64)
    damaged, nd = _rows(16)
    n = len(buf)
    pos = 0
    while pos < n:
        stop = _pcapng_end(buf, pos, n, little, types)
        if stop >= 0:
            kept, nk = _push(kept, nk, pos, stop, 0)
            pos = stop
            continue
        q = pos + 4
        while q < n:
            stop = _pcapng_end(buf, q, n, little, types)
            if stop >= 0 and (n - stop < 12 or _pcapng_end(buf, stop, n, little, types) >= 0):
                break
            q += 4
        q = min(q, n)
        damaged, nd = _push(damaged, nd, pos, q, 0)
        pos = q
    return kept[:nk], damaged[:nd]


def walk_pcapng(buf: NDArray[np.uint8], little: bool) -> Walk:
    """The blocks of a pcapng file (all sections in the byte order of the first)."""
    return Walk(*_walk_pcapng(buf, little, PCAPNG_BLOCK_TYPES))
