"""Wire messages partners exchange: versioned msgspec structs, encoded as msgpack.

Wire layout, schema 2 (schema 1 had no `mmsi` and `domain` columns). Every message is one msgpack map;
`kind` (the msgspec tag) comes first and selects the struct, then the envelope, then the body:

    kind     str    "tracks" | "heartbeat" | "policy"
    schema   int    SCHEMA_VERSION of the sender (2); a receiver refuses versions it does not speak
    sender   str    partner id, [A-Za-z0-9_-]{1,16}; on NATS it must match the subject's sender
    seq      int    >= 1, per sender and per kind, +1 per message (see `base.SeqTracker`)
    sent_s   float  sender's UTC clock when the message was made, seconds since the epoch (finite, >= 0)

    kind "tracks" (TrackBatch):
    batch_time_s  float  the tracker output time the batch belongs to
    rows          int    number of track reports
    numeric       map    column -> [dtype, length, data]: dtype the little-endian NumPy dtype string
                         ("<f8", "<i8", "<i4", "<i2", "|i1"), length == rows, data the raw bytes
                         (length * itemsize of them); NaN and -1 keep their missing-value meaning
    text          map    column -> [str, ...] (length == rows; "" is missing; `domain` is "air" or "surface")

    kind "heartbeat" (Heartbeat):
    status             str         "up" | "degraded" | "stopping"
    tracks_held        int         tracks the sender's tracker holds now
    last_batch_time_s  float|nil   batch_time_s of the sender's last TrackBatch, nil before the first
    interval_s         float       the sender's heartbeat period, so receivers can judge silence

    kind "policy" (PolicyAnnouncement):
    policy_json  str  the sender's published sharing policy, JSON text (opaque here)
    digest       str  its digest as the policy module computes it (opaque here)

The column set of "tracks" is exactly `TrackReports.DTYPES` with each dtype fixed as above;
a batch missing a column, carrying an unknown one, with a wrong dtype or length, or a string
longer than its column allows is refused. Every refusal is a `DecodeError`, never another
exception, so a receiver can skip one bad message and go on. Unknown *envelope or body fields*
are ignored (msgspec's default), which lets a later schema add optional fields.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

import msgspec
import numpy as np

from commonsky.core.batches import TrackReports
from commonsky.core.errors import DecodeError
from commonsky.core.sensors import DOMAINS
from commonsky.network.transport.base import PARTNER_ID_RE, Kind

SCHEMA_VERSION = 2
"""The schema this code writes and the only one it reads (2: track batches carry `mmsi` and `domain`)."""

PartnerId = Annotated[str, msgspec.Meta(pattern=PARTNER_ID_RE)]
SeqNo = Annotated[int, msgspec.Meta(ge=1)]
Count = Annotated[int, msgspec.Meta(ge=0)]
UtcSeconds = Annotated[float, msgspec.Meta(ge=0.0, le=1e11)]
"""A finite, non-negative UTC time (NaN and infinities are refused: they would poison ordering)."""
HeartbeatStatus = Literal["up", "degraded", "stopping"]


def _wire_dtype(dtype: Any) -> np.dtype[Any]:
    return np.dtype(dtype).newbyteorder("<")


NUMERIC_COLUMNS: dict[str, np.dtype[Any]] = {
    name: _wire_dtype(dt) for name, dt in TrackReports.DTYPES.items() if np.dtype(dt).kind != "U"
}
"""TrackReports numeric columns and their wire dtype (little-endian)."""
TEXT_COLUMNS: dict[str, int] = {
    name: np.dtype(dt).itemsize // 4 for name, dt in TrackReports.DTYPES.items() if np.dtype(dt).kind == "U"
}
"""TrackReports text columns and their maximum length in characters."""
_NUMERIC_WIRE_STR = {name: dt.str for name, dt in NUMERIC_COLUMNS.items()}


class NumericColumn(msgspec.Struct, array_like=True, frozen=True):
    """One numeric column on the wire: [dtype, length, raw little-endian bytes]."""

    dtype: str
    length: Count
    data: bytes


class _Envelope(msgspec.Struct, frozen=True, tag_field="kind"):
    """Fields every message carries; `KIND` (the msgpack tag and subject suffix) is per subclass."""

    KIND: ClassVar[Kind]
    schema: int
    sender: PartnerId
    seq: SeqNo
    sent_s: UtcSeconds


class TrackBatch(_Envelope, frozen=True, tag="tracks"):
    """A batch of the sender's track reports, columnar."""

    KIND: ClassVar[Kind] = "tracks"

    batch_time_s: float
    rows: Count
    numeric: dict[str, NumericColumn]
    text: dict[str, list[str]]

    def reports(self) -> TrackReports:
        """The batch as `TrackReports` (fresh, writable arrays in native byte order)."""
        columns: dict[str, Any] = {}
        for name, dtype in TrackReports.DTYPES.items():
            if name in NUMERIC_COLUMNS:
                col = self.numeric[name]
                columns[name] = np.frombuffer(col.data, dtype=NUMERIC_COLUMNS[name]).astype(dtype)
            else:
                columns[name] = np.array(self.text[name], dtype=dtype).reshape(-1)
        return TrackReports(**columns)

    def _validate(self) -> None:
        """Column set, dtypes, lengths and string sizes; raises ValueError naming the problem."""
        if set(self.numeric) != set(NUMERIC_COLUMNS):
            missing = sorted(set(NUMERIC_COLUMNS) - set(self.numeric))
            extra = sorted(set(self.numeric) - set(NUMERIC_COLUMNS))
            raise ValueError(f"numeric columns: missing {missing}, unknown {extra}")
        if set(self.text) != set(TEXT_COLUMNS):
            missing = sorted(set(TEXT_COLUMNS) - set(self.text))
            extra = sorted(set(self.text) - set(TEXT_COLUMNS))
            raise ValueError(f"text columns: missing {missing}, unknown {extra}")
        for name, col in self.numeric.items():
            wire = NUMERIC_COLUMNS[name]
            if col.dtype != wire.str:
                raise ValueError(f"column {name}: dtype {col.dtype!r}, expected {wire.str!r}")
            if col.length != self.rows:
                raise ValueError(f"column {name}: length {col.length}, batch has {self.rows} rows")
            if len(col.data) != col.length * wire.itemsize:
                raise ValueError(f"column {name}: {len(col.data)} bytes for {col.length} x {wire.itemsize}")
        for name, values in self.text.items():
            if len(values) != self.rows:
                raise ValueError(f"column {name}: length {len(values)}, batch has {self.rows} rows")
            limit = TEXT_COLUMNS[name]
            if values and max(map(len, values)) > limit:
                raise ValueError(f"column {name}: a value is longer than {limit} characters")
        unknown = set(self.text["domain"]) - set(DOMAINS)
        if unknown:
            raise ValueError(f"column domain: {sorted(unknown)[0]!r} is not one of {', '.join(DOMAINS)}")


class Heartbeat(_Envelope, frozen=True, tag="heartbeat"):
    """The sender is alive: its own view of its health and what it holds."""

    KIND: ClassVar[Kind] = "heartbeat"

    status: HeartbeatStatus
    tracks_held: Count
    last_batch_time_s: float | None
    interval_s: float = 1.0


class PolicyAnnouncement(_Envelope, frozen=True, tag="policy"):
    """The sender's published sharing policy (JSON text) and its digest, both opaque here."""

    KIND: ClassVar[Kind] = "policy"

    policy_json: str
    digest: str


Message = TrackBatch | Heartbeat | PolicyAnnouncement
"""Any wire message; `decode` returns one of these."""

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Message] = msgspec.msgpack.Decoder(Message)


def track_batch(
    reports: TrackReports, sender: str, seq: int, sent_s: float, batch_time_s: float | None = None
) -> TrackBatch:
    """Build the TrackBatch message of `reports` (batch time defaults to the latest report time)."""
    if batch_time_s is None:
        batch_time_s = float(np.max(reports.time_s)) if len(reports) else math.nan
    numeric = {
        name: NumericColumn(
            dtype=wire.str,
            length=len(reports),
            data=np.ascontiguousarray(getattr(reports, name), dtype=wire).tobytes(),
        )
        for name, wire in NUMERIC_COLUMNS.items()
    }
    text = {name: [str(v) for v in getattr(reports, name).tolist()] for name in TEXT_COLUMNS}
    return TrackBatch(
        schema=SCHEMA_VERSION,
        sender=sender,
        seq=seq,
        sent_s=sent_s,
        batch_time_s=batch_time_s,
        rows=len(reports),
        numeric=numeric,
        text=text,
    )


def encode(message: Message) -> bytes:
    """msgpack bytes of any message; ValueError if it would not decode (bad values never go out)."""
    data = _encoder.encode(message)
    try:
        decode(data, source=f"outgoing {type(message).__name__}")
    except DecodeError as exc:
        raise ValueError(f"invalid outgoing message: {exc.problem}") from None
    return data


def encode_tracks(
    reports: TrackReports, sender: str, seq: int, sent_s: float, batch_time_s: float | None = None
) -> bytes:
    """msgpack bytes of a TrackBatch holding `reports`."""
    return encode(track_batch(reports, sender, seq, sent_s, batch_time_s))


def encode_heartbeat(
    sender: str,
    seq: int,
    sent_s: float,
    status: HeartbeatStatus,
    tracks_held: int,
    last_batch_time_s: float | None,
    interval_s: float = 1.0,
) -> bytes:
    """msgpack bytes of a Heartbeat."""
    return encode(
        Heartbeat(
            schema=SCHEMA_VERSION,
            sender=sender,
            seq=seq,
            sent_s=sent_s,
            status=status,
            tracks_held=tracks_held,
            last_batch_time_s=last_batch_time_s,
            interval_s=interval_s,
        )
    )


def encode_policy(sender: str, seq: int, sent_s: float, policy_json: str, digest: str) -> bytes:
    """msgpack bytes of a PolicyAnnouncement."""
    return encode(
        PolicyAnnouncement(
            schema=SCHEMA_VERSION, sender=sender, seq=seq, sent_s=sent_s, policy_json=policy_json, digest=digest
        )
    )


def decode(data: bytes | bytearray | memoryview, source: str = "message", offset: int = 0) -> Message:
    """Decode and validate one message; any problem raises `DecodeError(source, offset, why)`.

    `source`/`offset` only label the error (e.g. the subject and the stream sequence number).
    """
    try:
        message = _decoder.decode(data)
    except (msgspec.MsgspecError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise DecodeError(source, offset, f"not a commonsky message: {exc}") from None
    if message.schema != SCHEMA_VERSION:
        raise DecodeError(source, offset, f"schema version {message.schema}, this node reads {SCHEMA_VERSION}")
    if isinstance(message, TrackBatch):
        try:
            message._validate()
        except ValueError as exc:
            raise DecodeError(source, offset, f"bad track batch: {exc}") from None
    return message
