"""Mode S / ADS-B frames (hex) to columnar plots, velocities and replies, with rs1090 for the bit-level decoding.

Input is a sequence of frames as hex strings (14 or 28 digits) with their reception times in UTC
seconds; `read_modes_text` reads the text containers (plain `HEX`, dump1090's `*HEX;`,
`TIME,HEX` and the pyModeS CSV layouts). `ModeSDecoder` keeps state between calls, so a live
feed can be decoded in chunks. What comes out (`ModeSBatch`):

- `plots`: one `Plots` row per resolved DF17/18 position (airborne TC 9-18 and 20-22, surface
  TC 5-8): `lat_deg`/`lon_deg`, barometric `altitude_m` (TC 9-18 only; NaN for GNSS-height
  TC 20-22 and surface), `mode_s`, and the latest `callsign` (TC 1-4, or BDS 2,0 in a trusted
  DF20/21), `squawk` (trusted DF5/21, TC 28) and `nacp` (TC 29/31) of that address. Range and
  azimuth are NaN. While no NACp of the address is known (version-0 transponders never send one),
  `nacp` is the one equivalent to the position's NUCp (`NUCP_AS_NACP`); -1 for NUCp 0.
- `velocities`: a `Velocities` row per TC 19 message and per surface position that carries a speed.
- `replies`: a `Replies` row per altitude (DF0/4/16/20) or identity (DF5/21) reply whose address
  is trusted.

Rules:
- **CRC.** The 24-bit parity is checked here, vectorised, for every frame. DF17/18 must have a zero
  remainder and DF11 a remainder below 0x80 (zero or an interrogator code); other DF11/17/18 frames
  are counted as errors ("CRC mismatch"). Short formats (DF0/4/5/11) use the first 56 bits even
  when the frame has 112 (receivers that pad short frames).
- **Address confirmation.** DF0/4/5/16/20/21 carry no address: the AP field is the parity overlaid
  with it, so every corrupted reply yields some "address". Such a reply is trusted only when its
  address was confirmed earlier in the stream, at most `CONFIRM_TTL_S` before, by a clean DF11,
  a clean DF17 or a clean DF18 with an ICAO address (CF 0, 2 or 6). Untrusted replies are counted
  in `ModeSDecoder.stats["unconfirmed_replies"]` and otherwise ignored. Frames without a time
  only need an earlier confirmation.
- **CPR.** Airborne positions are decoded globally from the latest even/odd pair of the same
  address no more than `AIRBORNE_PAIR_S` apart (each frame gets the position of its own CPR).
  Frames without such a pair, and all surface frames, are decoded locally against the address's
  latest resolved position (at most `LOCAL_REF_MAX_AGE_S` old) or else against the receiver
  `reference`. Surface frames have no global solution without a reference anyway (the pair leaves
  four candidates), so without either reference they stay unresolved
  (`stats["unresolved_positions"]`). Frames without a time never pair.
- **Work split.** rs1090 decodes every DF17/18 field we use (each distinct frame once per call),
  BDS 2,0 callsigns of trusted DF20/21 and, once per process, all 8192 altitude codes and 8192
  identity codes into lookup tables (altitude codes with the metric M bit give NaN). Everything
  else (hex parsing, CRC, address rules, CPR and the per-address state) is NumPy over whole
  chunks, so per-message Python work is limited to the frames rs1090 has to see.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import numpy as np
import rs1090
from numpy.typing import ArrayLike, NDArray

from commonsky.core.batches import CALLSIGN_DTYPE, SENSOR_ID_DTYPE, Columns, Plots
from commonsky.core.errors import DecodeError
from commonsky.formats.report import DecodeReport

FT_M = 0.3048
KT_MPS = 1852.0 / 3600.0
FPM_MPS = FT_M / 60.0
AIRBORNE_PAIR_S = 10.0
"""Longest gap between the even and odd frame of a global airborne CPR pair."""
LOCAL_REF_MAX_AGE_S = 600.0
"""Oldest own position used as the reference for local CPR decoding (well inside half a zone at airliner speed)."""
CONFIRM_TTL_S = 60.0
"""How long a clean DF11/17/18 keeps an address trusted for AP-addressed replies."""
CHUNK_FRAMES = 65536
"""Frames decoded per vectorised pass (bounds the temporary arrays)."""
STATE_MAX_AGE_S = 900.0
"""Per-address CPR and confirmation state older than this (relative to the newest frame) is dropped."""

FRAME_DTYPE = "<U28"
SHORT_DFS = (0, 4, 5, 11)
LONG_DFS = (16, 17, 18, 19, 20, 21, 24)
REPLY_DFS = (0, 4, 5, 16, 20, 21)
ALTITUDE_DFS = (0, 4, 16, 20)
IDENTITY_DFS = (5, 21)
DF18_ICAO_CF = (0, 2, 6)
"""DF18 control fields whose AA is an ICAO address and whose ME is laid out as in DF17."""

_K_IDENT, _K_SURFACE, _K_AIRBORNE, _K_VELOCITY, _K_SQUAWK, _K_NACP, _K_COMMB_ID = 1, 2, 3, 4, 5, 6, 7
NUCP_AS_NACP = np.array([-1, 1, 1, 4, 5, 6, 7, 8, 10, 11], dtype=np.int8)
"""Per NUCp 0..9 (the position message's type code; DO-260 version 0), the NACp whose 95 % bound covers its
HFOM: a plot's accuracy while no NACp (TC 29/31) of its address is known. NUCp 0: unknown (-1)."""
_WANTED_TC = np.zeros(32, dtype=bool)
_WANTED_TC[[1, 2, 3, 4, 5, 6, 7, 8, *range(9, 19), 19, 20, 21, 22, 28, 29, 31]] = True


@dataclass(frozen=True, eq=False)
class RawFrames(Columns):
    """Mode S frames as read from a container, before decoding (`offset`: line or byte where the frame starts)."""

    time_s: NDArray[np.float64]
    frame: NDArray[np.str_]
    offset: NDArray[np.int64]

    DTYPES: ClassVar[dict[str, Any]] = {"time_s": np.float64, "frame": FRAME_DTYPE, "offset": np.int64}


@dataclass(frozen=True, eq=False)
class Velocities(Columns):
    """ADS-B velocity reports, one row per message (TC 19, or surface movement).

    Ground speed and track (with the east/north components derived from them) or, for TC 19
    subtypes 3-4, air speed (`airspeed_kind` "IAS" or "TAS") and heading; vertical rate in m/s, up positive.
    """

    time_s: NDArray[np.float64]
    sensor_id: NDArray[np.str_]
    mode_s: NDArray[np.int32]
    groundspeed_mps: NDArray[np.float64]
    track_deg: NDArray[np.float64]
    v_east_mps: NDArray[np.float64]
    v_north_mps: NDArray[np.float64]
    vertical_rate_mps: NDArray[np.float64]
    airspeed_mps: NDArray[np.float64]
    airspeed_kind: NDArray[np.str_]
    heading_deg: NDArray[np.float64]

    DTYPES: ClassVar[dict[str, Any]] = {
        "time_s": np.float64,
        "sensor_id": SENSOR_ID_DTYPE,
        "mode_s": np.int32,
        "groundspeed_mps": np.float64,
        "track_deg": np.float64,
        "v_east_mps": np.float64,
        "v_north_mps": np.float64,
        "vertical_rate_mps": np.float64,
        "airspeed_mps": np.float64,
        "airspeed_kind": "<U3",
        "heading_deg": np.float64,
    }


@dataclass(frozen=True, eq=False)
class Replies(Columns):
    """Mode S altitude (DF0/4/16/20: `altitude_m`) and identity (DF5/21: `squawk`) replies of trusted addresses."""

    time_s: NDArray[np.float64]
    sensor_id: NDArray[np.str_]
    mode_s: NDArray[np.int32]
    df: NDArray[np.int8]
    altitude_m: NDArray[np.float64]
    squawk: NDArray[np.int16]

    DTYPES: ClassVar[dict[str, Any]] = {
        "time_s": np.float64,
        "sensor_id": SENSOR_ID_DTYPE,
        "mode_s": np.int32,
        "df": np.int8,
        "altitude_m": np.float64,
        "squawk": np.int16,
    }


@dataclass(frozen=True)
class ModeSBatch:
    """What one decode call produced: position plots, velocities and surveillance replies."""

    plots: Plots
    velocities: Velocities
    replies: Replies

    @classmethod
    def empty(cls) -> ModeSBatch:
        """A batch with no rows."""
        return cls(Plots.empty(), Velocities.empty(), Replies.empty())

    @classmethod
    def concat(cls, parts: Sequence[ModeSBatch]) -> ModeSBatch:
        """Rows of several batches, in order."""
        return cls(
            Plots.concat([p.plots for p in parts]),
            Velocities.concat([p.velocities for p in parts]),
            Replies.concat([p.replies for p in parts]),
        )


# --- lookup tables -------------------------------------------------------------------------------


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


def _nl_edges() -> NDArray[np.float64]:
    """Latitudes (ascending) at which the CPR longitude-zone count NL drops from 59 down to 1."""
    nz = 15
    nl = np.arange(59, 1, -1, dtype=np.float64)
    return np.degrees(np.arccos(np.sqrt((1 - np.cos(np.pi / (2 * nz))) / (1 - np.cos(2 * np.pi / nl)))))


_NL_EDGES = _nl_edges()


@functools.cache
def _code_tables() -> tuple[NDArray[np.float64], NDArray[np.int16]]:
    """Altitude (m) of every 13-bit AC code and squawk of every 13-bit ID code, decoded once by rs1090."""
    codes = range(8192)
    alts = _rs1090_decode([f"{(4 << 27) | c:08x}000000" for c in codes])
    ids = _rs1090_decode([f"{(5 << 27) | c:08x}000000" for c in codes])
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


# --- vectorised helpers --------------------------------------------------------------------------


def _hex_to_bytes(frames: Sequence[str]) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.bool_]]:
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


def _parity_remainder(b: NDArray[np.uint8], short: NDArray[np.bool_]) -> NDArray[np.uint32]:
    """CRC remainder (CRC of the data bits XOR the parity field) of each frame, over 56 or 112 bits."""
    crc = np.zeros(len(b), dtype=np.uint32)
    crc_short = crc
    for k in range(11):
        if k == 4:
            crc_short = crc.copy()
        crc = ((crc << 8) & 0xFFFFFF) ^ _CRC_TABLE[((crc >> 16) ^ b[:, k]) & 0xFF]
    p_short = _u24(b, 4)
    p_long = _u24(b, 11)
    return np.where(short, crc_short ^ p_short, crc ^ p_long).astype(np.uint32)


def _u24(b: NDArray[np.uint8], k: int) -> NDArray[np.uint32]:
    """Big-endian 24-bit value of bytes k, k+1, k+2 of each row."""
    value = (b[:, k].astype(np.uint32) << 16) | (b[:, k + 1].astype(np.uint32) << 8) | b[:, k + 2]
    return value.astype(np.uint32)


def _group_sort(key: NDArray[np.int64], seq: NDArray[np.int64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Order that sorts rows by (key, seq), and for each sorted row the index where its key group starts."""
    order = np.lexsort((seq, key))
    k = key[order]
    first = np.r_[True, k[1:] != k[:-1]] if len(k) else np.zeros(0, dtype=bool)
    start = np.maximum.accumulate(np.where(first, np.arange(len(k)), 0)) if len(k) else np.zeros(0, dtype=np.intp)
    return order, start


def _last_at_or_before(mask: NDArray[np.bool_], start: NDArray[np.intp]) -> NDArray[np.intp]:
    """For each row of group-sorted data, the index of the latest row with `mask` in its group up to it, or -1."""
    if not len(mask):
        return np.zeros(0, dtype=np.intp)
    last = np.maximum.accumulate(np.where(mask, np.arange(len(mask)), -1))
    return np.where(last >= start, last, -1)


def _keep_last(key: NDArray[np.int64], cols: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """Rows that are the last (newest) of their key; rows are in arrival order."""
    if not len(key):
        return cols
    _, first_rev = np.unique(key[::-1], return_index=True)
    keep = len(key) - 1 - first_rev
    return {name: c[keep] for name, c in cols.items()}


def _nl(lat: NDArray[np.float64]) -> NDArray[np.int64]:
    """Number of CPR longitude zones at each latitude (1-59)."""
    return 59 - np.searchsorted(_NL_EDGES, np.abs(lat), side="right")


def _cpr_global(
    y_even: NDArray[np.float64],
    x_even: NDArray[np.float64],
    y_odd: NDArray[np.float64],
    x_odd: NDArray[np.float64],
    parity: NDArray[np.int8],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Airborne global CPR decoding of even/odd pairs; the position of the `parity` frame and whether it is valid."""
    j = np.floor(59 * y_even - 60 * y_odd + 0.5)
    lat_e = 6.0 * (np.mod(j, 60) + y_even)
    lat_o = (360.0 / 59) * (np.mod(j, 59) + y_odd)
    lat_e = np.where(lat_e >= 270, lat_e - 360, lat_e)
    lat_o = np.where(lat_o >= 270, lat_o - 360, lat_o)
    ok = (_nl(lat_e) == _nl(lat_o)) & (np.abs(lat_e) <= 90) & (np.abs(lat_o) <= 90)
    lat = np.where(parity == 0, lat_e, lat_o)
    nl = _nl(lat)
    ni = np.maximum(nl - parity, 1)
    m = np.floor(x_even * (nl - 1) - x_odd * nl + 0.5)
    lon = (360.0 / ni) * (np.mod(m, ni) + np.where(parity == 0, x_even, x_odd))
    return lat, (lon + 180.0) % 360.0 - 180.0, ok


def _cpr_local(
    y: NDArray[np.float64],
    x: NDArray[np.float64],
    parity: NDArray[np.int8],
    surface: NDArray[np.bool_],
    ref_lat: NDArray[np.float64],
    ref_lon: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Local CPR decoding of single frames against a reference within half a zone (airborne 360°, surface 90°)."""
    span = np.where(surface, 90.0, 360.0)
    dlat = span / (60 - parity)
    j = np.floor(ref_lat / dlat) + np.floor(0.5 + np.mod(ref_lat, dlat) / dlat - y)
    lat = dlat * (j + y)
    ni = _nl(lat) - parity
    dlon = np.where(ni > 0, span / np.maximum(ni, 1), span)
    m = np.floor(ref_lon / dlon) + np.floor(0.5 + np.mod(ref_lon, dlon) / dlon - x)
    lon = dlon * (m + x)
    return lat, (lon + 180.0) % 360.0 - 180.0


# --- the decoder ---------------------------------------------------------------------------------


class _Fields:
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
        df = msg.get("df")
        if df in ("20", "21"):
            bds20 = msg.get("bds20")
            if bds20 and bds20.get("callsign"):
                self.kind[u] = _K_COMMB_ID
                self.callsign[u] = bds20["callsign"].strip()
            return
        bds = msg.get("bds")
        if bds == "05" or bds == "06":
            self.kind[u] = _K_AIRBORNE if bds == "05" else _K_SURFACE
            self.parity[u] = 1 if msg["parity"] == "odd" else 0
            self.lat_cpr[u] = msg["lat_cpr"] / 131072.0
            self.lon_cpr[u] = msg["lon_cpr"] / 131072.0
            self.nucp[u] = msg.get("NUCp") or 0
            if bds == "05" and msg.get("tc", 0) <= 18 and msg.get("altitude") is not None:
                self.alt_ft[u] = msg["altitude"]
            if bds == "06" and msg.get("groundspeed") is not None:
                self.gs_kt[u] = msg["groundspeed"]
                self.track[u] = np.nan if msg.get("track") is None else msg["track"]
        elif bds == "08":
            callsign = (msg.get("callsign") or "").strip()
            if callsign:
                self.kind[u] = _K_IDENT
                self.callsign[u] = callsign
        elif bds == "09":
            self.kind[u] = _K_VELOCITY
            if msg.get("groundspeed") is not None:
                self.gs_kt[u] = msg["groundspeed"]
                self.track[u] = np.nan if msg.get("track") is None else msg["track"]
            for kind in ("IAS", "TAS"):
                if msg.get(kind) is not None:
                    self.airspeed_kt[u] = msg[kind]
                    self.airspeed_kind[u] = kind
            if msg.get("heading") is not None:
                self.heading[u] = msg["heading"]
            if msg.get("vertical_rate") is not None:
                self.vrate_fpm[u] = msg["vertical_rate"]
        elif bds == "61":
            if msg.get("squawk"):
                self.kind[u] = _K_SQUAWK
                self.squawk[u] = int(msg["squawk"])
        elif bds in ("62", "65") and msg.get("NACp") is not None:
            self.kind[u] = _K_NACP
            self.nacp[u] = msg["NACp"]


def _rs1090_decode(frames: list[str]) -> list[dict[str, Any] | None]:
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


class ModeSDecoder:
    """Stateful decoder of one receiver's Mode S frames: CPR pairs, trusted addresses and identities span calls.

    `reference` is the receiver position (lat, lon in degrees) for local CPR decoding;
    `report` receives the counts and errors (a new one named after `sensor_id` if not given).
    """

    def __init__(
        self, sensor_id: str, *, reference: tuple[float, float] | None = None, report: DecodeReport | None = None
    ) -> None:
        self.sensor_id = sensor_id
        self.reference = reference
        self.report = report if report is not None else DecodeReport(source=sensor_id)
        self.stats: Counter[str] = Counter()
        """Counts outside the report: `crc_failed`, `unconfirmed_replies`, `unresolved_positions`."""
        self._seen = 0
        self._confirm: dict[str, NDArray[Any]] = {"addr": np.zeros(0, np.int64), "t": np.zeros(0)}
        self._cpr: dict[str, NDArray[Any]] = {
            "addr": np.zeros(0, np.int64),
            "slot": np.zeros(0, np.int8),  # 0 even frame, 1 odd frame, 2 resolved position
            "t": np.zeros(0),
            "y": np.zeros(0),
            "x": np.zeros(0),
            "surface": np.zeros(0, bool),
            "lat": np.zeros(0),
            "lon": np.zeros(0),
        }
        self._ident: dict[str, NDArray[Any]] = {
            "addr": np.zeros(0, np.int64),
            "callsign": np.zeros(0, CALLSIGN_DTYPE),
            "squawk": np.zeros(0, np.int16),
            "nacp": np.zeros(0, np.int8),
        }

    def decode(self, frames: Sequence[str], times_s: ArrayLike, offsets: ArrayLike | None = None) -> ModeSBatch:
        """Decode frames received at `times_s` (UTC s, NaN unknown); `offsets` name them in errors (default: count)."""
        frames = list(frames)
        n = len(frames)
        times = np.broadcast_to(np.asarray(times_s, dtype=np.float64), (n,))
        offs = (
            np.arange(self._seen, self._seen + n, dtype=np.int64)
            if offsets is None
            else np.asarray(offsets, dtype=np.int64)
        )
        self._seen += n
        parts = [
            self._decode_chunk(frames[i : i + CHUNK_FRAMES], times[i : i + CHUNK_FRAMES], offs[i : i + CHUNK_FRAMES])
            for i in range(0, n, CHUNK_FRAMES)
        ]
        return ModeSBatch.concat(parts) if parts else ModeSBatch.empty()

    def decode_raw(self, raw: RawFrames) -> ModeSBatch:
        """Decode the frames a container reader produced."""
        return self.decode(raw.frame.tolist(), raw.time_s, raw.offset)

    def _decode_chunk(self, frames: list[str], t: NDArray[np.float64], offs: NDArray[np.int64]) -> ModeSBatch:
        n = len(frames)
        b, lengths, hex_ok = _hex_to_bytes(frames)
        df = (b[:, 0] >> 3).astype(np.int64)
        df[df >= 24] = 24
        short = np.isin(df, SHORT_DFS)
        known = short | np.isin(df, LONG_DFS)
        valid = hex_ok & known & (short | (lengths == 28))
        b[short, 7:] = 0
        rem = _parity_remainder(b, short)
        aa = _u24(b, 1).astype(np.int64)
        cf = b[:, 0] & 7
        es = valid & ((df == 17) | ((df == 18) & np.isin(cf, DF18_ICAO_CF)))
        crc_bad = valid & ((((df == 17) | (df == 18)) & (rem != 0)) | ((df == 11) & (rem >= 0x80)))
        self._report_errors(frames, lengths, hex_ok, known, valid, crc_bad, df, rem, offs)
        valid &= ~crc_bad
        es &= ~crc_bad
        self.stats["crc_failed"] += int(crc_bad.sum())

        rep = self.report
        rep.messages += int(valid.sum())
        rep.saw_times(t[valid])
        dfs, counts = np.unique(df[valid], return_counts=True)
        rep.by_category.update({f"DF{d}": int(c) for d, c in zip(dfs, counts, strict=True)})

        confirm = valid & ((df == 11) | es)
        reply = valid & np.isin(df, REPLY_DFS)
        trusted = self._trust(aa, rem.astype(np.int64), t, confirm, reply)
        addr = np.where(reply, rem.astype(np.int64), aa)  # the address of each frame: AA, or AP overlaid
        known_addr = np.unique(addr[confirm | trusted])
        rep.addresses.update(f"{a:06X}" for a in known_addr.tolist())

        tc = (b[:, 4] >> 3).astype(np.int64)
        job = (es & _WANTED_TC[tc]) | (trusted & np.isin(df, (20, 21)) & (b[:, 4] == 0x20))
        fields, rows = self._rs1090_fields(frames, job)
        kind = np.zeros(n, dtype=np.int8)
        kind[job] = fields.kind[rows]

        replies = self._replies(b, df, addr, t, trusted)
        velocities = self._velocities(fields, rows, job, kind, aa, t)
        plots = self._plots(fields, rows, job, kind, addr, t, trusted, df, b, replies)
        rep.callsigns.update(set(fields.callsign.tolist()) - {""})
        return ModeSBatch(plots, velocities, replies)

    def _report_errors(
        self,
        frames: list[str],
        lengths: NDArray[np.int64],
        hex_ok: NDArray[np.bool_],
        known: NDArray[np.bool_],
        valid: NDArray[np.bool_],
        crc_bad: NDArray[np.bool_],
        df: NDArray[np.int64],
        rem: NDArray[np.uint32],
        offs: NDArray[np.int64],
    ) -> None:
        """One `DecodeReport.error` per rejected frame, naming why."""
        for i in np.flatnonzero(~valid | crc_bad).tolist():
            if lengths[i] not in (14, 28):
                problem = f"frame of {int(lengths[i])} characters (14 or 28 hex digits expected)"
            elif not hex_ok[i]:
                problem = f"not hexadecimal: {frames[i][:28]!r}"
            elif not known[i]:
                problem = f"unknown downlink format {int(df[i])}"
            elif not valid[i]:
                problem = f"DF{int(df[i])} needs 28 hex digits, got 14"
            else:
                problem = f"DF{int(df[i])} CRC mismatch (remainder {int(rem[i]):06X})"
            self.report.error(int(offs[i]), problem)

    def _trust(
        self,
        aa: NDArray[np.int64],
        ap_addr: NDArray[np.int64],
        t: NDArray[np.float64],
        confirm: NDArray[np.bool_],
        reply: NDArray[np.bool_],
    ) -> NDArray[np.bool_]:
        """Which replies carry an address confirmed earlier (within CONFIRM_TTL_S); updates the confirmation state."""
        ci, ri = np.flatnonzero(confirm), np.flatnonzero(reply)
        st = self._confirm
        involved = np.isin(st["addr"], ap_addr[ri])
        key = np.concatenate([st["addr"][involved], aa[ci], ap_addr[ri]])
        seq = np.concatenate([np.full(int(involved.sum()), -1), ci, ri])
        tt = np.concatenate([st["t"][involved], t[ci], t[ri]])
        is_conf = np.r_[np.ones(int(involved.sum()) + len(ci), bool), np.zeros(len(ri), bool)]
        order, start = _group_sort(key, seq)
        last = _last_at_or_before(is_conf[order], start)
        dt = tt[order] - tt[order][np.maximum(last, 0)]
        ok_sorted = (last >= 0) & ~(dt > CONFIRM_TTL_S)
        ok = np.empty(len(key), dtype=bool)
        ok[order] = ok_sorted
        trusted = np.zeros(len(aa), dtype=bool)
        trusted[ri] = ok[len(key) - len(ri) :]
        self.stats["unconfirmed_replies"] += int(len(ri) - trusted.sum())
        merged = _keep_last(
            np.concatenate([st["addr"], aa[ci]]),
            {"addr": np.concatenate([st["addr"], aa[ci]]), "t": np.r_[st["t"], t[ci]]},
        )
        self._confirm = _prune(merged)
        return trusted

    def _rs1090_fields(self, frames: list[str], job: NDArray[np.bool_]) -> tuple[_Fields, NDArray[np.int64]]:
        """rs1090's fields of each distinct job frame, and for every job row the index of its distinct frame."""
        index: dict[str, int] = {}
        keys = [frames[i] for i in np.flatnonzero(job).tolist()]
        rows = np.fromiter((index.setdefault(k, len(index)) for k in keys), dtype=np.int64, count=len(keys))
        fields = _Fields(len(index))
        for u, msg in enumerate(_rs1090_decode(list(index))):
            if msg is not None:
                fields.fill(u, msg)
        return fields, rows

    def _replies(
        self,
        b: NDArray[np.uint8],
        df: NDArray[np.int64],
        addr: NDArray[np.int64],
        t: NDArray[np.float64],
        trusted: NDArray[np.bool_],
    ) -> Replies:
        altitude_table, squawk_table = _code_tables()
        code = ((b[:, 2].astype(np.int64) & 0x1F) << 8) | b[:, 3]
        i = np.flatnonzero(trusted)
        alt = np.where(np.isin(df[i], ALTITUDE_DFS), altitude_table[code[i]], np.nan)
        sq = np.where(np.isin(df[i], IDENTITY_DFS), squawk_table[code[i]], -1)
        return Replies.build(
            len(i),
            time_s=t[i],
            sensor_id=np.full(len(i), self.sensor_id, dtype=SENSOR_ID_DTYPE),
            mode_s=addr[i],
            df=df[i],
            altitude_m=alt,
            squawk=sq,
        )

    def _velocities(
        self,
        fields: _Fields,
        rows: NDArray[np.int64],
        job: NDArray[np.bool_],
        kind: NDArray[np.int8],
        aa: NDArray[np.int64],
        t: NDArray[np.float64],
    ) -> Velocities:
        jrow = np.full(len(job), -1, dtype=np.int64)
        jrow[job] = rows
        speed_known = np.zeros(len(job), dtype=bool)
        speed_known[job] = np.isfinite(fields.gs_kt[rows])
        i = np.flatnonzero((kind == _K_VELOCITY) | ((kind == _K_SURFACE) & speed_known))
        u = jrow[i]
        gs = fields.gs_kt[u] * KT_MPS
        track = fields.track[u]
        return Velocities.build(
            len(i),
            time_s=t[i],
            sensor_id=np.full(len(i), self.sensor_id, dtype=SENSOR_ID_DTYPE),
            mode_s=aa[i],
            groundspeed_mps=gs,
            track_deg=track,
            v_east_mps=gs * np.sin(np.radians(track)),
            v_north_mps=gs * np.cos(np.radians(track)),
            vertical_rate_mps=fields.vrate_fpm[u] * FPM_MPS,
            airspeed_mps=fields.airspeed_kt[u] * KT_MPS,
            airspeed_kind=fields.airspeed_kind[u],
            heading_deg=fields.heading[u],
        )

    def _plots(
        self,
        fields: _Fields,
        rows: NDArray[np.int64],
        job: NDArray[np.bool_],
        kind: NDArray[np.int8],
        addr: NDArray[np.int64],
        t: NDArray[np.float64],
        trusted: NDArray[np.bool_],
        df: NDArray[np.int64],
        b: NDArray[np.uint8],
        replies: Replies,
    ) -> Plots:
        jrow = np.full(len(job), -1, dtype=np.int64)
        jrow[job] = rows
        pos = np.flatnonzero((kind == _K_AIRBORNE) | (kind == _K_SURFACE))
        u = jrow[pos]
        lat, lon = self._resolve_cpr(
            addr[pos], pos.astype(np.int64), t[pos], fields.parity[u], kind[pos] == _K_SURFACE,
            fields.lat_cpr[u], fields.lon_cpr[u],
        )  # fmt: skip
        resolved = np.isfinite(lat)
        self.stats["unresolved_positions"] += int((~resolved).sum())
        pos, u, lat, lon = pos[resolved], u[resolved], lat[resolved], lon[resolved]

        # Identity events in arrival order: callsigns, squawks (ADS-B TC 28 and trusted DF5/21), NACp.
        ev_callsign = np.flatnonzero((kind == _K_IDENT) | (kind == _K_COMMB_ID))
        ev_squawk_es = np.flatnonzero(kind == _K_SQUAWK)
        ev_squawk_rep = np.flatnonzero(trusted & np.isin(df, IDENTITY_DFS))
        ev_nacp = np.flatnonzero(kind == _K_NACP)
        sq_rep = replies.squawk[np.isin(replies.df, IDENTITY_DFS)]
        callsign, squawk, nacp = self._attach_identity(
            addr,
            pos,
            (ev_callsign, fields.callsign[jrow[ev_callsign]]),
            (np.r_[ev_squawk_es, ev_squawk_rep], np.r_[fields.squawk[jrow[ev_squawk_es]], sq_rep]),
            (ev_nacp, fields.nacp[jrow[ev_nacp]]),
        )
        return Plots.build(
            len(pos),
            time_s=t[pos],
            sensor_id=np.full(len(pos), self.sensor_id, dtype=SENSOR_ID_DTYPE),
            altitude_m=fields.alt_ft[u] * FT_M,
            lat_deg=lat,
            lon_deg=lon,
            mode_s=addr[pos],
            squawk=squawk,
            callsign=callsign,
            nacp=np.where(nacp >= 0, nacp, NUCP_AS_NACP[fields.nucp[u]]),
        )

    def _resolve_cpr(
        self,
        addr: NDArray[np.int64],
        seq: NDArray[np.int64],
        t: NDArray[np.float64],
        parity: NDArray[np.int8],
        surface: NDArray[np.bool_],
        y: NDArray[np.float64],
        x: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Latitude/longitude of each position frame (NaN when unresolved); updates the per-address CPR state."""
        st = self._cpr
        old = np.isin(st["addr"], addr)
        k = int(old.sum())
        n = len(addr)
        a = np.r_[st["addr"][old], addr]
        s = np.r_[np.full(k, -1, dtype=np.int64), seq]
        slot = np.r_[st["slot"][old], parity].astype(np.int8)
        tt = np.r_[st["t"][old], t]
        yy = np.r_[st["y"][old], y]
        xx = np.r_[st["x"][old], x]
        sf = np.r_[st["surface"][old], surface]
        lat = np.r_[st["lat"][old], np.full(n, np.nan)]
        lon = np.r_[st["lon"][old], np.full(n, np.nan)]
        new = np.r_[np.zeros(k, bool), np.ones(n, bool)]
        # old state rows first (seq -1), in the order they were stored; stable sort keeps it
        order, start = _group_sort(a, s)
        a, tt, yy, xx, sf, slot, new = a[order], tt[order], yy[order], xx[order], sf[order], slot[order], new[order]
        lat, lon = lat[order], lon[order]

        # Global airborne decoding with the latest opposite-parity frame of the same address.
        last_even = _last_at_or_before(slot == 0, start)
        last_odd = _last_at_or_before(slot == 1, start)
        partner = np.where(slot == 0, last_odd, np.where(slot == 1, last_even, -1))
        pi = np.maximum(partner, 0)
        pair = new & (partner >= 0) & ~sf & ~sf[pi] & (np.abs(tt - tt[pi]) <= AIRBORNE_PAIR_S)
        i = np.flatnonzero(pair)
        y_even = np.where(slot[i] == 0, yy[i], yy[pi[i]])
        y_odd = np.where(slot[i] == 1, yy[i], yy[pi[i]])
        x_even = np.where(slot[i] == 0, xx[i], xx[pi[i]])
        x_odd = np.where(slot[i] == 1, xx[i], xx[pi[i]])
        glat, glon, gok = _cpr_global(y_even, x_even, y_odd, x_odd, slot[i])
        lat[i[gok]], lon[i[gok]] = glat[gok], glon[gok]

        # Local decoding against the latest resolved own position; repeat while that resolves more frames.
        for _ in range(4):
            todo = new & np.isnan(lat)
            if not todo.any():
                break
            ref = _last_at_or_before(np.isfinite(lat), start)
            ri = np.maximum(ref, 0)
            usable = todo & (ref >= 0) & ~(np.abs(tt - tt[ri]) > LOCAL_REF_MAX_AGE_S)
            j = np.flatnonzero(usable)
            if not len(j):
                break
            lat[j], lon[j] = _cpr_local(yy[j], xx[j], slot[j], sf[j], lat[ri[j]], lon[ri[j]])
        if self.reference is not None:
            j = np.flatnonzero(new & np.isnan(lat))
            ref_lat, ref_lon = self.reference
            lat[j], lon[j] = _cpr_local(
                yy[j], xx[j], slot[j], sf[j], np.full(len(j), ref_lat), np.full(len(j), ref_lon)
            )

        # New state: per address the latest even frame, odd frame and resolved position.
        frames_key = a * 4 + slot
        resolved = np.isfinite(lat) & new
        cand_key = np.r_[st["addr"] * 4 + st["slot"], frames_key[new], a[resolved] * 4 + 2]
        cand = {
            "addr": np.r_[st["addr"], a[new], a[resolved]],
            "slot": np.r_[st["slot"], slot[new], np.full(int(resolved.sum()), 2, np.int8)].astype(np.int8),
            "t": np.r_[st["t"], tt[new], tt[resolved]],
            "y": np.r_[st["y"], yy[new], yy[resolved]],
            "x": np.r_[st["x"], xx[new], xx[resolved]],
            "surface": np.r_[st["surface"], sf[new], sf[resolved]],
            "lat": np.r_[st["lat"], np.full(int(new.sum()), np.nan), lat[resolved]],
            "lon": np.r_[st["lon"], np.full(int(new.sum()), np.nan), lon[resolved]],
        }
        self._cpr = _prune(_keep_last(cand_key, cand))

        out_lat = np.empty(len(order))
        out_lon = np.empty(len(order))
        out_lat[order], out_lon[order] = lat, lon
        return out_lat[k:], out_lon[k:]

    def _attach_identity(
        self,
        addr: NDArray[np.int64],
        pos: NDArray[np.intp],
        callsigns: tuple[NDArray[np.intp], NDArray[np.str_]],
        squawks: tuple[NDArray[np.intp], NDArray[np.int16]],
        nacps: tuple[NDArray[np.intp], NDArray[np.int8]],
    ) -> tuple[NDArray[np.str_], NDArray[np.int16], NDArray[np.int8]]:
        """Latest callsign, squawk and NACp of each position row's address; updates the per-address identity state."""
        st = self._ident
        (ci, cv), (si, sv), (ni, nv) = callsigns, squawks, nacps
        touched = np.concatenate([addr[ci], addr[si], addr[ni], addr[pos]])
        old = np.isin(st["addr"], touched)
        seq = np.concatenate([np.full(int(old.sum()), -1, np.int64), ci, si, ni, pos])
        key = np.r_[st["addr"][old], touched]
        m = len(seq)
        cs = np.concatenate([st["callsign"][old], cv, np.full(len(si) + len(ni) + len(pos), "", CALLSIGN_DTYPE)])
        sq = np.concatenate([st["squawk"][old], np.full(len(ci), -1, np.int16), sv, np.full(len(ni) + len(pos), -1)])
        nc = np.concatenate([st["nacp"][old], np.full(len(ci) + len(si), -1, np.int8), nv, np.full(len(pos), -1)])
        order, start = _group_sort(key, seq)
        group_end = np.r_[start[1:] != start[:-1], True] if m else np.zeros(0, bool)
        out: list[NDArray[Any]] = []
        ends: list[NDArray[Any]] = []
        for values, missing in ((cs, ""), (sq, -1), (nc, -1)):
            v = values[order]
            last = _last_at_or_before(v != missing, start)
            filled = np.where(last >= 0, v[np.maximum(last, 0)], missing)
            res = np.empty(m, dtype=v.dtype)
            res[order] = filled
            out.append(res)
            ends.append(filled[group_end])
        # State: untouched addresses as they were, and per touched address its values at its newest row.
        self._ident = {
            "addr": np.r_[st["addr"][~old], key[order][group_end]],
            "callsign": np.r_[st["callsign"][~old], ends[0]].astype(CALLSIGN_DTYPE),
            "squawk": np.r_[st["squawk"][~old], ends[1]].astype(np.int16),
            "nacp": np.r_[st["nacp"][~old], ends[2]].astype(np.int8),
        }
        n_pos = len(pos)
        return out[0][m - n_pos :], out[1][m - n_pos :].astype(np.int16), out[2][m - n_pos :].astype(np.int8)


def _prune(state: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """Drop state rows older than STATE_MAX_AGE_S before the newest one (rows without a time are kept)."""
    t = state["t"]
    if not len(t) or not np.isfinite(t).any():
        return state
    keep = ~(t < np.nanmax(t) - STATE_MAX_AGE_S)
    return {name: c[keep] for name, c in state.items()}


def decode_modes(
    frames: Sequence[str],
    times_s: ArrayLike,
    sensor_id: str,
    *,
    reference: tuple[float, float] | None = None,
    report: DecodeReport | None = None,
) -> ModeSBatch:
    """Decode a whole recording of hex frames in one call (see `ModeSDecoder`)."""
    return ModeSDecoder(sensor_id, reference=reference, report=report).decode(frames, times_s)


# --- text containers -----------------------------------------------------------------------------


def _parse_line(line: str, default_time_s: float, source: str, lineno: int) -> tuple[float, str]:
    """(time, hex frame) of one text line; raises DecodeError when the line has no frame field."""
    if line.startswith("*"):
        if not line.endswith(";"):
            raise DecodeError(source, lineno, "'*' frame without the closing ';'")
        return default_time_s, _frame_field(line[1:-1], source, lineno)
    fields = line.split(",")
    if len(fields) == 1:
        return default_time_s, _frame_field(line, source, lineno)
    first = fields[0].strip().strip('"')
    try:
        t = float(first)
    except ValueError:
        raise DecodeError(source, lineno, f"time field {first[:32]!r} is not a number") from None
    if not math.isfinite(t):
        raise DecodeError(source, lineno, f"time field {first[:32]!r} is not finite")
    for f in fields[1:]:
        value = f.strip().strip('"')
        if value.startswith("*") and value.endswith(";"):
            value = value[1:-1]
        if len(value) in (14, 28):
            return t, value
    raise DecodeError(source, lineno, "no field of 14 or 28 characters (the frame)")


def _frame_field(value: str, source: str, lineno: int) -> str:
    """The frame itself when it has 14 or 28 characters; raises DecodeError otherwise."""
    if len(value) not in (14, 28):
        raise DecodeError(source, lineno, f"frame of {len(value)} characters (14 or 28 hex digits expected)")
    return value


def read_modes_text(
    lines: str | Iterable[str], *, time_s: float = math.nan, report: DecodeReport | None = None
) -> RawFrames:
    """Frames of a raw Mode S text container, one frame a line; `offset` is the 1-based line number.

    Accepted lines: `HEX`, dump1090's `*HEX;`, `TIME,HEX` and CSV lines whose first field is the time
    and a later field the 14- or 28-digit frame (pyModeS's `time,"hex","icao",tc` and `time,icao,hex`).
    Lines without a time get `time_s`. Empty lines and `#` comments are skipped; a UTF-8 BOM is ignored.
    The hex digits themselves are checked by the decoder.
    """
    report = report if report is not None else DecodeReport(source="modes-text")
    source = report.source
    it = lines.splitlines() if isinstance(lines, str) else lines
    times: list[float] = []
    frames: list[str] = []
    offsets: list[int] = []
    for lineno, raw_line in enumerate(it, start=1):
        line = raw_line.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        try:
            t, frame = _parse_line(line, time_s, source, lineno)
        except DecodeError as err:
            report.error(err.offset, err.problem)
            continue
        times.append(t)
        frames.append(frame)
        offsets.append(lineno)
    return RawFrames(np.array(times, dtype=np.float64), np.array(frames, dtype=FRAME_DTYPE), np.array(offsets))


def decode_modes_text(
    lines: str | Iterable[str],
    sensor_id: str,
    *,
    reference: tuple[float, float] | None = None,
    time_s: float = math.nan,
    report: DecodeReport | None = None,
) -> ModeSBatch:
    """Read and decode a raw Mode S text container (`read_modes_text`, then `ModeSDecoder`), one report for both."""
    report = report if report is not None else DecodeReport(source=sensor_id)
    raw = read_modes_text(lines, time_s=time_s, report=report)
    return ModeSDecoder(sensor_id, reference=reference, report=report).decode_raw(raw)
