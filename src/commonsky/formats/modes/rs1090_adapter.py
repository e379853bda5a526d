"""The rs1090 side of Mode S decoding: the message fields commonsky uses, read into arrays.

rs1090 decodes every DF17/18 field we use (each distinct frame once per call), BDS 2,0 callsigns
of trusted DF20/21 and, once per process, all 8192 altitude codes and 8192 identity codes into
lookup tables (altitude codes with the metric M bit give NaN). Each rs1090 message is read by the
reader registered for its downlink format (Comm-B) or its ADS-B BDS register.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import rs1090
from numpy.typing import NDArray

from commonsky.core.batches import CALLSIGN_DTYPE
from commonsky.formats.modes.schema import FT_M

KIND_IDENT, KIND_SURFACE, KIND_AIRBORNE, KIND_VELOCITY, KIND_SQUAWK, KIND_NACP, KIND_COMMB_ID = 1, 2, 3, 4, 5, 6, 7
"""What a decoded message is to the columns (`MessageFields.kind`; 0: nothing we use)."""
WANTED_TC = np.zeros(32, dtype=bool)
"""ADS-B type codes rs1090 has to see: identification, positions, velocity, emergency squawk, NACp."""
WANTED_TC[[1, 2, 3, 4, 5, 6, 7, 8, *range(9, 19), 19, 20, 21, 22, 28, 29, 31]] = True


class MessageFields:
    """Per distinct rs1090 frame: the fields the columns need, as arrays (NaN / -1 / "" when absent)."""

    def __init__(self, n: int) -> None:
        self.kind = np.zeros(n, dtype=np.int8)
        self.alt_ft = np.full(n, np.nan)
        self.parity = np.zeros(n, dtype=np.int8)
        self.lat_cpr = np.zeros(n)
        self.lon_cpr = np.zeros(n)
        self.gs_kt = np.full(n, np.nan)
        self.track = np.full(n, np.nan)
        self.vrate_fpm = np.full(n, np.nan)
        self.airspeed_kt = np.full(n, np.nan)
        self.airspeed_kind = np.full(n, "", dtype="<U3")
        self.heading = np.full(n, np.nan)
        self.squawk = np.full(n, -1, dtype=np.int16)
        self.nacp = np.full(n, -1, dtype=np.int8)
        self.nucp = np.full(n, 0, dtype=np.int8)
        self.callsign = np.full(n, "", dtype=CALLSIGN_DTYPE)

    def fill(self, u: int, msg: dict[str, Any]) -> None:
        """Copy the fields of one rs1090 message (DF17/18 or DF20/21) into row `u`."""
        reader = _READERS.get(f"DF{msg.get('df')}") or _READERS.get(str(msg.get("bds")))
        if reader is not None:
            reader(self, u, msg)


Reader = Callable[[MessageFields, int, dict[str, Any]], None]
_READERS: dict[str, Reader] = {}


def _reads(*keys: str) -> Callable[[Reader], Reader]:
    """Register a reader of the messages with these keys: "DF20"-style for Comm-B, the BDS ("05") for ADS-B."""

    def register(reader: Reader) -> Reader:
        for key in keys:
            _READERS[key] = reader
        return reader

    return register


@_reads("DF20", "DF21")
def _commb_identity(f: MessageFields, u: int, msg: dict[str, Any]) -> None:
    bds20 = msg.get("bds20")
    if bds20 and bds20.get("callsign"):
        f.kind[u] = KIND_COMMB_ID
        f.callsign[u] = bds20["callsign"].strip()


@_reads("05", "06")
def _position(f: MessageFields, u: int, msg: dict[str, Any]) -> None:
    bds = msg["bds"]
    f.kind[u] = KIND_AIRBORNE if bds == "05" else KIND_SURFACE
    f.parity[u] = 1 if msg["parity"] == "odd" else 0
    f.lat_cpr[u] = msg["lat_cpr"] / 131072.0
    f.lon_cpr[u] = msg["lon_cpr"] / 131072.0
    f.nucp[u] = msg.get("NUCp") or 0
    if bds == "05" and msg.get("tc", 0) <= 18 and msg.get("altitude") is not None:
        f.alt_ft[u] = msg["altitude"]
    if bds == "06" and msg.get("groundspeed") is not None:
        f.gs_kt[u] = msg["groundspeed"]
        f.track[u] = np.nan if msg.get("track") is None else msg["track"]


@_reads("08")
def _identification(f: MessageFields, u: int, msg: dict[str, Any]) -> None:
    callsign = (msg.get("callsign") or "").strip()
    if callsign:
        f.kind[u] = KIND_IDENT
        f.callsign[u] = callsign


@_reads("09")
def _velocity(f: MessageFields, u: int, msg: dict[str, Any]) -> None:
    f.kind[u] = KIND_VELOCITY
    if msg.get("groundspeed") is not None:
        f.gs_kt[u] = msg["groundspeed"]
        f.track[u] = np.nan if msg.get("track") is None else msg["track"]
    for kind in ("IAS", "TAS"):
        if msg.get(kind) is not None:
            f.airspeed_kt[u] = msg[kind]
            f.airspeed_kind[u] = kind
    if msg.get("heading") is not None:
        f.heading[u] = msg["heading"]
    if msg.get("vertical_rate") is not None:
        f.vrate_fpm[u] = msg["vertical_rate"]


@_reads("61")
def _emergency_squawk(f: MessageFields, u: int, msg: dict[str, Any]) -> None:
    if msg.get("squawk"):
        f.kind[u] = KIND_SQUAWK
        f.squawk[u] = int(msg["squawk"])


@_reads("62", "65")
def _accuracy(f: MessageFields, u: int, msg: dict[str, Any]) -> None:
    if msg.get("NACp") is not None:
        f.kind[u] = KIND_NACP
        f.nacp[u] = msg["NACp"]


def rs1090_decode(frames: list[str]) -> list[dict[str, Any] | None]:
    """rs1090's batch decoding, or frame by frame (None for a frame it rejects) if the batch call panics."""
    try:
        return cast(list[dict[str, Any] | None], rs1090.decode(frames))
    except BaseException as exc:  # a Rust panic surfaces as pyo3 PanicException, a BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
    out: list[dict[str, Any] | None] = []
    for f in frames:
        try:
            out.append(cast(dict[str, Any], rs1090.decode(f)))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            out.append(None)
    return out


def message_fields(frames: list[str], job: NDArray[np.bool_]) -> tuple[MessageFields, NDArray[np.int64]]:
    """rs1090's fields of each distinct job frame, and for every frame its row in them (-1 when not a job frame)."""
    index: dict[str, int] = {}
    keys = [frames[i] for i in np.flatnonzero(job).tolist()]
    row = np.full(len(job), -1, dtype=np.int64)
    row[job] = np.fromiter((index.setdefault(k, len(index)) for k in keys), dtype=np.int64, count=len(keys))
    fields = MessageFields(len(index))
    for u, msg in enumerate(rs1090_decode(list(index))):
        if msg is not None:
            fields.fill(u, msg)
    return fields, row


@functools.cache
def code_tables() -> tuple[NDArray[np.float64], NDArray[np.int16]]:
    """Altitude (m) of every 13-bit AC code and squawk of every 13-bit ID code, decoded once by rs1090."""
    codes = range(8192)
    alts = rs1090_decode([f"{(4 << 27) | c:08x}000000" for c in codes])
    ids = rs1090_decode([f"{(5 << 27) | c:08x}000000" for c in codes])
    altitude = np.full(8192, np.nan)
    squawk = np.full(8192, -1, dtype=np.int16)
    for c in codes:
        alt_msg, id_msg = alts[c], ids[c]
        ft = alt_msg.get("altitude") if alt_msg else None
        if ft is not None and not c & 0x40:  # M bit set: metric altitude, not used in practice
            altitude[c] = ft * FT_M
        code = id_msg.get("squawk") if id_msg else None
        if code is not None:
            squawk[c] = int(code)
    return altitude, squawk
