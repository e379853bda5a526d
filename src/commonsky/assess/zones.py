"""Zones from GeoJSON: polygons with altitude bands and border lines, tested against all tracks at once.

A zones file is a GeoJSON FeatureCollection. Polygon and MultiPolygon features are zones with
properties `name` (unique), `kind` (airspace: border_buffer | restricted | protected; surface:
works | channel), `floor_m` and `ceiling_m` (height band, default the whole sky; airspace zones only)
and optionally `alert_identities` (which identities trigger its alerts; default: all but friend and
pending (a pending track is alerted once identified, seconds later), and for border buffers and
channels only unknown, suspect and hostile, since cooperative traffic crosses borders and sails the
channel all day). Airspace zones apply to air tracks only, surface zones to surface tracks only
(`Zone.domain`). A works zone (e.g. a dredging site) may list `allowed_mmsi` (the vessels working
there: no entry, loitering or approach alert) and `protect_mmsi` (the vessels a fast approach is
measured against; without it, against the zone itself), each a list of MMSIs (integers). LineString
and MultiLineString features with `kind = "border"` are border lines; they serve both domains.

Geometry is planar in one local tangent frame (`LocalFrame` at the mean vertex): every vertex is
projected once at load, tracks once per call. Over a few hundred kilometres the tangent-plane
distortion is well below a tenth of a percent of the distances involved, far under track errors.
Edges are straight in that plane, not along parallels: give long east-west edges intermediate vertices
(a 75 km edge along a parallel at 47 N bows by about 100 m).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from commonsky.assess.identity import IDENTITIES
from commonsky.core.arrays import F64
from commonsky.core.config import read_json
from commonsky.core.errors import ConfigError
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import DOMAIN_AIR, DOMAIN_SURFACE

SURFACE_ZONE_KINDS = ("works", "channel")
"""Zone kinds of the surface picture: they apply to vessels, never to aircraft."""
ZONE_KINDS = ("border_buffer", "restricted", "protected", *SURFACE_ZONE_KINDS)
DEFAULT_ALERT_IDENTITIES = {
    "border_buffer": ("unknown", "suspect", "hostile"),
    "restricted": ("unknown", "assumed_friend", "neutral", "suspect", "hostile"),
    "protected": ("unknown", "assumed_friend", "neutral", "suspect", "hostile"),
    "works": ("unknown", "assumed_friend", "neutral", "suspect", "hostile"),
    "channel": ("unknown", "suspect", "hostile"),
}
MMSI_MAX = 999_999_999
"""The largest MMSI (nine decimal digits)."""


@dataclass(frozen=True)
class Zone:
    """One zone: its rings in lon/lat (first ring of each polygon the exterior, others holes) and band."""

    name: str
    kind: str
    floor_m: float
    ceiling_m: float
    polygons: tuple[tuple[F64, ...], ...]
    """Per polygon, its rings as (V,2) lon/lat arrays."""
    alert_identities: tuple[str, ...]
    allowed_mmsi: tuple[int, ...] = ()
    """Works zones: the MMSIs of the vessels that work there."""
    protect_mmsi: tuple[int, ...] = ()
    """Works zones: the MMSIs of the vessels a fast approach is measured against."""

    @property
    def domain(self) -> str:
        """The picture the zone applies to: `DOMAIN_SURFACE` for works and channel zones, `DOMAIN_AIR` otherwise."""
        return DOMAIN_SURFACE if self.kind in SURFACE_ZONE_KINDS else DOMAIN_AIR


@dataclass(frozen=True)
class Zones:
    """All zones and border lines of a file, with their edges projected into one local frame."""

    zones: tuple[Zone, ...]
    borders: tuple[F64, ...]
    """Border polylines as (V,2) lon/lat arrays."""
    frame: LocalFrame
    edges: tuple[F64, ...]
    """Per zone, the (E,4) edges [e0, n0, e1, n1] of all its rings in the frame."""
    border_edges: F64
    """(B,4) segments of the border lines and of the border buffer zones' rings."""
    border_lines: tuple[F64, ...] = ()
    """Per border line, its (S,4) segments in the frame (zero-length ones dropped)."""

    @classmethod
    def build(cls, zones: tuple[Zone, ...], borders: tuple[F64, ...]) -> Zones:
        """Project every ring and line into a frame at the mean vertex."""
        points = [r for z in zones for poly in z.polygons for r in poly] + list(borders)
        allpts = np.concatenate(points) if points else np.zeros((1, 2))
        frame = LocalFrame(float(np.mean(allpts[:, 1])), float(np.mean(allpts[:, 0])), 0.0)

        def segments(lines: list[F64], closed: bool) -> F64:
            parts = []
            for line in lines:
                e, n, _ = frame.geodetic_to_enu(line[:, 1], line[:, 0], 0.0)
                xy = np.stack([e, n], axis=-1)
                if closed and not np.array_equal(xy[0], xy[-1]):
                    xy = np.vstack([xy, xy[:1]])
                parts.append(np.hstack([xy[:-1], xy[1:]]))
            return np.vstack(parts) if parts else np.zeros((0, 4))

        edges = tuple(segments([r for poly in z.polygons for r in poly], True) for z in zones)
        buffers = [r for z in zones if z.kind == "border_buffer" for poly in z.polygons for r in poly]
        border_edges = np.vstack([segments(list(borders), False), segments(buffers, True)])
        lines = [segments([line], False) for line in borders]
        nonzero = tuple(seg[np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]) > 0] for seg in lines)
        return cls(zones, borders, frame, edges, border_edges, nonzero)

    @classmethod
    def empty(cls) -> Zones:
        """No zones and no border."""
        return cls.build((), ())

    def __len__(self) -> int:
        return len(self.zones)

    @property
    def surface(self) -> NDArray[np.bool_]:
        """(Z,) whether each zone is a surface zone."""
        return np.array([z.domain == DOMAIN_SURFACE for z in self.zones], dtype=bool)

    def project(self, lat_deg: F64, lon_deg: F64) -> tuple[F64, F64]:
        """East and north (m) of positions in the zones' frame (on the ellipsoid surface)."""
        e, n, _ = self.frame.geodetic_to_enu(lat_deg, lon_deg, 0.0)
        return e, n

    def contains(self, lat_deg: F64, lon_deg: F64) -> NDArray[np.bool_]:
        """(K,Z) horizontal containment of K positions in each zone (altitude not considered)."""
        e, n = self.project(lat_deg, lon_deg)
        out = np.zeros((len(e), len(self.zones)), dtype=bool)
        for z, edges in enumerate(self.edges):
            out[:, z] = _inside(e, n, edges)
        return out

    def in_band(self, alt_m: F64, unknown_in_band: bool) -> NDArray[np.bool_]:
        """(K,Z) whether altitudes ((K,) or one per zone (K,Z)) lie in each zone's band (NaN: `unknown_in_band`)."""
        floor = np.array([z.floor_m for z in self.zones])
        ceiling = np.array([z.ceiling_m for z in self.zones])
        alt = alt_m[:, None] if alt_m.ndim == 1 else alt_m
        with np.errstate(invalid="ignore"):
            inside = (alt >= floor) & (alt <= ceiling)
        return np.where(np.isnan(alt), unknown_in_band, inside)

    def time_to_entry(self, lat_deg: F64, lon_deg: F64, v_east: F64, v_north: F64, horizon_s: float) -> F64:
        """(K,Z) time (s) until a straight-line track first crosses into each zone; NaN beyond the horizon.

        Only meaningful for tracks outside the zone: the first boundary crossing of the ray is then
        the entry. Tracks already inside get the time they next cross a boundary (callers mask them).
        """
        e, n = self.project(lat_deg, lon_deg)
        out = np.full((len(e), len(self.zones)), np.nan)
        for z, edges in enumerate(self.edges):
            out[:, z] = _first_crossing(e, n, v_east, v_north, edges, horizon_s)
        return out

    def distance_m(self, lat_deg: F64, lon_deg: F64) -> F64:
        """(K,Z) horizontal distance (m) of K positions to each zone: 0 inside, else to its nearest edge."""
        e, n = self.project(lat_deg, lon_deg)
        out = np.zeros((len(e), len(self.zones)))
        for z, edges in enumerate(self.edges):
            out[:, z] = np.where(_inside(e, n, edges), 0.0, _segment_distance(e, n, edges))
        return out

    def border_offset_m(self, lat_deg: F64, lon_deg: F64) -> F64:
        """Signed distance (m) to the nearest border line: positive right of it in its drawing direction; NaN
        without border lines. Beyond a line's ends a position is measured against its end segment's vertex."""
        e, n = self.project(lat_deg, lon_deg)
        best = np.full(len(e), np.nan)
        for segs in self.border_lines:
            if not len(segs):
                continue
            offset = _signed_distance(e, n, segs)
            best = np.where(np.isnan(best) | (np.abs(offset) < np.abs(best)), offset, best)
        return best

    def border_distance_m(self, lat_deg: F64, lon_deg: F64) -> F64:
        """Distance (m) to the nearest border line or border buffer zone (0 inside a buffer; inf if none)."""
        e, n = self.project(lat_deg, lon_deg)
        d = _segment_distance(e, n, self.border_edges)
        for zone, edges in zip(self.zones, self.edges, strict=True):
            if zone.kind == "border_buffer":
                d = np.where(_inside(e, n, edges), 0.0, d)
        return d


def _inside(e: F64, n: F64, edges: F64) -> NDArray[np.bool_]:
    """Even-odd rule over all rings (holes included) for K points and E edges, as (K,E) arrays."""
    e0, n0, e1, n1 = (edges[:, i][None, :] for i in range(4))
    y = n[:, None]
    straddles = (n0 > y) != (n1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = e0 + (y - n0) * (e1 - e0) / (n1 - n0)
    crossings = straddles & (e[:, None] < x_cross)
    return np.asarray(np.count_nonzero(crossings, axis=1) % 2 == 1)


def _first_crossing(e: F64, n: F64, ve: F64, vn: F64, edges: F64, horizon_s: float) -> F64:
    """Smallest t in (0, horizon] at which p + v t meets an edge; NaN when none does."""
    ax, ay = edges[:, 0][None, :], edges[:, 1][None, :]
    dx, dy = (edges[:, 2] - edges[:, 0])[None, :], (edges[:, 3] - edges[:, 1])[None, :]
    vx, vy = ve[:, None], vn[:, None]
    wx, wy = ax - e[:, None], ay - n[:, None]
    denom = vx * dy - vy * dx
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (wx * dy - wy * dx) / denom
        s = (wx * vy - wy * vx) / denom
    hit = (denom != 0) & (s >= 0) & (s <= 1) & (t > 0) & (t <= horizon_s)
    t = np.where(hit, t, np.inf)
    first = t.min(axis=1) if t.shape[1] else np.full(len(e), np.inf)
    return np.where(np.isfinite(first), first, np.nan)


def _segment_distance(e: F64, n: F64, segs: F64) -> F64:
    """Distance (m) from each point to the nearest of the segments (inf when there are none)."""
    if len(segs) == 0:
        return np.full(len(e), np.inf)
    ax, ay = segs[:, 0][None, :], segs[:, 1][None, :]
    dx, dy = (segs[:, 2] - segs[:, 0])[None, :], (segs[:, 3] - segs[:, 1])[None, :]
    px, py = e[:, None] - ax, n[:, None] - ay
    length2 = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.clip(np.where(length2 > 0, (px * dx + py * dy) / length2, 0.0), 0.0, 1.0)
    return np.asarray(np.hypot(px - u * dx, py - u * dy).min(axis=1))


def _signed_distance(e: F64, n: F64, segs: F64) -> F64:
    """Distance (m) to a polyline's nearest point, signed by the side (+ right of its direction, - left).

    At a vertex shared by two segments the side is taken against the sum of both normals (the pseudo-normal),
    so a position beyond a bend's outer corner gets the side it is on.
    """
    ax, ay = segs[:, 0][None, :], segs[:, 1][None, :]
    dx, dy = (segs[:, 2] - segs[:, 0])[None, :], (segs[:, 3] - segs[:, 1])[None, :]
    px, py = e[:, None] - ax, n[:, None] - ay
    u = np.clip((px * dx + py * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    dist = np.hypot(px - u * dx, py - u * dy)
    j = np.argmin(dist, axis=1)
    rows = np.arange(len(e))
    length = np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])
    right = np.stack([(segs[:, 3] - segs[:, 1]) / length, (segs[:, 0] - segs[:, 2]) / length], axis=-1)
    tj = u[rows, j]
    before = right[np.maximum(j - 1, 0)]
    after = right[np.minimum(j + 1, len(segs) - 1)]
    normal = right[j] + np.where((tj <= 0.0)[:, None], before, 0.0) + np.where((tj >= 1.0)[:, None], after, 0.0)
    qx = segs[j, 0] + tj * (segs[j, 2] - segs[j, 0])
    qy = segs[j, 1] + tj * (segs[j, 3] - segs[j, 1])
    side = np.sign((e - qx) * normal[:, 0] + (n - qy) * normal[:, 1])
    return np.asarray(side * dist[rows, j])


def zones_from_geojson(data: Any, source: str = "<zones>") -> Zones:
    """Validate a GeoJSON FeatureCollection into `Zones`; every problem names the feature and key."""
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        raise ConfigError(source, "type", "expected a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list):
        raise ConfigError(source, "features", "expected an array of features")
    zones: list[Zone] = []
    borders: list[F64] = []
    for i, feature in enumerate(features):
        where = f"features[{i}]"
        if not isinstance(feature, Mapping) or not isinstance(feature.get("geometry"), Mapping):
            raise ConfigError(source, where, "expected a Feature with a geometry")
        props = feature.get("properties") or {}
        if not isinstance(props, Mapping):
            raise ConfigError(source, f"{where}.properties", "expected an object")
        geometry = feature["geometry"]
        gtype = geometry.get("type")
        coords = geometry.get("coordinates")
        if gtype in ("LineString", "MultiLineString"):
            if props.get("kind") != "border":
                raise ConfigError(source, f"{where}.properties.kind", "a line feature must have kind 'border'")
            lines = [coords] if gtype == "LineString" else coords
            if not isinstance(lines, list) or not lines:
                raise ConfigError(source, f"{where}.geometry.coordinates", "expected line coordinates")
            borders.extend(_positions(line, 2, source, f"{where}.geometry.coordinates") for line in lines)
        elif gtype in ("Polygon", "MultiPolygon"):
            zone = _zone(props, gtype, coords, source, where)
            if zone.name in {z.name for z in zones}:
                raise ConfigError(source, f"{where}.properties.name", f"duplicate zone name {zone.name!r}")
            zones.append(zone)
        else:
            raise ConfigError(source, f"{where}.geometry.type", f"{gtype!r} is not Polygon, MultiPolygon or LineString")
    return Zones.build(tuple(zones), tuple(borders))


def load_zones(path: str | Path) -> Zones:
    """Read and validate a zones GeoJSON file."""
    return zones_from_geojson(*read_json(path))


def _zone(props: Mapping[str, Any], gtype: str, coords: Any, source: str, where: str) -> Zone:
    name = props.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(source, f"{where}.properties.name", "expected a non-empty string")
    kind = props.get("kind")
    if kind not in ZONE_KINDS:
        raise ConfigError(source, f"{where}.properties.kind", f"{kind!r} is not one of {', '.join(ZONE_KINDS)}")
    band = []
    for key, default in (("floor_m", -1_000.0), ("ceiling_m", 100_000.0)):
        value = props.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ConfigError(source, f"{where}.properties.{key}", f"{value!r} is not a finite number")
        band.append(float(value))
    if band[1] <= band[0]:
        raise ConfigError(source, f"{where}.properties.ceiling_m", f"{band[1]:g} must exceed floor_m {band[0]:g}")
    vessels = []
    for key in ("allowed_mmsi", "protect_mmsi"):
        value = props.get(key, [])
        if key in props and kind != "works":
            raise ConfigError(source, f"{where}.properties.{key}", "only a works zone lists vessels")
        if not isinstance(value, list) or any(
            isinstance(m, bool) or not isinstance(m, int) or not 0 < m <= MMSI_MAX for m in value
        ):
            raise ConfigError(source, f"{where}.properties.{key}", f"expected a list of MMSIs (1..{MMSI_MAX})")
        vessels.append(tuple(value))
    identities = props.get("alert_identities", list(DEFAULT_ALERT_IDENTITIES[kind]))
    if not isinstance(identities, list) or any(x not in IDENTITIES for x in identities):
        raise ConfigError(
            source, f"{where}.properties.alert_identities", f"expected a list of: {', '.join(IDENTITIES)}"
        )
    polys = [coords] if gtype == "Polygon" else coords
    if not isinstance(polys, list) or not polys:
        raise ConfigError(source, f"{where}.geometry.coordinates", "expected polygon coordinates")
    polygons: list[tuple[F64, ...]] = []
    for p, rings in enumerate(polys):
        key = f"{where}.geometry.coordinates" + (f"[{p}]" if gtype == "MultiPolygon" else "")
        if not isinstance(rings, list) or not rings:
            raise ConfigError(source, key, "expected an array of linear rings")
        polygons.append(tuple(_positions(r, 4, source, key) for r in rings))
    return Zone(name, str(kind), band[0], band[1], tuple(polygons), tuple(identities), vessels[0], vessels[1])


def _positions(value: Any, minimum: int, source: str, key: str) -> F64:
    """A list of [lon, lat] positions with at least `minimum` entries, as a (V,2) array."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0, 0))
    if arr.ndim != 2 or arr.shape[1] < 2 or len(arr) < minimum or not np.isfinite(arr).all():
        raise ConfigError(source, key, f"expected at least {minimum} finite [lon, lat] positions")
    lonlat = arr[:, :2]
    if (np.abs(lonlat[:, 1]) > 90).any() or (np.abs(lonlat[:, 0]) > 180).any():
        raise ConfigError(source, key, "longitude must lie in [-180, 180] and latitude in [-90, 90]")
    return lonlat
