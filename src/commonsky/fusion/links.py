"""Steps 3 to 5 of `engine`: which tracks make up which system track, with the numbers that follow from it.

`release` breaks links that left the keep gate, `associate` links unlinked tracks to system tracks
(global nearest neighbour, owner after owner) or starts new ones, and `merge` joins system tracks
that turn out to be one aircraft. The gating and assignment primitives are `association`'s; the
rules (hysteresis, Mode S / Mode A hints, superseding stale tracks) are here, in one place.
"""

from __future__ import annotations

import numpy as np

from commonsky.core.arrays import F64, I64, B
from commonsky.fusion import association, kernels
from commonsky.fusion.groups import Context, Fused, Groups, fuse_groups, group_links, identity_cost


def release(ctx: Context, link: I64, linked_s: F64) -> tuple[I64, I64]:
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
    ok &= ctx.vessel[ia] == ctx.vessel[ib]
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


def associate(
    ctx: Context, link: I64, linked_s: F64, released_from: I64, next_number: int
) -> tuple[I64, F64, B, int, dict[str, int]]:
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
    fused = fuse_groups(group_links(link, ctx.qkey), ctx)
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
        vessel = np.concatenate([fused.vessel, ctx.vessel[extra]])
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
            ) & (ctx.vessel[r] == vessel[ib])
            ia, ib, r, replace, d2 = ia[ok], ib[ok], r[ok], replace[ok], d2[ok]
            cost = identity_cost(ctx, ctx.mode_s[r], addr[ib], ctx.squawk[r], squawk[ib], d2)
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


def merge(ctx: Context, fused: Fused, link: I64, linked_s: F64, n_owners: int) -> tuple[I64, F64, B, dict[str, int]]:
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
    ok &= fused.vessel[cand][ia] == fused.vessel[cand][ib]
    ia, ib, d2 = ia[ok], ib[ok], d2[ok]
    if len(ia) == 0:
        return link, linked_s, superseded, counts
    sq = fused.squawk[cand]
    cost = identity_cost(ctx, addr[ia], addr[ib], sq[ia], sq[ib], d2)
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


def _supersede_shared(ctx: Context, g: Groups, ga: int, gb: int) -> list[int] | None:
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
