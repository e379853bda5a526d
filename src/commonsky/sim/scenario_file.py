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
    kind = "psr"                  # "psr" | "ssr" | "adsb"
    lat_deg = 47.9
    lon_deg = 9.4
    alt_m = 700                   # antenna height
    pd = 0.9                      # detection (radar) / reception (ADS-B) probability
    max_range_m = 150000          # instrumented range (radar: slant range)
    time_offset_s = 0.0           # optional: plot time_s = true detection time + time_offset_s
    # psr/ssr only:
    sigma_range_m = 50            # Gaussian range noise
    sigma_azimuth_deg = 0.1       # Gaussian azimuth noise
    scan_period_s = 4             # antenna rotation period
    sigma_altitude_m = 8.8        # optional, published in sensors.json (default: SSR 100 ft / sqrt(12), PSR 0)
    clutter_density_per_km2 = 0   # optional: mean false plots per km^2 per scan (Poisson)
    range_bias_m = 0              # optional systematic range error
    azimuth_bias_deg = 0          # optional systematic azimuth error
    # adsb only:
    nacp = 8                      # optional (default 8): 1..11, position noise sigma = EPU(95 %) / 2.448
    update_period_s = 1.0         # optional (default 1): one position report per aircraft per period
    sigma_range_m = 37.8          # optional, published horizontal sigma (default from nacp)
    sigma_altitude_m = 2.2        # optional, published altitude sigma (default 25 ft / sqrt(12))

    [traffic]                     # random traffic; all keys but count optional
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

    [[events]]                    # each has a kind and that kind's keys:
    kind = "intruder"             # at_s, start_lat_deg, start_lon_deg, end_lat_deg, end_lon_deg,
                                  # alt_m (default 300), speed_mps (default 60): a new target without
                                  # transponder, from the first whole second >= at_s until it arrives
    kind = "emergency"            # target_id, at_s, code (7500 | 7600 | 7700)
    kind = "transponder_off"      # target_id, at_s: SSR and ADS-B stop, PSR still sees it
    kind = "spoofer"              # target_id, at_s, offset_east_m, offset_north_m,
                                  # drift_east_mps, drift_north_mps (optional, 0): ADS-B reports truth + offset
    kind = "sensor_outage"        # sensor_id, start_s, end_s: no plots from that sensor in [start, end)
    kind = "link_outage"          # partner_a, partner_b, start_s, end_s: only listed, for the network layer

Target ids: random traffic is 1..count, listed routes follow in file order, intruders after those in
event order. Event targets must be random traffic or routes. Random ones then fly the whole run
and are given the equipage their event needs (ADS-B for a spoofer, a Mode S transponder for an
emergency or transponder-off target that had none); routes must already carry it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from commonsky.core.batches import EMERGENCY_SQUAWKS
from commonsky.core.config import Table, read_toml
from commonsky.core.errors import ConfigError
from commonsky.core.sensors import SensorKind, SensorSpec
from commonsky.sim.scenario import (
    DEFAULT_EQUIPAGE,
    EPU_TO_SIGMA,
    EVENT_KINDS,
    FEET_M,
    MAX_SPEED_MPS,
    MAX_VERTICAL_RATE_MPS,
    NACP_EPU_M,
    EmergencyEvent,
    Equipage,
    EquipageMix,
    Event,
    IntruderEvent,
    LinkOutageEvent,
    PartnerConfig,
    Region,
    RouteConfig,
    Scenario,
    SensorConfig,
    SensorOutageEvent,
    SpooferEvent,
    TrafficConfig,
    TransponderOffEvent,
    Waypoint,
)


def _sensor(t: Table, partner: str) -> SensorConfig:
    """A `[[partners.sensors]]` table: its published description and, beside it, what is only simulated."""
    sid = t.text("id", max_len=24)
    kind = SensorKind(t.choice("kind", tuple(k.value for k in SensorKind)))
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
        )
    t.finish()
    return config


def _partners(root: Table) -> tuple[PartnerConfig, ...]:
    partners: list[PartnerConfig] = []
    seen_sensors: set[str] = set()
    for pt in root.tables("partners", required=True):
        pid = pt.text("id")
        if pid in {p.id for p in partners}:
            raise pt.error("id", f"duplicate partner id {pid!r}")
        name = pt.text("name", pid)
        sensors: list[SensorConfig] = []
        for st in pt.tables("sensors", required=True):
            sensor = _sensor(st, pid)
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
    count = t.integer("count", lo=0, hi=100_000)
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


@dataclass(frozen=True)
class _References:
    """What events may refer to: the run length, targets, sensors and partners."""

    duration_s: float
    n_targets: int
    route_equipage: dict[int, Equipage]
    sensors: tuple[str, ...]
    partners: tuple[str, ...]


def _event(t: Table, refs: _References) -> Event:
    kind = t.choice("kind", tuple(k.KIND for k in EVENT_KINDS))

    def when(name: str) -> float:
        return t.number(name, lo=0.0, hi=refs.duration_s)

    def target(need: Equipage) -> int:
        tid = t.integer("target_id")
        if not 1 <= tid <= refs.n_targets:
            raise t.error("target_id", f"{tid} is not a traffic or route target (1..{refs.n_targets})")
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
    partners = _partners(root)
    traffic = _traffic(root.table("traffic"), duration)
    refs = _References(
        duration_s=duration,
        n_targets=traffic.count + len(traffic.routes),
        route_equipage={traffic.count + 1 + i: r.equipage for i, r in enumerate(traffic.routes)},
        sensors=tuple(s.spec.id for p in partners for s in p.sensors),
        partners=tuple(p.id for p in partners),
    )
    events = tuple(_event(e, refs) for e in root.tables("events"))
    # Sharing agreements belong to the network layer, which validates them; carried here verbatim.
    sharing = tuple(dict(t.data) for t in root.tables("sharing"))
    assess = dict(root.table("assess", required=False).data)
    root.finish()
    return Scenario(name, seed, duration, start_time, region, partners, traffic, events, source, sharing, assess)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file; any problem raises `ConfigError` naming file and key."""
    data, source = read_toml(path)
    return parse_scenario(data, source)
