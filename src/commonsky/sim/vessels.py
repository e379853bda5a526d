"""Vessels on a river: identities, one-second trajectories on the water by behaviour, and their AIS schedule.

Each behaviour is computed for all its vessels at once over the whole run (`Waterway.along` lanes,
triangle waves, an Ornstein-Uhlenbeck drift, a pursuit stepped over time), then every sample is
moved onto the water (`Waterway.nearest_water`) and the velocities are taken from the final
positions, so truth, interpolation and the water agree. Vessels are targets after the aircraft:
row i of `Vessels` is target index `first_index + i`; listed vessels come first, random traffic after.

AIS reporting follows ITU-R M.1371: class A every 10 s below 14 kn, 6 s up to 23 kn, 2 s above, and
every 3 minutes at anchor or moored below 3 kn; class B every 30 s. The schedule is the vessel's
own, so every station hearing a broadcast stamps the same time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from commonsky.core.arrays import F64, I64
from commonsky.core.batches import CALLSIGN_DTYPE
from commonsky.core.geodesy import EARTH_RADIUS_M, KNOT_MPS
from commonsky.core.sensors import AIS_CLASS_B_INTERVAL_S, AIS_MOORED_INTERVAL_S, ais_class_a_interval_s
from commonsky.core.waterway import Waterway
from commonsky.sim.scenario import (
    AIS_ACCURACY_NACP,
    Anchored,
    Approach,
    Behaviour,
    Cross,
    Loiter,
    RiverConfig,
    Scenario,
    Transit,
    VesselTrafficConfig,
    Work,
)
from commonsky.sim.traffic import (
    Trajectories,
    meridian_radius_m,
    metres_to_radians,
    prime_vertical_radius_m,
    unique_draws,
)

NAME_DTYPE = "<U20"
"""A vessel's name: AIS carries 20 characters."""
BANK_MARGIN_M = 10.0
"""A sample that would lie on land is moved this far inside the water."""
CROSS_MARGIN_M = 20.0
"""A crossing starts and ends this far from the banks."""
MAX_HALF_WIDTH_M = 3000.0
"""Farthest a crossing looks for the banks either side of the centreline."""
STATION_STEP_M = 2.0
"""Spacing of the centreline samples a point is projected onto."""
LEAVE_WITHIN_M = 100.0
"""A transit ending this close to an end of the centreline leaves the scenario there instead of stopping."""
LOITER_TAU_S = 60.0
"""Correlation time of a loitering boat's drift velocity."""
LANE_JITTER_M = 5.0
"""Random traffic keeps its lane within this many metres."""
TANKER_SHARE = 0.3
"""Share of tankers (AIS ship type 89) in random traffic; the others are cargo barges (79)."""
MOORED_MAX_SPEED_MPS = 3.0 * KNOT_MPS
"""A moored vessel reports at the moored interval (`core.sensors.AIS_MOORED_INTERVAL_S`) only below this speed."""
AIS_NOMINAL_PERIOD_S = 10.0
"""The reporting interval an AIS station publishes in sensors.json (class A underway); vessels' own vary."""
VESSEL_ANTENNA_M = 5.0
"""Height of a vessel's VHF antenna above the water, for an AIS station's radio horizon."""
TRAFFIC_FLAGS = {203: "OE", 207: "LZ", 211: "DB", 243: "HG", 244: "PD", 264: "YO", 267: "OM"}
"""MID -> call sign prefix of the Danube fleets random traffic is drawn from."""


@dataclass(frozen=True, eq=False)
class Vessels:
    """Identity and AIS equipment of every vessel; row i is target index `first_index + i`."""

    first_index: int
    name: NDArray[np.str_]
    mmsi: NDArray[np.int32]
    """-1 without AIS."""
    callsign: NDArray[np.str_]
    ship_type: NDArray[np.int16]
    length_m: F64
    ais_class: NDArray[np.str_]
    """"A", "B" or "" (no AIS)."""
    nacp: NDArray[np.int8]
    """From the AIS position accuracy flag (-1 without AIS)."""
    behaviour: tuple[str, ...]
    moored: NDArray[np.bool_]
    """(steps + 1, n): at anchor or moored at each second (the AIS navigational status)."""
    ais_phase: F64
    """Fraction of its first reporting interval at which a vessel's first report falls."""
    broadcast_key: int
    """Key of the vessel-side AIS position error, shared by every station hearing a broadcast."""
    water_height_m: float

    def __len__(self) -> int:
        return len(self.mmsi)

    @property
    def index(self) -> I64:
        """Target index of each vessel."""
        return self.first_index + np.arange(len(self), dtype=np.int64)

    @classmethod
    def none(cls, first_index: int, steps: int) -> Vessels:
        """No vessels (an air scenario)."""
        return cls(
            first_index=first_index,
            name=np.zeros(0, dtype=NAME_DTYPE),
            mmsi=np.zeros(0, dtype=np.int32),
            callsign=np.zeros(0, dtype=CALLSIGN_DTYPE),
            ship_type=np.zeros(0, dtype=np.int16),
            length_m=np.zeros(0),
            ais_class=np.zeros(0, dtype="<U1"),
            nacp=np.zeros(0, dtype=np.int8),
            behaviour=(),
            moored=np.zeros((steps + 1, 0), dtype=bool),
            ais_phase=np.zeros(0),
            broadcast_key=0,
            water_height_m=0.0,
        )


def station(waterway: Waterway, lat_deg: F64, lon_deg: F64) -> tuple[F64, F64]:
    """Distance along the centreline (m) of each point's nearest centreline sample, and the point's offset right
    of it looking downstream (m): where a point lies in `Waterway.along`'s terms, to a sample spacing."""
    s = np.arange(0.0, waterway.length_m + STATION_STEP_M, STATION_STEP_M)
    c_lat, c_lon, heading = waterway.along(s)
    lat, lon = np.asarray(lat_deg, dtype=np.float64), np.asarray(lon_deg, dtype=np.float64)
    lat_r = np.radians(c_lat)
    north = np.radians(lat[:, None] - c_lat[None, :]) * meridian_radius_m(lat_r)[None, :]
    east = np.radians(lon[:, None] - c_lon[None, :]) * (prime_vertical_radius_m(lat_r) * np.cos(lat_r))[None, :]
    nearest = np.argmin(east * east + north * north, axis=1)
    rows = np.arange(len(lat))
    h = np.radians(heading[nearest])
    return s[nearest], east[rows, nearest] * np.cos(h) - north[rows, nearest] * np.sin(h)


def _bank_offsets(waterway: Waterway, s_m: F64) -> tuple[F64, F64]:
    """Offsets (m right of the centreline, 1 m steps) of the last water before the left and right banks."""
    offsets = np.arange(-MAX_HALF_WIDTH_M, MAX_HALF_WIDTH_M + 1.0)
    lat, lon, _ = waterway.along(np.asarray(s_m, dtype=np.float64)[:, None], offsets[None, :])
    dry = ~waterway.on_water(lat, lon)
    middle = len(offsets) // 2
    left_dry, right_dry = dry[:, middle - 1 :: -1], dry[:, middle:]
    left = np.where(left_dry.any(axis=1), middle - np.argmax(left_dry, axis=1), 0)
    right = np.where(right_dry.any(axis=1), middle + np.argmax(right_dry, axis=1) - 1, len(offsets) - 1)
    return offsets[left], offsets[right]


def _triangle(x: F64) -> F64:
    """A triangle wave of period 4: 0 at x = 0, 1 at 1, 0 at 2, -1 at 3."""
    return np.asarray(2.0 / np.pi * np.arcsin(np.sin(np.pi / 2.0 * x)))


@dataclass(frozen=True, eq=False)
class _Paths:
    """Positions (deg) of every vessel at every second and when each is there, filled behaviour by behaviour."""

    lat: F64
    lon: F64
    first: I64
    last: I64
    moored: NDArray[np.bool_]

    @property
    def seconds(self) -> F64:
        """(steps + 1, 1) seconds after the start of each sample."""
        return np.arange(self.lat.shape[0], dtype=np.float64)[:, None]

    def elapsed(self, rows: I64) -> F64:
        """(steps + 1, len(rows)) seconds since each vessel appeared (0 before)."""
        return np.maximum(self.seconds - self.first[rows][None, :], 0.0)

    def put(self, rows: I64, lat: F64, lon: F64) -> None:
        """Store the positions of some vessels."""
        self.lat[:, rows] = lat
        self.lon[:, rows] = lon


def _transits(waterway: Waterway, paths: _Paths, rows: I64, start: F64, end: F64, lane: F64, speed: F64) -> None:
    """Along their lanes from `start` to `end` (m along the centreline); then moored, or gone at an end."""
    distance = np.abs(end - start)
    travelled = np.minimum(paths.elapsed(rows) * speed[None, :], distance[None, :])
    lat, lon, _ = waterway.along(start[None, :] + np.sign(end - start)[None, :] * travelled, lane[None, :])
    paths.put(rows, lat, lon)
    arrival = paths.first[rows] + distance / speed
    leaves = np.minimum(end, waterway.length_m - end) <= LEAVE_WITHIN_M
    steps = paths.lat.shape[0] - 1
    paths.last[rows] = np.where(leaves, np.minimum(np.floor(arrival), steps), steps).astype(np.int64)
    paths.moored[:, rows] = (paths.seconds >= arrival[None, :]) & ~leaves[None, :]


def _work(waterway: Waterway, paths: _Paths, rows: I64, lat: F64, lon: F64, radius: F64, speed: F64) -> None:
    """Back and forth along the river through each point, `radius` either way, downstream first."""
    s0, lane = station(waterway, lat, lon)
    s = s0[None, :] + radius[None, :] * _triangle(paths.elapsed(rows) * (speed / radius)[None, :])
    out_lat, out_lon, _ = waterway.along(s, lane[None, :])
    paths.put(rows, out_lat, out_lon)


def _loiter(
    paths: _Paths, rows: I64, lat: F64, lon: F64, radius: F64, speed: F64, height: float, rng: np.random.Generator
) -> None:
    """A slow random drift around each point: an Ornstein-Uhlenbeck velocity pulled home, capped at `speed`."""
    n_steps = paths.lat.shape[0]
    decay = 1.0 / LOITER_TAU_S
    kick = (0.5 * speed * math.sqrt(2.0 * decay))[:, None]
    noise = rng.standard_normal((n_steps, len(rows), 2))
    offset = np.zeros((len(rows), 2))
    velocity = np.zeros((len(rows), 2))
    east, north = np.empty((n_steps, len(rows))), np.empty((n_steps, len(rows)))
    for k in range(n_steps):
        east[k], north[k] = offset[:, 0], offset[:, 1]
        velocity = (1.0 - decay) * velocity + kick * noise[k] - decay * offset * (speed / radius)[:, None]
        velocity *= np.minimum(1.0, speed / np.maximum(np.hypot(velocity[:, 0], velocity[:, 1]), 1e-9))[:, None]
        offset = offset + np.where((k >= paths.first[rows])[:, None], velocity, 0.0)
        offset *= np.minimum(1.0, radius / np.maximum(np.hypot(offset[:, 0], offset[:, 1]), 1e-9))[:, None]
    dlat, dlon = metres_to_radians(np.radians(lat)[None, :], height, east, north)
    paths.put(rows, lat[None, :] + np.degrees(dlat), lon[None, :] + np.degrees(dlon))


def _crossings(
    waterway: Waterway, paths: _Paths, rows: I64, along: F64, from_left: NDArray[np.bool_], speed: F64
) -> None:
    """Straight across the river at `along` (m) from one bank to the other, then moored there."""
    left, right = _bank_offsets(waterway, along)
    near, far = left + CROSS_MARGIN_M, right - CROSS_MARGIN_M
    start, end = np.where(from_left, near, far), np.where(from_left, far, near)
    width = np.abs(end - start)
    travelled = np.minimum(paths.elapsed(rows) * speed[None, :], width[None, :])
    lat, lon, _ = waterway.along(along[None, :], start[None, :] + np.sign(end - start)[None, :] * travelled)
    paths.put(rows, lat, lon)
    paths.moored[:, rows] = paths.seconds >= (paths.first[rows] + width / speed)[None, :]


def _anchored(paths: _Paths, rows: I64, lat: F64, lon: F64) -> None:
    """Stationary at each point, at anchor."""
    paths.put(rows, np.broadcast_to(lat, (paths.lat.shape[0], len(rows))), lon[None, :])
    paths.moored[:, rows] = True


def _approaches(
    waterway: Waterway, paths: _Paths, rows: I64, lat: F64, lon: F64, targets: I64, stop: F64, speed: F64
) -> None:
    """From each point straight at its target's next position, at `speed`, until `stop` metres off it."""
    frame = waterway.frame
    n_steps = paths.lat.shape[0]
    target_e, target_n, _ = frame.geodetic_to_enu(paths.lat[:, targets], paths.lon[:, targets], 0.0)
    target_alive = (paths.seconds >= paths.first[targets]) & (paths.seconds <= paths.last[targets])
    e0, n0, _ = frame.geodetic_to_enu(lat, lon, 0.0)
    e, n = np.empty((n_steps, len(rows))), np.empty((n_steps, len(rows)))
    pe, pn = e0.copy(), n0.copy()
    for k in range(n_steps):
        e[k], n[k] = pe, pn
        if k == n_steps - 1:
            break
        de, dn = target_e[k + 1] - pe, target_n[k + 1] - pn
        distance = np.hypot(de, dn)
        moving = (k >= paths.first[rows]) & target_alive[k + 1] & (distance > stop)
        step = np.where(moving, np.minimum(speed, distance - stop) / np.maximum(distance, 1e-9), 0.0)
        pe, pn = pe + step * de, pn + step * dn
    out_lat, out_lon, _ = frame.enu_to_geodetic(e, n, -(e * e + n * n) / (2.0 * EARTH_RADIUS_M))
    paths.put(rows, out_lat, out_lon)


def _velocities(lat: F64, lon: F64, height: float, first: I64, last: I64) -> tuple[F64, F64]:
    """East and north velocity (m/s) from the positions: central differences, one-sided at a vessel's first and
    last second (0 for a vessel alive one second only)."""
    k = np.arange(lat.shape[0])[:, None]

    def rate(x: F64) -> F64:
        forward, backward = np.zeros_like(x), np.zeros_like(x)
        forward[:-1] = backward[1:] = np.diff(x, axis=0)
        out = np.where(k <= first, forward, np.where(k >= last, backward, 0.5 * (forward + backward)))
        return np.where(first == last, 0.0, out)

    v_north = rate(lat) * (meridian_radius_m(lat) + height)
    v_east = rate(lon) * (prime_vertical_radius_m(lat) + height) * np.cos(lat)
    return v_east, v_north


@dataclass(frozen=True)
class _Identities:
    """Identity columns of the random traffic."""

    name: list[str]
    mmsi: NDArray[np.int64]
    callsign: list[str]
    ship_type: NDArray[np.int64]
    length_m: F64


def _traffic_identities(cfg: VesselTrafficConfig, taken: list[int], rng: np.random.Generator) -> _Identities:
    """Random barges and tankers from the Danube fleets: unique MMSIs (not `taken`), call signs of their flags."""
    mids = np.array(list(TRAFFIC_FLAGS))

    def mmsis(k: int) -> NDArray[np.int64]:
        return mids[rng.integers(0, len(mids), k)] * 1_000_000 + rng.integers(0, 1_000_000, k)

    mmsi = unique_draws(mmsis, cfg.count, taken)
    numbers = rng.integers(1000, 10_000, cfg.count)
    tanker = rng.random(cfg.count) < TANKER_SHARE
    length = np.round(rng.uniform(80.0, 135.0, cfg.count))
    return _Identities(
        name=[f"{'TANKER' if t else 'BARGE'} {i + 1}" for i, t in enumerate(tanker.tolist())],
        mmsi=mmsi,
        callsign=[f"{TRAFFIC_FLAGS[m // 1_000_000]}{d}" for m, d in zip(mmsi.tolist(), numbers.tolist(), strict=True)],
        ship_type=np.where(tanker, 89, 79),
        length_m=length,
    )


def generate_vessels(
    scenario: Scenario, river: RiverConfig, waterway: Waterway, seeds: np.random.SeedSequence, first_index: int
) -> tuple[Vessels, Trajectories]:
    """Identities and trajectories of the listed vessels and the random vessel traffic, in target order.

    `seeds` is spawned into independent streams for identities, traffic placement and loitering, so
    e.g. adding random traffic does not move a listed vessel.
    """
    identity_rng, traffic_rng, motion_rng = (np.random.default_rng(s) for s in seeds.spawn(3))
    listed, cfg = scenario.vessels, scenario.vessel_traffic
    n_listed, n_steps = len(listed), scenario.steps + 1
    n = n_listed + cfg.count
    first = np.zeros(n, dtype=np.int64)
    first[:n_listed] = [math.ceil(v.start_s) for v in listed]
    paths = _Paths(
        lat=np.zeros((n_steps, n)),
        lon=np.zeros((n_steps, n)),
        first=first,
        last=np.full(n, scenario.steps, dtype=np.int64),
        moored=np.zeros((n_steps, n), dtype=bool),
    )
    length = waterway.length_m
    down = traffic_rng.random(cfg.count) < 0.5
    traffic_start = traffic_rng.uniform(0.0, length, cfg.count)
    traffic_lane = (cfg.lane_m + traffic_rng.uniform(-LANE_JITTER_M, LANE_JITTER_M, cfg.count)) * np.where(down, 1, -1)
    traffic_speed = traffic_rng.uniform(cfg.speed_min_mps, cfg.speed_max_mps, cfg.count)
    speed = np.concatenate([[v.speed_mps for v in listed], traffic_speed])

    def rows(kind: type[Behaviour]) -> tuple[I64, list[Any]]:
        found = [(i, v.behaviour) for i, v in enumerate(listed) if isinstance(v.behaviour, kind)]
        return np.array([i for i, _ in found], dtype=np.int64), [b for _, b in found]

    def column(items: list[Any], name: str) -> F64:
        return np.array([getattr(b, name) for b in items], dtype=np.float64)

    transit_rows, transits = rows(Transit)
    _transits(
        waterway,
        paths,
        np.concatenate([transit_rows, n_listed + np.arange(cfg.count)]),
        np.concatenate([1000.0 * column(transits, "from_km"), traffic_start]),
        np.concatenate([1000.0 * column(transits, "to_km"), np.where(down, length, 0.0)]),
        np.concatenate([column(transits, "lane_m"), traffic_lane]),
        np.concatenate([speed[transit_rows], traffic_speed]),
    )
    r, items = rows(Work)
    _work(waterway, paths, r, column(items, "lat_deg"), column(items, "lon_deg"), column(items, "radius_m"), speed[r])
    r, items = rows(Loiter)
    _loiter(
        paths,
        r,
        column(items, "lat_deg"),
        column(items, "lon_deg"),
        column(items, "radius_m"),
        speed[r],
        river.water_height_m,
        motion_rng,
    )
    r, items = rows(Cross)
    _crossings(
        waterway,
        paths,
        r,
        1000.0 * column(items, "along_km"),
        np.array([b.from_bank == "left" for b in items]),
        speed[r],
    )
    r, items = rows(Anchored)
    _anchored(paths, r, column(items, "lat_deg"), column(items, "lon_deg"))
    r, items = rows(Approach)
    names = [v.name for v in listed]
    _approaches(
        waterway,
        paths,
        r,
        column(items, "lat_deg"),
        column(items, "lon_deg"),
        np.array([names.index(b.target) for b in items], dtype=np.int64),
        column(items, "stop_m"),
        speed[r],
    )

    lat, lon = waterway.nearest_water(paths.lat, paths.lon, BANK_MARGIN_M)
    lat_r, lon_r = np.radians(lat), np.radians(lon)
    height = river.water_height_m
    v_east, v_north = _velocities(lat_r, lon_r, height, paths.first, paths.last)
    trajectories = Trajectories(
        lat_rad=lat_r,
        lon_rad=lon_r,
        alt_m=np.full((n_steps, n), height),
        v_east_mps=v_east,
        v_north_mps=v_north,
        v_up_mps=np.zeros((n_steps, n)),
        first_step=paths.first,
        last_step=paths.last,
    )

    traffic = _traffic_identities(cfg, [v.mmsi for v in listed if v.mmsi >= 0], identity_rng)
    has_ais = [v.ais != "none" for v in listed]
    vessels = Vessels(
        first_index=first_index,
        name=np.array([v.name for v in listed] + traffic.name, dtype=NAME_DTYPE),
        mmsi=np.concatenate([[v.mmsi for v in listed], traffic.mmsi]).astype(np.int32),
        callsign=np.array([v.callsign for v in listed] + traffic.callsign, dtype=CALLSIGN_DTYPE),
        ship_type=np.concatenate([[v.ship_type for v in listed], traffic.ship_type]).astype(np.int16),
        length_m=np.concatenate([[v.length_m for v in listed], traffic.length_m]),
        ais_class=np.array([v.ais if a else "" for v, a in zip(listed, has_ais, strict=True)] + ["A"] * cfg.count),
        nacp=np.array(
            [AIS_ACCURACY_NACP[v.accuracy] if a else -1 for v, a in zip(listed, has_ais, strict=True)]
            + [AIS_ACCURACY_NACP[1]] * cfg.count,
            dtype=np.int8,
        ),
        behaviour=tuple(v.behaviour.KIND for v in listed) + (Transit.KIND,) * cfg.count,
        moored=paths.moored,
        ais_phase=identity_rng.random(n),
        broadcast_key=int(identity_rng.integers(0, 2**63)),
        water_height_m=height,
    )
    return vessels, trajectories


def _intervals(vessels: Vessels, trajectories: Trajectories, rows: I64, t: F64) -> F64:
    """Each AIS vessel's reporting interval (s) at time `t`, from its class, speed and navigational status."""
    k = np.minimum(t.astype(np.int64), trajectories.steps)
    index = vessels.first_index + rows
    speed = np.hypot(trajectories.v_east_mps[k, index], trajectories.v_north_mps[k, index])
    moored = vessels.moored[k, rows] & (speed < MOORED_MAX_SPEED_MPS)
    class_a = np.where(moored, AIS_MOORED_INTERVAL_S, ais_class_a_interval_s(speed))
    return np.where(vessels.ais_class[rows] == "B", AIS_CLASS_B_INTERVAL_S, class_a)


def ais_schedule(vessels: Vessels, trajectories: Trajectories) -> tuple[I64, F64]:
    """Target index and time (s after the start) of every AIS position report every vessel sends while it exists.

    A vessel's first report falls a random fraction (`ais_phase`) of its first interval after it appears;
    each next one an interval later, the interval taken at the report before. `trajectories` holds every target.
    """
    rows = np.flatnonzero(vessels.ais_class != "")
    first = trajectories.first_step[vessels.first_index + rows].astype(np.float64)
    t = first + vessels.ais_phase[rows] * _intervals(vessels, trajectories, rows, first)
    index_parts: list[I64] = []
    time_parts: list[F64] = []
    live = t <= trajectories.last_step[vessels.first_index + rows]
    while live.any():
        rows, t = rows[live], t[live]
        index_parts.append(vessels.first_index + rows)
        time_parts.append(t)
        t = t + _intervals(vessels, trajectories, rows, t)
        live = t <= trajectories.last_step[vessels.first_index + rows]
    if not index_parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(index_parts), np.concatenate(time_parts)
