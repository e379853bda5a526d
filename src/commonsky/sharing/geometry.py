"""Sharing areas: GeoJSON (Multi)Polygons and a vectorised point-in-area test.

Rules: a point is inside an area when it is strictly inside the exterior ring of one of its
polygons (even-odd ray casting over the ring's edges) and neither inside nor on any hole of that
polygon. A point on any ring's boundary, or with a non-finite coordinate, is outside: an ambiguous
point is never shared. A hole reaches only as far as it is drawn, so a hole sticking out of its
exterior removes area and never adds any. Coordinates are GeoJSON longitude/latitude degrees; edges
are straight lines in longitude/latitude (not great circles) and nothing wraps across the
antimeridian (split such areas there, as RFC 7946 asks). Ring orientation is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from commonsky.core.errors import ConfigError

Ring = tuple[tuple[float, float], ...]
"""Closed ring of (lon, lat) positions: the last position repeats the first."""
Polygon = tuple[Ring, ...]
"""Exterior ring first, then its holes."""

GEOJSON_TYPES = ("Polygon", "MultiPolygon", "Feature", "FeatureCollection", "GeometryCollection")
"""GeoJSON objects accepted as an area (features and collections must hold only polygons)."""

_CELLS_PER_CHUNK = 1 << 22
"""Points x rings evaluated at once: bounds the per-ring tallies to a few tens of MB."""
_MAX_POINTS_PER_CHUNK = 1 << 16


@dataclass(frozen=True)
class _Edges:
    """All edges of an area, ring by ring and polygon by polygon, as flat arrays."""

    x1: NDArray[np.float64]
    y1: NDArray[np.float64]
    x2: NDArray[np.float64]
    y2: NDArray[np.float64]
    ring_of_edge: NDArray[np.intp]
    """Ring index of each edge."""
    ring_is_hole: NDArray[np.bool_]
    poly_start: NDArray[np.intp]
    """Index of the first ring (the exterior) of each polygon."""
    bbox: tuple[float, float, float, float]
    """lon_min, lat_min, lon_max, lat_max."""


@dataclass(frozen=True)
class Area:
    """A union of polygons with holes in which tracks may be shared (see the module rules)."""

    polygons: tuple[Polygon, ...]

    def __post_init__(self) -> None:
        polygons = tuple(
            tuple(tuple((_clean(lon), _clean(lat)) for lon, lat in ring) for ring in polygon)
            for polygon in self.polygons
        )
        for p, polygon in enumerate(polygons):
            if not polygon:
                raise ConfigError("Area", f"polygons[{p}]", "a polygon needs an exterior ring")
            for r, ring in enumerate(polygon):
                _check_ring(ring, "Area", f"polygons[{p}][{r}]")
        object.__setattr__(self, "polygons", polygons)

    @classmethod
    def from_geojson(cls, obj: Any, source: str = "GeoJSON", key: str = "areas") -> Area:
        """Parse a GeoJSON Polygon, MultiPolygon, Feature or collection of them; errors name the key."""
        polygons: list[Polygon] = []
        _collect(obj, source, key, polygons)
        if not polygons:
            raise ConfigError(source, key, "no polygon in this GeoJSON (to share everywhere, say everywhere = true)")
        return cls(tuple(polygons))

    def to_geojson(self) -> dict[str, Any]:
        """The area as one GeoJSON MultiPolygon (plain lists and floats, ready for JSON)."""
        coordinates = [[[[lon, lat] for lon, lat in ring] for ring in polygon] for polygon in self.polygons]
        return {"type": "MultiPolygon", "coordinates": coordinates}

    def contains(self, lon_deg: ArrayLike, lat_deg: ArrayLike) -> NDArray[np.bool_]:
        """Which points lie strictly inside the area (boundary and non-finite points are outside)."""
        lon = np.asarray(lon_deg, dtype=np.float64)
        lat = np.asarray(lat_deg, dtype=np.float64)
        lon, lat = np.broadcast_arrays(lon, lat)
        shape = lon.shape
        lon, lat = lon.ravel(), lat.ravel()
        out = np.zeros(lon.shape, dtype=bool)
        edges = self._edges
        x0, y0, x1, y1 = edges.bbox
        with np.errstate(invalid="ignore"):
            candidates = np.flatnonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
        chunk = max(1, min(_MAX_POINTS_PER_CHUNK, _CELLS_PER_CHUNK // len(edges.ring_is_hole)))
        for start in range(0, len(candidates), chunk):
            idx = candidates[start : start + chunk]
            out[idx] = _inside(edges, lon[idx], lat[idx])
        return out.reshape(shape)

    @cached_property
    def _edges(self) -> _Edges:
        x1: list[NDArray[np.float64]] = []
        y1: list[NDArray[np.float64]] = []
        x2: list[NDArray[np.float64]] = []
        y2: list[NDArray[np.float64]] = []
        ring_of_edge: list[NDArray[np.intp]] = []
        ring_is_hole: list[bool] = []
        poly_start: list[int] = []
        for polygon in self.polygons:
            poly_start.append(len(ring_is_hole))
            for r, ring in enumerate(polygon):
                xy = np.asarray(ring, dtype=np.float64)
                ring_of_edge.append(np.full(len(xy) - 1, len(ring_is_hole), dtype=np.intp))
                ring_is_hole.append(r > 0)
                x1.append(xy[:-1, 0])
                y1.append(xy[:-1, 1])
                x2.append(xy[1:, 0])
                y2.append(xy[1:, 1])
        exteriors = np.concatenate([np.asarray(p[0], dtype=np.float64) for p in self.polygons])
        lo, hi = exteriors.min(axis=0), exteriors.max(axis=0)
        return _Edges(
            x1=np.concatenate(x1),
            y1=np.concatenate(y1),
            x2=np.concatenate(x2),
            y2=np.concatenate(y2),
            ring_of_edge=np.concatenate(ring_of_edge),
            ring_is_hole=np.asarray(ring_is_hole, dtype=bool),
            poly_start=np.asarray(poly_start, dtype=np.intp),
            bbox=(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])),
        )


def _inside(edges: _Edges, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Point-in-area for finite points, pairing each edge only with the points in its latitude span.

    Points are sorted by latitude, so an edge's candidates are one contiguous run: the work is the
    number of (point, edge) pairs whose latitudes overlap, not points x edges.
    """
    n_rings = len(edges.ring_is_hole)
    order = np.argsort(lat, kind="stable")
    ys = lat[order]
    x1, y1, x2, y2 = edges.x1, edges.y1, edges.x2, edges.y2
    first = np.searchsorted(ys, np.minimum(y1, y2), side="left")
    stop = np.searchsorted(ys, np.maximum(y1, y2), side="right")
    counts = stop - first
    edge = np.repeat(np.arange(len(x1)), counts)
    run_start = np.repeat(np.cumsum(counts) - counts, counts)
    point = order[np.repeat(first, counts) + np.arange(len(edge)) - run_start]
    px, py = lon[point], lat[point]
    ex1, ey1, ex2, ey2 = x1[edge], y1[edge], x2[edge], y2[edge]
    # Sign of the cross product (edge) x (point - edge start): > 0 when the point is left of the edge.
    cross = (ex2 - ex1) * (py - ey1) - (ey2 - ey1) * (px - ex1)
    # Half-open rule: the edge straddles the horizontal through the point (vertices counted once);
    # the ray to +x crosses it when the point is left of an upward edge or right of a downward one.
    straddles = (ey1 > py) != (ey2 > py)
    crosses = straddles & np.where(ey2 > ey1, cross > 0, cross < 0)
    on_edge = (cross == 0) & (px >= np.minimum(ex1, ex2)) & (px <= np.maximum(ex1, ex2))  # y: within span
    cell = point * n_rings + edges.ring_of_edge[edge]
    size = len(lon) * n_rings
    odd = (np.bincount(cell, weights=crosses, minlength=size) % 2 == 1).reshape(len(lon), n_rings)
    boundary = (np.bincount(cell, weights=on_edge, minlength=size) > 0).reshape(len(lon), n_rings)
    # Per ring: an exterior admits points strictly inside; a hole admits points neither in nor on it.
    admits = np.where(edges.ring_is_hole, ~(odd | boundary), odd & ~boundary)
    in_polygon = np.logical_and.reduceat(admits, edges.poly_start, axis=1)
    return np.asarray(in_polygon.any(axis=1), dtype=bool)


def _clean(value: Any) -> float:
    """A coordinate as a float, with -0.0 folded into 0.0 so equal areas print alike."""
    return float(value) + 0.0


def _check_ring(ring: Ring, source: str, key: str) -> None:
    if len(ring) < 4:
        raise ConfigError(source, key, f"a ring needs at least 4 positions (closed), got {len(ring)}")
    if ring[0] != ring[-1]:
        raise ConfigError(source, key, f"ring not closed: first {list(ring[0])} differs from last {list(ring[-1])}")
    for i, (lon, lat) in enumerate(ring):
        if not (math.isfinite(lon) and math.isfinite(lat) and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise ConfigError(
                source, f"{key}[{i}]", f"expected [lon, lat] in [-180, 180] x [-90, 90], got {[lon, lat]}"
            )


def _collect(obj: Any, source: str, key: str, out: list[Polygon]) -> None:
    """Append the polygons of one GeoJSON object to `out`."""
    if not isinstance(obj, dict):
        raise ConfigError(source, key, f"expected a GeoJSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind == "Polygon":
        out.append(_polygon(obj.get("coordinates"), source, f"{key}.coordinates"))
    elif kind == "MultiPolygon":
        coords = _list(obj.get("coordinates"), source, f"{key}.coordinates")
        out.extend(_polygon(c, source, f"{key}.coordinates[{i}]") for i, c in enumerate(coords))
    elif kind == "Feature":
        _collect(obj.get("geometry"), source, f"{key}.geometry", out)
    elif kind == "FeatureCollection":
        for i, feature in enumerate(_list(obj.get("features"), source, f"{key}.features")):
            _collect(feature, source, f"{key}.features[{i}]", out)
    elif kind == "GeometryCollection":
        for i, geometry in enumerate(_list(obj.get("geometries"), source, f"{key}.geometries")):
            _collect(geometry, source, f"{key}.geometries[{i}]", out)
    else:
        raise ConfigError(source, f"{key}.type", f"got {kind!r}; allowed: {', '.join(GEOJSON_TYPES)}")


def _list(value: Any, source: str, key: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise ConfigError(source, key, f"expected a list, got {type(value).__name__}")
    return value


def _polygon(value: Any, source: str, key: str) -> Polygon:
    rings = _list(value, source, key)
    if not rings:
        raise ConfigError(source, key, "a polygon needs an exterior ring")
    polygon = tuple(_ring(r, source, f"{key}[{i}]") for i, r in enumerate(rings))
    return polygon


def _ring(value: Any, source: str, key: str) -> Ring:
    positions = _list(value, source, key)
    ring: list[tuple[float, float]] = []
    for i, pos in enumerate(positions):
        if (
            not isinstance(pos, list | tuple)
            or len(pos) not in (2, 3)
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in pos)
        ):
            raise ConfigError(
                source, f"{key}[{i}]", f"expected a position [lon, lat] (or [lon, lat, alt]), got {pos!r}"
            )
        ring.append((_clean(pos[0]), _clean(pos[1])))
    result = tuple(ring)
    _check_ring(result, source, key)
    return result
