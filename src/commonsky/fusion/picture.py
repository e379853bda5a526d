"""Reporting responsibility (step 8 of `engine`) and the picture: each system track as a `SystemTracks` row.

The responsible owner changes only past a quality margin (hysteresis). The picture takes each
group's altitude by scalar CI (the smallest variance, step 6), its identity from the best-quality
member that has it, its status and make-up, and brings the fused state back to WGS-84.
"""

from __future__ import annotations

import numpy as np

from commonsky.core.arrays import I64
from commonsky.core.batches import OWNER_DTYPE, TrackReports
from commonsky.core.sensors import DOMAIN_AIR, DOMAIN_SURFACE
from commonsky.fusion import frames
from commonsky.fusion.groups import Context, Fused, Groups, first_valid, min_row
from commonsky.fusion.state import FusionState, ReportStore
from commonsky.fusion.system_tracks import SystemTracks


def responsibility(state: FusionState, ctx: Context, g: Groups) -> tuple[I64, int]:
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


def picture(
    state: FusionState, ctx: Context, store: ReportStore, fused: Fused, owners: tuple[str, ...], responsible: I64
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
    alt_row = min_row(alt_key, g)
    has_alt = alt_row >= 0
    ar = np.maximum(alt_row, 0)

    mode_row = first_valid(ctx.mode_s >= 0, g)
    vessel = ctx.vessel[rows[heads]]
    squawk_row = first_valid(ctx.squawk >= 0, g)
    call_row = first_valid(rep.callsign != "", g)

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
        mode_s=np.where((mode_row >= 0) & ~vessel, ctx.mode_s[np.maximum(mode_row, 0)], -1),
        mmsi=np.where((mode_row >= 0) & vessel, ctx.mode_s[np.maximum(mode_row, 0)], -1),
        domain=np.where(vessel, DOMAIN_SURFACE, DOMAIN_AIR),
        squawk=np.where(squawk_row >= 0, ctx.squawk[np.maximum(squawk_row, 0)], -1),
        callsign=np.where(call_row >= 0, rep.callsign[np.maximum(call_row, 0)], ""),
        responsible=names[responsible],
        n_sources=size,
        sources=sources,
    )
