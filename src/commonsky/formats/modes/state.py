"""What a Mode S stream remembers between frames and calls: trusted addresses, CPR frames and identities.

- **Address confirmation.** DF0/4/5/16/20/21 carry no address: the AP field is the parity overlaid
  with it, so every corrupted reply yields some "address". Such a reply is trusted only when its
  address was confirmed earlier in the stream, at most `CONFIRM_TTL_S` before, by a clean DF11,
  a clean DF17 or a clean DF18 with an ICAO address (CF 0, 2 or 6). Frames without a time only
  need an earlier confirmation.
- **CPR.** Airborne positions are decoded globally from the latest even/odd pair of the same
  address no more than `AIRBORNE_PAIR_S` apart (each frame gets the position of its own CPR).
  Frames without such a pair, and all surface frames, are decoded locally against the address's
  latest resolved position (at most `LOCAL_REF_MAX_AGE_S` old) or else against the receiver
  reference. Surface frames have no global solution without a reference anyway (the pair leaves
  four candidates), so without either reference they stay unresolved. Frames without a time never pair.
- **Identity.** Each position gets the latest callsign, squawk and NACp known for its address.

All of it is NumPy over whole chunks: rows are grouped by address (old state first, then the
chunk's frames in arrival order) and "latest so far" is a running maximum within each group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from commonsky.core.batches import CALLSIGN_DTYPE, Col, Columns
from commonsky.formats.modes.cpr import cpr_global, cpr_local

AIRBORNE_PAIR_S = 10.0
"""Longest gap between the even and odd frame of a global airborne CPR pair."""
LOCAL_REF_MAX_AGE_S = 600.0
"""Oldest own position used as the reference for local CPR decoding (well inside half a zone at airliner speed)."""
CONFIRM_TTL_S = 60.0
"""How long a clean DF11/17/18 keeps an address trusted for AP-addressed replies."""
STATE_MAX_AGE_S = 900.0
"""Per-address CPR and confirmation state older than this (relative to the newest frame) is dropped."""


@dataclass(frozen=True, eq=False)
class Confirmations(Columns):
    """Per address, the time of its latest clean DF11/17/18."""

    addr: Col.I64
    t: Col.F64


@dataclass(frozen=True, eq=False)
class CprFrames(Columns):
    """Per address and slot (0 even frame, 1 odd frame, 2 resolved position), the latest such frame."""

    addr: Col.I64
    slot: Col.I8
    t: Col.F64
    y: Col.F64
    x: Col.F64
    surface: Col.Bool
    lat: Col.F64
    lon: Col.F64


@dataclass(frozen=True, eq=False)
class Identities(Columns):
    """Per address, its latest callsign, squawk and NACp ("" / -1 when none was received)."""

    addr: Col.I64
    callsign: Col.Callsign
    squawk: Col.I16
    nacp: Col.I8


@dataclass(frozen=True)
class PositionFrames:
    """A chunk's position frames to resolve, in arrival order: address, index in the chunk, time, CPR parity
    (0 even, 1 odd), surface or airborne, and the CPR latitude (y) and longitude (x) fractions."""

    addr: NDArray[np.int64]
    seq: NDArray[np.int64]
    t: NDArray[np.float64]
    parity: NDArray[np.int8]
    surface: NDArray[np.bool_]
    y: NDArray[np.float64]
    x: NDArray[np.float64]


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


def _keep_last(key: NDArray[np.int64]) -> NDArray[np.intp]:
    """Index of the rows that are the last (newest) of their key, in key order; rows are in arrival order."""
    if not len(key):
        return np.zeros(0, dtype=np.intp)
    _, first_rev = np.unique(key[::-1], return_index=True)
    return len(key) - 1 - first_rev


_Aged = TypeVar("_Aged", Confirmations, CprFrames)


def _pruned(state: _Aged) -> _Aged:
    """Drop state rows older than STATE_MAX_AGE_S before the newest one (rows without a time are kept)."""
    t = state.t
    if not len(t) or not np.isfinite(t).any():
        return state
    return state.take(~(t < np.nanmax(t) - STATE_MAX_AGE_S))


@dataclass
class StreamState:
    """The per-receiver memory of a Mode S stream; each method reads its part and replaces it with the update."""

    confirmations: Confirmations = field(default_factory=Confirmations.empty)
    cpr: CprFrames = field(default_factory=CprFrames.empty)
    identities: Identities = field(default_factory=Identities.empty)

    def trust(
        self,
        aa: NDArray[np.int64],
        ap_addr: NDArray[np.int64],
        t: NDArray[np.float64],
        confirm: NDArray[np.bool_],
        reply: NDArray[np.bool_],
    ) -> NDArray[np.bool_]:
        """Which replies carry an address confirmed earlier (within CONFIRM_TTL_S); records the new confirmations."""
        ci, ri = np.flatnonzero(confirm), np.flatnonzero(reply)
        st = self.confirmations
        involved = np.isin(st.addr, ap_addr[ri])
        key = np.concatenate([st.addr[involved], aa[ci], ap_addr[ri]])
        seq = np.concatenate([np.full(int(involved.sum()), -1), ci, ri])
        tt = np.concatenate([st.t[involved], t[ci], t[ri]])
        is_conf = np.r_[np.ones(int(involved.sum()) + len(ci), bool), np.zeros(len(ri), bool)]
        order, start = _group_sort(key, seq)
        last = _last_at_or_before(is_conf[order], start)
        dt = tt[order] - tt[order][np.maximum(last, 0)]
        ok_sorted = (last >= 0) & ~(dt > CONFIRM_TTL_S)
        ok = np.empty(len(key), dtype=bool)
        ok[order] = ok_sorted
        trusted = np.zeros(len(aa), dtype=bool)
        trusted[ri] = ok[len(key) - len(ri) :]
        addr = np.concatenate([st.addr, aa[ci]])
        keep = _keep_last(addr)
        self.confirmations = _pruned(Confirmations(addr[keep], np.r_[st.t, t[ci]][keep]))
        return trusted

    def resolve_cpr(
        self, frames: PositionFrames, reference: tuple[float, float] | None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Latitude/longitude of each position frame (NaN when unresolved); records the latest frames and positions."""
        st = self.cpr
        old = np.isin(st.addr, frames.addr)
        k = int(old.sum())
        n = len(frames.addr)
        a = np.r_[st.addr[old], frames.addr]
        s = np.r_[np.full(k, -1, dtype=np.int64), frames.seq]
        slot = np.r_[st.slot[old], frames.parity].astype(np.int8)
        tt = np.r_[st.t[old], frames.t]
        yy = np.r_[st.y[old], frames.y]
        xx = np.r_[st.x[old], frames.x]
        sf = np.r_[st.surface[old], frames.surface]
        lat = np.r_[st.lat[old], np.full(n, np.nan)]
        lon = np.r_[st.lon[old], np.full(n, np.nan)]
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
        glat, glon, gok = cpr_global(y_even, x_even, y_odd, x_odd, slot[i])
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
            lat[j], lon[j] = cpr_local(yy[j], xx[j], slot[j], sf[j], lat[ri[j]], lon[ri[j]])
        if reference is not None:
            j = np.flatnonzero(new & np.isnan(lat))
            ref_lat, ref_lon = reference
            lat[j], lon[j] = cpr_local(yy[j], xx[j], slot[j], sf[j], np.full(len(j), ref_lat), np.full(len(j), ref_lon))

        # New state: per address the latest even frame, odd frame and resolved position.
        frames_key = a * 4 + slot
        resolved = np.isfinite(lat) & new
        keep = _keep_last(np.r_[st.addr * 4 + st.slot, frames_key[new], a[resolved] * 4 + 2])
        self.cpr = _pruned(
            CprFrames(
                addr=np.r_[st.addr, a[new], a[resolved]][keep],
                slot=np.r_[st.slot, slot[new], np.full(int(resolved.sum()), 2, np.int8)].astype(np.int8)[keep],
                t=np.r_[st.t, tt[new], tt[resolved]][keep],
                y=np.r_[st.y, yy[new], yy[resolved]][keep],
                x=np.r_[st.x, xx[new], xx[resolved]][keep],
                surface=np.r_[st.surface, sf[new], sf[resolved]][keep],
                lat=np.r_[st.lat, np.full(int(new.sum()), np.nan), lat[resolved]][keep],
                lon=np.r_[st.lon, np.full(int(new.sum()), np.nan), lon[resolved]][keep],
            )
        )

        out_lat = np.empty(len(order))
        out_lon = np.empty(len(order))
        out_lat[order], out_lon[order] = lat, lon
        return out_lat[k:], out_lon[k:]

    def attach_identity(
        self,
        addr: NDArray[np.int64],
        pos: NDArray[np.intp],
        callsigns: tuple[NDArray[np.intp], NDArray[np.str_]],
        squawks: tuple[NDArray[np.intp], NDArray[np.int16]],
        nacps: tuple[NDArray[np.intp], NDArray[np.int8]],
    ) -> tuple[NDArray[np.str_], NDArray[np.int16], NDArray[np.int8]]:
        """Latest callsign, squawk and NACp of each position row's address; records the latest of each address."""
        st = self.identities
        (ci, cv), (si, sv), (ni, nv) = callsigns, squawks, nacps
        touched = np.concatenate([addr[ci], addr[si], addr[ni], addr[pos]])
        old = np.isin(st.addr, touched)
        seq = np.concatenate([np.full(int(old.sum()), -1, np.int64), ci, si, ni, pos])
        key = np.r_[st.addr[old], touched]
        m = len(seq)
        cs = np.concatenate([st.callsign[old], cv, np.full(len(si) + len(ni) + len(pos), "", CALLSIGN_DTYPE)])
        sq = np.concatenate([st.squawk[old], np.full(len(ci), -1, np.int16), sv, np.full(len(ni) + len(pos), -1)])
        nc = np.concatenate([st.nacp[old], np.full(len(ci) + len(si), -1, np.int8), nv, np.full(len(pos), -1)])
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
        # Untouched addresses as they were, and per touched address its values at its newest row.
        self.identities = Identities(
            addr=np.r_[st.addr[~old], key[order][group_end]],
            callsign=np.r_[st.callsign[~old], ends[0]],
            squawk=np.r_[st.squawk[~old], ends[1]],
            nacp=np.r_[st.nacp[~old], ends[2]],
        )
        n_pos = len(pos)
        return out[0][m - n_pos :], out[1][m - n_pos :].astype(np.int16), out[2][m - n_pos :].astype(np.int8)
