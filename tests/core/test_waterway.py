"""Waterway geometry on hand-built rivers with known answers, its GeoJSON errors, and the example Danube."""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commonsky.core.arrays import F64
from commonsky.core.errors import ConfigError
from commonsky.core.geodesy import EARTH_RADIUS_M, LocalFrame, sensor_aer
from commonsky.core.waterway import Waterway

FRAME = LocalFrame(47.75, 18.1, 0.0)
"""The frame the test rivers are drawn in (east, north in metres)."""
RIVER = Path(__file__).resolve().parents[2] / "examples" / "river" / "waterway.geojson"
CM = 0.01


def lonlat(points: Any) -> F64:
    """(N,2) east/north (m) in FRAME to (N,2) lon/lat on the ellipsoid."""
    xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    lat, lon, _ = FRAME.enu_to_geodetic(xy[:, 0], xy[:, 1], -(xy**2).sum(axis=1) / (2.0 * EARTH_RADIUS_M))
    return np.stack([lon, lat], axis=-1)


def ring(points: list[tuple[float, float]]) -> F64:
    closed = lonlat(points)
    return np.vstack([closed, closed[:1]])


def latlon(points: Any) -> tuple[F64, F64]:
    p = lonlat(points)
    return p[:, 1], p[:, 0]


def enu(lat: F64, lon: F64) -> F64:
    e, n, _ = FRAME.geodetic_to_enu(lat, lon, 0.0)
    return np.stack([e, n], axis=-1)


# A straight river flowing east: 10 km long, 400 m wide, an island south of the centreline.
BANK = [(-5000.0, -200.0), (5000.0, -200.0), (5000.0, 200.0), (-5000.0, 200.0)]
ISLAND = [(-500.0, -150.0), (500.0, -150.0), (500.0, -50.0), (-500.0, -50.0)]
STRAIGHT_LINE = [(-4900.0, 0.0), (4900.0, 0.0)]
STRAIGHT = Waterway("straight", ((ring(BANK), ring(ISLAND)),), lonlat(STRAIGHT_LINE), lonlat(STRAIGHT_LINE))

# A river flowing east that turns north at (0, 0): 200 m wide, clockwise ring, sharp right-angle bend.
BEND_RING = [(-3000.0, -100.0), (-3000.0, 100.0), (-100.0, 100.0), (-100.0, 3000.0), (100.0, 3000.0), (100.0, -100.0)]
BEND_LINE = [(-2900.0, 0.0), (0.0, 0.0), (0.0, 2900.0)]
BEND = Waterway("bend", ((ring(BEND_RING),),), lonlat(BEND_LINE), lonlat(BEND_LINE))


def test_on_water_inside_the_banks_and_outside_the_island() -> None:
    points = [(0, 0), (0, 190), (0, -175), (0, -100), (0, 250), (0, -300), (6000, 0), (-4000, -120), (4000, -120)]
    lat, lon = latlon(points)
    assert STRAIGHT.on_water(lat, lon).tolist() == [True, True, True, False, False, False, False, True, True]


def test_distance_to_bank_is_signed_and_exact() -> None:
    points = [(0, 0), (0, 190), (0, -175), (0, -100), (0, 250), (3000, -300), (6000, 0), (2000, 120)]
    expected = [50.0, 10.0, 25.0, -50.0, -50.0, -100.0, -1000.0, 80.0]
    lat, lon = latlon(points)
    assert STRAIGHT.distance_to_bank_m(lat, lon) == pytest.approx(expected, abs=CM)


def test_queries_keep_the_shape_of_their_input() -> None:
    lat, lon = latlon([(0, 10), (0, 250), (3000, 50), (3000, -250)])
    grid_lat, grid_lon = lat.reshape(2, 2), lon.reshape(2, 2)
    assert STRAIGHT.on_water(grid_lat, grid_lon).shape == (2, 2)
    assert STRAIGHT.distance_to_bank_m(grid_lat, grid_lon).shape == (2, 2)
    assert STRAIGHT.border_side(grid_lat, grid_lon).tolist() == [[-1, -1], [-1, 1]]
    assert STRAIGHT.on_water(lat[0], lon[0]).shape == ()
    assert STRAIGHT.nearest_water(grid_lat, grid_lon)[0].shape == (2, 2)


def test_nearest_water_leaves_water_alone_and_moves_land_in_by_the_margin() -> None:
    water = [(0, 0), (0, 199), (-4000, -120)]
    land = [(0, 300), (2000, -260), (0, -90), (0, -120), (5600, 50)]
    expected = [(0, 195), (2000, -195), (0, -45), (0, -155), (4995, 50)]
    lat, lon = latlon(water + land)
    out_lat, out_lon = STRAIGHT.nearest_water(lat, lon, margin_m=5.0)
    assert np.array_equal(out_lat[:3], lat[:3]) and np.array_equal(out_lon[:3], lon[:3])
    assert enu(out_lat[3:], out_lon[3:]) == pytest.approx(np.asarray(expected, dtype=np.float64), abs=CM)
    assert STRAIGHT.on_water(out_lat, out_lon).all()
    assert STRAIGHT.distance_to_bank_m(out_lat[3:], out_lon[3:]) == pytest.approx(5.0, abs=CM)


def test_nearest_water_at_corners_keeps_the_margin_from_both_banks() -> None:
    # Off the bend's outer corner: the corner pulled in along its diagonal. Beside it, the foot on the
    # nearer bank is too close to the other one and moves on to the same point. Between the arms: the
    # nearer arm. Off the west end's corner: that corner pulled in.
    lat, lon = latlon([(150, -150), (101, -99), (-160, 150), (-3400, 160)])
    out_lat, out_lon = BEND.nearest_water(lat, lon, margin_m=5.0)
    expected = [(95.0, -95.0), (95.0, -95.0), (-160.0, 95.0), (-2995.0, 95.0)]
    assert enu(out_lat, out_lon) == pytest.approx(np.asarray(expected), abs=CM)
    assert BEND.distance_to_bank_m(out_lat, out_lon) == pytest.approx(5.0, abs=CM)


def test_nearest_water_in_a_river_narrower_than_the_margin_lands_mid_stream() -> None:
    lat, lon = latlon([(3000, 400), (0, 300)])
    out_lat, out_lon = STRAIGHT.nearest_water(lat, lon, margin_m=500.0)
    # From the north bank straight across: the far bank at 3 km, the island's shore at 0 km.
    assert enu(out_lat, out_lon) == pytest.approx(np.array([[3000.0, 0.0], [0.0, 75.0]]), abs=CM)
    with pytest.raises(ValueError, match="margin_m"):
        STRAIGHT.nearest_water(lat, lon, margin_m=0.0)


def test_non_finite_positions_stay_out_of_every_answer() -> None:
    lat, lon = np.array([np.nan, 47.75]), np.array([18.1, np.inf])
    assert STRAIGHT.on_water(lat, lon).tolist() == [False, False]
    assert np.isnan(STRAIGHT.distance_to_bank_m(lat, lon)).all()
    assert STRAIGHT.border_side(lat, lon).tolist() == [0, 0]
    out_lat, out_lon = STRAIGHT.nearest_water(lat, lon)
    assert np.isnan(out_lat[0]) and np.isinf(out_lon[1])


def test_along_a_straight_river_offsets_to_the_right_of_travel() -> None:
    assert STRAIGHT.length_m == pytest.approx(9800.0, abs=CM)
    lat, lon, heading = STRAIGHT.along([0.0, 1000.0, 4900.0, 9800.0], [0.0, 50.0, -80.0, 20.0])
    expected = [(-4900.0, 0.0), (-3900.0, -50.0), (0.0, 80.0), (4900.0, -20.0)]
    assert enu(lat, lon) == pytest.approx(np.asarray(expected), abs=CM)
    assert heading == pytest.approx(90.0, abs=0.05)


def test_along_clips_to_the_ends() -> None:
    lat, lon, _ = STRAIGHT.along([-500.0, 1e9])
    assert enu(lat, lon) == pytest.approx(np.array([[-4900.0, 0.0], [4900.0, 0.0]]), abs=CM)


def test_along_a_bend_gives_a_continuous_lane_parallel_to_the_centreline() -> None:
    assert BEND.length_m == pytest.approx(5800.0, abs=CM)
    s = np.arange(2800.0, 3000.0, 1.0)
    lat, lon, heading = BEND.along(s, 50.0)
    xy = enu(lat, lon)
    before, after = s < 2900.0, s > 2900.0
    assert xy[before, 1] == pytest.approx(-50.0, abs=CM)  # right of eastbound travel: south
    assert xy[after, 0] == pytest.approx(50.0, abs=CM)  # right of northbound travel: east
    assert xy[s == 2900.0][0] == pytest.approx([50.0, -50.0], abs=CM)  # the outer corner, mitred
    assert np.hypot(*np.diff(xy, axis=0).T).max() < 1.1
    # Headings are from true north where the vessel is: the bearing to the lane point a metre on.
    assert heading[before] == pytest.approx(90.0, abs=0.05)
    assert heading[after] == pytest.approx(0.0, abs=0.05)
    for i in (0, 50, 99, 101, 150, 198):
        bearing = sensor_aer(lat[i], lon[i], 0.0, lat[i + 1], lon[i + 1], 0.0)[0]
        assert float(bearing) == pytest.approx(heading[i], abs=1e-3)


def test_border_side_right_and_left_looking_downstream() -> None:
    # Straight, eastbound: south is right. Past the line's ends its end segments extend.
    lat, lon = latlon([(0, -30), (0, 30), (-7000, -10), (7000, 10)])
    assert STRAIGHT.border_side(lat, lon).tolist() == [1, -1, 1, -1]
    # Bend (east, then north): the outside of the turn is right, the inside left, also off the corner.
    lat, lon = latlon([(150, -150), (-150, 150), (500, -500), (-60, 40), (40, 2000), (-40, -2000), (0, -50)])
    assert BEND.border_side(lat, lon).tolist() == [1, -1, 1, -1, 1, 1, 1]
    without = Waterway("no border", STRAIGHT.water, STRAIGHT.centreline)
    assert without.border_side(lat, lon).tolist() == [0] * 7


def feature(role: str, gtype: str, coordinates: Any, **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"role": role, **props},
        "geometry": {"type": gtype, "coordinates": coordinates},
    }


def collection() -> dict[str, Any]:
    """The straight river as a GeoJSON FeatureCollection, plus a separate lake in a MultiPolygon."""
    lake = ring([(0.0, 1000.0), (400.0, 1000.0), (400.0, 1400.0), (0.0, 1400.0)])
    return {
        "type": "FeatureCollection",
        "properties": {"name": "test river"},
        "features": [
            feature("water", "MultiPolygon", [[ring(BANK).tolist(), ring(ISLAND).tolist()], [lake.tolist()]]),
            feature("centreline", "LineString", lonlat(STRAIGHT_LINE).tolist()),
            feature("border", "LineString", lonlat(STRAIGHT_LINE).tolist()),
        ],
    }


def test_from_geojson_reads_water_islands_centreline_and_border() -> None:
    river = Waterway.from_geojson(collection(), "test")
    assert river.name == "test river"
    lat, lon = latlon([(0, 0), (0, -100), (200, 1200), (200, 800), (0, -30)])
    assert river.on_water(lat, lon).tolist() == [True, False, True, False, True]
    assert river.border_side(lat, lon)[-1] == 1
    assert river.length_m == pytest.approx(9800.0, abs=CM)


def test_the_name_may_sit_on_a_feature() -> None:
    data = collection()
    del data["properties"]
    data["features"][1]["properties"]["name"] = "from the centreline"
    assert Waterway.from_geojson(data, "test").name == "from the centreline"


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _drop(index: int) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["features"].pop(index)


MALFORMED: list[tuple[Callable[[dict[str, Any]], None], str]] = [
    (_set(["type"], "Feature"), "src: type: expected a GeoJSON FeatureCollection"),
    (_set(["features"], {}), "src: features: expected an array"),
    (_set(["features", 1], "line"), "src: features[1]: expected a Feature with a geometry"),
    (_set(["features", 2, "properties", "role"], "fairway"), "src: features[2].properties.role: 'fairway' is not"),
    (_set(["features", 0, "properties"], ["water"]), "src: features[0].properties: expected an object"),
    (_set(["features", 0, "geometry", "type"], "LineString"), "src: features[0].geometry.type: water must be"),
    (_set(["features", 1, "geometry", "type"], "Polygon"), "src: features[1].geometry.type: a centreline must be"),
    (_set(["features", 0, "geometry", "coordinates", 0, 1, 2], [18.1]), "features[0].geometry.coordinates[0][1][2]"),
    (_set(["features", 0, "geometry", "coordinates", 1, 0, 4], [18.1, 47.0]), "coordinates[1][0]: ring not closed"),
    (
        _set(["features", 1, "geometry", "coordinates", 1], [18.1, 91.0]),
        "features[1].geometry.coordinates[1]: expected",
    ),
    (_set(["features", 1, "geometry", "coordinates", 0], [True, 47.7]), "features[1].geometry.coordinates[0]"),
    (_set(["features", 2, "geometry", "coordinates"], [[18.1, 47.7]]), "features[2].geometry.coordinates: expected"),
    (_set(["features", 0, "geometry", "coordinates"], []), "features[0].geometry.coordinates: expected a non-empty"),
    (_set(["features", 1, "properties", "name"], 7), "src: features[1].properties.name: expected a string"),
    (_set(["properties", "name"], ""), "src: properties.name: no name on the collection or any feature"),
    (_drop(0), "src: features: no feature with role 'water'"),
    (_drop(1), "src: features: no feature with role 'centreline'"),
    (lambda d: d["features"].append(copy.deepcopy(d["features"][1])), "src: features[3]: a second centreline"),
    (lambda d: d["features"][2]["geometry"]["coordinates"].reverse(), "src: features[2]: the border runs upstream"),
]


@pytest.mark.parametrize(("mutate", "message"), MALFORMED)
def test_malformed_geojson_names_the_source_and_feature(mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    data = collection()
    mutate(data)
    with pytest.raises(ConfigError) as err:
        Waterway.from_geojson(data, "src")
    assert message in str(err.value)


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"Waterway 'x': water\[0\]\[0\]: ring not closed"):
        Waterway("x", ((ring(BANK)[:-1],),), lonlat(STRAIGHT_LINE))
    with pytest.raises(ConfigError, match=r"centreline: expected at least 2"):
        Waterway("x", ((ring(BANK),),), lonlat(STRAIGHT_LINE)[:1])
    with pytest.raises(ConfigError, match=r"centreline: has no length"):
        Waterway("x", ((ring(BANK),),), lonlat([(0.0, 0.0), (0.0, 0.0)]))


def test_load_reports_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.geojson: \(file\): cannot read"):
        Waterway.load(tmp_path / "missing.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.geojson: \(file\): not valid JSON"):
        Waterway.load(bad)
    good = tmp_path / "good.geojson"
    good.write_text(json.dumps(collection()), encoding="utf-8")
    assert Waterway.load(good).name == "test river"


def test_example_danube_centreline_and_border_stay_on_the_water() -> None:
    river = Waterway.load(RIVER)
    props = json.loads(RIVER.read_text(encoding="utf-8"))["properties"]
    assert "not for navigation" in props["source"].lower()
    assert 15_000.0 <= river.length_m <= 25_000.0
    assert 47.7 < river.frame.lat0_deg < 47.8 and 18.0 < river.frame.lon0_deg < 18.2
    s = np.arange(0.0, river.length_m, 50.0)
    lat, lon, _ = river.along(s)
    assert river.on_water(lat, lon).all()
    # Away from the cut ends the centreline runs mid-stream in a 300-450 m wide river.
    middle = (s > 500.0) & (s < river.length_m - 500.0)
    half_width = river.distance_to_bank_m(lat[middle], lon[middle])
    assert half_width.min() > 150.0 and half_width.max() < 225.0
    assert river.border is not None
    steps = _densify(river.border, 50.0)
    assert river.on_water(steps[:, 1], steps[:, 0]).all()
    assert river.distance_to_bank_m(steps[:, 1], steps[:, 0]).min() > 50.0
    # Left looking downstream is Slovakia (north bank), right is Hungary.
    north_lat, north_lon, _ = river.along(s, -120.0)
    south_lat, south_lon, _ = river.along(s, 120.0)
    assert (river.border_side(north_lat, north_lon) == -1).all()
    assert (river.border_side(south_lat, south_lon) == 1).all()
    assert river.on_water(north_lat, north_lon).all() and river.on_water(south_lat, south_lon).all()


def _densify(line: F64, step_m: float) -> F64:
    """A lon/lat polyline with extra positions at most about `step_m` apart (straight in lon/lat)."""
    scale = np.array([math.cos(math.radians(float(line[0, 1]))), 1.0]) * 111_195.0
    parts = []
    for a, b in itertools.pairwise(line):
        count = max(1, math.ceil(float(np.hypot(*((b - a) * scale))) / step_m))
        parts.append(a + np.linspace(0.0, 1.0, count, endpoint=False)[:, None] * (b - a))
    return np.vstack([*parts, line[-1:]])


POINTS = st.lists(st.tuples(st.floats(-6000.0, 6000.0), st.floats(-3500.0, 3500.0)), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(points=POINTS, margin=st.floats(0.01, 400.0), bend=st.booleans())
def test_nearest_water_always_lands_on_water(points: list[tuple[float, float]], margin: float, bend: bool) -> None:
    river = BEND if bend else STRAIGHT
    lat, lon = latlon(points)
    out_lat, out_lon = river.nearest_water(lat, lon, margin_m=margin)
    assert river.on_water(out_lat, out_lon).all()
    wet = river.on_water(lat, lon)
    assert np.array_equal(out_lat[wet], lat[wet]) and np.array_equal(out_lon[wet], lon[wet])
