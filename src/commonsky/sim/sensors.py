"""Sensor models: rotating PSR/SSR and shore radars, ADS-B and AIS ground stations turning trajectories into plots.

Each model works on whole batches of (target, time) pairs, a block of scans or report periods at a
time, with NumPy: geometry, coverage (instrumented range and 4/3-Earth radar horizon), detection,
noise and injected biases. Four independent random streams per sensor (scan phase, detection,
noise, clutter) keep e.g. the detection draws from changing when only the noise level changes.
Air sensors (PSR, SSR, ADS-B) see only aircraft, surface sensors (shore radar, AIS) only vessels.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from commonsky.core.arrays import F64
from commonsky.core.batches import Plots
from commonsky.core.geodesy import EARTH_RADIUS_M, LocalFrame, radar_horizon_m, sensor_aer
from commonsky.core.sensors import DOMAIN_SURFACE, SensorKind, SensorSpec
from commonsky.sim.events import World
from commonsky.sim.scenario import (
    EPU_TO_SIGMA,
    FEET_M,
    MAX_SPEED_MPS,
    MAX_VERTICAL_RATE_MPS,
    NACP_EPU_M,
    Equipage,
    SensorConfig,
)
from commonsky.sim.traffic import metres_to_radians
from commonsky.sim.vessels import VESSEL_ANTENNA_M, ais_schedule

PAIR_BLOCK = 1_000_000
"""(target, time) pairs evaluated at once: bounds memory on large scenarios."""
MODE_C_QUANTUM_M = 100 * FEET_M
"""Mode C altitude resolution."""
ADSB_ALTITUDE_QUANTUM_M = 25 * FEET_M
"""ADS-B barometric altitude resolution."""
ILLUMINATION_ITERATIONS = 2
"""Fixed-point iterations for the instant the rotating beam meets a moving target (after the
first guess from its position at the scan start)."""
AIS_POSITION_QUANTUM_DEG = 1.0 / 600_000.0
"""AIS position resolution: 1/10000 minute of arc."""
LAND_CLUTTER_STRIP_M = 100.0
"""Width of the land strip along the banks where a shore radar's land clutter falls."""
_NACP_SIGMA_M = np.array([NACP_EPU_M.get(n, np.nan) / EPU_TO_SIGMA for n in range(12)])
"""Per-axis position sigma (m) of each NACp 0..11."""


def _quantise(value: F64, quantum: float) -> F64:
    return np.round(value / quantum) * quantum


def _in_cover(spec: SensorSpec, slant_m: F64, alt_m: F64, ground_m: float = 0.0) -> NDArray[np.bool_]:
    """Within the instrumented range and the line of sight over a 4/3 Earth whose surface is at `ground_m`."""
    return (slant_m <= spec.max_range_m) & (slant_m <= radar_horizon_m(spec.alt_m - ground_m, alt_m - ground_m))


def _blocks(n_times: int, n_targets: int) -> list[slice]:
    """Slices of the time axis so that each block holds at most about PAIR_BLOCK pairs."""
    per = max(1, PAIR_BLOCK // max(1, n_targets))
    return [slice(i, min(i + per, n_times)) for i in range(0, n_times, per)]


def radar_plots(sensor: SensorConfig, world: World, seeds: np.random.SeedSequence) -> Plots:
    """Plots of one PSR, SSR or shore radar over the whole run, unsorted.

    The antenna turns clockwise from north with a random initial phase; a target at azimuth az is
    illuminated at scan_start + az / 360 * period, found by fixed-point iteration on its moving
    position. Range and azimuth get Gaussian noise plus the sensor's biases; SSR plots also carry
    the Mode A code, Mode C altitude (100 ft steps) and, for Mode S aircraft, the address. A shore
    radar sees the vessels (its horizon over the water surface) and its clutter (`_surface_clutter`).
    """
    phase_rng, detect_rng, noise_rng, clutter_rng = (np.random.default_rng(s) for s in seeds.spawn(4))
    scenario, targets, trajectories, effects = world.scenario, world.targets, world.trajectories, world.effects
    spec = sensor.spec
    period = spec.scan_period_s
    duration = scenario.duration_s
    phase = phase_rng.uniform(0.0, period)
    scan_start = phase + period * np.arange(-1, math.ceil((duration - phase) / period) + 1, dtype=np.float64)
    ssr = spec.kind is SensorKind.SSR
    surface = spec.kind is SensorKind.SURFACE_RADAR
    ground = world.vessels.water_height_m if surface else 0.0
    if surface:
        candidates = world.vessels.index
    else:
        candidates = np.flatnonzero(targets.equipage >= (Equipage.MODE_AC.code if ssr else Equipage.NONE.code))
    site = (spec.lat_deg, spec.lon_deg, spec.alt_m)
    parts: list[Plots] = []
    for block in _blocks(len(scan_start), len(candidates)):
        starts = scan_start[block]
        index = np.tile(candidates, len(starts))
        t_scan = np.repeat(starts, len(candidates))
        lat, lon, alt = trajectories.position(index, t_scan)
        az, _, slant = sensor_aer(*site, lat, lon, alt)
        # Skip pairs that cannot come into cover within one scan, before the costly iterations.
        reach = (MAX_SPEED_MPS + MAX_VERTICAL_RATE_MPS) * period
        horizon = radar_horizon_m(spec.alt_m - ground, alt - ground + MAX_VERTICAL_RATE_MPS * period) + reach
        near = (t_scan + period >= 0.0) & (t_scan <= duration)
        near &= (slant <= spec.max_range_m + reach) & (slant <= horizon)
        index, t_scan, az = index[near], t_scan[near], az[near]
        for _ in range(ILLUMINATION_ITERATIONS):
            t = t_scan + az / 360.0 * period
            lat, lon, alt = trajectories.position(index, t)
            az, _, slant = sensor_aer(*site, lat, lon, alt)
        seen = (t >= 0.0) & (t <= duration) & trajectories.alive(index, t) & _in_cover(spec, slant, alt, ground)
        seen &= effects.sensor_up(spec.id, t)
        if ssr:
            seen &= effects.transponder_on(index, t)
        seen[seen] = detect_rng.random(int(seen.sum())) < spec.pd
        index, t, az, slant, alt = index[seen], t[seen], az[seen], slant[seen], alt[seen]
        noise = noise_rng.standard_normal((2, len(t)))
        columns: dict[str, ArrayLike] = {
            "time_s": scenario.start_time_s + t + sensor.time_offset_s,
            "sensor_id": np.full(len(t), spec.id),
            "range_m": slant + sensor.range_bias_m + spec.sigma_range_m * noise[0],
            "azimuth_deg": np.mod(az + sensor.azimuth_bias_deg + spec.sigma_azimuth_deg * noise[1], 360.0),
            "truth_id": index + 1,
        }
        if ssr:
            columns |= {
                "altitude_m": _quantise(alt, MODE_C_QUANTUM_M),
                "squawk": effects.squawk(targets, index, t),
                "mode_s": np.where(targets.equipage[index] >= Equipage.MODE_S.code, targets.mode_s[index], -1),
            }
        if surface:
            columns["domain"] = np.full(len(t), DOMAIN_SURFACE)
        parts.append(Plots.build(len(t), **columns))
    parts.append(
        _surface_clutter(sensor, world, scan_start, clutter_rng)
        if surface
        else _clutter(sensor, world, scan_start, clutter_rng)
    )
    return Plots.concat(parts)


def _clutter(sensor: SensorConfig, world: World, scan_start: F64, rng: np.random.Generator) -> Plots:
    """False plots: per scan Poisson(density * coverage area), uniform in area over the coverage disk."""
    scenario, effects = world.scenario, world.effects
    spec = sensor.spec
    area_km2 = math.pi * (spec.max_range_m / 1000.0) ** 2
    counts = rng.poisson(sensor.clutter_density_per_km2 * area_km2, size=len(scan_start))
    n = int(counts.sum())
    az = rng.uniform(0.0, 360.0, n)
    ground = spec.max_range_m * np.sqrt(rng.random(n))
    t = np.repeat(scan_start, counts) + az / 360.0 * spec.scan_period_s
    keep = (t >= 0.0) & (t <= scenario.duration_s) & effects.sensor_up(spec.id, t)
    return Plots.build(
        int(keep.sum()),
        time_s=scenario.start_time_s + t[keep] + sensor.time_offset_s,
        sensor_id=np.full(int(keep.sum()), spec.id),
        range_m=ground[keep],
        azimuth_deg=az[keep],
        truth_id=np.full(int(keep.sum()), -1),
    )


def _surface_clutter(sensor: SensorConfig, world: World, scan_start: F64, rng: np.random.Generator) -> Plots:
    """A shore radar's false plots: per scan Poisson(density * coverage area) points uniform in area over the
    coverage disk, of which those on the water stay (waves, wakes, debris) and, at the land density, those on
    the land strip along the banks (`LAND_CLUTTER_STRIP_M`): a density per km^2 of water, and of that strip."""
    scenario, effects, waterway = world.scenario, world.effects, world.waterway
    spec = sensor.spec
    if waterway is None:
        return Plots.empty()
    area_km2 = math.pi * (spec.max_range_m / 1000.0) ** 2
    height = world.vessels.water_height_m
    frame = LocalFrame(spec.lat_deg, spec.lon_deg, height)
    parts: list[Plots] = []
    for density, on_land in ((sensor.clutter_density_per_km2, False), (sensor.land_clutter_density_per_km2, True)):
        counts = rng.poisson(density * area_km2, size=len(scan_start))
        n = int(counts.sum())
        az = rng.uniform(0.0, 360.0, n)
        ground = spec.max_range_m * np.sqrt(rng.random(n))
        t = np.repeat(scan_start, counts) + az / 360.0 * spec.scan_period_s
        e, nn = ground * np.sin(np.radians(az)), ground * np.cos(np.radians(az))
        lat, lon, _ = frame.enu_to_geodetic(e, nn, -(ground * ground) / (2.0 * EARTH_RADIUS_M))
        depth = waterway.distance_to_bank_m(lat, lon)
        placed = (depth < 0.0) & (depth >= -LAND_CLUTTER_STRIP_M) if on_land else depth >= 0.0
        keep = placed & (t >= 0.0) & (t <= scenario.duration_s) & effects.sensor_up(spec.id, t)
        azimuth, _, slant = sensor_aer(spec.lat_deg, spec.lon_deg, spec.alt_m, lat[keep], lon[keep], height)
        parts.append(
            Plots.build(
                int(keep.sum()),
                time_s=scenario.start_time_s + t[keep] + sensor.time_offset_s,
                sensor_id=np.full(int(keep.sum()), spec.id),
                range_m=slant,
                azimuth_deg=azimuth,
                truth_id=np.full(int(keep.sum()), -1),
                domain=np.full(int(keep.sum()), DOMAIN_SURFACE),
            )
        )
    return Plots.concat(parts)


def broadcast_normals(key: int, target_index: NDArray[np.int64], time_s: F64) -> F64:
    """Two standard normals per (aircraft, broadcast time), the same at every receiving station.

    ADS-B position error comes from the aircraft's navigation solution, so all ground stations
    that hear one broadcast decode the same position. A counter-based hash (splitmix64) of the
    key, target and millisecond time, then Box-Muller, gives that without shared state.
    """
    mask = np.uint64(0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        ms = np.round(np.asarray(time_s) * 1000.0).astype(np.int64).astype(np.uint64)
        x = (
            np.uint64(key)
            ^ (target_index.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
            ^ (ms * np.uint64(0xD1B54A32D192ED03))
        )
        draws = []
        for salt in (0x94D049BB133111EB, 0xBF58476D1CE4E5B9):
            z = (x + np.uint64(salt)) & mask
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            draws.append(((z >> np.uint64(11)).astype(np.float64) + 0.5) / float(2**53))
    radius = np.sqrt(-2.0 * np.log(draws[0]))
    return np.stack([radius * np.cos(2.0 * np.pi * draws[1]), radius * np.sin(2.0 * np.pi * draws[1])])


def adsb_plots(sensor: SensorConfig, world: World, seeds: np.random.SeedSequence) -> Plots:
    """Reports of one ADS-B ground station over the whole run, unsorted.

    Every ADS-B aircraft with its transponder on reports once per update period at its own phase;
    the station receives it with probability pd when within range and line of sight. Positions carry
    per-axis Gaussian noise of EPU(NACp) / 2.448, common to every station hearing the same broadcast
    (`broadcast_normals`), and any spoofing offset; altitude is in 25 ft steps.
    """
    _, detect_rng, _, _ = (np.random.default_rng(s) for s in seeds.spawn(4))
    scenario, targets, trajectories, effects = world.scenario, world.targets, world.trajectories, world.effects
    spec = sensor.spec
    period = spec.scan_period_s
    duration = scenario.duration_s
    candidates = np.flatnonzero(targets.equipage == Equipage.ADSB.code)
    slots = np.arange(math.ceil(duration / period) + 1)
    sigma = sensor.position_sigma_m
    site = (spec.lat_deg, spec.lon_deg, spec.alt_m)
    parts: list[Plots] = []
    for block in _blocks(len(slots), len(candidates)):
        index = np.tile(candidates, len(slots[block]))
        t = (np.repeat(slots[block], len(candidates)) + targets.adsb_phase[index]) * period
        sent = (t <= duration) & trajectories.alive(index, t) & effects.transponder_on(index, t)
        sent &= effects.sensor_up(spec.id, t)
        index, t = index[sent], t[sent]
        lat, lon, alt = trajectories.position(index, t)
        _, _, slant = sensor_aer(*site, lat, lon, alt)
        heard = _in_cover(spec, slant, alt)
        heard[heard] = detect_rng.random(int(heard.sum())) < spec.pd
        index, t, lat, lon, alt = index[heard], t[heard], lat[heard], lon[heard], alt[heard]
        east, north = effects.spoof_offset(index, t)
        noise = broadcast_normals(targets.broadcast_key, index, t)
        dlat, dlon = metres_to_radians(np.radians(lat), alt, east + sigma * noise[0], north + sigma * noise[1])
        parts.append(
            Plots.build(
                len(t),
                time_s=scenario.start_time_s + t + sensor.time_offset_s,
                sensor_id=np.full(len(t), spec.id),
                lat_deg=lat + np.degrees(dlat),
                lon_deg=np.mod(lon + np.degrees(dlon) + 180.0, 360.0) - 180.0,
                altitude_m=_quantise(alt, ADSB_ALTITUDE_QUANTUM_M),
                mode_s=targets.mode_s[index],
                squawk=effects.squawk(targets, index, t),
                callsign=targets.callsign[index],
                nacp=np.full(len(t), sensor.nacp),
                truth_id=index + 1,
            )
        )
    return Plots.concat(parts)


def ais_plots(sensor: SensorConfig, world: World, seeds: np.random.SeedSequence) -> Plots:
    """Position reports of one AIS station over the whole run, unsorted.

    Every vessel with its AIS on broadcasts on its own schedule (`vessels.ais_schedule`: by class,
    speed and navigational status); the station receives a broadcast with probability pd within range
    and the radio horizon over the water. Positions carry per-axis Gaussian noise of EPU(NACp) / 2.448,
    the NACp from the vessel's accuracy flag, common to every station hearing the same broadcast
    (`broadcast_normals`), plus any spoofing offset, in AIS's 1/10000-minute steps, at the water's height.
    """
    _, detect_rng, _, _ = (np.random.default_rng(s) for s in seeds.spawn(4))
    scenario, trajectories, effects, vessels = world.scenario, world.trajectories, world.effects, world.vessels
    spec = sensor.spec
    index, t = ais_schedule(vessels, trajectories)
    sent = effects.transponder_on(index, t) & effects.sensor_up(spec.id, t)
    index, t = index[sent], t[sent]
    lat, lon, alt = trajectories.position(index, t)
    _, _, slant = sensor_aer(spec.lat_deg, spec.lon_deg, spec.alt_m, lat, lon, alt)
    heard = _in_cover(spec, slant, alt + VESSEL_ANTENNA_M, vessels.water_height_m)
    heard[heard] = detect_rng.random(int(heard.sum())) < spec.pd
    index, t, lat, lon = index[heard], t[heard], lat[heard], lon[heard]
    rows = index - vessels.first_index
    sigma = _NACP_SIGMA_M[vessels.nacp[rows]]
    east, north = effects.spoof_offset(index, t)
    noise = broadcast_normals(vessels.broadcast_key, index, t)
    height = vessels.water_height_m
    dlat, dlon = metres_to_radians(np.radians(lat), height, east + sigma * noise[0], north + sigma * noise[1])
    return Plots.build(
        len(t),
        time_s=scenario.start_time_s + t + sensor.time_offset_s,
        sensor_id=np.full(len(t), spec.id),
        lat_deg=_quantise(lat + np.degrees(dlat), AIS_POSITION_QUANTUM_DEG),
        lon_deg=_quantise(np.mod(lon + np.degrees(dlon) + 180.0, 360.0) - 180.0, AIS_POSITION_QUANTUM_DEG),
        altitude_m=np.full(len(t), height),
        mmsi=vessels.mmsi[rows],
        callsign=vessels.callsign[rows],
        nacp=vessels.nacp[rows],
        truth_id=index + 1,
        domain=np.full(len(t), DOMAIN_SURFACE),
    )
