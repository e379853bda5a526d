"""Beast binary frames (port 30005 of dump1090/readsb, Mode-S Beast, Radarcape) to rows of hex frames.

Each frame is `0x1a`, a type byte, a 6-byte big-endian MLAT counter, one signal-level byte and
the payload: type '1' (0x31) Mode A/C, 2 bytes; '2' (0x32) Mode S short, 7 bytes; '3' (0x33)
Mode S long, 14 bytes; '4' (0x34) Radarcape status, 14 bytes. A 0x1a inside a frame is sent
twice. Bytes that do not fit are counted as one error per run (`DecodeReport.error` at the byte
offset) and skipped up to the next `0x1a` followed by a known type, so a damaged stream resynchronises;
a frame that runs into the next one (not followed by a frame start while one starts inside it, as
when a damaged byte reads as an escaped 0x1a) is an error too, and reading resumes at the frame inside.

Beast carries no absolute time: the counter runs at 12 MHz from an arbitrary origin (and wraps at
2^48). `time_s` is therefore `start_time_s` (the caller's UTC time of the first frame) plus the
counter's advance since that frame, with wraps unwound; a zero counter (dump1090-fa without MLAT
data) gives NaN. The raw counter stays in `mlat_ticks` for multilateration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from numpy.typing import NDArray

from commonsky.core.batches import Col, Columns
from commonsky.core.errors import DecodeError
from commonsky.formats.modes import FRAME_DTYPE, FrameCol, ModeSBatch, ModeSDecoder, RawFrames
from commonsky.formats.report import DecodeReport

ESCAPE = 0x1A
MLAT_HZ = 12e6
"""Tick rate of the Beast MLAT counter."""
COUNTER_WRAP = 1 << 48
PAYLOAD_BYTES = {0x31: 2, 0x32: 7, 0x33: 14, 0x34: 14}
"""Payload length per frame type; each frame also has 6 counter bytes and 1 signal byte."""
MODE_S_KINDS = ("2", "3")


@dataclass(frozen=True, eq=False)
class BeastFrames(Columns):
    """Beast frames, one row each: `kind` is the type character ('1'-'4'), `frame` the payload in hex."""

    time_s: Col.F64
    frame: FrameCol
    offset: Col.I64
    kind: Annotated[NDArray[np.str_], "<U1"]
    mlat_ticks: Col.I64
    signal: Col.I16

    def mode_s(self) -> RawFrames:
        """The Mode S frames (short and long), ready for `ModeSDecoder.decode_raw`."""
        rows = self.take(np.isin(self.kind, MODE_S_KINDS))
        return RawFrames(rows.time_s, rows.frame, rows.offset)


class BeastReader:
    """Incremental Beast parser: `feed` byte chunks as they arrive, `finish` at the end of the stream."""

    def __init__(self, *, start_time_s: float, report: DecodeReport | None = None) -> None:
        self.start_time_s = start_time_s
        self.report = report if report is not None else DecodeReport(source="beast")
        self._pending = b""
        self._base = 0
        """Stream offset of the first byte of `_pending`."""
        self._first_ticks: int | None = None
        self._last_ticks = 0
        self._wraps = 0

    def reanchor(self, start_time_s: float) -> None:
        """Stamp the next frame with counter `start_time_s` and later frames from it (the counter jumped)."""
        self.start_time_s = start_time_s
        self._first_ticks = None
        self._last_ticks = 0
        self._wraps = 0

    def feed(self, chunk: bytes) -> BeastFrames:
        """Frames completed by this chunk; an incomplete last frame waits for the next chunk."""
        data = self._pending + chunk
        base = self._base
        frames: list[str] = []
        offsets: list[int] = []
        kinds: list[str] = []
        ticks: list[int] = []
        signals: list[int] = []
        i = 0
        n = len(data)
        while i < n:
            try:
                start = self._sync(data, i, base)
                if start < 0:
                    i = n
                    break
                parsed = self._frame(data, start, base)
            except DecodeError as err:
                self.report.error(err.offset, err.problem)
                i = err.offset - base + 1
                continue
            if parsed is None:
                i = start
                break
            kind, body, i = parsed
            inner = self._overlapped(data, start, i, base)
            if inner is not None:
                self.report.error(base + start, "frame runs into the next frame (a damaged byte): skipped")
                i = inner
                continue
            frames.append(body[7:].hex())
            offsets.append(base + start)
            kinds.append(chr(kind))
            ticks.append(int.from_bytes(body[:6], "big"))
            signals.append(body[6])
        self._pending = data[i:]
        self._base = base + i
        return self._columns(frames, offsets, kinds, ticks, signals)

    def finish(self) -> None:
        """End of stream: a frame left incomplete is counted as an error."""
        if self._pending:
            self.report.error(self._base, f"stream ends inside a frame ({len(self._pending)} bytes)")
            self._base += len(self._pending)
            self._pending = b""

    def _sync(self, data: bytes, i: int, base: int) -> int:
        """Index of the next frame start at or after i (-1: none yet); raises DecodeError for skipped bytes."""
        j = data.find(ESCAPE, i)
        if j < 0:
            if i < len(data):
                raise DecodeError(self.report.source, base + len(data) - 1, f"{len(data) - i} bytes outside a frame")
            return -1
        if j > i:
            raise DecodeError(self.report.source, base + j - 1, f"{j - i} bytes outside a frame")
        return j

    def _overlapped(self, data: bytes, start: int, stop: int, base: int) -> int | None:
        """Where the real next frame starts inside the frame [start, stop) when that frame is not followed by
        a frame start (a damaged byte, e.g. a 0x1a made out of its last one, swallowed the next frame's
        first bytes): a frame start inside it whose frame is followed by a frame start. None otherwise."""
        if stop >= len(data) or data[stop] == ESCAPE:
            return None
        j = data.find(ESCAPE, start + 1, stop)
        while j >= 0:
            try:
                parsed = self._frame(data, j, base) if data[j + 1] in PAYLOAD_BYTES else None
            except DecodeError:
                parsed = None
            if parsed is not None and (parsed[2] == len(data) or data[parsed[2]] == ESCAPE):
                return j
            j = data.find(ESCAPE, j + 1, stop)
        return None

    def _frame(self, data: bytes, start: int, base: int) -> tuple[int, bytes, int] | None:
        """(type, unescaped counter+signal+payload, index after the frame), None if incomplete; raises DecodeError."""
        if start + 1 >= len(data):
            return None
        kind = data[start + 1]
        size = PAYLOAD_BYTES.get(kind)
        if size is None:
            raise DecodeError(self.report.source, base + start, f"unknown Beast frame type 0x{kind:02x}")
        need = 7 + size
        body = data[start + 2 : start + 2 + need]
        if len(body) < need:
            return None
        if ESCAPE not in body:
            return kind, body, start + 2 + need
        out = bytearray()
        k = start + 2
        while len(out) < need:
            if k >= len(data):
                return None
            byte = data[k]
            if byte == ESCAPE:
                if k + 1 >= len(data):
                    return None
                if data[k + 1] != ESCAPE:
                    raise DecodeError(self.report.source, base + start, "frame cut short by a new frame start")
                k += 1
            out.append(byte)
            k += 1
        return kind, bytes(out), k

    def _columns(
        self, frames: list[str], offsets: list[int], kinds: list[str], ticks: list[int], signals: list[int]
    ) -> BeastFrames:
        """Rows with times from the counter (wraps unwound, zero counter NaN)."""
        times = np.full(len(ticks), math.nan)
        for r, tick in enumerate(ticks):
            if tick == 0:
                continue
            if tick < self._last_ticks - COUNTER_WRAP // 2:
                self._wraps += 1
            self._last_ticks = tick
            unwrapped = tick + self._wraps * COUNTER_WRAP
            if self._first_ticks is None:
                self._first_ticks = unwrapped
            times[r] = self.start_time_s + (unwrapped - self._first_ticks) / MLAT_HZ
        self.report.messages += len(frames)
        self.report.saw_times(times)
        return BeastFrames(
            times,
            np.array(frames, dtype=FRAME_DTYPE),
            np.array(offsets, dtype=np.int64),
            np.array(kinds, dtype="<U1"),
            np.array(ticks, dtype=np.int64),
            np.array(signals, dtype=np.int16),
        )


def read_beast(data: bytes, *, start_time_s: float, report: DecodeReport | None = None) -> BeastFrames:
    """All frames of a complete Beast recording (see `BeastReader`)."""
    reader = BeastReader(start_time_s=start_time_s, report=report)
    frames = reader.feed(data)
    reader.finish()
    return frames


def decode_beast(
    data: bytes,
    sensor_id: str,
    *,
    start_time_s: float,
    reference: tuple[float, float] | None = None,
    report: DecodeReport | None = None,
) -> ModeSBatch:
    """Read a Beast recording and decode its Mode S frames; Beast framing and Mode S errors share one report."""
    report = report if report is not None else DecodeReport(source=sensor_id)
    frames = read_beast(data, start_time_s=start_time_s, report=report)
    # The decoder counts each Mode S frame itself; the reader counted Beast frames.
    report.messages -= int(np.isin(frames.kind, MODE_S_KINDS).sum())
    return ModeSDecoder(sensor_id, reference=reference, report=report).decode_raw(frames.mode_s())
