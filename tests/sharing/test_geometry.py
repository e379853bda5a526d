"""Point-in-area: hand-made cases, then agreement with an exact winding-number reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commonsky.core.errors import ConfigError
from commonsky.sharing import Area
from commonsky.sharing.geometry import Polygon

from .reference import boundary_distance, ref_inside
from .strategies import polygons

SQUARE = {"type": "Polygon", "coordinates": [[[9, 47], [10, 47], [10, 48], [9, 48], [9, 47]]]}
HOLED = {
    "type": "MultiPolygon",
    "coordinates": [
        [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], [[1, 1], [1, 3], [3, 3], [3, 1], [1, 1]]],
        [[[10, 0], [12, 0], [11, 2], [10, 0]]],
    ],
}


def test_square_inside_outside_and_every_boundary_point_is_outside() -> None:
    area = Area.from_geojson(SQUARE)
    lon = [9.5, 9.0, 10.0, 9.5, 9.5, 9.0, 10.0, 8.99, 10.01, 9.5, 9.000001]
    lat = [47.5, 47.5, 47.5, 47.0, 48.0, 47.0, 48.0, 47.5, 47.5, 48.01, 47.5]
    assert area.contains(lon, lat).tolist() == [True] + [False] * 9 + [True]


def test_non_finite_points_are_outside() -> None:
    area = Area.from_geojson(SQUARE)
    assert not area.contains([np.nan, 9.5, np.inf], [47.5, np.nan, 47.5]).any()


def test_multipolygon_with_hole() -> None:
    area = Area.from_geojson(HOLED)
    points = {
        (0.5, 0.5): True,  # in the first polygon, outside its hole
        (2.0, 2.0): False,  # in the hole
        (1.0, 2.0): False,  # on the hole's edge
        (3.0, 3.0): False,  # on a hole vertex
        (3.5, 2.0): True,
        (11.0, 1.0): True,  # second polygon (triangle)
        (11.0, 2.0): False,  # its apex
        (10.5, 1.0): False,  # on its slanted edge (exact in binary)
        (7.0, 2.0): False,  # between the polygons
    }
    lon, lat = zip(*points, strict=True)
    assert area.contains(lon, lat).tolist() == list(points.values())


def test_hole_poking_out_removes_but_never_adds() -> None:
    area = Area(((((0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0), (0.0, 0.0)),
                  ((1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0), (1.0, 1.0))),))  # fmt: skip
    assert area.contains([0.5, 1.5, 2.5], [0.5, 1.5, 2.5]).tolist() == [True, False, False]


def test_feature_collection_and_geojson_round_trip() -> None:
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": SQUARE}]}
    area = Area.from_geojson(fc)
    assert area == Area.from_geojson(area.to_geojson()) == Area.from_geojson(SQUARE)


def test_many_points_many_edges_in_chunks() -> None:
    theta = np.linspace(0, 2 * np.pi, 2001)
    ring = [[float(np.cos(t)), float(np.sin(t))] for t in theta[:-1]]
    area = Area.from_geojson({"type": "Polygon", "coordinates": [[*ring, ring[0]]]})
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(-1.2, 1.2, 100_000), rng.uniform(-1.2, 1.2, 100_000)
    inside = area.contains(lon, lat)
    r = np.hypot(lon, lat)
    clear = np.abs(r - 1.0) > 1e-5  # the polygon is within 1.3e-6 of the circle
    assert np.array_equal(inside[clear], (r < 1.0)[clear])


@pytest.mark.parametrize(
    ("geojson", "key"),
    [
        ({"type": "Point", "coordinates": [1, 2]}, "areas.type"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0.5]]]}, "areas.coordinates[0]"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "areas.coordinates[0]"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 91], [0, 0]]]}, "areas.coordinates[0][2]"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, "x"], [0, 0]]]}, "areas.coordinates[0][2]"),
        ({"type": "Polygon", "coordinates": []}, "areas.coordinates"),
        ({"type": "FeatureCollection", "features": []}, "areas"),
        ({"type": "Feature", "geometry": None}, "areas.geometry"),
    ],
)
def test_bad_geojson_names_the_key(geojson: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        Area.from_geojson(geojson, "border.geojson", "areas")
    assert err.value.key == key and err.value.source == "border.geojson"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(polys=polygons(), seed=st.integers(0, 2**32 - 1))
def test_matches_exact_winding_number_on_grid_points(polys: tuple[Polygon, ...], seed: int) -> None:
    """Grid points (quarter degrees: many on edges and vertices) are judged exactly like the reference."""
    rng = np.random.default_rng(seed)
    vertices = np.array([v for p in polys for ring in p for v in ring])
    mids = (vertices[:-1] + vertices[1:]) / 2
    grid = rng.integers(-100, 101, size=(40, 2)) / 4
    pts = np.concatenate([vertices, mids, grid])
    got = Area(polys).contains(pts[:, 0], pts[:, 1])
    want = [ref_inside(polys, x, y) for x, y in pts]
    assert got.tolist() == want


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(polys=polygons(), seed=st.integers(0, 2**32 - 1))
def test_matches_exact_winding_number_on_random_points(polys: tuple[Polygon, ...], seed: int) -> None:
    """Arbitrary float points agree wherever rounding cannot matter (off the boundary by 1e-9)."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-25, 25, size=(60, 2))
    got = Area(polys).contains(pts[:, 0], pts[:, 1])
    for (x, y), g in zip(pts, got, strict=True):
        if boundary_distance(polys, x, y) > 1e-9:
            assert g == ref_inside(polys, x, y)
