"""`ModeSDecoder`: one receiver's hex frames, chunk by chunk, to plots, velocities and replies.

Per chunk: `frames` parses and checks every frame, `state` decides which replies are trusted,
rs1090 (`rs1090_adapter`) decodes the frames whose fields we use, and the columns are assembled
here; CPR positions and identities come from `state`. Only the frames rs1090 has to see cost
per-message Python work.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from commonsky.core.batches import SENSOR_ID_DTYPE, Plots
from commonsky.formats.modes.frames import ALTITUDE_DFS, IDENTITY_DFS, REPLY_DFS, ParsedFrames, parse_frames
from commonsky.formats.modes.rs1090_adapter import (
    KIND_AIRBORNE,
    KIND_COMMB_ID,
    KIND_IDENT,
    KIND_NACP,
    KIND_SQUAWK,
    KIND_SURFACE,
    KIND_VELOCITY,
    WANTED_TC,
    MessageFields,
    code_tables,
    message_fields,
)
from commonsky.formats.modes.schema import FPM_MPS, FT_M, KT_MPS, ModeSBatch, RawFrames, Replies, Velocities
from commonsky.formats.modes.state import PositionFrames, StreamState
from commonsky.formats.report import DecodeReport

CHUNK_FRAMES = 65536
"""Frames decoded per vectorised pass (bounds the temporary arrays)."""
NUCP_AS_NACP = np.array([-1, 1, 1, 4, 5, 6, 7, 8, 10, 11], dtype=np.int8)
"""Per NUCp 0..9 (the position message's type code; DO-260 version 0), the NACp whose 95 % bound covers its
HFOM: a plot's accuracy while no NACp (TC 29/31) of its address is known. NUCp 0: unknown (-1)."""


@dataclass(frozen=True)
class _Chunk:
    """A chunk's frames as parallel columns (one row a frame): what the row builders all read."""

    parsed: ParsedFrames
    addr: NDArray[np.int64]
    """The address of each frame: AA, or AP overlaid."""
    t: NDArray[np.float64]
    trusted: NDArray[np.bool_]
    fields: MessageFields
    """rs1090's fields of the distinct frames it decoded; `row` is each frame's row in them (-1: none)."""
    row: NDArray[np.int64]
    kind: NDArray[np.int8]


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
        self.state = StreamState()
        self._seen = 0

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
        parsed = parse_frames(frames)
        for i, problem in parsed.problems:
            self.report.error(int(offs[i]), problem)
        self.stats["crc_failed"] += int(parsed.crc_bad.sum())
        b, df, valid, es, aa = parsed.b, parsed.df, parsed.valid, parsed.es, parsed.aa
        rem = parsed.rem.astype(np.int64)

        rep = self.report
        rep.messages += int(valid.sum())
        rep.saw_times(t[valid])
        dfs, counts = np.unique(df[valid], return_counts=True)
        rep.by_category.update({f"DF{d}": int(c) for d, c in zip(dfs, counts, strict=True)})

        confirm = valid & ((df == 11) | es)
        reply = valid & np.isin(df, REPLY_DFS)
        trusted = self.state.trust(aa, rem, t, confirm, reply)
        self.stats["unconfirmed_replies"] += int(reply.sum() - trusted.sum())
        addr = np.where(reply, rem, aa)  # the address of each frame: AA, or AP overlaid
        known_addr = np.unique(addr[confirm | trusted])
        rep.addresses.update(f"{a:06X}" for a in known_addr.tolist())

        tc = (b[:, 4] >> 3).astype(np.int64)
        job = (es & WANTED_TC[tc]) | (trusted & np.isin(df, (20, 21)) & (b[:, 4] == 0x20))
        fields, row = message_fields(frames, job)
        kind = np.zeros(n, dtype=np.int8)
        kind[job] = fields.kind[row[job]]

        chunk = _Chunk(parsed, addr, t, trusted, fields, row, kind)
        replies = self._replies(chunk)
        velocities = self._velocities(chunk)
        plots = self._plots(chunk, replies)
        rep.callsigns.update(set(fields.callsign.tolist()) - {""})
        return ModeSBatch(plots, velocities, replies)

    def _replies(self, c: _Chunk) -> Replies:
        altitude_table, squawk_table = code_tables()
        code = ((c.parsed.b[:, 2].astype(np.int64) & 0x1F) << 8) | c.parsed.b[:, 3]
        i = np.flatnonzero(c.trusted)
        alt = np.where(np.isin(c.parsed.df[i], ALTITUDE_DFS), altitude_table[code[i]], np.nan)
        sq = np.where(np.isin(c.parsed.df[i], IDENTITY_DFS), squawk_table[code[i]], -1)
        return Replies.build(
            len(i),
            time_s=c.t[i],
            sensor_id=np.full(len(i), self.sensor_id, dtype=SENSOR_ID_DTYPE),
            mode_s=c.addr[i],
            df=c.parsed.df[i],
            altitude_m=alt,
            squawk=sq,
        )

    def _velocities(self, c: _Chunk) -> Velocities:
        fields = c.fields
        job = c.row >= 0
        speed_known = np.zeros(len(c.row), dtype=bool)
        speed_known[job] = np.isfinite(fields.gs_kt[c.row[job]])
        i = np.flatnonzero((c.kind == KIND_VELOCITY) | ((c.kind == KIND_SURFACE) & speed_known))
        u = c.row[i]
        gs = fields.gs_kt[u] * KT_MPS
        track = fields.track[u]
        return Velocities.build(
            len(i),
            time_s=c.t[i],
            sensor_id=np.full(len(i), self.sensor_id, dtype=SENSOR_ID_DTYPE),
            mode_s=c.parsed.aa[i],
            groundspeed_mps=gs,
            track_deg=track,
            v_east_mps=gs * np.sin(np.radians(track)),
            v_north_mps=gs * np.cos(np.radians(track)),
            vertical_rate_mps=fields.vrate_fpm[u] * FPM_MPS,
            airspeed_mps=fields.airspeed_kt[u] * KT_MPS,
            airspeed_kind=fields.airspeed_kind[u],
            heading_deg=fields.heading[u],
        )

    def _plots(self, c: _Chunk, replies: Replies) -> Plots:
        fields, row, kind, addr, t = c.fields, c.row, c.kind, c.addr, c.t
        pos = np.flatnonzero((kind == KIND_AIRBORNE) | (kind == KIND_SURFACE))
        u = row[pos]
        frames = PositionFrames(
            addr=addr[pos],
            seq=pos.astype(np.int64),
            t=t[pos],
            parity=fields.parity[u],
            surface=kind[pos] == KIND_SURFACE,
            y=fields.lat_cpr[u],
            x=fields.lon_cpr[u],
        )
        lat, lon = self.state.resolve_cpr(frames, self.reference)
        resolved = np.isfinite(lat)
        self.stats["unresolved_positions"] += int((~resolved).sum())
        pos, u, lat, lon = pos[resolved], u[resolved], lat[resolved], lon[resolved]

        # Identity events in arrival order: callsigns, squawks (ADS-B TC 28 and trusted DF5/21), NACp.
        ev_callsign = np.flatnonzero((kind == KIND_IDENT) | (kind == KIND_COMMB_ID))
        ev_squawk_es = np.flatnonzero(kind == KIND_SQUAWK)
        ev_squawk_rep = np.flatnonzero(c.trusted & np.isin(c.parsed.df, IDENTITY_DFS))
        ev_nacp = np.flatnonzero(kind == KIND_NACP)
        sq_rep = replies.squawk[np.isin(replies.df, IDENTITY_DFS)]
        callsign, squawk, nacp = self.state.attach_identity(
            addr,
            pos,
            (ev_callsign, fields.callsign[row[ev_callsign]]),
            (np.r_[ev_squawk_es, ev_squawk_rep], np.r_[fields.squawk[row[ev_squawk_es]], sq_rep]),
            (ev_nacp, fields.nacp[row[ev_nacp]]),
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
            on_ground=kind[pos] == KIND_SURFACE,
        )


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
