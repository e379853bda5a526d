"""Aircraft identities and trajectories integrated on the WGS-84 ellipsoid, sampled every whole second.

Kinematics are stepped in geodetic coordinates (a flat tangent plane departs from the ellipsoid by
kilometres a few hundred km out), and `Trajectories` interpolates the one-second samples with cubic
Hermite splines of position and velocity so sensors can sample any instant to well under a metre.
Altitude is treated as WGS-84 ellipsoidal height: no geoid and no pressure-altitude model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from commonsky.core.arrays import F64, I64
from commonsky.core.batches import CALLSIGN_DTYPE, EMERGENCY_SQUAWKS, Truth
from commonsky.core.geodesy import WGS84_A, WGS84_E2, geodetic_to_ecef
from commonsky.sim.scenario import (
    EmergencyEvent,
    Equipage,
    Scenario,
    SpooferEvent,
    TrafficConfig,
    TransponderOffEvent,
)

VERTICAL_ACCEL_MPS2 = 1.0
"""Vertical-rate changes ramp at this acceleration, so vertical velocity is continuous."""
LEVEL_OFF_GAIN = 0.1
"""1/s: commanded vertical rate per metre from a target altitude or an altitude bound."""
TURN_GAIN = 0.5
"""1/s: commanded turn rate per radian of heading error when steering to a waypoint."""
REACHED_M = 300.0
"""A waypoint closer than this (or than 1.5 s of flight) counts as reached."""
SPECIAL_SQUAWKS = frozenset({0, 1200, 2000, 7000, *EMERGENCY_SQUAWKS})
"""Codes never assigned at random: emergencies, conspicuity and "no code assigned" codes."""


def meridian_radius_m(lat_rad: ArrayLike) -> F64:
    """Radius of curvature in the meridian, M(lat), of the WGS-84 ellipsoid."""
    s = np.sin(np.asarray(lat_rad, dtype=np.float64))
    return WGS84_A * (1.0 - WGS84_E2) / (1.0 - WGS84_E2 * s * s) ** 1.5


def prime_vertical_radius_m(lat_rad: ArrayLike) -> F64:
    """Radius of curvature in the prime vertical, N(lat), of the WGS-84 ellipsoid."""
    s = np.sin(np.asarray(lat_rad, dtype=np.float64))
    return WGS84_A / np.sqrt(1.0 - WGS84_E2 * s * s)


def metres_to_radians(lat_rad: ArrayLike, alt_m: ArrayLike, east_m: ArrayLike, north_m: ArrayLike) -> tuple[F64, F64]:
    """Latitude and longitude increments (rad) of a small east/north displacement (m) at a position."""
    lat = np.asarray(lat_rad, dtype=np.float64)
    h = np.asarray(alt_m, dtype=np.float64)
    dlat = np.asarray(north_m, dtype=np.float64) / (meridian_radius_m(lat) + h)
    dlon = np.asarray(east_m, dtype=np.float64) / ((prime_vertical_radius_m(lat) + h) * np.cos(lat))
    return dlat, dlon


@dataclass(frozen=True, eq=False)
class Targets:
    """Identity and equipage of every target; row i is target id i + 1 (lifetimes are in `Trajectories`)."""

    equipage: NDArray[np.int8]
    """`Equipage.code`: 0 none, 1 Mode A/C, 2 Mode S, 3 ADS-B."""
    mode_s: NDArray[np.int32]
    squawk: NDArray[np.int16]
    """Assigned Mode A code before any emergency event."""
    callsign: NDArray[np.str_]
    adsb_phase: F64
    """Fraction of an ADS-B report period at which the aircraft's reports fall."""
    broadcast_key: int
    """Key of the aircraft-side ADS-B position error, shared by every station hearing a broadcast."""

    def __len__(self) -> int:
        return len(self.equipage)


_SAMPLED = ("lat_rad", "lon_rad", "alt_m", "v_east_mps", "v_north_mps", "v_up_mps")
"""The sampled arrays of `Trajectories`, in field order."""


@dataclass(frozen=True, eq=False)
class Trajectories:
    """Dense one-second samples of every target, arrays of shape (steps + 1, n targets).

    Sample k is at `k` seconds after the scenario start. Target j exists from `first_step[j]` to
    `last_step[j]` inclusive; samples outside that window are placeholders never read.
    """

    lat_rad: F64
    lon_rad: F64
    alt_m: F64
    v_east_mps: F64
    v_north_mps: F64
    v_up_mps: F64
    first_step: I64
    last_step: I64
    lat_rate: F64 = field(init=False, repr=False)
    """d(lat_rad)/dt of each sample, derived once from the velocities for the interpolation."""
    lon_rate: F64 = field(init=False, repr=False)
    """d(lon_rad)/dt of each sample."""

    def __post_init__(self) -> None:
        lat_rate, lon_rate = metres_to_radians(self.lat_rad, self.alt_m, self.v_east_mps, self.v_north_mps)
        object.__setattr__(self, "lat_rate", lat_rate)
        object.__setattr__(self, "lon_rate", lon_rate)

    @property
    def steps(self) -> int:
        """Number of one-second steps (samples - 1)."""
        return self.lat_rad.shape[0] - 1

    def alive(self, index: NDArray[np.integer[Any]], t: F64) -> NDArray[np.bool_]:
        """Whether target `index` exists at `t` seconds after the start."""
        return (t >= self.first_step[index]) & (t <= self.last_step[index])

    def position(self, index: NDArray[np.integer[Any]], t: ArrayLike) -> tuple[F64, F64, F64]:
        """Latitude, longitude (deg) and height (m) of targets `index` at times `t` (s after start).

        Cubic Hermite interpolation of the bracketing samples and their velocities; times outside
        [0, steps] are clamped (callers drop those).
        """
        t = np.clip(np.asarray(t, dtype=np.float64), 0.0, float(self.steps))
        k = np.minimum(t.astype(np.int64), self.steps - 1)
        s = t - k
        s2 = s * s
        h10 = s2 * s - 2.0 * s2 + s
        h01 = 3.0 * s2 - 2.0 * s2 * s
        h11 = s2 * s - s2
        at0 = k * self.lat_rad.shape[1] + index  # flat index of the sample before t
        at1 = at0 + self.lat_rad.shape[1]

        def interpolate(values: F64, rates: F64, wrap: bool = False) -> F64:
            v0 = np.take(values, at0)
            dv = np.take(values, at1) - v0
            if wrap:
                dv = np.where(dv > np.pi, dv - 2.0 * np.pi, np.where(dv < -np.pi, dv + 2.0 * np.pi, dv))
            return v0 + h01 * dv + h10 * np.take(rates, at0) + h11 * np.take(rates, at1)

        lat = interpolate(self.lat_rad, self.lat_rate)
        lon = np.degrees(interpolate(self.lon_rad, self.lon_rate, wrap=True))
        alt = interpolate(self.alt_m, self.v_up_mps)
        return np.degrees(lat), np.where(lon >= 180.0, lon - 360.0, np.where(lon < -180.0, lon + 360.0, lon)), alt

    @classmethod
    def stacked(cls, parts: list[Trajectories]) -> Trajectories:
        """The targets of several trajectory sets over the same seconds, side by side in order."""
        sampled = {name: np.concatenate([getattr(p, name) for p in parts], axis=1) for name in _SAMPLED}
        first = np.concatenate([p.first_step for p in parts])
        return cls(**sampled, first_step=first, last_step=np.concatenate([p.last_step for p in parts]))

    @classmethod
    def from_truth(cls, truth: Truth, start_time_s: float) -> Trajectories:
        """Rebuild from a `Truth` batch (ids 1..n, whole seconds from `start_time_s`), e.g. to score plots."""
        k = np.rint(truth.time_s - start_time_s).astype(np.int64)
        j = truth.target_id.astype(np.int64) - 1
        shape = (int(k.max()) + 1, int(j.max()) + 1)

        def dense(values: F64) -> F64:
            out = np.full(shape, np.nan)
            out[k, j] = values
            return out

        first = np.full(shape[1], np.iinfo(np.int64).max)
        last = np.full(shape[1], -1)
        np.minimum.at(first, j, k)
        np.maximum.at(last, j, k)
        return cls(
            lat_rad=dense(np.radians(truth.lat_deg)),
            lon_rad=dense(np.radians(truth.lon_deg)),
            alt_m=dense(truth.alt_m),
            v_east_mps=dense(truth.v_east_mps),
            v_north_mps=dense(truth.v_north_mps),
            v_up_mps=dense(truth.v_up_mps),
            first_step=first,
            last_step=last,
        )


@dataclass(frozen=True)
class _Plans:
    """Random flight plans: per aircraft a sequence of legs ending at whole steps."""

    leg_end: I64
    """(n, legs) cumulative end step of each leg."""
    turn_rad_s: F64
    vertical_mps: F64
    speed_factor: F64
    """Per aircraft in [0, 1]: how fast it flies for its altitude."""


@dataclass(frozen=True)
class _Routes:
    """Waypoint guidance of listed routes and intruders, padded to the longest route."""

    lat_rad: F64
    lon_rad: F64
    alt_m: F64
    count: I64
    speed_mps: F64


def _random_plans(cfg: TrafficConfig, alt0: F64, steps: int, rng: np.random.Generator) -> _Plans:
    n = cfg.count
    legs = steps // 5 + 2  # the shortest leg is a 15 deg turn at 3 deg/s: 5 s
    kind = rng.choice(3, size=(n, legs), p=[0.5, 0.3, 0.2])  # straight, turn, climb/descent
    long_dur = rng.integers(60, 301, size=(n, legs))
    angle = rng.uniform(15.0, 120.0, size=(n, legs))
    rate = rng.uniform(1.0, cfg.max_turn_rate_deg_s, size=(n, legs))
    turn_dur = np.ceil(angle / rate).astype(np.int64)
    turn_sign = rng.choice([-1.0, 1.0], size=(n, legs))
    climb_share = (cfg.altitude_max_m - alt0) / (cfg.altitude_max_m - cfg.altitude_min_m)
    climb_sign = np.where(rng.random((n, legs)) < climb_share[:, None], 1.0, -1.0)
    vmax = cfg.max_vertical_rate_mps
    vrate = rng.uniform(min(5.0, vmax), vmax, size=(n, legs)) * climb_sign
    duration = np.where(kind == 1, turn_dur, long_dur)
    turn = np.where(kind == 1, turn_sign * np.radians(angle) / turn_dur, 0.0)
    vertical = np.where(kind == 2, vrate, 0.0)
    return _Plans(np.cumsum(duration, axis=1), turn, vertical, rng.random(n))


def _route_table(scenario: Scenario) -> _Routes:
    paths = [[(w.lat_deg, w.lon_deg, w.alt_m) for w in r.waypoints] for r in scenario.traffic.routes]
    speeds = [r.speed_mps for r in scenario.traffic.routes]
    for e in scenario.intruders:
        paths.append([(e.start_lat_deg, e.start_lon_deg, e.alt_m), (e.end_lat_deg, e.end_lon_deg, e.alt_m)])
        speeds.append(e.speed_mps)
    width = max((len(p) for p in paths), default=2)
    padded = np.array([p + [p[-1]] * (width - len(p)) for p in paths], dtype=np.float64).reshape(-1, width, 3)
    return _Routes(
        lat_rad=np.radians(padded[:, :, 0]),
        lon_rad=np.radians(padded[:, :, 1]),
        alt_m=padded[:, :, 2],
        count=np.array([len(p) for p in paths], dtype=np.int64),
        speed_mps=np.array(speeds, dtype=np.float64),
    )


def _bearing_distance(lat: F64, lon: F64, lat_to: F64, lon_to: F64) -> tuple[F64, F64]:
    """Bearing (rad from true north) and straight-line distance (m) to a point, on the ellipsoid surface.

    The bearing is that of the target in each aircraft's own east-north plane, so steering along it
    follows the ellipsoid's normal section to the waypoint.
    """
    x0, y0, z0 = geodetic_to_ecef(np.degrees(lat), np.degrees(lon), 0.0)
    x1, y1, z1 = geodetic_to_ecef(np.degrees(lat_to), np.degrees(lon_to), 0.0)
    dx, dy, dz = x1 - x0, y1 - y0, z1 - z0
    sin_lat, cos_lat, sin_lon, cos_lon = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    east = -sin_lon * dx + cos_lon * dy
    north = -sin_lat * cos_lon * dx - sin_lat * sin_lon * dy + cos_lat * dz
    return np.arctan2(east, north), np.sqrt(dx * dx + dy * dy + dz * dz)


def _wrap_pi(angle: F64) -> F64:
    return np.mod(angle + np.pi, 2.0 * np.pi) - np.pi


def _integrate(
    scenario: Scenario,
    state: dict[str, F64],
    plans: _Plans,
    routes: _Routes,
    first_step: I64,
    plan_last_step: I64,
) -> Trajectories:
    """Step all aircraft one second at a time on the ellipsoid; routes end at their last waypoint.

    Per step: commands (plan leg or waypoint steering), vertical rate ramped towards its command,
    then the horizontal move as the chord of a constant-rate turn along the mid-step heading, turned
    into latitude/longitude increments with the radii of curvature at the mid-step latitude/height.
    """
    cfg = scenario.traffic
    steps = scenario.steps
    n_plan = cfg.count
    n = len(first_step)
    lat, lon, alt, hdg = state["lat"], state["lon"], state["alt"], state["hdg"]
    vs = np.zeros(n)
    max_turn = math.radians(cfg.max_turn_rate_deg_s)
    alt_span = cfg.altitude_max_m - cfg.altitude_min_m
    plan_rows = np.arange(n_plan)
    leg = np.zeros(n_plan, dtype=np.int64)
    route_rows = np.arange(n - n_plan)
    waypoint = np.ones(n - n_plan, dtype=np.int64)
    arrived = np.full(n - n_plan, steps, dtype=np.int64)

    def ground_speed(height: F64) -> F64:
        level = np.clip((height[:n_plan] - cfg.altitude_min_m) / alt_span, 0.0, 1.0)
        fast = np.clip(0.3 * plans.speed_factor + 0.7 * level, 0.0, 1.0)
        planned = cfg.speed_min_mps + (cfg.speed_max_mps - cfg.speed_min_mps) * fast
        return np.concatenate([planned, routes.speed_mps])

    out = {name: np.empty((steps + 1, n)) for name in ("lat", "lon", "alt", "ve", "vn", "vu")}
    for k in range(steps + 1):
        gs = ground_speed(alt)
        for name, value in (
            ("lat", lat),
            ("lon", lon),
            ("alt", alt),
            ("ve", gs * np.sin(hdg)),
            ("vn", gs * np.cos(hdg)),
            ("vu", vs),
        ):
            out[name][k] = value
        if k == steps:
            break
        active = k >= first_step
        omega = np.zeros(n)
        vs_cmd = np.zeros(n)
        if n_plan:
            leg += k >= plans.leg_end[plan_rows, leg]
            omega[:n_plan] = plans.turn_rad_s[plan_rows, leg]
            low = -LEVEL_OFF_GAIN * (alt[:n_plan] - cfg.altitude_min_m)
            high = LEVEL_OFF_GAIN * (cfg.altitude_max_m - alt[:n_plan])
            vs_cmd[:n_plan] = np.minimum(np.maximum(plans.vertical_mps[plan_rows, leg], low), high)
        if n > n_plan:
            g = slice(n_plan, n)
            flying = active[g] & (arrived == steps)
            brg, dist = _bearing_distance(
                lat[g], lon[g], routes.lat_rad[route_rows, waypoint], routes.lon_rad[route_rows, waypoint]
            )
            err = _wrap_pi(brg - hdg[g])
            radius = gs[g] / max_turn
            reached = flying & (
                (dist < np.maximum(REACHED_M, 1.5 * gs[g])) | ((dist < 3.0 * radius) & (np.abs(err) > np.pi / 2))
            )
            last = waypoint == routes.count - 1
            arrived = np.where(reached & last, k, arrived)
            waypoint = np.where(reached & ~last, waypoint + 1, waypoint)
            brg, _ = _bearing_distance(
                lat[g], lon[g], routes.lat_rad[route_rows, waypoint], routes.lon_rad[route_rows, waypoint]
            )
            steering = arrived == steps
            omega[g] = np.where(steering, np.clip(TURN_GAIN * _wrap_pi(brg - hdg[g]), -max_turn, max_turn), 0.0)
            climb = np.clip(
                LEVEL_OFF_GAIN * (routes.alt_m[route_rows, waypoint] - alt[g]),
                -cfg.max_vertical_rate_mps,
                cfg.max_vertical_rate_mps,
            )
            vs_cmd[g] = np.where(steering, climb, 0.0)
        omega = np.where(active, omega, 0.0)
        vs_next = np.where(active, vs + np.clip(vs_cmd - vs, -VERTICAL_ACCEL_MPS2, VERTICAL_ACCEL_MPS2), 0.0)
        alt_next = alt + 0.5 * (vs + vs_next)
        alt_mid = 0.5 * (alt + alt_next)
        half = 0.5 * omega
        chord = np.where(active, ground_speed(alt_mid) * np.sinc(half / np.pi), 0.0)
        hdg_mid = hdg + half
        d_north = chord * np.cos(hdg_mid)
        d_east = chord * np.sin(hdg_mid)
        lat_mid = lat + 0.5 * d_north / (meridian_radius_m(lat) + alt)
        dlat, dlon = metres_to_radians(lat_mid, alt_mid, d_east, d_north)
        lat, lon, alt = lat + dlat, _wrap_pi(lon + dlon), alt_next
        hdg = np.mod(hdg + omega, 2.0 * np.pi)
        vs = vs_next
    last_step = np.concatenate([plan_last_step, arrived])
    return Trajectories(out["lat"], out["lon"], out["alt"], out["ve"], out["vn"], out["vu"], first_step, last_step)


def unique_draws(draw: Callable[[int], NDArray[Any]], n: int, taken: list[Any]) -> NDArray[Any]:
    """`n` values from `draw(k)`, redrawing duplicates and values in `taken` until all are distinct."""
    values = draw(n)
    while True:
        _, first = np.unique(values, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        dup |= np.isin(values, taken)
        if not dup.any():
            return values
        values[dup] = draw(int(dup.sum()))


def _identities(scenario: Scenario, rng: np.random.Generator) -> Targets:
    """Equipage, Mode S address, squawk, callsign and ADS-B phase of every target."""
    cfg = scenario.traffic
    routes = cfg.routes
    n = scenario.aircraft_count
    n_route = len(routes)
    equipage = np.zeros(n, dtype=np.int8)
    equipage[: cfg.count] = rng.choice(4, size=cfg.count, p=cfg.equipage.probabilities)
    equipage[cfg.count : cfg.count + n_route] = [r.equipage.code for r in routes]
    for event in scenario.events:
        if not isinstance(event, EmergencyEvent | TransponderOffEvent | SpooferEvent) or event.target_id > cfg.count:
            continue
        j = event.target_id - 1
        if isinstance(event, SpooferEvent):
            equipage[j] = Equipage.ADSB.code
        elif equipage[j] == Equipage.NONE.code:
            equipage[j] = Equipage.MODE_S.code

    def addresses(k: int) -> NDArray[np.int64]:
        return rng.integers(1, 0xFFFFFF, size=k)

    def squawks(k: int) -> NDArray[np.int64]:
        return rng.integers(0, 8, size=(k, 4)) @ np.array([1000, 100, 10, 1])

    def callsigns(k: int) -> NDArray[np.str_]:
        letters = rng.integers(65, 91, size=(k, 3)).tolist()
        numbers = rng.integers(1, 10_000, size=k).tolist()
        return np.array([f"{chr(a)}{chr(b)}{chr(c)}{d}" for (a, b, c), d in zip(letters, numbers, strict=True)])

    mode_s = unique_draws(addresses, n, [r.mode_s for r in routes if r.mode_s >= 0])
    squawk = squawks(n)
    special = np.isin(squawk, list(SPECIAL_SQUAWKS))
    while special.any():
        squawk[special] = squawks(int(special.sum()))
        special = np.isin(squawk, list(SPECIAL_SQUAWKS))
    callsign = unique_draws(callsigns, n, [r.callsign for r in routes if r.callsign]).astype(CALLSIGN_DTYPE)
    phase = rng.random(n)
    broadcast_key = int(rng.integers(0, 2**63))

    mode_s = np.where(equipage >= Equipage.MODE_S.code, mode_s, -1)
    squawk = np.where(equipage >= Equipage.MODE_AC.code, squawk, -1)
    callsign = np.where(equipage >= Equipage.ADSB.code, callsign, "").astype(CALLSIGN_DTYPE)
    for i, route in enumerate(routes):
        j = cfg.count + i
        if route.mode_s >= 0:
            mode_s[j] = route.mode_s
        if route.squawk >= 0:
            squawk[j] = route.squawk
        if route.callsign:
            callsign[j] = route.callsign
    return Targets(
        equipage=equipage,
        mode_s=mode_s.astype(np.int32),
        squawk=squawk.astype(np.int16),
        callsign=callsign,
        adsb_phase=phase,
        broadcast_key=broadcast_key,
    )


def generate_traffic(scenario: Scenario, seeds: np.random.SeedSequence) -> tuple[Targets, Trajectories]:
    """Identities and trajectories of random traffic, listed routes and intruders, in target-id order.

    `seeds` is spawned into independent streams for placement, plans, identities and lifetimes, so
    e.g. changing the equipage mix does not move any aircraft.
    """
    cfg = scenario.traffic
    steps = scenario.steps
    place_rng, plan_rng, identity_rng, life_rng = (np.random.default_rng(s) for s in seeds.spawn(4))
    n_plan = cfg.count
    radius = scenario.region.radius_km * 1000.0

    # Random traffic: start uniformly (in area) in the region disk, heading roughly towards another
    # random point of the disk so that most aircraft stay in the area.
    r0 = radius * np.sqrt(place_rng.random((2, n_plan)))
    theta = place_rng.uniform(0.0, 2.0 * np.pi, size=(2, n_plan))
    east, north = r0 * np.sin(theta), r0 * np.cos(theta)
    lat0, lon0, _ = scenario.region.frame.enu_to_geodetic(east[0], north[0], 0.0)
    heading0 = np.arctan2(east[1] - east[0], north[1] - north[0]) + place_rng.normal(0.0, np.radians(20.0), n_plan)
    alt0 = place_rng.uniform(cfg.altitude_min_m, cfg.altitude_max_m, n_plan)

    routes = _route_table(scenario)
    route_heading, _ = _bearing_distance(
        routes.lat_rad[:, 0], routes.lon_rad[:, 0], routes.lat_rad[:, 1], routes.lon_rad[:, 1]
    )
    state = {
        "lat": np.concatenate([np.radians(lat0), routes.lat_rad[:, 0]]),
        "lon": np.concatenate([np.radians(lon0), routes.lon_rad[:, 0]]),
        "alt": np.concatenate([alt0, routes.alt_m[:, 0]]),
        "hdg": np.mod(np.concatenate([heading0, route_heading]), 2.0 * np.pi),
    }

    first_step = np.zeros(scenario.aircraft_count, dtype=np.int64)
    late = life_rng.random(n_plan) < cfg.late_start_fraction
    first_step[:n_plan] = np.where(late, np.floor(life_rng.random(n_plan) * steps / 2), 0)
    early = life_rng.random(n_plan) < cfg.early_end_fraction
    end_plan = np.where(early, steps - np.floor(life_rng.random(n_plan) * steps / 2), steps).astype(np.int64)
    starts = [r.start_s for r in cfg.routes] + [e.at_s for e in scenario.intruders]
    first_step[n_plan:] = np.ceil(np.array(starts, dtype=np.float64))
    event_targets = np.array(
        [
            e.target_id - 1
            for e in scenario.events
            if isinstance(e, EmergencyEvent | TransponderOffEvent | SpooferEvent) and e.target_id <= n_plan
        ],
        dtype=np.int64,
    )
    first_step[event_targets] = 0
    end_plan[event_targets] = steps

    plans = _random_plans(cfg, alt0, steps, plan_rng)
    trajectories = _integrate(scenario, state, plans, routes, first_step, end_plan)
    return _identities(scenario, identity_rng), trajectories
