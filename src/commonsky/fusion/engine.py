"""Track-to-track fusion: partners' tracks and the node's own into one common recognised air picture.

`fuse(state, reports, now_s)` is a pure function: it takes the previous `FusionState` and the
reports that arrived since (from any subset of owners), and returns the new state and the
`SystemTracks` at `now_s`. The state keeps the latest report per (owner, track_id).

Rules, in the order a call applies them:

1. Ingest. A report replaces the stored one of its (owner, track_id) if it is at least as new.
   A report older than the one already held is out of order: it is ignored and counted
   (**rejection by age, no retrodiction**: a late report never rewinds a track). Reports with
   non-finite values or a covariance that is not positive definite are dropped and counted.
2. Alignment in time. Reports older than `max_age_s` at `now_s` are dropped (the partner's track
   aged out). Every other report is extrapolated to `now_s` with a constant-velocity model, its
   covariance grown by white-acceleration noise (q = `accel_noise_m2ps3`, Q = q [[dt³/3, dt²/2],
   [dt²/2, dt]] per axis); altitude by its vertical rate, variance + q_v dt³/3. A report stamped
   after `now_s` (clock skew) is clamped: used as if taken at `now_s` (counted beyond
   `clock_skew_tolerance_s`).
3. Persistence. Each (owner, track_id) linked to a system track stays linked while its chi-square
   distance to every other member stays within the keep gate (hysteresis: the keep gates are
   larger than the make gates, so links do not flicker). Members with different known Mode S
   addresses are never kept together; equal addresses get the larger address gate. When members
   conflict, the one with most conflicts is released; among equals the youngest link (then the
   lowest quality), so the system number stays with the oldest links and with the majority.
4. Association of unlinked tracks, one owner after the other: global nearest neighbour
   (`linear_sum_assignment` per connected cluster of k-d-tree pre-gated candidates) against the
   system tracks that hold no track of that owner, on the chi-square distance of the 4-D
   difference [east, north, v_east, v_north] under the SUM of the two covariances. The
   cross-covariance between owners is unknown (common process noise, shared sensors), so the sum
   is an approximation; positive correlation makes it err towards linking. An equal Mode S
   address links within a much larger gate and lowers the cost; differing known addresses never
   link; a Mode A code mismatch adds a cost (not a gate). A track may also take the place of the same owner's
   stale track in a system track (its newest report `supersede_after_s` older): the partner
   dropped the old track and started a new one, so the old one is discarded. Tracks left over
   start new system tracks. A track is never re-linked to the system track it was released from
   in the same call.
5. Merge. Two system tracks whose fused estimates pass the make gate (or the address gate) are
   one aircraft if their owners are disjoint, or if every owner they share has a stale track in
   one of them (newest report `supersede_after_s` older than the other's, which is then
   discarded): they merge, keeping the older (smaller) number. A system track takes part in at
   most one merge per call.
6. Fusion. The members of each system track are fused by covariance intersection (CI), whose
   result is consistent whatever the unknown cross-correlations; the weights minimise the
   determinant (default) or trace of the fused covariance, for any number of inputs
   (`kernels.covariance_intersection`; a small smoothing term keeps the weights from jumping
   between sources whose covariances are nearly proportional, and each call starts from the
   previous call's weights). Altitude is fused by CI of the scalar variances, whose
   optimum is the input with the smallest variance (a scalar CI cannot do better without knowing
   the correlation); the vertical rate comes with it. Identity (Mode S address, Mode A code,
   callsign) comes from the best-quality source that has it.
7. Numbers. System track numbers are integers from 1, never given to another aircraft. A number
   belongs to its links: it stays while any link persists, follows the oldest/majority links when
   a track is released, and the older number survives a merge. A track that aged out (its partner
   fell silent, say during a link outage) and reports again within `revive_within_s` gets its old
   number back when no system track holds it. Every change of an (owner, track_id)'s system
   number counts as a number change.
8. Reporting responsibility. Per system track, the owner with the best track quality; a challenger
   takes over only if its quality exceeds the current responsible owner's by
   `responsibility_margin`, or if the current one no longer contributes a track.

All geometry is done in the horizontal plane of one `LocalFrame` (see `frames`); the output is
back in WGS-84 with local-axis covariances, the same terms as `TrackReports`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from commonsky.core.batches import OWNER_DTYPE, TrackReports
from commonsky.core.errors import SchemaError
from commonsky.core.geodesy import LocalFrame
from commonsky.fusion import association, frames, kernels
from commonsky.fusion.config import FusionConfig
from commonsky.fusion.system_tracks import SystemTracks

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B1 = NDArray[np.bool_]

MAX_OWNERS = 62
"""Owners one node can fuse: each system track keeps the set of its owners as bits of an int64."""
_BIG = np.iinfo(np.int64).max


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
class ReportStore:
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

    def take(self, index: NDArray[Any]) -> ReportStore:
        """Rows selected by an integer index or boolean mask."""
        return ReportStore(
            self.reports.take(index),
            self.owner_code[index],
            self.x[index],
            self.P[index],
            self.link[index],
            self.linked_s[index],
            self.weight[index],
        )

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


def _ingest(
    state: FusionState, reports: TrackReports, now_s: float
) -> tuple[tuple[str, ...], ReportStore, dict[str, int]]:
    """Merge new reports into the store: latest per (owner, track_id); out-of-order and invalid ones dropped."""
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


# --------------------------------------------------------------------------------------------- groups


@dataclass(frozen=True)
class _Groups:
    """Linked rows grouped by system number; within a group, best quality first."""

    rows: I64
    starts: I64
    """Group g is rows[starts[g]:starts[g+1]]."""
    number: I64
    """System number of each group, ascending."""

    @property
    def n(self) -> int:
        return len(self.number)

    def group_of_position(self) -> I64:
        """Group index of each position in `rows`."""
        return np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.starts))


def _group(link: I64, qkey: F64) -> _Groups:
    rows = np.flatnonzero(link >= 0)
    order = np.lexsort((-qkey[rows], link[rows]))
    rows = rows[order]
    lk = link[rows]
    heads = np.flatnonzero(np.r_[True, lk[1:] != lk[:-1]]) if len(rows) else np.zeros(0, np.int64)
    return _Groups(rows, np.r_[heads, len(rows)].astype(np.int64), lk[heads])


def _first_valid(valid: B1, g: _Groups) -> I64:
    """Per group, the first row (in group order) where `valid` holds, or -1."""
    if g.n == 0:
        return np.zeros(0, np.int64)
    pos = np.where(valid[g.rows], np.arange(len(g.rows)), _BIG)
    first = np.minimum.reduceat(pos, g.starts[:-1])
    return np.where(first < _BIG, g.rows[np.minimum(first, len(g.rows) - 1)], -1)


def _min_row(key: F64, g: _Groups) -> I64:
    """Per group, the first row (in group order) with the smallest finite key, or -1."""
    k = key[g.rows]
    smallest = np.minimum.reduceat(k, g.starts[:-1])
    pos = np.where(np.isfinite(k) & (k == np.repeat(smallest, np.diff(g.starts))), np.arange(len(g.rows)), _BIG)
    first = np.minimum.reduceat(pos, g.starts[:-1])
    return np.where(first < _BIG, g.rows[np.minimum(first, len(g.rows) - 1)], -1)


@dataclass(frozen=True)
class _Fused:
    groups: _Groups
    x: F64
    P: F64
    weight: F64
    """CI weight of each row of `groups.rows`."""
    mask: I64
    """Bit set of the owner codes in each group."""
    addr: I64
    """Known Mode S address of each group (-1 none)."""
    squawk: I64


def _fuse_groups(g: _Groups, ctx: _Context) -> _Fused:
    cfg = ctx.cfg
    if g.n == 0:
        empty = np.zeros(0, np.int64)
        return _Fused(g, np.zeros((0, 4)), np.zeros((0, 4, 4)), np.zeros(0), empty, empty, empty)
    xs, Ps, weight, ok = kernels.covariance_intersection(
        ctx.xe[g.rows],
        ctx.Pe[g.rows],
        g.starts,
        ctx.w0[g.rows],
        cfg.ci_criterion == "trace",
        cfg.ci_smoothing,
        cfg.ci_max_iterations,
        cfg.ci_tolerance,
    )
    if not ok.all():  # cannot happen for validated inputs; fall back to the best member
        best = g.rows[g.starts[:-1]]
        xs[~ok] = ctx.xe[best[~ok]]
        Ps[~ok] = ctx.Pe[best[~ok]]
    heads = g.starts[:-1]
    mask = np.bitwise_or.reduceat(np.left_shift(np.int64(1), ctx.owner[g.rows]), heads)
    addr = np.maximum.reduceat(ctx.mode_s[g.rows], heads)
    sq_row = _first_valid(ctx.squawk >= 0, g)
    squawk = np.where(sq_row >= 0, ctx.squawk[sq_row], -1)
    return _Fused(g, xs, Ps, weight, mask, addr, squawk)


@dataclass
class _Context:
    """Per-call arrays aligned with the store rows (after ageing), shared by the steps."""

    cfg: FusionConfig
    now_s: float
    owner: I64
    time: F64
    qkey: F64
    """Quality with NaN as -1, for ordering."""
    mode_s: I64
    squawk: I64
    xe: F64
    Pe: F64
    sigma: F64
    """Position σ (m) of each extrapolated row, for pre-gating."""
    w0: F64
    """CI weight of each row at the last call, where the weight optimisation starts."""


def _identity_cost(ctx: _Context, addr_a: I64, addr_b: I64, squawk_a: I64, squawk_b: I64, d2: F64) -> F64:
    cfg = ctx.cfg
    same_addr = (addr_a >= 0) & (addr_a == addr_b)
    squawk_differs = (squawk_a >= 0) & (squawk_b >= 0) & (squawk_a != squawk_b)
    return d2 + cfg.squawk_mismatch_cost * squawk_differs - cfg.address_bonus * same_addr


# --------------------------------------------------------------------------------------------- steps


def _release(ctx: _Context, link: I64, linked_s: F64) -> tuple[I64, I64]:
    """Step 3: break links that left the keep gate. Returns the new links and, per row, the number it left (-1)."""
    cfg = ctx.cfg
    released_from = np.full(len(link), -1, np.int64)
    rows = np.flatnonzero(link >= 0)
    if len(rows) < 2:
        return link, released_from
    # Within a group: oldest link first, then best quality.
    rows = rows[np.lexsort((-ctx.qkey[rows], linked_s[rows], link[rows]))]
    lk = link[rows]
    ia_parts: list[I64] = []
    ib_parts: list[I64] = []
    for k in range(1, len(rows)):
        same = lk[k:] == lk[:-k]
        if not same.any():
            break
        ia_parts.append(rows[:-k][same])
        ib_parts.append(rows[k:][same])
    if not ia_parts:
        return link, released_from
    ia = np.concatenate(ia_parts)
    ib = np.concatenate(ib_parts)
    d2 = kernels.pair_chi2(ctx.xe, ctx.Pe, ia, ctx.xe, ctx.Pe, ib)
    dist = np.hypot(ctx.xe[ia, 0] - ctx.xe[ib, 0], ctx.xe[ia, 1] - ctx.xe[ib, 1])
    ok = association.pair_compatible(
        ctx.mode_s[ia], ctx.mode_s[ib], d2, cfg.keep_gate_chi2, cfg.address_keep_gate_chi2
    ) & (dist <= cfg.max_link_distance_m)
    if ok.all():
        return link, released_from
    link = link.copy()
    bad_pairs = {(int(a), int(b)) for a, b in zip(ia[~ok].tolist(), ib[~ok].tolist(), strict=True)}
    for number in np.unique(lk[np.isin(rows, ia[~ok])]).tolist():
        lo, hi = np.searchsorted(lk, [number, number + 1])
        members = rows[lo:hi].tolist()  # oldest link first
        while True:
            conflicts = [sum((a, b) in bad_pairs or (b, a) in bad_pairs for b in members if b != a) for a in members]
            worst = max(conflicts)
            if worst == 0:
                break
            # Most conflicts; among equals the youngest link (latest in the order).
            victim = max(i for i, c in enumerate(conflicts) if c == worst)
            row = members.pop(victim)
            link[row] = -1
            released_from[row] = number
    return link, released_from


def _associate(
    ctx: _Context, link: I64, linked_s: F64, released_from: I64, next_number: int
) -> tuple[I64, F64, B1, int, dict[str, int]]:
    """Step 4: sequential per-owner GNN of unlinked rows to system tracks; leftovers start new ones.

    The system tracks are fused once; each owner's rows are assigned against those estimates and
    against the single-track system tracks that earlier owners' leftovers started in this call (a
    system track that gained a track in an earlier owner's turn keeps its estimate of before: still
    a valid estimate of the aircraft, and one CI pass per call instead of one per owner).
    """
    cfg = ctx.cfg
    counts = {"links_made": 0, "system_tracks_created": 0, "superseded": 0}
    superseded = np.zeros(len(link), bool)
    if not (link < 0).any():
        return link, linked_s, superseded, next_number, counts
    link = link.copy()
    linked_s = linked_s.copy()
    fused = _fuse_groups(_group(link, ctx.qkey), ctx)
    g = fused.groups
    owner_of_position = ctx.owner[g.rows]
    group_of_position = g.group_of_position()
    started: list[I64] = []
    for o in np.unique(ctx.owner[link < 0]).tolist():
        rows = np.flatnonzero((link < 0) & (ctx.owner == o) & ~superseded)
        extra = np.concatenate(started) if started else np.zeros(0, np.int64)
        number = np.concatenate([g.number, link[extra]])
        sx = np.concatenate([fused.x, ctx.xe[extra]])
        sP = np.concatenate([fused.P, ctx.Pe[extra]])
        addr = np.concatenate([fused.addr, ctx.mode_s[extra]])
        squawk = np.concatenate([fused.squawk, ctx.squawk[extra]])
        # The owner's current track in each system track, if any (new ones are other owners').
        member_row = np.full(len(number), -1, np.int64)
        of_o = owner_of_position == o
        member_row[group_of_position[of_o]] = g.rows[of_o]
        assigned = np.zeros(len(rows), bool)
        if len(number):
            ia, ib = association.candidate_pairs(
                ctx.xe[rows, :2],
                ctx.sigma[rows],
                ctx.mode_s[rows],
                sx[:, :2],
                association.position_sigma(sP),
                addr,
                cfg.make_gate_chi2,
                cfg.max_link_distance_m,
            )
            r = rows[ia]
            held = member_row[ib]
            has_o = held >= 0
            replace = has_o & (ctx.time[np.maximum(held, 0)] <= ctx.time[r] - cfg.supersede_after_s)
            eligible = (~has_o | replace) & (number[ib] != released_from[r])
            ia, ib, r, replace = ia[eligible], ib[eligible], r[eligible], replace[eligible]
            d2 = kernels.pair_chi2(ctx.xe, ctx.Pe, r, sx, sP, ib)
            ok = association.pair_compatible(
                ctx.mode_s[r], addr[ib], d2, cfg.make_gate_chi2, cfg.address_make_gate_chi2
            )
            ia, ib, r, replace, d2 = ia[ok], ib[ok], r[ok], replace[ok], d2[ok]
            cost = _identity_cost(ctx, ctx.mode_s[r], addr[ib], ctx.squawk[r], squawk[ib], d2)
            pick = association.assign(ia, ib, cost)
            link[r[pick]] = number[ib[pick]]
            linked_s[r[pick]] = ctx.now_s
            assigned[ia[pick]] = True
            counts["links_made"] += len(pick)
            gone = member_row[ib[pick][replace[pick]]]
            superseded[gone] = True
            link[gone] = -1
            counts["superseded"] += len(gone)
        left = rows[~assigned]
        link[left] = next_number + np.arange(len(left))
        linked_s[left] = ctx.now_s
        next_number += len(left)
        counts["system_tracks_created"] += len(left)
        started.append(left)
    return link, linked_s, superseded, next_number, counts


def _merge(
    ctx: _Context, fused: _Fused, link: I64, linked_s: F64, n_owners: int
) -> tuple[I64, F64, B1, dict[str, int]]:
    """Step 5: merge system tracks that are one aircraft; the older (smaller) number survives.

    Two system tracks merge when their fused estimates pass the make gate and their owners are
    disjoint, or every owner they share has, in one of them, a track whose newest report is
    `supersede_after_s` older than the other's: that stale track is dropped (superseded). A system
    track takes part in at most one merge per call. Returns the links, link times, the rows
    superseded and counts.
    """
    cfg = ctx.cfg
    g = fused.groups
    counts = {"merges": 0, "superseded": 0}
    superseded = np.zeros(len(link), bool)
    if g.n < 2:
        return link, linked_s, superseded, counts
    full = (1 << n_owners) - 1
    oldest = np.minimum.reduceat(ctx.time[g.rows], g.starts[:-1])
    has_stale = oldest <= ctx.now_s - cfg.supersede_after_s
    cand = np.flatnonzero((fused.mask != full) | has_stale)
    if len(cand) < 2:
        return link, linked_s, superseded, counts
    xs, Ps = fused.x[cand], fused.P[cand]
    sig = association.position_sigma(Ps)
    addr = fused.addr[cand]
    mask = fused.mask[cand]
    stale = has_stale[cand]
    ia, ib = association.candidate_pairs(
        xs[:, :2], sig, addr, xs[:, :2], sig, addr, cfg.make_gate_chi2, cfg.max_link_distance_m
    )
    overlap = mask[ia] & mask[ib]
    possible = (ia < ib) & ((overlap == 0) | stale[ia] | stale[ib])
    ia, ib = ia[possible], ib[possible]
    if len(ia) == 0:
        return link, linked_s, superseded, counts
    d2 = kernels.pair_chi2(xs, Ps, ia, xs, Ps, ib)
    ok = association.pair_compatible(addr[ia], addr[ib], d2, cfg.make_gate_chi2, cfg.address_make_gate_chi2)
    ia, ib, d2 = ia[ok], ib[ok], d2[ok]
    if len(ia) == 0:
        return link, linked_s, superseded, counts
    sq = fused.squawk[cand]
    cost = _identity_cost(ctx, addr[ia], addr[ib], sq[ia], sq[ib], d2)
    link = link.copy()
    linked_s = linked_s.copy()
    used: set[int] = set()
    for k in np.argsort(cost, kind="stable").tolist():
        a, b = int(ia[k]), int(ib[k])
        if a in used or b in used:
            continue
        dropped = _supersede_shared(ctx, g, int(cand[a]), int(cand[b]))
        if dropped is None:
            continue
        used.update((a, b))
        na, nb = int(g.number[cand[a]]), int(g.number[cand[b]])
        keep, drop = min(na, nb), max(na, nb)
        link[dropped] = -1
        superseded[dropped] = True
        moved = link == drop
        link[moved] = keep
        linked_s[moved] = ctx.now_s
        counts["merges"] += 1
        counts["superseded"] += len(dropped)
    return link, linked_s, superseded, counts


def _supersede_shared(ctx: _Context, g: _Groups, ga: int, gb: int) -> list[int] | None:
    """Rows to drop so that groups ga and gb share no owner (each shared owner's stale track), or None."""
    rows_a = g.rows[g.starts[ga] : g.starts[ga + 1]].tolist()
    rows_b = g.rows[g.starts[gb] : g.starts[gb + 1]].tolist()
    by_owner = {int(ctx.owner[r]): r for r in rows_b}
    dropped: list[int] = []
    margin = ctx.cfg.supersede_after_s
    for ra in rows_a:
        rb = by_owner.get(int(ctx.owner[ra]))
        if rb is None:
            continue
        if ctx.time[ra] <= ctx.time[rb] - margin:
            dropped.append(ra)
        elif ctx.time[rb] <= ctx.time[ra] - margin:
            dropped.append(rb)
        else:
            return None
    return dropped


def _responsibility(state: FusionState, ctx: _Context, g: _Groups) -> tuple[I64, int]:
    """Step 8: responsible owner per group, with hysteresis; and how many changed."""
    heads = g.starts[:-1]
    best_row = g.rows[heads]
    best_owner = ctx.owner[best_row]
    best_q = ctx.qkey[best_row]
    prev = np.full(g.n, -1, np.int64)
    if len(state.system_number):
        pos = np.minimum(np.searchsorted(state.system_number, g.number), len(state.system_number) - 1)
        found = state.system_number[pos] == g.number
        prev[found] = state.responsible_code[pos[found]]
    gpos = g.group_of_position()
    is_prev = ctx.owner[g.rows] == prev[gpos]
    cur_q = np.full(g.n, -np.inf)
    cur_q[gpos[is_prev]] = ctx.qkey[g.rows[is_prev]]
    switch = (cur_q == -np.inf) | (best_q > cur_q + ctx.cfg.responsibility_margin)
    responsible = np.where(switch, best_owner, prev)
    changes = int((switch & (prev >= 0) & (best_owner != prev)).sum())
    return responsible, changes


_RANK_STATUS = np.array(["tentative", "coasting", "confirmed"])


def _picture(
    state: FusionState, ctx: _Context, store: ReportStore, fused: _Fused, owners: tuple[str, ...], responsible: I64
) -> SystemTracks:
    """Step 6 and output: altitude, identity, status and make-up of each group; back to WGS-84."""
    g = fused.groups
    if g.n == 0:
        return SystemTracks.empty()
    rep = store.reports
    cfg = ctx.cfg
    heads = g.starts[:-1]
    rows = g.rows
    dt = np.maximum(ctx.now_s - ctx.time, 0.0)
    alt = rep.alt_m + np.where(np.isfinite(rep.v_up_mps), rep.v_up_mps, 0.0) * dt
    var_alt = rep.var_alt_m2 + cfg.vertical_accel_noise_m2ps3 * dt**3 / 3.0
    # Scalar CI: the smallest variance wins; an altitude without variance only if no other.
    alt_key = np.where(np.isfinite(alt), np.where(np.isfinite(var_alt), var_alt, 1e300), np.inf)
    alt_row = _min_row(alt_key, g)
    has_alt = alt_row >= 0
    ar = np.maximum(alt_row, 0)

    mode_row = _first_valid(ctx.mode_s >= 0, g)
    squawk_row = _first_valid(ctx.squawk >= 0, g)
    call_row = _first_valid(rep.callsign != "", g)

    status_rank = np.select([rep.status == "confirmed", rep.status == "coasting"], [2, 1], 0)
    rank = np.maximum.reduceat(status_rank[rows], heads)
    newest = np.maximum.reduceat(ctx.time[rows], heads)
    rank = np.where((ctx.now_s - newest > cfg.coast_after_s) & (rank == 2), 1, rank)

    names = np.array(owners, dtype=OWNER_DTYPE)
    item = np.char.add(np.char.add(names[ctx.owner[rows]], ":"), rep.track_id[rows].astype(np.str_))
    size = np.diff(g.starts)
    sources = item[heads]
    for k in range(1, int(size.max())):
        nxt = item[np.minimum(heads + k, len(rows) - 1)]
        sources = np.where(size > k, np.char.add(np.char.add(sources, ";"), nxt), sources)

    lat, lon, ve, vn, cov = frames.to_local(state.frame, fused.x, fused.P)
    return SystemTracks.build(
        g.n,
        time_s=np.full(g.n, ctx.now_s),
        system_id=g.number,
        lat_deg=lat,
        lon_deg=lon,
        alt_m=np.where(has_alt, alt[ar], np.nan),
        v_east_mps=ve,
        v_north_mps=vn,
        v_up_mps=np.where(has_alt, rep.v_up_mps[ar], np.nan),
        var_alt_m2=np.where(has_alt, var_alt[ar], np.nan),
        **TrackReports.covariance_columns(cov),
        status=_RANK_STATUS[rank],
        quality=np.fmax.reduceat(rep.quality[rows], heads),
        sensor_kinds=np.bitwise_or.reduceat(rep.sensor_kinds[rows].astype(np.int64), heads).astype(np.int8),
        mode_s=np.where(mode_row >= 0, ctx.mode_s[np.maximum(mode_row, 0)], -1),
        squawk=np.where(squawk_row >= 0, ctx.squawk[np.maximum(squawk_row, 0)], -1),
        callsign=np.where(call_row >= 0, rep.callsign[np.maximum(call_row, 0)], ""),
        responsible=names[responsible],
        n_sources=size,
        sources=sources,
    )


# --------------------------------------------------------------------------------------------- fuse


def fuse(state: FusionState, reports: TrackReports, now_s: float) -> tuple[FusionState, SystemTracks]:
    """Fuse the stored and newly arrived reports into the common picture at `now_s`.

    `reports` holds whatever arrived since the last call, from any owners (the node's own tracks
    and partners'); owners that sent nothing keep their stored reports until they age out.
    Returns the new state and the system tracks at `now_s` (see the module docstring for the rules).
    """
    cfg = state.config
    owners, store, counts = _ingest(state, reports, now_s)
    fresh = now_s - store.reports.time_s <= cfg.max_age_s
    counts["aged_out"] = int((~fresh).sum())
    dormant = _dormant(state, store, ~fresh, now_s)
    if not fresh.all():
        store = store.take(fresh)
    rep = store.reports
    dt = np.maximum(now_s - rep.time_s, 0.0)
    xe, Pe = kernels.extrapolate(store.x, store.P, dt, cfg.accel_noise_m2ps3)
    ctx = _Context(
        cfg=cfg,
        now_s=float(now_s),
        owner=store.owner_code,
        time=rep.time_s,
        qkey=np.where(np.isfinite(rep.quality), rep.quality, -1.0),
        mode_s=rep.mode_s.astype(np.int64),
        squawk=rep.squawk.astype(np.int64),
        xe=xe,
        Pe=Pe,
        sigma=association.position_sigma(Pe),
        w0=store.weight,
    )
    previous = store.link
    link, released_from = _release(ctx, store.link, store.linked_s)
    counts["links_released"] = int((released_from >= 0).sum())
    link, linked_s, superseded, next_number, assoc_counts = _associate(
        ctx, link, store.linked_s, released_from, state.next_number
    )
    keys = _track_keys(store)
    link = _revive(link, keys, state.next_number, dormant)
    back = np.isin(dormant[0], keys)  # dormant tracks reporting again are no longer dormant
    dormant = (dormant[0][~back], dormant[1][~back], dormant[2][~back])
    counts.update(assoc_counts)
    if superseded.any():
        keep = ~superseded
        store, ctx = store.take(keep), _take_context(ctx, keep)
        link, linked_s, previous = link[keep], linked_s[keep], previous[keep]
    fused = _fuse_groups(_group(link, ctx.qkey), ctx)
    link, linked_s, superseded, merge_counts = _merge(ctx, fused, link, linked_s, len(owners))
    counts["superseded"] += merge_counts["superseded"]
    counts["merges"] = merge_counts["merges"]
    if superseded.any():
        keep = ~superseded
        store, ctx = store.take(keep), _take_context(ctx, keep)
        link, linked_s, previous = link[keep], linked_s[keep], previous[keep]
    if merge_counts["merges"]:
        fused = _fuse_groups(_group(link, ctx.qkey), ctx)
    counts["number_changes"] = int(((previous >= 0) & (link != previous)).sum())
    weight = np.full(len(link), np.nan)
    weight[fused.groups.rows] = fused.weight
    store = dataclasses.replace(store, link=link, linked_s=linked_s, weight=weight)
    responsible, counts["responsibility_changes"] = _responsibility(state, ctx, fused.groups)
    picture = _picture(state, ctx, store, fused, owners, responsible)
    new_state = dataclasses.replace(
        state,
        owners=owners,
        store=store,
        system_number=fused.groups.number.copy(),
        responsible_code=responsible,
        next_number=next_number,
        dormant_key=dormant[0],
        dormant_number=dormant[1],
        dormant_s=dormant[2],
        time_s=float(now_s),
        stats=state.stats.plus(calls=1, **counts),
    )
    return new_state, picture


def _track_keys(store: ReportStore) -> I64:
    """One integer per stored (owner, track_id)."""
    return store.owner_code.astype(np.int64) * (1 << 40) + store.reports.track_id.astype(np.int64)


def _dormant(state: FusionState, store: ReportStore, aged: B1, now_s: float) -> tuple[I64, I64, F64]:
    """Dormant tracks: those aging out now join, those dormant too long leave."""
    linked = aged & (store.link >= 0)
    keys = np.concatenate([state.dormant_key, _track_keys(store)[linked]])
    numbers = np.concatenate([state.dormant_number, store.link[linked]])
    times = np.concatenate([state.dormant_s, np.full(int(linked.sum()), float(now_s))])
    keep = now_s - times <= state.config.revive_within_s
    return keys[keep], numbers[keep], times[keep]


def _revive(link: I64, keys: I64, first_new: int, dormant: tuple[I64, I64, F64]) -> I64:
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


def _take_context(ctx: _Context, index: B1) -> _Context:
    return dataclasses.replace(
        ctx,
        owner=ctx.owner[index],
        time=ctx.time[index],
        qkey=ctx.qkey[index],
        mode_s=ctx.mode_s[index],
        squawk=ctx.squawk[index],
        xe=ctx.xe[index],
        Pe=ctx.Pe[index],
        sigma=ctx.sigma[index],
        w0=ctx.w0[index],
    )
