"""Zones: GeoJSON loading with clear errors, vectorised containment, bands, predicted entry, border distance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from commonsky.assess import load_zones, zones_from_geojson
from commonsky.core.errors import ConfigError
from commonsky.core.geodesy import LocalFrame

from .harness import ZONES


def _box(name: str, kind: str, lon0: float, lat0: float, lon1: float, lat1: float, **props: Any) -> dict[str, Any]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {
        "type": "Feature",
        "properties": {"name": name, "kind": kind, **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def _collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def test_example_zones_load_with_border_lines_and_all_kinds() -> None:
    zones = load_zones(ZONES)
    assert {z.kind for z in zones.zones} == {"border_buffer", "restricted", "protected"}
    assert len(zones.borders) == 3
    restricted = next(z for z in zones.zones if z.kind == "restricted")
    assert (restricted.floor_m, restricted.ceiling_m) == (0.0, 1500.0)


def test_containment_matches_a_box_and_honours_holes() -> None:
    outer = [[9.0, 47.0], [10.0, 47.0], [10.0, 48.0], [9.0, 48.0], [9.0, 47.0]]
    hole = [[9.4, 47.4], [9.6, 47.4], [9.6, 47.6], [9.4, 47.6], [9.4, 47.4]]
    feature = {
        "type": "Feature",
        "properties": {"name": "ring", "kind": "restricted"},
        "geometry": {"type": "Polygon", "coordinates": [outer, hole]},
    }
    zones = zones_from_geojson(_collection(feature, _box("far", "protected", 11.0, 47.0, 11.5, 47.5)))
    lat = np.array([47.2, 47.5, 48.3, 47.2])
    lon = np.array([9.2, 9.5, 9.5, 11.2])
    inside = zones.contains(lat, lon)
    assert inside.tolist() == [[True, False], [False, False], [False, False], [False, True]]


def test_altitude_band_and_unknown_altitude() -> None:
    zones = zones_from_geojson(_collection(_box("low", "restricted", 9.0, 47.0, 10.0, 48.0, floor_m=0, ceiling_m=1500)))
    alt = np.array([500.0, 2000.0, np.nan])
    assert zones.in_band(alt, unknown_in_band=True)[:, 0].tolist() == [True, False, True]
    assert zones.in_band(alt, unknown_in_band=False)[:, 0].tolist() == [True, False, False]


def test_time_to_entry_is_distance_over_speed_within_the_horizon() -> None:
    zones = zones_from_geojson(_collection(_box("box", "restricted", 9.5, 47.4, 9.7, 47.6)))
    edge_e, _, _ = zones.frame.geodetic_to_enu(47.5, 9.5, 0.0)
    frame = zones.frame
    # Tracks 6 km west of the box's west edge: one flying east at 100 m/s, one west, one slowly east.
    lat, lon, _ = frame.enu_to_geodetic(
        np.full(3, edge_e - 6000.0), np.zeros(3) + frame.geodetic_to_enu(47.5, 9.6, 0)[1], 0.0
    )
    tte = zones.time_to_entry(lat, lon, np.array([100.0, -100.0, 10.0]), np.zeros(3), horizon_s=120.0)
    assert tte[0, 0] == pytest.approx(60.0, abs=0.5)
    assert np.isnan(tte[1, 0]) and np.isnan(tte[2, 0])


def test_border_distance_to_line_and_zero_inside_a_buffer() -> None:
    line = {
        "type": "Feature",
        "properties": {"name": "b", "kind": "border"},
        "geometry": {"type": "LineString", "coordinates": [[9.45, 47.5], [9.55, 47.5]]},
    }
    zones = zones_from_geojson(_collection(line, _box("buf", "border_buffer", 9.6, 47.0, 9.7, 47.1)))
    frame = LocalFrame(47.5, 9.5)
    lat, lon, _ = frame.enu_to_geodetic(np.array([0.0]), np.array([5000.0]), 0.0)
    d = zones.border_distance_m(np.array([lat[0], 47.05]), np.array([lon[0], 9.65]))
    assert d[0] == pytest.approx(5000.0, rel=0.01)
    assert d[1] == 0.0
    assert np.isinf(zones_from_geojson(_collection()).border_distance_m(np.array([47.0]), np.array([9.0]))).all()


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ({"type": "Feature"}, "type"),
        (_collection(_box("a", "airspace", 9, 47, 10, 48)), "features[0].properties.kind"),
        (
            _collection(_box("a", "restricted", 9, 47, 10, 48, floor_m=2000, ceiling_m=1000)),
            "features[0].properties.ceiling_m",
        ),
        (
            _collection(_box("a", "restricted", 9, 47, 10, 48), _box("a", "protected", 9, 47, 10, 48)),
            "features[1].properties.name",
        ),
        (
            _collection(_box("a", "restricted", 9, 47, 10, 48, alert_identities=["foe"])),
            "features[0].properties.alert_identities",
        ),
        (_collection(_box("", "restricted", 9, 47, 10, 48)), "features[0].properties.name"),
        (
            _collection(
                {
                    "type": "Feature",
                    "properties": {"name": "x"},
                    "geometry": {"type": "LineString", "coordinates": [[9, 47], [10, 47]]},
                }
            ),
            "features[0].properties.kind",
        ),
        (
            _collection(
                {
                    "type": "Feature",
                    "properties": {"name": "x", "kind": "restricted"},
                    "geometry": {"type": "Polygon", "coordinates": [[[9, 47], [10, 95], [9, 48], [9, 47]]]},
                }
            ),
            "features[0].geometry.coordinates",
        ),
        (
            _collection({"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [9, 47]}}),
            "features[0].geometry.type",
        ),
    ],
)
def test_bad_zone_files_name_the_feature_and_key(document: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        zones_from_geojson(document, "zones.geojson")
    assert err.value.key == key and err.value.source == "zones.geojson"


def test_unreadable_and_invalid_json_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_zones(tmp_path / "missing.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_zones(bad)
    good = tmp_path / "good.geojson"
    good.write_text(json.dumps(_collection(_box("a", "protected", 9, 47, 10, 48))))
    assert [z.name for z in load_zones(good).zones] == ["a"]
