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

`fuse` here runs the steps in order; each lives where the next algorithm can replace it: the state
and step 1 in `state`, steps 3 to 5 in `links`, the per-call rows, their grouping and the CI of
step 6 in `groups`, step 8 and the output in `picture`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from commonsky.core.arrays import F64, I64, B
from commonsky.core.batches import SENSOR_SURFACE_RADAR, TrackReports
from commonsky.core.geodesy import EARTH_RADIUS_M
from commonsky.core.sensors import DOMAIN_SURFACE
from commonsky.fusion import association, kernels
from commonsky.fusion.groups import Context, fuse_groups, group_links
from commonsky.fusion.links import associate, merge, release
from commonsky.fusion.picture import picture, responsibility
from commonsky.fusion.state import (
    MAX_OWNERS,
    FusionState,
    FusionStats,
    ReportStore,
    dormant_tracks,
    ingest,
    new_fusion_state,
    revive,
    track_keys,
)
from commonsky.fusion.system_tracks import SystemTracks

__all__ = ["MAX_OWNERS", "FusionState", "FusionStats", "ReportStore", "fuse", "new_fusion_state"]


def fuse(state: FusionState, reports: TrackReports, now_s: float) -> tuple[FusionState, SystemTracks]:
    """Fuse the stored and newly arrived reports into the common picture at `now_s`.

    `reports` holds whatever arrived since the last call, from any owners (the node's own tracks
    and partners'); owners that sent nothing keep their stored reports until they age out.
    Returns the new state and the system tracks at `now_s` (see the module docstring for the rules).
    """
    cfg = state.config
    owners, store, counts = ingest(state, reports, now_s)
    fresh = now_s - store.reports.time_s <= cfg.max_age_s
    counts["aged_out"] = int((~fresh).sum())
    refuted = refuted_ais(store.reports, fresh, cfg.ais_refute_distance_m, cfg.ais_refute_reach_m)
    counts["ais_refuted"] = int(refuted.sum())
    fresh &= ~refuted
    dormant = dormant_tracks(state, store, ~fresh, now_s)
    if not fresh.all():
        store = store.take(fresh)
    rep = store.reports
    dt = np.maximum(now_s - rep.time_s, 0.0)
    xe, Pe = kernels.extrapolate(store.x, store.P, dt, cfg.accel_noise_m2ps3)
    ctx = Context(
        cfg=cfg,
        now_s=float(now_s),
        owner=store.owner_code,
        time=rep.time_s,
        qkey=np.where(np.isfinite(rep.quality), rep.quality, -1.0),
        mode_s=np.where(rep.mmsi >= 0, rep.mmsi, rep.mode_s).astype(np.int64),
        squawk=rep.squawk.astype(np.int64),
        vessel=rep.domain == DOMAIN_SURFACE,
        xe=xe,
        Pe=Pe,
        sigma=association.position_sigma(Pe),
        w0=store.weight,
    )
    previous = store.link
    link, released_from = release(ctx, store.link, store.linked_s)
    counts["links_released"] = int((released_from >= 0).sum())
    link, linked_s, superseded, next_number, assoc_counts = associate(
        ctx, link, store.linked_s, released_from, state.next_number
    )
    keys = track_keys(store)
    link = revive(link, keys, state.next_number, dormant)
    back = np.isin(dormant[0], keys)  # dormant tracks reporting again are no longer dormant
    dormant = (dormant[0][~back], dormant[1][~back], dormant[2][~back])
    counts.update(assoc_counts)
    if superseded.any():
        store, ctx, link, linked_s, previous = _drop(~superseded, store, ctx, link, linked_s, previous)
    fused = fuse_groups(group_links(link, ctx.qkey), ctx)
    link, linked_s, superseded, merge_counts = merge(ctx, fused, link, linked_s, len(owners))
    counts["superseded"] += merge_counts["superseded"]
    counts["merges"] = merge_counts["merges"]
    if superseded.any():
        store, ctx, link, linked_s, previous = _drop(~superseded, store, ctx, link, linked_s, previous)
    if merge_counts["merges"]:
        fused = fuse_groups(group_links(link, ctx.qkey), ctx)
    counts["number_changes"] = int(((previous >= 0) & (link != previous)).sum())
    weight = np.full(len(link), np.nan)
    weight[fused.groups.rows] = fused.weight
    store = dataclasses.replace(store, link=link, linked_s=linked_s, weight=weight)
    responsible, counts["responsibility_changes"] = responsibility(state, ctx, fused.groups)
    tracks = picture(state, ctx, store, fused, owners, responsible)
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
    return new_state, tracks


def refuted_ais(rep: TrackReports, fresh: B, distance_m: float, reach_m: float) -> B:
    """Fresh vessel reports fed by AIS alone whose MMSI a fresh shore-radar-fed report holds between `distance_m`
    and `reach_m` away, and none nearer: the radar watching that vessel would see one at the AIS position, so it
    contradicts it (a spoofed position). Farther apart, two vessels may share the MMSI. Fusion leaves refuted
    reports out; their owners' local pictures keep them, and the assessment alerts on the conflict."""
    out = np.zeros(len(rep), dtype=bool)
    vessel = fresh & (rep.domain == DOMAIN_SURFACE) & (rep.mmsi >= 0)
    radar = (rep.sensor_kinds.astype(np.int64) & SENSOR_SURFACE_RADAR) != 0
    claims, witnesses = np.flatnonzero(vessel & ~radar), np.flatnonzero(vessel & radar)
    if len(claims) == 0 or len(witnesses) == 0:
        return out
    ia, ib = association.address_pairs(rep.mmsi[claims].astype(np.int64), rep.mmsi[witnesses].astype(np.int64))
    claim, witness = claims[ia], witnesses[ib]
    north = np.radians(rep.lat_deg[claim] - rep.lat_deg[witness]) * EARTH_RADIUS_M
    east = (
        np.radians(rep.lon_deg[claim] - rep.lon_deg[witness]) * EARTH_RADIUS_M * np.cos(np.radians(rep.lat_deg[claim]))
    )
    d = np.hypot(east, north)
    supported = np.zeros(len(rep), dtype=bool)
    supported[claim[d <= distance_m]] = True
    out[claim[(d > distance_m) & (d <= reach_m)]] = True
    return out & ~supported


def _drop(
    keep: B, store: ReportStore, ctx: Context, link: I64, linked_s: F64, previous: I64
) -> tuple[ReportStore, Context, I64, F64, I64]:
    """The rows of `keep` of the store, the context and the per-row arrays: superseded tracks leave the call."""
    return store.take(keep), ctx.take(keep), link[keep], linked_s[keep], previous[keep]
