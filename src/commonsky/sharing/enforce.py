"""Enforcing a sharing policy on track reports: at the exporter, and again at the receiver.

Rules, in the order a row is judged (a dropped row is counted under the first rule it breaks):
1. content: track batches travel only under a "tracks" policy (the exporter raises SharingError,
   the receiver drops the whole batch).
2. owner: only the exporter's own tracks travel (owner == policy exporter); relaying a third
   partner's tracks needs that partner's agreement.
3. invalid: time, latitude, longitude finite and in range; altitude finite or NaN (unknown).
4. stale (exporter only): a report older than STALE_AFTER_S before it could be released is dropped.
5. area: strictly inside the policy areas (anywhere with everywhere = true, nowhere without areas).
6. altitude: inside a band (ends included); unknown altitude only with share_unknown_altitude.
7. withheld_field: the exporter blanks withheld identity fields (-1 / ""); the receiver drops a
   row that still carries one.
8. delay: a report travels once time_s <= now_s - min_delay_s; the exporter holds fresher ones in
   its ExportState and releases them on a later call.
9. rate: per (owner, track_id), reports sent are at least 1 / max_rate_hz apart, less
   RATE_TOLERANCE_S for time rounding (greedy, oldest first); the exporter also drops, as
   out_of_order, a report older than the last one it sent on that track.
Covariance, quality, status, velocities and sensor kinds always travel: fusion needs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from commonsky.core.batches import MISSING_INT, OWNER_DTYPE, TrackReports
from commonsky.core.errors import CommonskyError
from commonsky.sharing.policy import SharingPolicy, policy_digest

STALE_AFTER_S = 600.0
"""A report this much older than it could be released is useless to a picture: dropped (bounds the state)."""
RATE_TOLERANCE_S = 1e-6
"""Slack on the rate interval, so reports at exactly 1 / max_rate_hz survive float rounding of epoch times."""

EXPORT_REASONS = ("owner", "invalid", "stale", "area", "altitude", "out_of_order", "rate")
"""Why the exporter drops a row (withheld fields are blanked, not dropped; fresh rows are held)."""
IMPORT_REASONS = ("content", "owner", "invalid", "area", "altitude", "withheld_field", "delay", "rate")
"""Why the receiver drops a row."""

_OK, _OWNER, _INVALID, _STALE, _AREA, _ALTITUDE, _WITHHELD, _DELAY, _RATE, _ORDER, _CONTENT = range(11)
_CODE_NAMES = {
    _CONTENT: "content",
    _OWNER: "owner",
    _INVALID: "invalid",
    _STALE: "stale",
    _AREA: "area",
    _ALTITUDE: "altitude",
    _WITHHELD: "withheld_field",
    _DELAY: "delay",
    _RATE: "rate",
    _ORDER: "out_of_order",
}
_MISSING: dict[str, Any] = {"mode_s": MISSING_INT, "squawk": MISSING_INT, "callsign": "", "mmsi": MISSING_INT}
KEY_DTYPE = np.dtype([("owner", OWNER_DTYPE), ("track_id", np.int64)])
"""A track's identity across partners: (owner, track_id)."""


class SharingError(CommonskyError):
    """A batch was offered under a policy that does not cover it (wrong content, time running backwards)."""


@dataclass(frozen=True, eq=False)
class ExportState:
    """What the exporter remembers between calls for one policy: held reports and last sent times."""

    pending: TrackReports = field(default_factory=TrackReports.empty)
    """Admitted reports (withheld fields already blanked) not yet old enough to travel."""
    sent_keys: NDArray[np.void] = field(default_factory=lambda: np.empty(0, KEY_DTYPE))
    """Sorted (owner, track_id) of tracks sent recently."""
    sent_time_s: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    """Time of the last report sent on each of those tracks."""
    now_s: float = -math.inf
    """`now_s` of the last call: time must not run backwards."""
    policy_digest: str = ""
    """Digest of the policy the pending reports were admitted under (a new policy re-judges them)."""


@dataclass(frozen=True)
class ExportStats:
    """One export call: received + held before = sent + held + sum(dropped)."""

    received: int
    sent: int
    held: int
    dropped: dict[str, int]
    """Reason (EXPORT_REASONS) -> rows dropped in this call, including held rows dropped on release."""
    blanked: dict[str, int]
    """Identity field -> admitted rows whose value was blanked."""


@dataclass(frozen=True)
class ImportStats:
    """One import check: received = kept + sum(dropped)."""

    received: int
    kept: int
    dropped: dict[str, int]
    """Reason (IMPORT_REASONS) -> rows dropped."""


def export_reports(
    policy: SharingPolicy, reports: TrackReports, now_s: float, state: ExportState
) -> tuple[TrackReports, ExportState, ExportStats]:
    """Reports the exporter may send now under `policy`, in time order, and the state for the next call."""
    if not isinstance(reports, TrackReports):
        raise SharingError(
            f"policy {policy.exporter}->{policy.receiver} exports TrackReports, got {type(reports).__name__}"
        )
    if policy.content != "tracks":
        raise SharingError(f"policy {policy.exporter}->{policy.receiver} shares {policy.content}, not tracks")
    now = float(now_s)
    if not math.isfinite(now):
        raise SharingError(f"now_s must be finite, got {now_s!r}")
    if now < state.now_s:
        raise SharingError(f"time ran backwards: now_s {now} < {state.now_s} of the previous call")
    digest = policy_digest(policy)
    release_before = now - policy.min_delay_s
    stale_before = release_before - STALE_AFTER_S
    counts = dict.fromkeys(EXPORT_REASONS, 0)

    pending = state.pending
    if state.policy_digest != digest and len(pending):
        codes = _judge(policy, pending, stale_before)
        _count(counts, codes)
        pending = _blank(policy, pending.take(codes == _OK))

    codes = _judge(policy, reports, stale_before)
    _count(counts, codes)
    admitted = reports.take(codes == _OK)
    blanked = {name: int(np.count_nonzero(_present(admitted, name))) for name in policy.withheld()}
    admitted = _blank(policy, admitted)

    pool = TrackReports.concat([pending, admitted])
    stale = pool.time_s < stale_before  # held rows can go stale when calls are far apart
    counts["stale"] += int(np.count_nonzero(stale))
    ready = pool.time_s <= release_before
    held = pool.take(~ready & ~stale)
    release = pool.take(ready & ~stale)

    codes, sent_keys, sent_time_s = _thin(release, policy.min_interval_s, state.sent_keys, state.sent_time_s)
    _count(counts, codes)
    out = release.take(codes == _OK).sorted_by_time()
    recent = sent_time_s >= stale_before - policy.min_interval_s - RATE_TOLERANCE_S
    new_state = ExportState(held, sent_keys[recent], sent_time_s[recent], now, digest)
    stats = ExportStats(received=len(reports), sent=len(out), held=len(held), dropped=counts, blanked=blanked)
    return out, new_state, stats


def check_import(
    policy: SharingPolicy, reports: TrackReports, now_s: float, *, clock_tolerance_s: float = 0.0
) -> tuple[TrackReports, ImportStats]:
    """Rows of a received batch that respect the exporter's published policy, in their original order.

    The rate is checked within the batch. `clock_tolerance_s` admits rows that much fresher than
    the delay allows, for clock offset between the nodes (0: exact).
    """
    counts = dict.fromkeys(IMPORT_REASONS, 0)
    if not isinstance(reports, TrackReports) or policy.content != "tracks":
        counts["content"] = len(reports)
        return TrackReports.empty(), ImportStats(received=len(reports), kept=0, dropped=counts)
    codes = _judge(policy, reports, stale_before=None)
    for name in policy.withheld():
        _mark(codes, _present(reports, name), _WITHHELD)
    _mark(codes, ~(reports.time_s <= float(now_s) - policy.min_delay_s + clock_tolerance_s), _DELAY)
    if policy.max_rate_hz is not None:
        rows = np.flatnonzero(codes == _OK)
        empty_keys, empty_times = np.empty(0, KEY_DTYPE), np.empty(0)
        rate_codes, _, _ = _thin(reports.take(rows), policy.min_interval_s, empty_keys, empty_times)
        codes[rows] = rate_codes
    _count(counts, codes)
    kept = reports.take(codes == _OK)
    return kept, ImportStats(received=len(reports), kept=len(kept), dropped=counts)


def _mark(codes: NDArray[np.int8], bad: NDArray[np.bool_], code: int) -> None:
    """Give rows still OK that are `bad` this reason (earlier reasons win)."""
    codes[(codes == _OK) & bad] = code


def _count(counts: dict[str, int], codes: NDArray[np.int8]) -> None:
    tally = np.bincount(codes, minlength=len(_CODE_NAMES) + 1)
    for code, name in _CODE_NAMES.items():
        if tally[code]:
            counts[name] += int(tally[code])


def releasable(policy: SharingPolicy, reports: TrackReports, now_s: float) -> tuple[NDArray[np.bool_], TrackReports]:
    """For a picture published now rather than a report stream: which rows `policy` lets go at `now_s` (owner,
    validity, staleness, area, altitude, `min_delay_s`) and those rows with withheld fields blanked."""
    release_before = now_s - policy.min_delay_s
    codes = _judge(policy, reports, stale_before=release_before - STALE_AFTER_S)
    keep = (codes == _OK) & (reports.time_s <= release_before)
    return keep, _blank(policy, reports.take(keep))


def _judge(policy: SharingPolicy, reports: TrackReports, stale_before: float | None) -> NDArray[np.int8]:
    """Reason code per row for the rules that depend on the row alone (owner .. altitude)."""
    codes = np.zeros(len(reports), dtype=np.int8)
    t, lat, lon, alt = reports.time_s, reports.lat_deg, reports.lon_deg, reports.alt_m
    _mark(codes, reports.owner != policy.exporter, _OWNER)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(t) & (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0) & ~np.isinf(alt)
    _mark(codes, ~valid, _INVALID)
    if stale_before is not None:
        _mark(codes, t < stale_before, _STALE)
    rows = np.flatnonzero(codes == _OK)
    in_area = np.zeros(len(reports), dtype=bool)
    if policy.everywhere:
        in_area[rows] = True
    elif policy.areas is not None:
        in_area[rows] = policy.areas.contains(lon[rows], lat[rows])
    _mark(codes, ~in_area, _AREA)
    _mark(codes, ~_altitude_ok(policy, alt), _ALTITUDE)
    return codes


def _altitude_ok(policy: SharingPolicy, alt_m: NDArray[np.float64]) -> NDArray[np.bool_]:
    known = ~np.isnan(alt_m)
    in_band = np.zeros(len(alt_m), dtype=bool)
    for low, high in policy.altitude_bands_m:  # a handful of bands: loop over bands, not rows
        in_band |= (alt_m >= low) & (alt_m <= high)
    result: NDArray[np.bool_] = np.where(known, in_band, policy.share_unknown_altitude)
    return result


def _present(reports: TrackReports, name: str) -> NDArray[np.bool_]:
    """Rows whose identity field `name` holds a value."""
    present: NDArray[np.bool_] = getattr(reports, name) != _MISSING[name]
    return present


def _blank(policy: SharingPolicy, reports: TrackReports) -> TrackReports:
    """The reports with every withheld identity field set to its missing value."""
    withheld = policy.withheld()
    if not withheld or not len(reports):
        return reports
    return reports.replace(**{name: np.full(len(reports), _MISSING[name]) for name in withheld})


def _keys(reports: TrackReports) -> NDArray[np.void]:
    keys = np.empty(len(reports), dtype=KEY_DTYPE)
    keys["owner"] = reports.owner
    keys["track_id"] = reports.track_id
    return keys


def _thin(
    rows: TrackReports, interval_s: float, sent_keys: NDArray[np.void], sent_time_s: NDArray[np.float64]
) -> tuple[NDArray[np.int8], NDArray[np.void], NDArray[np.float64]]:
    """Greedy per-track rate limit, oldest first, against the last sent times.

    Returns a code per row (OK, rate or out of order) and the updated sorted (keys, last sent times).
    Loops over the rank of a report within its track (a few per call), vectorised over tracks.
    """
    codes = np.zeros(len(rows), dtype=np.int8)
    if not len(rows):
        return codes, sent_keys, sent_time_s
    keys = _keys(rows)
    order = np.lexsort((rows.time_s, keys["track_id"], keys["owner"]))
    sk, st = keys[order], rows.time_s[order]
    first = np.ones(len(sk), dtype=bool)
    first[1:] = sk[1:] != sk[:-1]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    rank = np.arange(len(sk)) - starts[group]
    group_keys = sk[starts]

    if len(sent_keys):
        pos = np.minimum(np.searchsorted(sent_keys, group_keys), len(sent_keys) - 1)
        known = sent_keys[pos] == group_keys
        last = np.where(known, sent_time_s[pos], -np.inf)
    else:
        pos = np.zeros(len(starts), dtype=np.intp)
        known = np.zeros(len(starts), dtype=bool)
        last = np.full(len(starts), -np.inf)

    sorted_codes = np.zeros(len(sk), dtype=np.int8)
    for k in range(int(rank.max()) + 1):
        idx = np.flatnonzero(rank == k)
        g = group[idx]
        gap = st[idx] - last[g]
        order_bad = gap < -RATE_TOLERANCE_S
        rate_bad = ~order_bad & (gap < interval_s - RATE_TOLERANCE_S)
        sorted_codes[idx] = np.where(order_bad, _ORDER, np.where(rate_bad, _RATE, _OK))
        ok = ~order_bad & ~rate_bad
        last[g[ok]] = st[idx[ok]]
    codes[order] = sorted_codes

    times = sent_time_s.copy()
    times[pos[known]] = last[known]
    new = ~known & np.isfinite(last)
    all_keys = np.concatenate([sent_keys, group_keys[new]])
    all_times = np.concatenate([times, last[new]])
    resort = np.argsort(all_keys, kind="stable")
    return codes, all_keys[resort], all_times[resort]
