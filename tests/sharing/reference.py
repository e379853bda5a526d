"""Slow, obvious reference implementations (exact rational arithmetic, one row at a time) and builders."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from commonsky.core.batches import TrackReports
from commonsky.sharing import RATE_TOLERANCE_S, STALE_AFTER_S, SharingPolicy
from commonsky.sharing.geometry import Polygon

Point = tuple[Fraction, Fraction]


def _cross(a: Point, b: Point, p: Point) -> Fraction:
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def _fr(ring: Sequence[tuple[float, float]]) -> list[Point]:
    return [(Fraction(x), Fraction(y)) for x, y in ring]


def on_ring(p: Point, ring: list[Point]) -> bool:
    """The point lies on one of the ring's edges (exactly)."""
    for a, b in itertools.pairwise(ring):
        if (
            _cross(a, b, p) == 0
            and min(a[0], b[0]) <= p[0] <= max(a[0], b[0])
            and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])
        ):
            return True
    return False


def winding_number(p: Point, ring: list[Point]) -> int:
    """Winding number of a closed ring around a point not on it (Sunday's algorithm, exact)."""
    wn = 0
    for a, b in itertools.pairwise(ring):
        if a[1] <= p[1]:
            if b[1] > p[1] and _cross(a, b, p) > 0:
                wn += 1
        elif b[1] <= p[1] and _cross(a, b, p) < 0:
            wn -= 1
    return wn


def ref_inside(polygons: Sequence[Polygon], lon: float, lat: float) -> bool:
    """Strictly inside some polygon's exterior, neither in nor on any of its holes (simple rings)."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return False
    p = (Fraction(lon), Fraction(lat))
    for polygon in polygons:
        ext = _fr(polygon[0])
        if on_ring(p, ext) or winding_number(p, ext) == 0:
            continue
        holes = [_fr(h) for h in polygon[1:]]
        if all(not on_ring(p, h) and winding_number(p, h) == 0 for h in holes):
            return True
    return False


def boundary_distance(polygons: Sequence[Polygon], lon: float, lat: float) -> float:
    """Least distance (degrees) from the point to any edge of any ring."""
    best = math.inf
    for polygon in polygons:
        for ring in polygon:
            for (x1, y1), (x2, y2) in itertools.pairwise(ring):
                dx, dy = x2 - x1, y2 - y1
                t = (
                    0.0
                    if dx == dy == 0
                    else max(0.0, min(1.0, ((lon - x1) * dx + (lat - y1) * dy) / (dx * dx + dy * dy)))
                )
                best = min(best, math.hypot(lon - (x1 + t * dx), lat - (y1 + t * dy)))
    return best


def make_reports(n: int, **columns: Any) -> TrackReports:
    """TrackReports of `n` rows: exporter "north", track ids 0.., 5 km altitude, plausible covariance."""
    base: dict[str, Any] = {
        "owner": np.full(n, "north"),
        "track_id": np.arange(n),
        "time_s": np.zeros(n),
        "alt_m": np.full(n, 5000.0),
        "var_alt_m2": np.full(n, 400.0),
        "v_east_mps": np.full(n, 200.0),
        "v_north_mps": np.zeros(n),
        "v_up_mps": np.zeros(n),
        "quality": np.full(n, 0.8),
        "sensor_kinds": np.full(n, 3),
        "cov_ee": np.full(n, 2500.0),
        "cov_nn": np.full(n, 2500.0),
        "cov_en": np.zeros(n),
        **{name: np.full(n, 10.0) for name in ("cov_e_ve", "cov_e_vn", "cov_n_ve", "cov_n_vn", "cov_ve_vn")},
        "cov_ve_ve": np.full(n, 25.0),
        "cov_vn_vn": np.full(n, 25.0),
    }
    for key, value in columns.items():
        base[key] = np.broadcast_to(np.asarray(value), (n,)).copy()
    return TrackReports.build(n, **base)


def static_ok(policy: SharingPolicy, row: dict[str, Any], stale_before: float | None) -> bool:
    """Owner, validity, staleness, area and altitude rules for one row."""
    if row["owner"] != policy.exporter:
        return False
    t, lat, lon, alt = row["time_s"], row["lat_deg"], row["lon_deg"], row["alt_m"]
    if not (math.isfinite(t) and abs(lat) <= 90 and abs(lon) <= 180 and not math.isinf(alt)):
        return False
    if stale_before is not None and t < stale_before:
        return False
    if policy.everywhere:
        inside = True
    elif policy.areas is None:
        inside = False
    else:
        inside = ref_inside(policy.areas.polygons, lon, lat)
    if not inside:
        return False
    if math.isnan(alt):
        return policy.share_unknown_altitude
    return any(low <= alt <= high for low, high in policy.altitude_bands_m)


def rows_of(reports: TrackReports) -> list[dict[str, Any]]:
    """One dict per row (plain Python values)."""
    cols = reports.as_dict()
    return [{k: v[i].item() for k, v in cols.items()} for i in range(len(reports))]


def ref_export(policy: SharingPolicy, calls: Sequence[tuple[float, TrackReports]]) -> list[list[dict[str, Any]]]:
    """What each export call must send, one row at a time (no pruning of the last-sent table)."""
    missing = {"mode_s": -1, "squawk": -1, "callsign": "", "mmsi": -1}
    pending: list[dict[str, Any]] = []
    last: dict[tuple[str, int], float] = {}
    interval = policy.min_interval_s
    outs = []
    for now, batch in calls:
        release_before = now - policy.min_delay_s
        stale_before = release_before - STALE_AFTER_S
        admitted = []
        for row in rows_of(batch):
            if static_ok(policy, row, stale_before):
                admitted.append({**row, **{f: missing[f] for f in policy.withheld()}})
        pool = [r for r in pending + admitted if r["time_s"] >= stale_before]
        pending = [r for r in pool if not r["time_s"] <= release_before]
        ready = [r for r in pool if r["time_s"] <= release_before]
        out = []
        for row in sorted(ready, key=lambda r: (r["owner"], r["track_id"], r["time_s"])):
            key = (row["owner"], row["track_id"])
            gap = row["time_s"] - last.get(key, -math.inf)
            if gap < -RATE_TOLERANCE_S or gap < interval - RATE_TOLERANCE_S:
                continue
            last[key] = row["time_s"]
            out.append(row)
        outs.append(out)
    return outs


def row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """Sortable identity of a row's content (NaN made comparable)."""
    return tuple((1, 0.0) if isinstance(v, float) and math.isnan(v) else (0, v) for v in row.values())
