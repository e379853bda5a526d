"""Scenario files: the TOML schema of a simulation, parsed once into the frozen dataclasses of `sim.scenario`.

Validation happens here and only here, so the simulator can trust its input and every mistake in a
file is reported as a `ConfigError` naming the file, the dotted key (e.g. `partners[0].sensors[1].pd`)
and what is allowed. Unknown keys are errors too, so a misspelt optional key is never silently ignored.

Schema (all times in seconds; event times are seconds after the scenario start; angles in degrees,
azimuths and headings clockwise from true north; distances and heights in metres)::

    [scenario]
    name = "border3"              # free text
    seed = 42                     # default seed of the random streams
    duration_s = 600              # whole seconds; truth at every whole second 0..duration
    start_time_s = 1780000000     # UTC seconds of the first truth sample (whole seconds)

    [region]                      # centre of the traffic area (also the natural local-frame origin)
    lat_deg = 47.5
    lon_deg = 9.5
    radius_km = 120               # random traffic starts inside this disk

    [[partners]]                  # one table per partner (node of the cooperative network)
    id = "north"
    name = "North ANSP"
    [[partners.sensors]]          # the sensors that partner owns
    id = "N-PSR1"                 # unique over all partners
    kind = "psr"                  # "psr" | "ssr" | "adsb" | "ais" | "surface_radar" (the last two: vessels only)
    lat_deg = 47.9
    lon_deg = 9.4
    alt_m = 700                   # antenna height
    pd = 0.9                      # detection (radar) / reception (ADS-B) probability
    max_range_m = 150000          # instrumented range (radar: slant range)
    time_offset_s = 0.0           # optional: plot time_s = true detection time + time_offset_s
    # psr/ssr/surface_radar only:
    sigma_range_m = 50            # Gaussian range noise
    sigma_azimuth_deg = 0.1       # Gaussian azimuth noise
    scan_period_s = 4             # antenna rotation period
    sigma_altitude_m = 8.8        # optional, published in sensors.json (default: SSR 100 ft / sqrt(12), PSR 0)
    clutter_density_per_km2 = 0   # optional: mean false plots per km^2 per scan (Poisson); surface_radar: per
                                  # km^2 of water
    range_bias_m = 0              # optional systematic range error
    azimuth_bias_deg = 0          # optional systematic azimuth error
    land_clutter_density_per_km2 = 0  # surface_radar only, optional: per km^2 of the 100 m strip along the banks
                                  # (a surface_radar needs [river]; alt_m is the antenna's height above the water
                                  # surface when water_height_m is 0)
    # adsb only:
    nacp = 8                      # optional (default 8): 1..11, position noise sigma = EPU(95 %) / 2.448
    update_period_s = 1.0         # optional (default 1): one position report per aircraft per period
    sigma_range_m = 37.8          # optional, published horizontal sigma (default from nacp)
    sigma_altitude_m = 2.2        # optional, published altitude sigma (default 25 ft / sqrt(12))
    # ais only (each vessel reports on its own schedule, noise from its accuracy flag):
    sigma_range_m = 12.25         # optional, published horizontal sigma (default EPU(NACp 9) / 2.448)
    sigma_altitude_m = 1.0        # optional, published height sigma of the water level the reports carry

    [traffic]                     # random aircraft; optional (no table: none); all keys but count optional
    count = 50
    altitude_min_m = 1000
    altitude_max_m = 12500
    speed_min_mps = 100           # speed when low and slow ...
    speed_max_mps = 260           # ... up to this when high and fast
    max_turn_rate_deg_s = 3.0     # coordinated turns, at most 3 deg/s
    max_vertical_rate_mps = 15.0
    late_start_fraction = 0.1     # share of aircraft appearing during the first half of the run
    early_end_fraction = 0.1      # share of aircraft disappearing during the second half
    [traffic.equipage]            # fractions summing to 1 (missing keys count 0)
    adsb = 0.7
    mode_s = 0.2
    mode_ac = 0.05
    none = 0.05
    [[traffic.routes]]            # optional listed flights, flown waypoint to waypoint
    speed_mps = 200
    equipage = "adsb"             # "adsb" | "mode_s" | "mode_ac" | "none"
    callsign = "SWR123"           # optional (random for adsb when left out)
    mode_s = "4B1A2C"             # optional hex (random when left out)
    squawk = "1000"               # optional octal (random when left out)
    start_s = 0                   # optional; appears at the first whole second >= start_s
    waypoints = [{lat_deg = 47.0, lon_deg = 8.6, alt_m = 9000}, {lat_deg = 48.0, lon_deg = 10.5, alt_m = 11000}]

    [river]                       # optional: the river of a surface picture
    waterway = "river/waterway.geojson"  # GeoJSON (commonsky.core.waterway), relative to this file
    water_height_m = 0.0          # optional (0): height of the water surface above the ellipsoid

    [[vessels]]                   # listed vessels (need [river]); target ids follow the aircraft, in file order
    name = "HANSA DREDGE"         # unique, at most 20 characters
    ais = "A"                     # "A" | "B" | "none" (no AIS: seen by radar only)
    mmsi = 243080501              # AIS vessels only (required); may repeat: two vessels on one MMSI
    accuracy = 1                  # optional, AIS only: position accuracy flag (default A 1, B 0): NACp 10 or 9
    callsign = "HGDR1"            # optional, at most 7 characters
    ship_type = 33                # optional (0): AIS ship and cargo type
    length_m = 62                 # optional (0: unknown)
    start_s = 0                   # optional: appears at the first whole second >= start_s
    speed_mps = 0.4               # (0, 25]; not for anchored
    behaviour = "work"            # and that behaviour's keys; every position is kept on the water:
      # "transit": from_km, to_km (along the centreline from its upstream end), lane_m (optional 0: metres right of
      #            the centreline looking downstream); stops at to_km, or leaves within 100 m of an end
      # "work": lat_deg, lon_deg, radius_m: back and forth along the river through the point, radius_m either way
      # "loiter": lat_deg, lon_deg, radius_m: a slow random drift within radius_m of the point
      # "cross": along_km, from_bank ("left" | "right", optional "left"): bank to bank, then moored
      # "approach": lat_deg, lon_deg, target (another vessel's name), stop_m (optional 30): straight at the target
      # "anchored": lat_deg, lon_deg: stationary, at anchor

    [vessel_traffic]              # optional (needs [river]): random class A barges and tankers, both ways
    count = 3                     # target ids after the listed vessels
    lane_m = 50                   # optional (50): each direction's lane, +-5 m, downstream on the right
    speed_min_mps = 2.0           # optional (2.0)
    speed_max_mps = 4.5           # optional (4.5)

    [[events]]                    # each has a kind and that kind's keys:
    kind = "intruder"             # at_s, start_lat_deg, start_lon_deg, end_lat_deg, end_lon_deg,
                                  # alt_m (default 300), speed_mps (default 60): a new target without
                                  # transponder, from the first whole second >= at_s until it arrives
    kind = "emergency"            # target_id, at_s, code (7500 | 7600 | 7700)
    kind = "transponder_off"      # target_id, at_s: SSR and ADS-B stop, PSR still sees it (a vessel: AIS stops)
    kind = "spoofer"              # target_id, at_s, offset_east_m, offset_north_m,
                                  # drift_east_mps, drift_north_mps (optional, 0): ADS-B (a vessel: AIS)
                                  # reports truth + offset
    kind = "sensor_outage"        # sensor_id, start_s, end_s: no plots from that sensor in [start, end)
    kind = "link_outage"          # partner_a, partner_b, start_s, end_s: only listed, for the network layer

Target ids: random traffic is 1..count, listed routes follow in file order, intruders after those in
event order, then listed vessels in file order and random vessel traffic. Event targets must be random
traffic, routes or listed vessels. Random aircraft then fly the whole run and are given the equipage
their event needs (ADS-B for a spoofer, a Mode S transponder for an emergency or transponder-off target
that had none); routes must already carry it; a vessel's transponder_off or spoofer needs its AIS, and
an emergency an aircraft.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from commonsky.core.batches import EMERGENCY_SQUAWKS
from commonsky.core.config import REQUIRED, Table, read_toml
from commonsky.core.errors import ConfigError
from commonsky.core.sensors import SensorKind, SensorSpec
from commonsky.core.waterway import Waterway
from commonsky.sim.scenario import (
    AIS_CLASSES,
    BEHAVIOURS,
    DEFAULT_EQUIPAGE,
    EPU_TO_SIGMA,
    EVENT_KINDS,
    FEET_M,
    MAX_SPEED_MPS,
    MAX_VERTICAL_RATE_MPS,
    MAX_VESSEL_SPEED_MPS,
    NACP_EPU_M,
    NO_VESSEL_TRAFFIC,
    Anchored,
    Approach,
    Behaviour,
    Cross,
    EmergencyEvent,
    Equipage,
    EquipageMix,
    Event,
    IntruderEvent,
    LinkOutageEvent,
    Loiter,
    PartnerConfig,
    Region,
    RiverConfig,
    RouteConfig,
    Scenario,
    SensorConfig,
    SensorOutageEvent,
    SpooferEvent,
    TrafficConfig,
    Transit,
    TransponderOffEvent,
    VesselConfig,
    VesselTrafficConfig,
    Waypoint,
    Work,
)
from commonsky.sim.vessels import AIS_NOMINAL_PERIOD_S, LANE_JITTER_M, MAX_HALF_WIDTH_M, station

AIS_SIGMA_ALTITUDE_M = 1.0
"""Published height sigma of AIS reports: the water level they are put at, known to about a metre."""
PATH_CHECK_STEP_M = 25.0
"""Spacing of the points a vessel's lane or work path is checked to lie on water."""


def _sensor(t: Table, partner: str, river: bool) -> SensorConfig:
    """A `[[partners.sensors]]` table: its published description and, beside it, what is only simulated."""
    sid = t.text("id", max_len=24)
    kind = SensorKind(t.choice("kind", tuple(k.value for k in SensorKind)))
    if kind is SensorKind.SURFACE_RADAR and not river:
        raise t.error("kind", "a surface_radar needs the scenario's [river]: its clutter lies on the water")
    lat = t.number("lat_deg", lo=-89.0, hi=89.0)
    lon = t.number("lon_deg", lo=-180.0, hi=180.0)
    alt = t.number("alt_m", lo=-500.0, hi=20_000.0)
    pd = t.number("pd", lo=0.0, hi=1.0)
    max_range = t.number("max_range_m", lo=0.0, hi=1_000_000.0, lo_open=True)
    time_offset = t.number("time_offset_s", 0.0, lo=-60.0, hi=60.0)

    def spec(sigma_range_m: float, sigma_azimuth_deg: float, sigma_altitude_m: float, period_s: float) -> SensorSpec:
        return SensorSpec(
            sid,
            partner,
            kind,
            lat,
            lon,
            alt,
            sigma_range_m,
            sigma_azimuth_deg,
            sigma_altitude_m,
            period_s,
            pd,
            max_range,
        )

    if kind is SensorKind.ADSB:
        nacp = t.integer("nacp", 8, lo=1, hi=11)
        period = t.number("update_period_s", 1.0, lo=0.0, hi=60.0, lo_open=True)
        sigma_range = t.number("sigma_range_m", NACP_EPU_M[nacp] / EPU_TO_SIGMA, lo=0.0)
        sigma_altitude = t.number("sigma_altitude_m", 25 * FEET_M / math.sqrt(12.0), lo=0.0)
        config = SensorConfig(spec(sigma_range, 0.0, sigma_altitude, period), time_offset_s=time_offset, nacp=nacp)
    elif kind is SensorKind.AIS:
        sigma_range = t.number("sigma_range_m", NACP_EPU_M[9] / EPU_TO_SIGMA, lo=0.0)
        sigma_altitude = t.number("sigma_altitude_m", AIS_SIGMA_ALTITUDE_M, lo=0.0)
        config = SensorConfig(spec(sigma_range, 0.0, sigma_altitude, AIS_NOMINAL_PERIOD_S), time_offset_s=time_offset)
    else:
        mode_c_sigma = 100 * FEET_M / math.sqrt(12.0) if kind is SensorKind.SSR else 0.0
        published = spec(
            t.number("sigma_range_m", lo=0.0),
            t.number("sigma_azimuth_deg", lo=0.0, hi=10.0),
            t.number("sigma_altitude_m", mode_c_sigma, lo=0.0),
            t.number("scan_period_s", lo=0.5, hi=60.0),
        )
        config = SensorConfig(
            published,
            clutter_density_per_km2=t.number("clutter_density_per_km2", 0.0, lo=0.0, hi=1.0),
            range_bias_m=t.number("range_bias_m", 0.0, lo=-10_000.0, hi=10_000.0),
            azimuth_bias_deg=t.number("azimuth_bias_deg", 0.0, lo=-10.0, hi=10.0),
            time_offset_s=time_offset,
            land_clutter_density_per_km2=(
                t.number("land_clutter_density_per_km2", 0.0, lo=0.0, hi=10.0)
                if kind is SensorKind.SURFACE_RADAR
                else 0.0
            ),
        )
    t.finish()
    return config


def _partners(root: Table, river: bool) -> tuple[PartnerConfig, ...]:
    partners: list[PartnerConfig] = []
    seen_sensors: set[str] = set()
    for pt in root.tables("partners", required=True):
        pid = pt.text("id")
        if pid in {p.id for p in partners}:
            raise pt.error("id", f"duplicate partner id {pid!r}")
        name = pt.text("name", pid)
        sensors: list[SensorConfig] = []
        for st in pt.tables("sensors", required=True):
            sensor = _sensor(st, pid, river)
            if sensor.spec.id in seen_sensors:
                raise st.error("id", f"duplicate sensor id {sensor.spec.id!r}")
            seen_sensors.add(sensor.spec.id)
            sensors.append(sensor)
        pt.finish()
        partners.append(PartnerConfig(pid, name, tuple(sensors)))
    return tuple(partners)


def _route(t: Table, duration_s: float) -> RouteConfig:
    waypoints: list[Waypoint] = []
    raw = t.raw("waypoints")
    if not isinstance(raw, list) or len(raw) < 2:
        raise t.error("waypoints", "expected an array of at least 2 {lat_deg, lon_deg, alt_m} tables")
    for i, item in enumerate(raw):
        w = Table(item, t.source, f"{t.key('waypoints')}[{i}]")
        waypoints.append(
            Waypoint(
                w.number("lat_deg", lo=-89.0, hi=89.0),
                w.number("lon_deg", lo=-180.0, hi=180.0),
                w.number("alt_m", lo=0.0, hi=20_000.0),
            )
        )
        w.finish()
    speed = t.number("speed_mps", lo=10.0, hi=MAX_SPEED_MPS)
    route = RouteConfig(
        waypoints=tuple(waypoints),
        speed_mps=speed,
        equipage=Equipage(t.choice("equipage", tuple(e.value for e in Equipage))),
        callsign=t.text("callsign", "", max_len=8),
        mode_s=t.mode_s("mode_s", -1),
        squawk=t.squawk("squawk", -1),
        start_s=t.number("start_s", 0.0, lo=0.0, hi=duration_s),
    )
    t.finish()
    return route


def _traffic(t: Table, duration_s: float) -> TrafficConfig:
    count = t.integer("count", REQUIRED if t.data else 0, lo=0, hi=100_000)
    alt_min = t.number("altitude_min_m", 1_000.0, lo=0.0, hi=20_000.0)
    alt_max = t.number("altitude_max_m", 12_500.0, lo=0.0, hi=20_000.0)
    if alt_max <= alt_min:
        raise t.error("altitude_max_m", f"{alt_max:g} must exceed altitude_min_m {alt_min:g}")
    v_min = t.number("speed_min_mps", 100.0, lo=10.0, hi=MAX_SPEED_MPS)
    v_max = t.number("speed_max_mps", 260.0, lo=10.0, hi=MAX_SPEED_MPS)
    if v_max < v_min:
        raise t.error("speed_max_mps", f"{v_max:g} must be at least speed_min_mps {v_min:g}")
    max_turn = t.number("max_turn_rate_deg_s", 3.0, lo=1.0, hi=3.0)
    eq = t.table("equipage", required=False)
    mix = DEFAULT_EQUIPAGE
    if eq.data:
        mix = EquipageMix(**{e.value: eq.number(e.value, 0.0, lo=0.0, hi=1.0) for e in Equipage})
        eq.finish()
        if abs(sum(mix.probabilities) - 1.0) > 1e-6:
            raise ConfigError(eq.source, eq.path, f"fractions sum to {sum(mix.probabilities):g}, must sum to 1")
    config = TrafficConfig(
        count=count,
        altitude_min_m=alt_min,
        altitude_max_m=alt_max,
        speed_min_mps=v_min,
        speed_max_mps=v_max,
        max_turn_rate_deg_s=max_turn,
        max_vertical_rate_mps=t.number("max_vertical_rate_mps", 15.0, lo=1.0, hi=MAX_VERTICAL_RATE_MPS),
        late_start_fraction=t.number("late_start_fraction", 0.1, lo=0.0, hi=1.0),
        early_end_fraction=t.number("early_end_fraction", 0.1, lo=0.0, hi=1.0),
        equipage=mix,
        routes=tuple(_route(r, duration_s) for r in t.tables("routes")),
    )
    t.finish()
    return config


def _river(root: Table) -> tuple[RiverConfig | None, Waterway | None]:
    """The `[river]` table and its waterway, loaded once here so that vessels can be checked against the water."""
    if not root.present("river"):
        return None, None
    t = root.table("river")
    path = (Path(t.source).parent / t.text("waterway")).resolve()
    try:
        waterway = Waterway.load(path)
    except ConfigError as exc:
        raise t.error("waterway", f"cannot load {path}: {exc.key}: {exc.problem}") from None
    river = RiverConfig(str(path), t.number("water_height_m", 0.0, lo=-500.0, hi=9_000.0))
    t.finish()
    return river, waterway


def _on_water(t: Table, waterway: Waterway) -> tuple[float, float]:
    """A vessel's `lat_deg`/`lon_deg`, which must lie on the river's water."""
    lat = t.number("lat_deg", lo=-89.0, hi=89.0)
    lon = t.number("lon_deg", lo=-180.0, hi=180.0)
    depth = float(waterway.distance_to_bank_m(lat, lon))
    if depth < 0.0:
        raise t.error("lat_deg", f"({lat:g}, {lon:g}) is on land, {-depth:.0f} m from the water of {waterway.name}")
    return lat, lon


def _lane_on_water(t: Table, key: str, waterway: Waterway, s_m: tuple[float, float], lane_m: float) -> None:
    """Refuse a lane (offset `lane_m` from `s_m[0]` to `s_m[1]` along the centreline) that leaves the water."""
    count = max(2, math.ceil(abs(s_m[1] - s_m[0]) / PATH_CHECK_STEP_M) + 1)
    s = np.linspace(s_m[0], s_m[1], count)
    lat, lon, _ = waterway.along(s, lane_m)
    dry = ~waterway.on_water(lat, lon)
    if dry.any():
        at = float(s[np.argmax(dry)]) / 1000.0
        raise t.error(key, f"{lane_m:g} m from the centreline is on land at {at:.3f} km along it")


def _behaviour(t: Table, kind: str, waterway: Waterway) -> Behaviour:
    """The behaviour keys of a `[[vessels]]` table, checked against the river."""
    length_km = waterway.length_m / 1000.0
    if kind == Transit.KIND:
        start = t.number("from_km", lo=0.0, hi=length_km)
        end = t.number("to_km", lo=0.0, hi=length_km)
        if end == start:
            raise t.error("to_km", f"{end:g} must differ from from_km")
        lane = t.number("lane_m", 0.0, lo=-MAX_HALF_WIDTH_M, hi=MAX_HALF_WIDTH_M)
        _lane_on_water(t, "lane_m", waterway, (1000.0 * start, 1000.0 * end), lane)
        return Transit(start, end, lane)
    if kind in (Work.KIND, Loiter.KIND):
        lat, lon = _on_water(t, waterway)
        radius = t.number("radius_m", lo=1.0, hi=5_000.0)
        if kind == Loiter.KIND:
            return Loiter(lat, lon, radius)
        s, offset = station(waterway, np.array([lat]), np.array([lon]))
        _lane_on_water(t, "radius_m", waterway, (float(s[0]) - radius, float(s[0]) + radius), float(offset[0]))
        return Work(lat, lon, radius)
    if kind == Cross.KIND:
        along = t.number("along_km", lo=0.0, hi=length_km)
        _lane_on_water(t, "along_km", waterway, (1000.0 * along, 1000.0 * along), 0.0)
        return Cross(along, t.choice("from_bank", ("left", "right"), "left"))
    if kind == Approach.KIND:
        lat, lon = _on_water(t, waterway)
        return Approach(lat, lon, t.text("target", max_len=20), t.number("stop_m", 30.0, lo=5.0, hi=1_000.0))
    return Anchored(*_on_water(t, waterway))


def _vessel(t: Table, waterway: Waterway, duration_s: float) -> VesselConfig:
    """One `[[vessels]]` table."""
    name = t.text("name", max_len=20)
    ais = t.choice("ais", AIS_CLASSES)
    if ais == "none":
        for key in ("mmsi", "accuracy"):
            if t.present(key):
                raise t.error(key, 'only for a vessel with AIS; this one has ais = "none"')
        mmsi, accuracy = -1, -1
    else:
        mmsi = t.integer("mmsi", lo=1, hi=999_999_999)
        accuracy = t.integer("accuracy", 1 if ais == "A" else 0, lo=0, hi=1)
    kind = t.choice("behaviour", tuple(b.KIND for b in BEHAVIOURS))
    speed = 0.0 if kind == Anchored.KIND else t.number("speed_mps", lo=0.0, hi=MAX_VESSEL_SPEED_MPS, lo_open=True)
    vessel = VesselConfig(
        name=name,
        mmsi=mmsi,
        callsign=t.text("callsign", "", max_len=7),
        ship_type=t.integer("ship_type", 0, lo=0, hi=99),
        length_m=t.number("length_m", 0.0, lo=0.0, hi=500.0),
        ais=ais,
        accuracy=accuracy,
        start_s=t.number("start_s", 0.0, lo=0.0, hi=duration_s),
        speed_mps=speed,
        behaviour=_behaviour(t, kind, waterway),
    )
    t.finish()
    return vessel


def _vessels(root: Table, waterway: Waterway | None, duration_s: float) -> tuple[VesselConfig, ...]:
    """The `[[vessels]]` tables: unique names, approach targets that exist."""
    tables = root.tables("vessels")
    if tables and waterway is None:
        raise root.error("vessels", "vessels need the scenario's [river]")
    vessels: list[VesselConfig] = []
    for t in tables:
        assert waterway is not None  # checked above, for mypy
        vessel = _vessel(t, waterway, duration_s)
        if vessel.name in {v.name for v in vessels}:
            raise t.error("name", f"duplicate vessel name {vessel.name!r}")
        vessels.append(vessel)
    names = [v.name for v in vessels]
    for t, v in zip(tables, vessels, strict=True):
        if isinstance(v.behaviour, Approach):
            b = v.behaviour
            if b.target == v.name or b.target not in names:
                raise t.error("target", f"{b.target!r} is not another listed vessel: {', '.join(names)}")
            if isinstance(vessels[names.index(b.target)].behaviour, Approach):
                raise t.error("target", f"{b.target!r} approaches a vessel itself; the target must not")
    return tuple(vessels)


def _vessel_traffic(root: Table, waterway: Waterway | None) -> VesselTrafficConfig:
    """The `[vessel_traffic]` table: random barges and tankers in both directions' lanes."""
    if not root.present("vessel_traffic"):
        return NO_VESSEL_TRAFFIC
    t = root.table("vessel_traffic")
    if waterway is None:
        raise root.error("vessel_traffic", "vessel traffic needs the scenario's [river]")
    d = NO_VESSEL_TRAFFIC
    lane = t.number("lane_m", d.lane_m, lo=0.0, hi=MAX_HALF_WIDTH_M)
    for side in (1.0, -1.0):
        for jitter in (-LANE_JITTER_M, LANE_JITTER_M):
            _lane_on_water(t, "lane_m", waterway, (0.0, waterway.length_m), side * (lane + jitter))
    v_min = t.number("speed_min_mps", d.speed_min_mps, lo=0.0, hi=MAX_VESSEL_SPEED_MPS, lo_open=True)
    v_max = t.number("speed_max_mps", d.speed_max_mps, lo=0.0, hi=MAX_VESSEL_SPEED_MPS, lo_open=True)
    if v_max < v_min:
        raise t.error("speed_max_mps", f"{v_max:g} must be at least speed_min_mps {v_min:g}")
    config = VesselTrafficConfig(t.integer("count", lo=0, hi=10_000), lane, v_min, v_max)
    t.finish()
    return config


@dataclass(frozen=True)
class _References:
    """What events may refer to: the run length, targets, sensors and partners."""

    duration_s: float
    n_targets: int
    route_equipage: dict[int, Equipage]
    sensors: tuple[str, ...]
    partners: tuple[str, ...]
    first_vessel_id: int
    vessels: tuple[VesselConfig, ...]
    """The listed vessels: target ids `first_vessel_id` on."""


def _event(t: Table, refs: _References) -> Event:
    kind = t.choice("kind", tuple(k.KIND for k in EVENT_KINDS))

    def when(name: str) -> float:
        return t.number(name, lo=0.0, hi=refs.duration_s)

    def target(need: Equipage) -> int:
        tid = t.integer("target_id")
        v = tid - refs.first_vessel_id
        if 0 <= v < len(refs.vessels):
            vessel = refs.vessels[v]
            if kind == EmergencyEvent.KIND:
                raise t.error("target_id", f"{tid} is the vessel {vessel.name!r}; an emergency needs an aircraft")
            if vessel.ais == "none":
                raise t.error("target_id", f"{tid} is the vessel {vessel.name!r}, without AIS; this event needs AIS")
            return tid
        if not 1 <= tid <= refs.n_targets:
            listed = f" or a listed vessel ({refs.first_vessel_id}..{refs.first_vessel_id + len(refs.vessels) - 1})"
            raise t.error(
                "target_id",
                f"{tid} is not a traffic or route target (1..{refs.n_targets})" + (listed if refs.vessels else ""),
            )
        route_equipage = refs.route_equipage.get(tid)
        if route_equipage is not None and route_equipage.code < need.code:
            raise t.error("target_id", f"route target {tid} is {route_equipage.value}; this event needs {need.value}")
        return tid

    def window() -> tuple[float, float]:
        start, end = when("start_s"), when("end_s")
        if end <= start:
            raise t.error("end_s", f"{end:g} must be after start_s {start:g}")
        return start, end

    event: Event
    if kind == IntruderEvent.KIND:
        event = IntruderEvent(
            at_s=when("at_s"),
            start_lat_deg=t.number("start_lat_deg", lo=-89.0, hi=89.0),
            start_lon_deg=t.number("start_lon_deg", lo=-180.0, hi=180.0),
            end_lat_deg=t.number("end_lat_deg", lo=-89.0, hi=89.0),
            end_lon_deg=t.number("end_lon_deg", lo=-180.0, hi=180.0),
            alt_m=t.number("alt_m", 300.0, lo=30.0, hi=3_000.0),
            speed_mps=t.number("speed_mps", 60.0, lo=5.0, hi=MAX_SPEED_MPS),
        )
    elif kind == EmergencyEvent.KIND:
        tid = target(Equipage.MODE_AC)
        code = t.squawk("code")
        if code not in EMERGENCY_SQUAWKS:
            raise t.error("code", f"{code:04d} is not one of 7500, 7600, 7700")
        event = EmergencyEvent(target_id=tid, at_s=when("at_s"), code=code)
    elif kind == TransponderOffEvent.KIND:
        event = TransponderOffEvent(target_id=target(Equipage.MODE_AC), at_s=when("at_s"))
    elif kind == SpooferEvent.KIND:
        event = SpooferEvent(
            target_id=target(Equipage.ADSB),
            at_s=when("at_s"),
            offset_east_m=t.number("offset_east_m", lo=-1e6, hi=1e6),
            offset_north_m=t.number("offset_north_m", lo=-1e6, hi=1e6),
            drift_east_mps=t.number("drift_east_mps", 0.0, lo=-1000.0, hi=1000.0),
            drift_north_mps=t.number("drift_north_mps", 0.0, lo=-1000.0, hi=1000.0),
        )
    elif kind == SensorOutageEvent.KIND:
        sensor_id = t.choice("sensor_id", refs.sensors)
        event = SensorOutageEvent(sensor_id, *window())
    else:
        a = t.choice("partner_a", refs.partners)
        b = t.choice("partner_b", refs.partners)
        if a == b:
            raise t.error("partner_b", "must differ from partner_a")
        event = LinkOutageEvent(a, b, *window())
    t.finish()
    return event


def parse_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a parsed TOML document into a `Scenario` (errors name `source` and the key)."""
    root = Table(data, source, "")
    sc = root.table("scenario")
    name = sc.text("name")
    seed = sc.integer("seed", lo=0)
    duration = sc.whole_seconds("duration_s", positive=True)
    start_time = sc.whole_seconds("start_time_s")
    sc.finish()
    rg = root.table("region")
    region = Region(
        lat_deg=rg.number("lat_deg", lo=-85.0, hi=85.0),
        lon_deg=rg.number("lon_deg", lo=-180.0, hi=180.0),
        radius_km=rg.number("radius_km", lo=0.0, hi=2_000.0, lo_open=True),
    )
    rg.finish()
    river, waterway = _river(root)
    partners = _partners(root, river is not None)
    traffic = _traffic(root.table("traffic", required=False), duration)
    vessels = _vessels(root, waterway, duration)
    vessel_traffic = _vessel_traffic(root, waterway)
    event_tables = root.tables("events")
    intruders = sum(1 for e in event_tables if e.data.get("kind") == IntruderEvent.KIND)
    refs = _References(
        duration_s=duration,
        n_targets=traffic.count + len(traffic.routes),
        route_equipage={traffic.count + 1 + i: r.equipage for i, r in enumerate(traffic.routes)},
        sensors=tuple(s.spec.id for p in partners for s in p.sensors),
        partners=tuple(p.id for p in partners),
        first_vessel_id=traffic.count + len(traffic.routes) + intruders + 1,
        vessels=vessels,
    )
    events = tuple(_event(e, refs) for e in event_tables)
    # Sharing agreements belong to the network layer, which validates them; carried here verbatim.
    sharing = tuple(dict(t.data) for t in root.tables("sharing"))
    assess = dict(root.table("assess", required=False).data)
    root.finish()
    return Scenario(
        name,
        seed,
        duration,
        start_time,
        region,
        partners,
        traffic,
        events,
        source,
        sharing,
        assess,
        river=river,
        vessels=vessels,
        vessel_traffic=vessel_traffic,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file; any problem raises `ConfigError` naming file and key."""
    data, source = read_toml(path)
    return parse_scenario(data, source)
