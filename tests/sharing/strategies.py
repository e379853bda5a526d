"""Hypothesis strategies: simple polygons on an integer grid, policies, traffic."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from commonsky.core.batches import TrackReports
from commonsky.sharing import IDENTITY_FIELDS, Area, SharingPolicy
from commonsky.sharing.geometry import Polygon, Ring

T0 = 1_780_000_000.0
"""Epoch-like times, so time arithmetic rounds as it does in service."""


@st.composite
def star_ring(draw: st.DrawFn, cx: int, cy: int, max_radius: int) -> Ring:
    """A simple ring with integer vertices, star-shaped about (cx, cy): one vertex per angular sector."""
    k = draw(st.integers(4, 9))
    offsets: list[tuple[int, int]] = []
    for i in range(k):
        angle = 2 * math.pi * (i + draw(st.floats(0.0, 0.95))) / k
        radius = draw(st.integers(max_radius // 3, max_radius))
        offsets.append((round(radius * math.cos(angle)), round(radius * math.sin(angle))))
    # Simple and star-shaped iff every step turns strictly counter-clockwise and the turns add to one loop.
    assume(all(o != (0, 0) for o in offsets))
    pairs = list(zip(offsets, offsets[1:] + offsets[:1], strict=True))
    assume(all(a[0] * b[1] - a[1] * b[0] > 0 for a, b in pairs))
    turn = sum(math.atan2(a[0] * b[1] - a[1] * b[0], a[0] * b[0] + a[1] * b[1]) for a, b in pairs)
    assume(abs(turn - 2 * math.pi) < 1e-6)
    ring = [(float(cx + dx), float(cy + dy)) for dx, dy in offsets]
    if draw(st.booleans()):
        ring.reverse()  # orientation must not matter
    return (*ring, ring[0])


@st.composite
def polygons(draw: st.DrawFn, span: int = 6) -> tuple[Polygon, ...]:
    """1-3 simple polygons, some with a hole (holes may poke out of their exterior)."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        cx, cy = draw(st.integers(-span, span)), draw(st.integers(-span, span))
        exterior = draw(star_ring(cx, cy, 14))
        rings: list[Ring] = [exterior]
        if draw(st.booleans()):
            rings.append(draw(star_ring(cx + draw(st.integers(-2, 2)), cy + draw(st.integers(-2, 2)), 6)))
        out.append(tuple(rings))
    return tuple(out)


@st.composite
def policies(draw: st.DrawFn) -> SharingPolicy:
    """Any valid policy from "north" to "east" with tracks content."""
    where = draw(st.sampled_from(["areas", "areas", "areas", "everywhere", "nowhere"]))
    areas = Area(draw(polygons())) if where == "areas" else None
    bands = []
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 3]))):
        low = draw(st.integers(-500, 12000))
        bands.append((float(low), float(low + draw(st.integers(0, 6000)))))
    return SharingPolicy(
        exporter="north",
        receiver="east",
        areas=areas,
        everywhere=where == "everywhere",
        altitude_bands_m=tuple(bands),
        share_unknown_altitude=draw(st.booleans()),
        fields=frozenset(draw(st.sets(st.sampled_from(IDENTITY_FIELDS)))),
        min_delay_s=draw(st.sampled_from([0.0, 0.5, 1.0, 3.0, 7.5])),
        max_rate_hz=draw(st.sampled_from([None, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0])),
    )


_ALTITUDES = st.one_of(
    st.just(math.nan), st.integers(-600, 20000).map(float), st.sampled_from([0.0, 3000.0, 6000.0, 12000.0])
)
_AGES = st.tuples(st.integers(0, 19), st.integers(-20, 150), st.sampled_from([599.0, 601.0, 607.5, 608.0, 650.0]))
_ROW = st.tuples(
    st.sampled_from(["north", "north", "north", "west"]),  # owner
    st.integers(0, 2),  # track id
    _AGES.map(lambda a: a[2] if a[0] == 0 else a[1] / 10),  # age: mostly seconds, 1 in 20 near the stale horizon
    st.integers(-32, 32).map(lambda k: k / 4),  # lon (quarter degrees: boundaries and vertices get hit)
    st.integers(-32, 32).map(lambda k: k / 4),  # lat
    _ALTITUDES,
    st.sampled_from([-1, -1, 0x3C6586, 0x4B1A2F]),
    st.sampled_from([-1, -1, 7000, 1234]),
    st.sampled_from(["", "", "DLH4AB", "SWR12"]),
)


@st.composite
def batches(draw: st.DrawFn, now_s: float) -> TrackReports:
    """Up to 30 reports around `now_s` (some fresh, some old, a few stale or invalid)."""
    rows = draw(st.lists(_ROW, max_size=30))
    n = len(rows)
    cols: dict[str, Any] = {
        name: [r[i] for r in rows]
        for i, name in enumerate(
            ["owner", "track_id", "age", "lon_deg", "lat_deg", "alt_m", "mode_s", "squawk", "callsign"]
        )
    }
    time_s = now_s - np.asarray(cols.pop("age"), dtype=float)
    if n and draw(st.integers(0, 9)) == 0:
        bad = draw(st.integers(0, n - 1))
        field = draw(st.sampled_from(["time_s", "lat_deg", "alt_m"]))
        value = {"time_s": math.nan, "lat_deg": 95.0, "alt_m": math.inf}[field]
        if field == "time_s":
            time_s[bad] = value
        else:
            cols[field][bad] = value
    return (
        TrackReports.build(n, time_s=time_s, **{k: np.asarray(v) for k, v in cols.items()})
        if n
        else TrackReports.empty()
    )


@st.composite
def traffic(draw: st.DrawFn) -> list[tuple[float, TrackReports]]:
    """1-5 export calls, `now_s` non-decreasing (sometimes jumping past the stale horizon)."""
    now = T0 + draw(st.integers(0, 100)) / 10
    calls = []
    for _ in range(draw(st.integers(1, 5))):
        now += draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.3, 5.0, 9.0, 700.0]))
        calls.append((now, draw(batches(now))))
    return calls
