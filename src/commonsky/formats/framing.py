"""Cutting a byte stream into lines, with bounded memory: TCP delivers bytes, text formats want lines."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LineFramer:
    """Splits a stream of chunks into complete lines (without the line ending, `\\r` stripped).

    A partial line is held until its end arrives; one longer than `max_line_bytes` is dropped
    and counted (a stream that never sends a newline must not grow memory). `reset()` discards a
    partial line, e.g. when a TCP connection is replaced.
    """

    max_line_bytes: int = 65536
    oversized: int = 0
    _partial: bytearray = field(default_factory=bytearray)
    _skipping: bool = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines completed by `chunk`, in order."""
        parts = chunk.split(b"\n")
        lines: list[bytes] = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if self._skipping:
                if not last:
                    self._skipping = False
                continue
            self._partial += part
            if len(self._partial) > self.max_line_bytes:
                self.oversized += 1
                self._partial.clear()
                self._skipping = last
                continue
            if not last:
                lines.append(bytes(self._partial).rstrip(b"\r"))
                self._partial.clear()
        return lines

    def reset(self) -> None:
        """Forget a partial line."""
        self._partial.clear()
        self._skipping = False
