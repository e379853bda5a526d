"""Recorder and reader of a node's inputs, so any run can be replayed into the same picture, plus checkpoints.

Layout: a recording is a directory holding `meta.json` (what the node was: partner, sensors,
configuration), segment files `inputs-NNNNNN.arrows`, each an Arrow IPC stream of record batches
with the columns

    seq (int64)  kind (string)  time_s (float64)  payload (binary)

one row per input event, in the order the node received them, and checkpoint files
`checkpoint-NNNNNN.ckpt`. `kind` says what the payload is: "plots" (an Arrow IPC serialisation of a
`Plots` batch), "tracks" (the same of a `TrackReports` batch: an own track source's, such as a marine
radar's targets), "message" (the raw bytes a partner sent), "tick" (the node processed its inputs up
to `time_s`; empty payload), "fuse" (the node fused the partner tracks received since its last tick
into the picture at `time_s`; empty payload), "action" (an operator action as JSON), "config" (the
node's configuration from then on, as JSON: a change applied at a restart).

Durability: every event is written and flushed to the operating system before the node processes
it, so a crashed process loses at most the event being written (a torn last record is detected and
skipped on read). `sync()` also forces what was written to the disk (fsync): the node calls it before
it acknowledges a partner's message or confirms an operator action, and at least every
`sync_interval_s` otherwise, so a power loss or host crash loses nothing acknowledged.
`meta.json` and checkpoints are written atomically (temporary file, fsync, rename, fsync of the
directory). A restarted node opens a new segment (Arrow IPC streams are not re-openable for append).

Checkpoints: `write_checkpoint` stores an opaque state (the node's, pickled by its owner) after
event `seq`, with `segment`, the first segment whose events come after it; `rotate()` starts that
segment. A restart loads the newest intact checkpoint (`latest_checkpoint`) and replays only the
segments from its `segment` on (`read_events(after=...)`), so restart time does not grow with
uptime. `prune` deletes whole checkpoints and segments that fall outside a retention setting,
always keeping the newest checkpoint and everything after it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from commonsky.core.batches import Columns, Plots
from commonsky.core.errors import SchemaError

C = TypeVar("C", bound=Columns)

SCHEMA = pa.schema([("seq", pa.int64()), ("kind", pa.string()), ("time_s", pa.float64()), ("payload", pa.binary())])
KINDS = ("plots", "tracks", "message", "tick", "fuse", "action", "config")
META = "meta.json"
SEGMENT = "inputs-{:06d}.arrows"
CHECKPOINT = "checkpoint-{:06d}.ckpt"
CHECKPOINT_FORMAT = "commonsky-checkpoint/1"


def write_atomically(path: str | Path, data: bytes, durable: bool = True) -> None:
    """Replace `path` with `data` so that a crash leaves the old file or the new one, never a mix; `durable`
    also forces both the file and the rename to the disk."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as out:
        out.write(data)
        if durable:
            out.flush()
            os.fsync(out.fileno())
    tmp.replace(path)
    if durable:
        sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """Force a directory's entries (new, renamed or deleted files) to the disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def batch_from_bytes(cls: type[C], payload: bytes) -> C:
    """Inverse of `batch_to_bytes` for a batch of class `cls`."""
    table = ipc.open_stream(pa.py_buffer(payload)).read_all()
    columns = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    return cls.build(table.num_rows, **{k: np.asarray(v, dtype=cls.DTYPES[k]) for k, v in columns.items()})


def plots_from_bytes(payload: bytes) -> Plots:
    """Inverse of `batch_to_bytes` for a `Plots` batch."""
    return batch_from_bytes(Plots, payload)


class Recorder:
    """Appends input events to a new segment of a recording directory, flushing each one; `sync` makes them durable."""

    def __init__(self, directory: str | Path, meta: dict[str, Any], sync_interval_s: float = 1.0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sync_interval_s = sync_interval_s
        meta_path = self.directory / META
        if meta_path.exists():
            if json.loads(meta_path.read_text()) != meta:
                raise SchemaError(f"{meta_path}: recording belongs to another node configuration")
        else:
            write_atomically(meta_path, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
        existing = segments(self.directory)
        self.seq = _last_recorded_seq(self.directory, existing)
        self.synced_seq = self.seq
        """The last event forced to the disk."""
        self.syncs = 0
        self._open(_segment_index(existing[-1]) + 1 if existing else 1)

    def _open(self, index: int) -> None:
        """Start segment `index` (its entry made durable at once)."""
        self.index = index
        self.path = self.directory / SEGMENT.format(index)
        self._file: IO[bytes] = self.path.open("wb")
        self._writer = ipc.new_stream(self._file, SCHEMA)
        self._file.flush()
        sync_directory(self.directory)
        self._synced_at = time.monotonic()

    def append(self, kind: str, time_s: float, payload: bytes = b"") -> int:
        """Write one event and flush it to the operating system (and to the disk when `sync_interval_s` has
        passed since the last sync); returns its sequence number."""
        if kind not in KINDS:
            raise ValueError(f"unknown input kind {kind!r}; expected one of {KINDS}")
        self.seq += 1
        batch = pa.record_batch(
            [pa.array([self.seq]), pa.array([kind]), pa.array([time_s]), pa.array([payload], type=pa.binary())],
            schema=SCHEMA,
        )
        self._writer.write_batch(batch)
        self._file.flush()
        if time.monotonic() - self._synced_at >= self.sync_interval_s:
            self.sync()
        return self.seq

    def sync(self) -> None:
        """Force every event written so far to the disk (before acknowledging or confirming what they hold)."""
        if self.synced_seq != self.seq:
            os.fsync(self._file.fileno())
            self.synced_seq = self.seq
            self.syncs += 1
        self._synced_at = time.monotonic()

    def rotate(self) -> int:
        """Finish this segment (durably) and start the next; returns the new segment's index."""
        self._finish()
        self._open(self.index + 1)
        return self.index

    def _finish(self) -> None:
        self._writer.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self.synced_seq = self.seq
        self._file.close()

    def close(self) -> None:
        """Finish the segment (writes the end-of-stream marker) durably."""
        if not self._file.closed:
            self._finish()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def segments(directory: str | Path) -> list[Path]:
    """The segment files of a recording, in order."""
    return sorted(Path(directory).glob("inputs-*.arrows"), key=_segment_index)


def _segment_index(path: Path) -> int:
    return int(path.stem.split("-")[1])


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


def _last_recorded_seq(directory: Path, existing: list[Path]) -> int:
    """The last sequence number recorded: in the newest segment holding events (segments begun by a
    rotation or a restart may be empty), or the newest checkpoint's, whichever is later."""
    last = max((c.seq for c in checkpoints(directory)), default=0)
    for path in reversed(existing):
        seq = _last_seq(path)
        if seq:
            return max(seq, last)
    return last


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


def read_events(directory: str | Path, after: Checkpoint | None = None) -> Iterator[InputEvent]:
    """Every recorded event in sequence order; with `after`, only those of the segments from its `segment` on
    that came after it (without reading the older segments at all)."""
    for path in segments(directory):
        if after is not None and _segment_index(path) < after.segment:
            continue
        for event in _segment_events(path):
            if after is None or event.seq > after.seq:
                yield event


@dataclass(frozen=True)
class Checkpoint:
    """A saved state: taken after event `seq` at node time `time_s`; replay goes on from segment `segment`."""

    path: Path
    seq: int
    segment: int
    time_s: float
    extra: dict[str, Any]
    """What the owner stored beside the state (e.g. the sizes of its output files then)."""

    def state(self) -> bytes:
        """The stored state, checked against its digest (SchemaError when the file was damaged)."""
        header, payload = _split_checkpoint(self.path.read_bytes(), self.path)
        if hashlib.sha256(payload).hexdigest() != header["sha256"]:
            raise SchemaError(f"{self.path}: checkpoint damaged (digest mismatch)")
        return payload


def write_checkpoint(
    directory: str | Path, state: bytes, seq: int, segment: int, time_s: float, extra: dict[str, Any] | None = None
) -> Checkpoint:
    """Store `state` as the checkpoint after event `seq` (atomically, durably); replay resumes at `segment`."""
    directory = Path(directory)
    extra = extra or {}
    header = {
        "format": CHECKPOINT_FORMAT,
        "seq": seq,
        "segment": segment,
        "time_s": time_s,
        "extra": extra,
        "sha256": hashlib.sha256(state).hexdigest(),
    }
    path = directory / CHECKPOINT.format(segment)
    write_atomically(path, json.dumps(header, sort_keys=True).encode() + b"\n" + state)
    return Checkpoint(path, seq, segment, time_s, extra)


def _split_checkpoint(data: bytes, path: Path) -> tuple[dict[str, Any], bytes]:
    head, sep, payload = data.partition(b"\n")
    try:
        header: dict[str, Any] = json.loads(head)
    except ValueError:
        raise SchemaError(f"{path}: not a checkpoint") from None
    if not sep or header.get("format") != CHECKPOINT_FORMAT:
        raise SchemaError(f"{path}: not a {CHECKPOINT_FORMAT} file")
    return header, payload


def checkpoints(directory: str | Path) -> list[Checkpoint]:
    """The recording's checkpoints whose header reads, oldest first (the state's digest is checked on load)."""
    found = []
    for path in sorted(Path(directory).glob("checkpoint-*.ckpt")):
        with path.open("rb") as source:
            head = source.readline()
        try:
            header, _ = _split_checkpoint(head, path)
        except SchemaError:
            continue
        seq, segment, time_s = int(header["seq"]), int(header["segment"]), float(header["time_s"])
        found.append(Checkpoint(path, seq, segment, time_s, header["extra"]))
    return sorted(found, key=lambda c: c.seq)


def prune(directory: str | Path, keep_s: float | None = None, keep_bytes: int | None = None) -> list[Path]:
    """Delete the oldest checkpoints, with the segments before them, while the recording holds more than `keep_s`
    of node time before its newest checkpoint or more than `keep_bytes` on disk; the newest checkpoint and
    everything after it always stay. Returns the deleted files."""
    directory = Path(directory)
    kept = checkpoints(directory)
    deleted: list[Path] = []

    def size() -> int:
        return sum(p.stat().st_size for p in [*segments(directory), *(c.path for c in kept)])

    while len(kept) > 1:
        oldest, newest = kept[0], kept[-1]
        too_old = keep_s is not None and newest.time_s - oldest.time_s > keep_s
        too_big = keep_bytes is not None and size() > keep_bytes
        if not (too_old or too_big):
            break
        following = kept[1]
        for path in segments(directory):
            if _segment_index(path) < following.segment:
                path.unlink()
                deleted.append(path)
        oldest.path.unlink()
        deleted.append(oldest.path)
        kept.pop(0)
    if deleted:
        sync_directory(directory)
    return deleted
