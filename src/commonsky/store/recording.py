"""Recorder and reader of a node's inputs, so any run can be replayed into the same picture.

Layout: a recording is a directory holding `meta.json` (what the node was: partner, sensors,
configuration) and one or more segment files `inputs-NNNNNN.arrows`, each an Arrow IPC stream of
record batches with the columns

    seq (int64)  kind (string)  time_s (float64)  payload (binary)

one row per input event, in the order the node received them. `kind` says what the payload is:
"plots" (an Arrow IPC serialisation of a `Plots` batch), "message" (the raw bytes a partner
sent), "tick" (the node processed its inputs up to `time_s`; empty payload), "fuse" (the node
fused the partner tracks received since its last tick into the picture at `time_s`; empty
payload), "action" (an operator action as JSON). Every event is written and flushed before the node processes it, so a
crash loses at most the event being written; a torn last record is detected and skipped on
read. A restarted node opens a new segment (Arrow IPC streams are not re-openable for append,
and Parquet files cannot be appended at all, which is why segments are IPC streams).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from commonsky.core.batches import Columns, Plots
from commonsky.core.errors import SchemaError

SCHEMA = pa.schema([("seq", pa.int64()), ("kind", pa.string()), ("time_s", pa.float64()), ("payload", pa.binary())])
KINDS = ("plots", "message", "tick", "fuse", "action")
META = "meta.json"


@dataclass(frozen=True)
class InputEvent:
    """One recorded input of a node."""

    seq: int
    kind: str
    time_s: float
    payload: bytes


def batch_to_bytes(batch: Columns) -> bytes:
    """A columnar batch as an Arrow IPC stream (lossless for every dtype the batches use)."""
    table = pa.table({name: pa.array(values) for name, values in batch.as_dict().items()})
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def plots_from_bytes(payload: bytes) -> Plots:
    """Inverse of `batch_to_bytes` for a `Plots` batch."""
    table = ipc.open_stream(pa.py_buffer(payload)).read_all()
    columns = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    return Plots.build(table.num_rows, **{k: np.asarray(v, dtype=Plots.DTYPES[k]) for k, v in columns.items()})


class Recorder:
    """Appends input events to a new segment of a recording directory, flushing each one."""

    def __init__(self, directory: str | Path, meta: dict[str, Any]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        meta_path = self.directory / META
        if meta_path.exists():
            if json.loads(meta_path.read_text()) != meta:
                raise SchemaError(f"{meta_path}: recording belongs to another node configuration")
        else:
            meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        existing = sorted(self.directory.glob("inputs-*.arrows"))
        index = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1
        self.path = self.directory / f"inputs-{index:06d}.arrows"
        self._file = pa.OSFile(str(self.path), "wb")
        self._writer = ipc.new_stream(self._file, SCHEMA)
        self.seq = _last_seq(existing[-1]) if existing else 0

    def append(self, kind: str, time_s: float, payload: bytes = b"") -> int:
        """Write one event and flush it to the operating system; returns its sequence number."""
        if kind not in KINDS:
            raise ValueError(f"unknown input kind {kind!r}; expected one of {KINDS}")
        self.seq += 1
        batch = pa.record_batch(
            [pa.array([self.seq]), pa.array([kind]), pa.array([time_s]), pa.array([payload], type=pa.binary())],
            schema=SCHEMA,
        )
        self._writer.write_batch(batch)
        self._file.flush()
        return self.seq

    def close(self) -> None:
        """Finish the segment (writes the end-of-stream marker)."""
        self._writer.close()
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _segment_events(path: Path) -> Iterator[InputEvent]:
    """Events of one segment; stops quietly at a torn record (a crash while writing)."""
    with pa.OSFile(str(path), "rb") as source:
        try:
            reader = ipc.open_stream(source)
        except pa.ArrowInvalid:
            return
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError):
                return
            cols = batch.to_pydict()
            for seq, kind, time_s, payload in zip(
                cols["seq"], cols["kind"], cols["time_s"], cols["payload"], strict=True
            ):
                yield InputEvent(int(seq), str(kind), float(time_s), bytes(payload))


def _last_seq(path: Path) -> int:
    last = 0
    for event in _segment_events(path):
        last = event.seq
    return last


def read_meta(directory: str | Path) -> dict[str, Any]:
    """The node description stored with a recording."""
    path = Path(directory) / META
    if not path.exists():
        raise SchemaError(f"{directory}: not a recording (no {META})")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def read_events(directory: str | Path) -> Iterator[InputEvent]:
    """Every recorded event of every segment, in sequence order."""
    for path in sorted(Path(directory).glob("inputs-*.arrows")):
        yield from _segment_events(path)
