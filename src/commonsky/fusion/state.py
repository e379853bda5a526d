"""What fusion remembers between calls, and how newly arrived reports enter it (step 1 of `engine`).

`FusionState` holds the latest report per (owner, track_id) in a `ReportStore` with its link to a
system track, the numbers of the last picture and the dormant tracks that may get their old number
back (step 7); `ingest` merges a call's reports into the store. Kept apart from the per-call steps
so that another association or combination algorithm can reuse the same state and ingest rules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from commonsky.core.arrays import F64, I64, B, Rows
from commonsky.core.batches import TrackReports
from commonsky.core.errors import SchemaError
from commonsky.core.geodesy import LocalFrame
from commonsky.fusion import frames, kernels
from commonsky.fusion.config import FusionConfig

MAX_OWNERS = 62
"""Owners one node can fuse: each system track keeps the set of its owners as bits of an int64."""


@dataclass(frozen=True)
class FusionStats:
    """Running counts since the state was created (each `fuse` call adds its own)."""

    calls: int = 0
    reports_received: int = 0
    out_of_order: int = 0
    """Reports older than the one already held for their (owner, track_id): ignored."""
    clock_skew: int = 0
    """Reports stamped later than the fusion time by more than the tolerance: clamped."""
    invalid: int = 0
    """Reports with non-finite values or a covariance that is not positive definite: dropped."""
    aged_out: int = 0
    """Stored reports dropped because they grew older than `max_age_s`."""
    ais_refuted: int = 0
    """Vessel reports fed by AIS alone that a shore-radar-fed report of their MMSI contradicts (`refuted_ais`)."""
    superseded: int = 0
    """Stale tracks replaced in their system track by a new track of the same owner."""
    links_made: int = 0
    """Tracks linked to an existing system track by association."""
    links_released: int = 0
    """Links broken because a track left its keep gate."""
    merges: int = 0
    system_tracks_created: int = 0
    number_changes: int = 0
    """Times an (owner, track_id) already in a system track moved to another number."""
    responsibility_changes: int = 0

    def plus(self, **increments: int) -> FusionStats:
        """These counts with the increments added."""
        return dataclasses.replace(self, **{k: getattr(self, k) + int(v) for k, v in increments.items()})


@dataclass(frozen=True, eq=False)
class ReportStore(Rows):
    """The latest report per (owner, track_id), sorted by (owner code, track_id), with fusion's bookkeeping."""

    reports: TrackReports
    owner_code: I64
    """Index of each row's owner in `FusionState.owners`."""
    x: F64
    """(K, 4) [e, n, v_e, v_n] in the fusion frame at the report's own time."""
    P: F64
    """(K, 4, 4) covariance of x in frame axes."""
    link: I64
    """System track number of each row (-1 while unlinked)."""
    linked_s: F64
    """Fusion time at which the row's current link was made (orders links by age)."""
    weight: F64
    """Covariance-intersection weight of the row in its system track at the last call (NaN: none yet);
    the next call starts its weight optimisation there."""

    def __len__(self) -> int:
        return len(self.owner_code)

    @classmethod
    def empty(cls) -> ReportStore:
        """No reports."""
        return cls(
            TrackReports.empty(),
            np.zeros(0, np.int64),
            np.zeros((0, 4)),
            np.zeros((0, 4, 4)),
            np.zeros(0, np.int64),
            np.zeros(0),
            np.zeros(0),
        )


@dataclass(frozen=True, eq=False)
class FusionState:
    """Everything fusion remembers between calls. Immutable: `fuse` returns a new one."""

    frame: LocalFrame
    """Working frame for association and fusion; its origin should be near the area covered."""
    config: FusionConfig
    owners: tuple[str, ...] = ()
    """Owner names in order of first appearance (owner code = index)."""
    store: ReportStore = field(default_factory=ReportStore.empty)
    system_number: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    """Numbers of the system tracks of the last picture, ascending."""
    responsible_code: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    """Owner code responsible for reporting each system track of `system_number`."""
    next_number: int = 1
    dormant_key: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    """(owner code, track id) keys of tracks that aged out recently, for `revive_within_s`."""
    dormant_number: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    """The system number each dormant track last had."""
    dormant_s: F64 = field(default_factory=lambda: np.zeros(0))
    """When each dormant track aged out."""
    time_s: float = float("nan")
    """Time of the last `fuse` call."""
    stats: FusionStats = field(default_factory=FusionStats)

    def links(self) -> dict[tuple[str, int], int]:
        """(owner, track_id) -> system track number, for every stored report."""
        owners = self.owners
        return {
            (owners[o], int(t)): int(n)
            for o, t, n in zip(
                self.store.owner_code.tolist(),
                self.store.reports.track_id.tolist(),
                self.store.link.tolist(),
                strict=True,
            )
        }

    def responsible(self) -> dict[int, str]:
        """System track number -> owner responsible for reporting it."""
        return {
            int(n): self.owners[int(c)]
            for n, c in zip(self.system_number.tolist(), self.responsible_code.tolist(), strict=True)
        }


def new_fusion_state(frame: LocalFrame, config: FusionConfig | None = None) -> FusionState:
    """An empty fusion state working in `frame`."""
    cfg = config if config is not None else FusionConfig()
    cfg.check()
    return FusionState(frame=frame, config=cfg)


# --------------------------------------------------------------------------------------------- ingest


def _owner_codes(owners: tuple[str, ...], names: NDArray[np.str_]) -> tuple[tuple[str, ...], I64]:
    """Codes of the given owner names, registering new names; also the extended owner list."""
    unique, inverse = np.unique(names, return_inverse=True)
    known = list(owners)
    index = {o: i for i, o in enumerate(known)}
    codes = np.empty(len(unique), np.int64)
    for k, name in enumerate(unique.tolist()):
        if name not in index:
            index[name] = len(known)
            known.append(name)
        codes[k] = index[name]
    if len(known) > MAX_OWNERS:
        raise SchemaError(f"fusion: more than {MAX_OWNERS} owners ({len(known)})")
    return tuple(known), codes[inverse.reshape(-1)]


def ingest(
    state: FusionState, reports: TrackReports, now_s: float
) -> tuple[tuple[str, ...], ReportStore, dict[str, int]]:
    """Step 1: merge new reports into the store: latest per (owner, track_id); out-of-order and invalid ones dropped."""
    counts = {"reports_received": len(reports)}
    old = state.store
    if len(reports) == 0:
        return state.owners, old, counts
    cov_local = reports.covariance()
    x_new, P_new = frames.to_frame(
        state.frame, reports.lat_deg, reports.lon_deg, reports.v_east_mps, reports.v_north_mps, cov_local
    )
    valid = np.isfinite(reports.time_s) & np.isfinite(x_new).all(axis=1) & kernels.positive_definite(P_new)
    counts["invalid"] = int((~valid).sum())
    if not valid.all():
        reports, x_new, P_new = reports.take(valid), x_new[valid], P_new[valid]
    counts["clock_skew"] = int((reports.time_s > now_s + state.config.clock_skew_tolerance_s).sum())
    if len(reports) == 0:
        return state.owners, old, counts
    owners, codes = _owner_codes(state.owners, reports.owner)

    n_old, n_new = len(old), len(reports)
    owner_all = np.concatenate([old.owner_code, codes])
    tid_all = np.concatenate([old.reports.track_id, reports.track_id])
    time_all = np.concatenate([old.reports.time_s, reports.time_s])
    is_new = np.r_[np.zeros(n_old, bool), np.ones(n_new, bool)]
    # Sorted by key, then time; at equal times the new report comes last and wins.
    order = np.lexsort((is_new, time_all, tid_all, owner_all))
    o_s, t_s = owner_all[order], tid_all[order]
    first = np.r_[True, (o_s[1:] != o_s[:-1]) | (t_s[1:] != t_s[:-1])]
    group = np.cumsum(first) - 1
    n_groups = int(group[-1]) + 1
    last = np.r_[np.flatnonzero(first)[1:] - 1, len(order) - 1]
    chosen = order[last]
    # The store holds at most one row per key, so each group has at most one old row.
    old_sorted = ~is_new[order]
    old_group = group[old_sorted]
    old_time = np.full(n_groups, -np.inf)
    old_time[old_group] = time_all[order][old_sorted]
    counts["out_of_order"] = int((is_new[order] & (time_all[order] < old_time[group])).sum())
    link = np.full(n_groups, -1, np.int64)
    linked_s = np.full(n_groups, np.nan)
    old_rows = order[old_sorted]
    link[old_group] = old.link[old_rows]
    linked_s[old_group] = old.linked_s[old_rows]
    weight = np.full(n_groups, np.nan)
    weight[old_group] = old.weight[old_rows]

    all_reports = TrackReports.concat([old.reports, reports]) if n_old else reports
    x_all = np.concatenate([old.x, x_new]) if n_old else x_new
    P_all = np.concatenate([old.P, P_new]) if n_old else P_new
    store = ReportStore(
        all_reports.take(chosen), owner_all[chosen], x_all[chosen], P_all[chosen], link, linked_s, weight
    )
    return owners, store, counts


# ------------------------------------------------------------------------------------ dormant tracks


def track_keys(store: ReportStore) -> I64:
    """One integer per stored (owner, track_id)."""
    return store.owner_code.astype(np.int64) * (1 << 40) + store.reports.track_id.astype(np.int64)


def dormant_tracks(state: FusionState, store: ReportStore, aged: B, now_s: float) -> tuple[I64, I64, F64]:
    """Dormant tracks: those aging out now join, those dormant too long leave."""
    linked = aged & (store.link >= 0)
    keys = np.concatenate([state.dormant_key, track_keys(store)[linked]])
    numbers = np.concatenate([state.dormant_number, store.link[linked]])
    times = np.concatenate([state.dormant_s, np.full(int(linked.sum()), float(now_s))])
    keep = now_s - times <= state.config.revive_within_s
    return keys[keep], numbers[keep], times[keep]


def revive(link: I64, keys: I64, first_new: int, dormant: tuple[I64, I64, F64]) -> I64:
    """Give a system track started in this call the old number of a dormant track it holds, if free."""
    d_keys, d_numbers, _ = dormant
    new_rows = np.flatnonzero((link >= first_new) & np.isin(keys, d_keys))
    if len(new_rows) == 0:
        return link
    link = link.copy()
    taken = set(link[(link >= 0) & (link < first_new)].tolist())
    for row in new_rows.tolist():
        number = int(link[row])
        if number < first_new:
            continue  # already revived through another of its tracks
        old = int(d_numbers[np.flatnonzero(d_keys == keys[row])[-1]])
        if old not in taken:
            link[link == number] = old
            taken.add(old)
    return link
