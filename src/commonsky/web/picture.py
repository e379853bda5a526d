"""The display's picture model, pure: one partner's fused picture and assessment as the JSON the page reads.

`Picture` holds one fused picture with its identities, alerts and status around it, and gives its
tracks as JSON-ready columns (`columns`, `track`); `picture_delta` is what the WebSocket stream sends
between two pictures; `history_dicts` puts identity changes in the display's terms (alerts are
`commonsky.assess.AlertView`'s); `waterway_geojson` is a river's geometry as the map layer draws it.
Nothing here holds state or a lock: the sources build `Picture`s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from commonsky.assess import IdentityChange
from commonsky.core.batches import sensor_kind_names
from commonsky.core.waterway import Waterway
from commonsky.fusion import SystemTracks

EMPTY_ZONES: dict[str, Any] = {"type": "FeatureCollection", "features": []}
KINEMATIC = ("lat", "lon", "alt", "ve", "vn")
"""Stream columns that change every update for a moving aircraft (sent alone when nothing else changed)."""
ATTRIBUTES = (
    "identity", "callsign", "squawk", "mode_s", "mmsi", "domain", "kinds", "status", "responsible", "owners", "alerts",
)  # fmt: skip
"""Stream columns that change rarely."""
STREAM_COLUMNS = ("id", *KINEMATIC, *ATTRIBUTES)


@dataclass(frozen=True)
class Picture:
    """One partner's picture at one time: fused system tracks with identity and alerts, and status around it."""

    time_s: float
    partner: str
    version: int
    fused: SystemTracks
    identity: list[str]
    """Per row of `fused`: its identity."""
    track_alerts: list[list[str]]
    """Per row of `fused`: ids of its alerts not cleared."""
    alerts: list[dict[str, Any]]
    """Every alert (all states): {id, kind, state, system_id, time_s, severity, evidence, ...}."""
    partners: list[dict[str, Any]]
    """Per peer: {id, status, last_message_s}."""
    sensors: list[dict[str, Any]]
    """Per sensor: its description (`SensorSpec.to_dict`) plus `own` and `last_plot_s`."""
    zones: dict[str, Any]
    identity_history: Callable[[int], list[dict[str, Any]]]
    """system_id -> its identity changes [{time_s, identity, by, reason}], oldest first."""
    replay: dict[str, Any] | None
    """For a seekable source: {start_s, end_s, time_s}; None otherwise."""
    waterway: dict[str, Any] | None = None
    """The river's water, centreline and border (`waterway_geojson`); None for a picture without a river."""

    @cached_property
    def columns(self) -> dict[str, list[Any]]:
        """The tracks as JSON-ready columns (stream columns rounded: ~1 m, 1 m, 0.1 m/s)."""
        f = self.fused
        alt = np.round(f.alt_m)
        return {
            "id": f.system_id.tolist(),
            "lat": np.round(f.lat_deg, 5).tolist(),
            "lon": np.round(f.lon_deg, 5).tolist(),
            "alt": [None if math.isnan(a) else int(a) for a in alt.tolist()],
            "ve": np.round(f.v_east_mps, 1).tolist(),
            "vn": np.round(f.v_north_mps, 1).tolist(),
            "vu": np.round(f.v_up_mps, 1).tolist(),
            "identity": list(self.identity),
            "callsign": f.callsign.tolist(),
            "squawk": [f"{s:04d}" if s >= 0 else "" for s in f.squawk.tolist()],
            "mode_s": [f"{m:06X}" if m >= 0 else "" for m in f.mode_s.tolist()],
            "mmsi": [m if m >= 0 else None for m in f.mmsi.tolist()],
            "domain": f.domain.tolist(),
            "kinds": f.sensor_kinds.tolist(),
            "status": f.status.tolist(),
            "quality": np.round(f.quality, 3).tolist(),
            "n_sources": f.n_sources.tolist(),
            "responsible": f.responsible.tolist(),
            "sources": f.sources.tolist(),
            "owners": [",".join(owners) for owners in f.owners()],
            "alerts": list(self.track_alerts),
        }

    @cached_property
    def rows(self) -> dict[int, tuple[Any, ...]]:
        """system_id -> the stream columns of its row (what `picture_delta` compares)."""
        c = self.columns
        return {
            row[0]: row
            for row in zip(*(c[k] if k != "alerts" else [tuple(a) for a in c[k]] for k in STREAM_COLUMNS), strict=True)
        }

    @cached_property
    def index(self) -> dict[int, int]:
        """system_id -> row number in `fused`."""
        return {sid: i for i, sid in enumerate(self.fused.system_id.tolist())}

    def track(self, system_id: int) -> dict[str, Any] | None:
        """One system track in full: its columns, uncertainty, sources, alerts and identity history."""
        i = self.index.get(system_id)
        if i is None:
            return None
        f = self.fused
        out = {k: v[i] for k, v in self.columns.items()}
        kinds = int(f.sensor_kinds[i])
        links = [(owner, track) for _, owner, track in f.take([i]).source_links()]
        out |= {
            "time_s": float(f.time_s[i]),
            "sigma_east_m": _sqrt(f.cov_ee[i]),
            "sigma_north_m": _sqrt(f.cov_nn[i]),
            "sigma_alt_m": _sqrt(f.var_alt_m2[i]),
            "sigma_ve_mps": _sqrt(f.cov_ve_ve[i]),
            "sigma_vn_mps": _sqrt(f.cov_vn_vn[i]),
            "sensor_kinds": sensor_kind_names(kinds),
            "source_tracks": [{"partner": o, "track_id": t} for o, t in links],
            "partners": sorted({o for o, _ in links}),
            "alert_details": [a for a in self.alerts if a["system_id"] == system_id],
            "identity_history": self.identity_history(system_id),
        }
        return out


def _sqrt(variance: float) -> float | None:
    """Standard deviation from a variance, None when unknown."""
    v = float(variance)
    return None if not math.isfinite(v) or v < 0 else round(math.sqrt(v), 2)


def picture_delta(prev: Picture | None, cur: Picture) -> dict[str, Any]:
    """The stream message taking a client from `prev` to `cur` (a full snapshot when `prev` is None).

    Tracks travel as arrays of columns: `moved` holds rows whose attributes are unchanged (id and
    kinematics only), `upsert` new or otherwise changed rows (every stream column), `removed` the
    ids gone. Alerts are sent when they changed; partner, sensor and replay status every time.
    """
    head = {"time_s": cur.time_s, "partner": cur.partner, "version": cur.version}
    status = {"partners": cur.partners, "sensors": cur.sensors, "replay": cur.replay}
    if prev is None:
        return {
            "type": "snapshot",
            **head,
            "tracks": {k: cur.columns[k] for k in STREAM_COLUMNS},
            "alerts": cur.alerts,
            "zones": cur.zones,
            **status,
        }
    n_kin = 1 + len(KINEMATIC)
    moved: list[tuple[Any, ...]] = []
    upsert: list[tuple[Any, ...]] = []
    old = prev.rows
    for sid, row in cur.rows.items():
        before = old.get(sid)
        if before is None or before[n_kin:] != row[n_kin:]:
            upsert.append(row)
        elif before != row:
            moved.append(row[:n_kin])
    message: dict[str, Any] = {
        "type": "delta",
        **head,
        "moved": _transpose(moved, STREAM_COLUMNS[:n_kin]),
        "upsert": _transpose(upsert, STREAM_COLUMNS),
        "removed": [sid for sid in old if sid not in cur.rows],
        **status,
    }
    if prev.alerts != cur.alerts:
        message["alerts"] = cur.alerts
    if prev.zones != cur.zones:
        message["zones"] = cur.zones
    return message


def _transpose(rows: list[tuple[Any, ...]], names: tuple[str, ...]) -> dict[str, list[Any]]:
    """Rows to columns (lists named `names`)."""
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return {n: [list(v) if isinstance(v, tuple) else v for v in col] for n, col in zip(names, cols, strict=True)}


def history_dicts(changes: Sequence[IdentityChange]) -> list[dict[str, Any]]:
    """Identity changes as the display shows them."""
    return [{"time_s": c.time_s, "identity": c.identity, "by": c.by, "reason": c.reason} for c in changes]


def node_waterway(geojson: dict[str, Any] | None) -> dict[str, Any] | None:
    """A node's waterway (`NodeConfig.waterway`, the file's GeoJSON) as the map's water layer; None without one."""
    return None if geojson is None else waterway_geojson(Waterway.from_geojson(geojson, "node config waterway"))


def waterway_geojson(waterway: Waterway) -> dict[str, Any]:
    """A river's geometry as a GeoJSON FeatureCollection with the waterway file's roles: one `water` MultiPolygon
    (banks and islands), the `centreline` and, where one runs along the river, the `border` (positions to ~10 cm)."""

    def positions(lonlat: np.ndarray) -> list[list[float]]:
        rounded: list[list[float]] = np.round(lonlat, 6).tolist()
        return rounded

    def feature(role: str, geometry: str, coordinates: list[Any]) -> dict[str, Any]:
        shape = {"type": geometry, "coordinates": coordinates}
        return {"type": "Feature", "properties": {"role": role}, "geometry": shape}

    water = [[positions(ring) for ring in polygon] for polygon in waterway.water]
    features = [
        feature("water", "MultiPolygon", water),
        feature("centreline", "LineString", positions(waterway.centreline)),
    ]
    if waterway.border is not None:
        features.append(feature("border", "LineString", positions(waterway.border)))
    return {"type": "FeatureCollection", "properties": {"name": waterway.name}, "features": features}
