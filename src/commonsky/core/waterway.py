"""A river's geometry: its water, its sailing centreline and the border along it, queried in batches.

Every stage of the surface picture asks this one object: the simulator where a vessel lane runs
(`along`), the tracker whether a prediction left the water and where the water is (`on_water`,
`nearest_water`), the assessment how far a vessel is from the bank and which partner's side of the
border it is on (`distance_to_bank_m`, `border_side`), the display what to draw (`water`).

File: a GeoJSON FeatureCollection whose features carry `properties.role`: `water` (Polygon or
MultiPolygon: first ring the bank, further rings islands; polygons must not overlap), `centreline`
(one LineString, in downstream order) and optionally `border` (one LineString, also downstream).
`properties.name` names the waterway, on the collection or on a feature. Positions are [lon, lat].

Geometry is planar in one local tangent frame at the centre of the water's bounding box: every
vertex is projected once, query points once per call. Over a river section of tens of kilometres the
tangent-plane distortion is centimetres. Edges are straight in that plane.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from commonsky.core.arrays import F64, I8, B
from commonsky.core.config import read_json
from commonsky.core.errors import ConfigError
from commonsky.core.geodesy import EARTH_RADIUS_M, LocalFrame

ROLES = ("water", "centreline", "border")
"""The `properties.role` values a waterway file's features may carry."""

_CELLS_PER_CHUNK = 1 << 20
"""Points x edges evaluated at once: bounds each (K,E) temporary to about 8 MB."""
_RELAX_ROUNDS = 4
"""Rounds `nearest_water` spends moving a point away from a second bank (corners, narrows)."""
_TINY_M = 1e-6
"""A ray's own start edge is met at t below this (m) and is not an exit."""
_MAX_MITER = 2.0
"""Longest lane offset vector at a centreline vertex, in offsets: exact for turns up to 120 degrees."""
_MAX_CORNER_STEP = 4.0
"""Longest step into a convex water corner, in margins: exact for corners down to 29 degrees."""

Ring = F64
"""A closed ring as a (N,2) lon/lat array: the last position repeats the first."""


@dataclass(frozen=True)
class _Banks:
    """Every ring edge of the water in the frame, with the side the water is on."""

    edges: F64
    """(E,4) [e0, n0, e1, n1], ring by ring (zero-length edges dropped)."""
    inward: F64
    """(E,2) unit normal of each edge pointing into the water."""
    start_step: F64
    """(E,2) step into the water per metre of margin at each edge's first vertex: along the bisector of both
    edges' normals, mitred at a convex corner so that both edges end up a margin away."""
    end_step: F64
    """(E,2) the same at each edge's second vertex."""
    ring_start: NDArray[np.intp]
    """Index of each ring's first edge."""
    ring_is_island: B
    poly_start: NDArray[np.intp]
    """Index of each polygon's first ring (its bank)."""


@dataclass(frozen=True)
class _Line:
    """A polyline in the frame: vertices, cumulative length, per-segment direction."""

    xy: F64
    """(V,2) vertices, consecutive duplicates dropped."""
    cum: F64
    """(V,) distance (m) from the first vertex."""
    unit: F64
    """(V-1,2) unit direction of each segment."""
    miter: F64
    """(V,2) right-hand offset per metre of offset at each vertex: the lane's vertices are xy + offset * miter."""


@dataclass(frozen=True, eq=False)
class Waterway:
    """A river section: water polygons with islands, a downstream centreline and an optional border line."""

    name: str
    water: tuple[tuple[Ring, ...], ...]
    """Polygons, each a tuple of (N,2) lon/lat rings: the bank first, then its islands."""
    centreline: F64
    """(N,2) lon/lat, downstream order: the sailing line vessels follow."""
    border: F64 | None = None
    """(N,2) lon/lat, downstream order; None where no border runs along the river."""
    frame: LocalFrame = field(init=False)
    """The local ENU frame (at the centre of the water's bounding box) every query is computed in."""
    _banks: _Banks = field(init=False, repr=False)
    _line: _Line = field(init=False, repr=False)
    _border: F64 = field(init=False, repr=False)
    """(S,4) border segments in the frame ((0,4) without a border)."""

    def __post_init__(self) -> None:
        source = f"Waterway {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(source, "name", "expected a non-empty string")
        if not self.water:
            raise ConfigError(source, "water", "expected at least one polygon")
        water = tuple(
            tuple(_checked(ring, 4, True, source, f"water[{p}][{r}]") for r, ring in enumerate(polygon))
            for p, polygon in enumerate(self.water)
        )
        if any(not polygon for polygon in water):
            raise ConfigError(source, "water", "every polygon needs its bank ring")
        centreline = _checked(self.centreline, 2, False, source, "centreline")
        border = None if self.border is None else _checked(self.border, 2, False, source, "border")
        if border is not None and not _runs_along(border, centreline):
            raise ConfigError(source, "border", "runs upstream: give its positions in downstream order")
        allpts = np.concatenate([ring for polygon in water for ring in polygon])
        lo, hi = allpts.min(axis=0), allpts.max(axis=0)
        frame = LocalFrame(float(lo[1] + hi[1]) / 2.0, float(lo[0] + hi[0]) / 2.0, 0.0)
        object.__setattr__(self, "water", water)
        object.__setattr__(self, "centreline", centreline)
        object.__setattr__(self, "border", border)
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "_banks", _banks(frame, water))
        line = _line(_project(frame, centreline))
        if len(line.xy) < 2:
            raise ConfigError(source, "centreline", "has no length")
        object.__setattr__(self, "_line", line)
        segments = np.zeros((0, 4))
        if border is not None:
            xy = _distinct(_project(frame, border))
            if len(xy) < 2:
                raise ConfigError(source, "border", "has no length")
            segments = np.hstack([xy[:-1], xy[1:]])
        object.__setattr__(self, "_border", segments)

    @classmethod
    def from_geojson(cls, data: Mapping[str, Any], source: str) -> Waterway:
        """Validate a waterway FeatureCollection (see the module notes); every error names the source and feature."""
        if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
            raise ConfigError(source, "type", "expected a GeoJSON FeatureCollection")
        features = data.get("features")
        if not isinstance(features, list):
            raise ConfigError(source, "features", "expected an array of features")
        props = _properties(data, source, "properties")
        name = _name(props, source, "properties.name")
        water: list[tuple[Ring, ...]] = []
        lines: dict[str, list[tuple[int, F64]]] = {"centreline": [], "border": []}
        for i, feature in enumerate(features):
            where = f"features[{i}]"
            if not isinstance(feature, Mapping) or not isinstance(feature.get("geometry"), Mapping):
                raise ConfigError(source, where, "expected a Feature with a geometry")
            fprops = _properties(feature, source, f"{where}.properties")
            feature_name = _name(fprops, source, f"{where}.properties.name")
            name = name or feature_name
            role = fprops.get("role")
            if role not in ROLES:
                raise ConfigError(source, f"{where}.properties.role", f"{role!r} is not one of {', '.join(ROLES)}")
            gtype = feature["geometry"].get("type")
            coords = feature["geometry"].get("coordinates")
            key = f"{where}.geometry.coordinates"
            if role == "water":
                if gtype not in ("Polygon", "MultiPolygon"):
                    raise ConfigError(
                        source, f"{where}.geometry.type", f"water must be a (Multi)Polygon, got {gtype!r}"
                    )
                polygons = [(coords, key)] if gtype == "Polygon" else _polygon_list(coords, source, key)
                water.extend(_polygon(rings, source, pkey) for rings, pkey in polygons)
            else:
                if gtype != "LineString":
                    raise ConfigError(source, f"{where}.geometry.type", f"a {role} must be a LineString, got {gtype!r}")
                lines[role].append((i, _positions(coords, 2, False, source, key)))
        if not water:
            raise ConfigError(source, "features", "no feature with role 'water'")
        if not lines["centreline"]:
            raise ConfigError(source, "features", "no feature with role 'centreline'")
        for role, found in lines.items():
            if len(found) > 1:
                raise ConfigError(
                    source, f"features[{found[1][0]}]", f"a second {role} (the first is features[{found[0][0]}])"
                )
        if not name:
            raise ConfigError(source, "properties.name", "no name on the collection or any feature")
        centreline = lines["centreline"][0][1]
        border = lines["border"][0] if lines["border"] else None
        if border is not None and not _runs_along(border[1], centreline):
            raise ConfigError(source, f"features[{border[0]}]", "the border runs upstream: give it in downstream order")
        return cls(name, tuple(water), centreline, None if border is None else border[1])

    @classmethod
    def load(cls, path: str | Path) -> Waterway:
        """Read and validate a waterway GeoJSON file."""
        return cls.from_geojson(*read_json(path))

    @property
    def length_m(self) -> float:
        """Length (m) of the centreline."""
        return float(self._line.cum[-1])

    def on_water(self, lat_deg: ArrayLike, lon_deg: ArrayLike) -> B:
        """Which positions lie inside a polygon's bank ring and outside its islands (non-finite: False)."""
        e, n, shape = self._enu(lat_deg, lon_deg)
        return _wet(e, n, self._banks).reshape(shape)

    def distance_to_bank_m(self, lat_deg: ArrayLike, lon_deg: ArrayLike) -> F64:
        """Distance (m) to the nearest bank or island shore: positive on water, negative on land."""
        e, n, shape = self._enu(lat_deg, lon_deg)
        d = _nearest_bank(e, n, self._banks)[0]
        return np.where(_wet(e, n, self._banks), d, -d).reshape(shape)

    def nearest_water(self, lat_deg: ArrayLike, lon_deg: ArrayLike, margin_m: float = 5.0) -> tuple[F64, F64]:
        """Positions on land moved to the nearest point `margin_m` inside the water; positions on water unchanged.

        Where the water is narrower than twice the margin, the point lands as deep as it can along the
        way in. The result is always on water (non-finite positions stay non-finite).
        """
        if not margin_m > 0.0:
            raise ValueError(f"margin_m must be positive, got {margin_m}")
        e, n, shape = self._enu(lat_deg, lon_deg)
        lat = np.broadcast_to(np.asarray(lat_deg, dtype=np.float64), shape).ravel().copy()
        lon = np.broadcast_to(np.asarray(lon_deg, dtype=np.float64), shape).ravel().copy()
        dry = np.flatnonzero(~_wet(e, n, self._banks) & np.isfinite(e) & np.isfinite(n))
        if len(dry):
            pe, pn = _inside_by(e[dry], n[dry], margin_m, self._banks)
            lat[dry], lon[dry] = self._geodetic(pe, pn)
        return lat.reshape(shape), lon.reshape(shape)

    def along(self, s_m: ArrayLike, offset_m: ArrayLike = 0.0) -> tuple[F64, F64, F64]:
        """Latitude, longitude and the centreline's heading (deg clockwise from true north) at `s_m` along it.

        `s_m` is clipped to the centreline's ends; the point is moved `offset_m` to the right of the
        direction of travel (negative: left). Lanes are continuous and parallel to the centreline:
        exactly `offset_m` from each segment's line, mitred at the vertices (turns up to 120 degrees);
        a point sits at the same fraction of its lane segment as `s_m` of the centreline's, so a lane on
        the outside of a bend is a little longer than the centreline, on the inside a little shorter.
        """
        s, offset = np.broadcast_arrays(np.asarray(s_m, dtype=np.float64), np.asarray(offset_m, dtype=np.float64))
        line = self._line
        s_flat = np.clip(s.ravel(), 0.0, line.cum[-1])
        seg = np.clip(np.searchsorted(line.cum, s_flat, side="right") - 1, 0, len(line.unit) - 1)
        f = (s_flat - line.cum[seg]) / (line.cum[seg + 1] - line.cum[seg])
        base = line.xy[seg] + (s_flat - line.cum[seg])[:, None] * line.unit[seg]
        miter = (1.0 - f)[:, None] * line.miter[seg] + f[:, None] * line.miter[seg + 1]
        pos = base + offset.ravel()[:, None] * miter
        lat, lon = self._geodetic(pos[:, 0], pos[:, 1])
        heading = self._heading(lat, lon, line.unit[seg])
        return lat.reshape(s.shape), lon.reshape(s.shape), heading.reshape(s.shape)

    def border_side(self, lat_deg: ArrayLike, lon_deg: ArrayLike) -> I8:
        """+1 right of the border looking downstream, -1 left; 0 on the line, for non-finite positions or no border.

        Beyond the border's ends a position takes its side from the end segment's line, so every position has one.
        """
        e, n, shape = self._enu(lat_deg, lon_deg)
        if len(self._border) == 0:
            return np.zeros(shape, dtype=np.int8)
        side = _chunked(lambda a, b: (_side(a, b, self._border),), len(self._border), e, n)[0]
        return np.where(np.isfinite(side), side, 0.0).astype(np.int8).reshape(shape)

    def _enu(self, lat_deg: ArrayLike, lon_deg: ArrayLike) -> tuple[F64, F64, tuple[int, ...]]:
        """Flat east and north (m) of positions in the frame, and their broadcast shape."""
        lat, lon = np.broadcast_arrays(np.asarray(lat_deg, dtype=np.float64), np.asarray(lon_deg, dtype=np.float64))
        with np.errstate(invalid="ignore"):  # non-finite positions come out NaN
            e, n, _ = self.frame.geodetic_to_enu(lat.ravel(), lon.ravel(), 0.0)
        return e, n, lat.shape

    def _geodetic(self, e: F64, n: F64) -> tuple[F64, F64]:
        """Latitude and longitude of frame points on the ellipsoid surface (the plane's drop below it restored)."""
        lat, lon, _ = self.frame.enu_to_geodetic(e, n, -(e * e + n * n) / (2.0 * EARTH_RADIUS_M))
        return lat, lon

    def _heading(self, lat_deg: F64, lon_deg: F64, unit: F64) -> F64:
        """Heading (deg clockwise from true north at each position) of (K,2) directions in the frame's axes."""
        vx, vy, vz = self.frame.vector_to_ecef(unit[:, 0], unit[:, 1], 0.0)
        lat, lon = np.radians(lat_deg), np.radians(lon_deg)
        east = -np.sin(lon) * vx + np.cos(lon) * vy
        north = -np.sin(lat) * (np.cos(lon) * vx + np.sin(lon) * vy) + np.cos(lat) * vz
        return np.asarray(np.mod(np.degrees(np.arctan2(east, north)), 360.0))


def _checked(value: Any, minimum: int, closed: bool, source: str, key: str) -> F64:
    """An (N,2) lon/lat array with at least `minimum` finite positions in range (a closed ring with area if asked)."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(source, key, "expected numbers as a (N,2) array of [lon, lat]") from None
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < minimum:
        raise ConfigError(source, key, f"expected at least {minimum} [lon, lat] positions as a (N,2) array")
    bad = ~np.isfinite(arr).all(axis=1) | (np.abs(arr[:, 0]) > 180.0) | (np.abs(arr[:, 1]) > 90.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConfigError(
            source, f"{key}[{i}]", f"expected [lon, lat] in [-180, 180] x [-90, 90], got {arr[i].tolist()}"
        )
    if closed:
        if not np.array_equal(arr[0], arr[-1]):
            raise ConfigError(
                source, key, f"ring not closed: first {arr[0].tolist()} differs from last {arr[-1].tolist()}"
            )
        x, y = arr[:, 0], arr[:, 1]
        if float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])) == 0.0:
            raise ConfigError(source, key, "ring encloses no area")
    return arr


def _positions(value: Any, minimum: int, closed: bool, source: str, key: str) -> F64:
    """Parse a GeoJSON position list ([lon, lat] or [lon, lat, alt] numbers) into a checked (N,2) array."""
    if not isinstance(value, list):
        raise ConfigError(source, key, f"expected an array of positions, got {type(value).__name__}")
    for i, pos in enumerate(value):
        if (
            not isinstance(pos, list)
            or len(pos) not in (2, 3)
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in pos)
        ):
            raise ConfigError(
                source, f"{key}[{i}]", f"expected a position [lon, lat] (or [lon, lat, alt]), got {pos!r}"
            )
    return _checked([pos[:2] for pos in value] or np.zeros((0, 2)), minimum, closed, source, key)


def _polygon(value: Any, source: str, key: str) -> tuple[Ring, ...]:
    """A GeoJSON polygon's rings: the bank first, then islands."""
    if not isinstance(value, list) or not value:
        raise ConfigError(source, key, "expected a non-empty array of linear rings")
    return tuple(_positions(ring, 4, True, source, f"{key}[{r}]") for r, ring in enumerate(value))


def _polygon_list(value: Any, source: str, key: str) -> list[tuple[Any, str]]:
    """A MultiPolygon's polygons, each with its key."""
    if not isinstance(value, list) or not value:
        raise ConfigError(source, key, "expected a non-empty array of polygons")
    return [(polygon, f"{key}[{p}]") for p, polygon in enumerate(value)]


def _properties(obj: Mapping[str, Any], source: str, key: str) -> Mapping[str, Any]:
    """An object's `properties` ({} when absent)."""
    props = obj.get("properties") or {}
    if not isinstance(props, Mapping):
        raise ConfigError(source, key, "expected an object")
    return props


def _name(props: Mapping[str, Any], source: str, key: str) -> str:
    """The `name` property, or "" when absent."""
    name = props.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(source, key, f"expected a string, got {type(name).__name__}")
    return name


def _runs_along(border: F64, centreline: F64) -> bool:
    """Whether the border's overall direction agrees with the centreline's (lon scaled by cos lat)."""
    scale = np.array([np.cos(np.radians(float(centreline[0, 1]))), 1.0])
    return float(np.dot((border[-1] - border[0]) * scale, (centreline[-1] - centreline[0]) * scale)) > 0.0


def _project(frame: LocalFrame, lonlat: F64) -> F64:
    """(N,2) lon/lat to (N,2) east/north (m) in the frame."""
    e, n, _ = frame.geodetic_to_enu(lonlat[:, 1], lonlat[:, 0], 0.0)
    return np.stack([e, n], axis=-1)


def _distinct(xy: F64) -> F64:
    """A polyline without consecutive repeated vertices (zero-length edges have no direction)."""
    return xy[np.r_[True, np.any(xy[1:] != xy[:-1], axis=1)]]


def _unit(v: F64) -> F64:
    """Rows scaled to unit length (zero rows stay zero)."""
    norm = np.hypot(v[:, 0], v[:, 1])[:, None]
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def _banks(frame: LocalFrame, water: tuple[tuple[Ring, ...], ...]) -> _Banks:
    """The water's edges in the frame and, per edge and vertex, the direction into the water."""
    edges: list[F64] = []
    inward: list[F64] = []
    start_step: list[F64] = []
    ring_start: list[int] = []
    ring_is_island: list[bool] = []
    poly_start: list[int] = []
    count = 0
    for polygon in water:
        poly_start.append(len(ring_start))
        for r, ring in enumerate(polygon):
            xy = _distinct(_project(frame, ring))  # still closed
            a, b = xy[:-1], xy[1:]
            d = b - a
            area2 = float(np.sum(a[:, 0] * b[:, 1] - b[:, 0] * a[:, 1]))
            # The water lies left of a counter-clockwise bank and right of a counter-clockwise island.
            water_left = (area2 > 0.0) != (r > 0)
            normal = _unit(np.stack([-d[:, 1], d[:, 0]], axis=-1)) * (1.0 if water_left else -1.0)
            inward.append(normal)
            before = np.roll(normal, 1, axis=0)
            bisector = _unit(normal + before)
            bisector[~bisector.any(axis=1)] = normal[~bisector.any(axis=1)]  # a spike: its normals cancel
            # A corner is convex (for the water) when the next edge turns towards the water.
            convex = np.sum(before * d, axis=1) > 0.0
            reach = np.sum(bisector * normal, axis=1)
            factor = np.where(convex, 1.0 / np.maximum(reach, 1.0 / _MAX_CORNER_STEP), 1.0)
            start_step.append(bisector * factor[:, None])
            edges.append(np.hstack([a, b]))
            ring_start.append(count)
            ring_is_island.append(r > 0)
            count += len(a)
    starts = np.concatenate(start_step)
    # A ring's last edge ends at its first edge's start vertex.
    next_edge = np.arange(1, count + 1)
    last = np.r_[np.asarray(ring_start[1:], dtype=np.intp) - 1, count - 1]
    next_edge[last] = np.asarray(ring_start)
    return _Banks(
        edges=np.concatenate(edges),
        inward=np.concatenate(inward),
        start_step=starts,
        end_step=starts[next_edge],
        ring_start=np.asarray(ring_start, dtype=np.intp),
        ring_is_island=np.asarray(ring_is_island, dtype=bool),
        poly_start=np.asarray(poly_start, dtype=np.intp),
    )


def _line(xy: F64) -> _Line:
    """A centreline's lengths, directions and lane mitres (consecutive duplicate vertices dropped)."""
    xy = _distinct(xy)
    d = np.diff(xy, axis=0)
    length = np.hypot(d[:, 0], d[:, 1])
    unit = _unit(d)
    right = np.stack([unit[:, 1], -unit[:, 0]], axis=-1)
    # Mitre at a vertex: the sum of both segments' right normals over 1 + their dot product, so that
    # the offset point lies exactly one offset from either segment's line.
    before = np.vstack([right[:1], right])
    after = np.vstack([right, right[-1:]])
    cos_turn = np.sum(before * after, axis=1)
    miter = (before + after) / np.maximum(1.0 + cos_turn, 2.0 / _MAX_MITER**2)[:, None]
    return _Line(xy=xy, cum=np.r_[0.0, np.cumsum(length)], unit=unit, miter=miter)


def _chunks(n_points: int, n_edges: int) -> Iterator[slice]:
    """Slices of points small enough that points x edges stays under `_CELLS_PER_CHUNK`."""
    step = max(1, _CELLS_PER_CHUNK // max(n_edges, 1))
    for start in range(0, n_points, step):
        yield slice(start, start + step)


def _chunked(kernel: Callable[..., tuple[NDArray[Any], ...]], n_edges: int, *points: F64) -> tuple[NDArray[Any], ...]:
    """Apply a (K,E) kernel to per-point arrays chunk by chunk and join its outputs."""
    parts = [kernel(*(a[sl] for a in points)) for sl in _chunks(len(points[0]), n_edges)]
    if not parts:
        parts = [kernel(*points)]
    return tuple(np.concatenate(col) for col in zip(*parts, strict=True))


def _wet(e: F64, n: F64, banks: _Banks) -> B:
    """On water: inside a polygon's bank ring and outside all its islands (even-odd rule per ring)."""
    return _chunked(lambda a, b: (_wet_kernel(a, b, banks),), len(banks.edges), e, n)[0]


def _wet_kernel(e: F64, n: F64, banks: _Banks) -> B:
    x0, y0, x1, y1 = (banks.edges[:, i][None, :] for i in range(4))
    px, py = e[:, None], n[:, None]
    straddles = (y0 > py) != (y1 > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
    crossings = straddles & (px < x_cross)
    inside = np.logical_xor.reduceat(crossings, banks.ring_start, axis=1)
    admits = np.where(banks.ring_is_island, ~inside, inside)
    return np.asarray(np.logical_and.reduceat(admits, banks.poly_start, axis=1).any(axis=1), dtype=bool)


def _nearest_bank(e: F64, n: F64, banks: _Banks) -> tuple[F64, F64, F64]:
    """Per point: distance (m) to the nearest edge, the (K,2) nearest point on it, and the (K,2) step into the water
    from there per metre of margin (the edge's normal, or a vertex's `start_step`)."""
    d, qe, qn, ue, un = _chunked(lambda a, b: _nearest_kernel(a, b, banks), len(banks.edges), e, n)
    return d, np.stack([qe, qn], axis=-1), np.stack([ue, un], axis=-1)


def _nearest_segment(e: F64, n: F64, segments: F64) -> tuple[NDArray[np.int64], F64, F64]:
    """Per point: the nearest of the (S,4) segments [e0, n0, e1, n1], the position along it (0..1) of the point's
    projection, and the squared distance to it."""
    x0, y0 = segments[:, 0][None, :], segments[:, 1][None, :]
    dx, dy = (segments[:, 2] - segments[:, 0])[None, :], (segments[:, 3] - segments[:, 1])[None, :]
    px, py = e[:, None] - x0, n[:, None] - y0
    t = np.clip((px * dx + py * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    d2 = (px - t * dx) ** 2 + (py - t * dy) ** 2
    j = np.argmin(d2, axis=1)
    rows = np.arange(len(e))
    return j, t[rows, j], d2[rows, j]


def _nearest_kernel(e: F64, n: F64, banks: _Banks) -> tuple[F64, F64, F64, F64, F64]:
    edges = banks.edges
    j, tj, d2j = _nearest_segment(e, n, edges)
    q = edges[j, :2] + tj[:, None] * (edges[j, 2:] - edges[j, :2])
    direction = np.where(
        (tj <= 0.0)[:, None],
        banks.start_step[j],
        np.where((tj >= 1.0)[:, None], banks.end_step[j], banks.inward[j]),
    )
    return np.sqrt(d2j), q[:, 0], q[:, 1], direction[:, 0], direction[:, 1]


def _exit_kernel(oe: F64, on: F64, ue: F64, un: F64, banks: _Banks) -> F64:
    """Distance (m) along the ray o + t u to its first edge beyond `_TINY_M` (inf when none)."""
    edges = banks.edges
    x0, y0 = edges[:, 0][None, :], edges[:, 1][None, :]
    dx, dy = (edges[:, 2] - edges[:, 0])[None, :], (edges[:, 3] - edges[:, 1])[None, :]
    wx, wy = x0 - oe[:, None], y0 - on[:, None]
    vx, vy = ue[:, None], un[:, None]
    denom = vx * dy - vy * dx
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (wx * dy - wy * dx) / denom
        s = (wx * vy - wy * vx) / denom
    hit = (denom != 0.0) & (s >= 0.0) & (s <= 1.0) & (t > _TINY_M)
    return np.asarray(np.where(hit, t, np.inf).min(axis=1))


def _step_in(q: F64, step: F64, margin_m: float, banks: _Banks) -> F64:
    """From bank points q into the water by `step` x `margin_m`, or half-way to the far bank where that is nearer."""
    length = np.hypot(step[:, 0], step[:, 1])
    unit = step / length[:, None]
    exit_m = _chunked(
        lambda oe, on, ve, vn: (_exit_kernel(oe, on, ve, vn, banks),),
        len(banks.edges),
        q[:, 0],
        q[:, 1],
        unit[:, 0],
        unit[:, 1],
    )[0]
    return q + np.minimum(margin_m * length, exit_m / 2.0)[:, None] * unit


def _inside_by(e: F64, n: F64, margin_m: float, banks: _Banks) -> tuple[F64, F64]:
    """Dry points moved onto the water, at least `margin_m` from every bank where the water is wide enough."""
    _, q, step = _nearest_bank(e, n, banks)
    p = _step_in(q, step, margin_m, banks)
    for _ in range(_RELAX_ROUNDS):
        d, q, step = _nearest_bank(p[:, 0], p[:, 1], banks)
        short = np.flatnonzero(d < margin_m)
        if not len(short):
            break
        # Too near another bank (near a corner, in a narrow): step in from that bank instead, if that gains depth.
        moved = _step_in(q[short], step[short], margin_m, banks)
        better = _nearest_bank(moved[:, 0], moved[:, 1], banks)[0] > d[short]
        p[short[better]] = moved[better]
    return p[:, 0], p[:, 1]


def _side(e: F64, n: F64, segments: F64) -> F64:
    """Side (+1 right, -1 left, 0 on it) of points against a polyline, taken at the nearest point of the line."""
    j, tj, _ = _nearest_segment(e, n, segments)
    right = _unit(np.stack([segments[:, 3] - segments[:, 1], segments[:, 0] - segments[:, 2]], axis=-1))
    # At a shared vertex the side is taken against the sum of both segments' normals (the pseudo-normal).
    before = right[np.maximum(j - 1, 0)]
    after = right[np.minimum(j + 1, len(segments) - 1)]
    normal = right[j] + np.where((tj <= 0.0)[:, None], before, 0.0) + np.where((tj >= 1.0)[:, None], after, 0.0)
    qx = segments[j, 0] + tj * (segments[j, 2] - segments[j, 0])
    qy = segments[j, 1] + tj * (segments[j, 3] - segments[j, 1])
    return np.asarray(np.sign((e - qx) * normal[:, 0] + (n - qy) * normal[:, 1]))
