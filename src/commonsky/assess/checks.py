"""Consistency checks between sources: ADS-B against radar plots, partner tracks against own tracks, AIS against
shore radar tracks, AIS report intervals, coverage.

All checks are vectorised over plots or tracks; joins by Mode S address go through sorting, not
per-row loops. Each returns plain arrays; persistence and alerting live in `commonsky.assess.engine`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from commonsky.core.arrays import F64, I64
from commonsky.core.batches import Plots, TrackReports
from commonsky.core.geodesy import (
    EARTH_RADIUS_M,
    LocalFrame,
    aer_to_enu,
    radar_horizon_m,
    sensor_aer,
)
from commonsky.core.sensors import AIS_MOORED_INTERVAL_S, SensorKind, SensorSpec, ais_class_a_interval_s

NACP_EPU_M = np.array([np.nan, 18_520.0, 7_408.0, 3_704.0, 1_852.0, 926.0, 555.6, 185.2, 92.6, 30.0, 10.0, 3.0])
"""95 % horizontal position bound (m) of each NACp 0..11 (DO-260B; 0 is unknown)."""
RAYLEIGH_95 = 2.4477
"""Ratio of the 95 % radius to the per-axis sigma of a circular 2-D Gaussian."""


def lookup(keys: NDArray[np.str_], table: Mapping[str, Any], default: Any) -> NDArray[Any]:
    """`table[key]` for every key (`default` for keys not in it), one dictionary look-up per distinct key."""
    unique, inverse = np.unique(keys, return_inverse=True)
    values = np.array([table.get(str(k), default) for k in unique] + [default])
    return values[:-1][inverse] if len(keys) else values[:0]


def join_equal(a: NDArray[np.integer], b: NDArray[np.integer]) -> tuple[I64, I64]:
    """All index pairs (i, j) with a[i] == b[j] >= 0, without forming the |a| x |b| matrix."""
    order = np.argsort(a, kind="stable")
    sa = a[order]
    lo = np.searchsorted(sa, b, side="left")
    hi = np.searchsorted(sa, b, side="right")
    counts = np.where(b >= 0, hi - lo, 0)
    jb = np.repeat(np.arange(len(b)), counts)
    starts = np.repeat(lo, counts)
    offsets = np.arange(len(jb)) - np.repeat(np.cumsum(counts) - counts, counts)
    return order[starts + offsets].astype(np.int64), jb.astype(np.int64)


@dataclass(frozen=True)
class AdsbRadarPairs:
    """ADS-B / SSR plot pairs of one address close in time, and whether each is consistent."""

    mode_s: NDArray[np.int32]
    time_s: F64
    """The radar plot's time."""
    radar_sensor: NDArray[np.str_]
    adsb_sensor: NDArray[np.str_]
    lat_deg: F64
    """Radar-measured position."""
    lon_deg: F64
    distance_m: F64
    """Horizontal distance between the ADS-B position (moved to the radar time) and the radar position."""
    chi2: F64
    sigma_m: F64
    """Root-mean combined per-axis standard deviation, for the evidence."""

    def __len__(self) -> int:
        return len(self.mode_s)


def adsb_radar_pairs(
    plots: Plots,
    sensors: Mapping[str, SensorSpec],
    track_mode_s: NDArray[np.int32],
    track_velocity: F64,
    window_s: float,
    speed_sigma_mps: float,
    bias_sigma_m: float,
) -> AdsbRadarPairs:
    """Pair each Mode S radar plot with the nearest-in-time ADS-B plot of its address and test them.

    The radar plot is placed from slant range, azimuth and Mode C altitude (elevation from the
    spherical triangle, refined on the ellipsoid) in the radar's own tangent frame; the ADS-B position
    is moved over the time difference by the velocity (east, north m/s; (K,2) `track_velocity`) of
    the first track carrying its address (`track_mode_s`); addresses on no track are not tested.
    The combined covariance holds the radar's range, cross-range and altitude-induced errors, the
    ADS-B NACp error, the velocity error over the gap and a radar bias allowance.
    """
    kind = lookup(plots.sensor_id, {sid: s.kind.value for sid, s in sensors.items()}, "")
    ssr = np.flatnonzero((kind == SensorKind.SSR) & (plots.mode_s >= 0) & np.isfinite(plots.altitude_m))
    adsb = np.flatnonzero((kind == SensorKind.ADSB) & (plots.mode_s >= 0) & np.isfinite(plots.lat_deg))
    ir, ia = join_equal(plots.mode_s[adsb], plots.mode_s[ssr])
    ia, ir = adsb[ir], ssr[ia]
    dt = plots.time_s[ir] - plots.time_s[ia]
    ok = np.abs(dt) <= window_s
    ia, ir, dt = ia[ok], ir[ok], dt[ok]
    # Keep, per radar plot, the ADS-B plot nearest in time (then the first such, for determinism).
    order = np.lexsort((ia, np.abs(dt), ir))
    first = np.ones(len(order), dtype=bool)
    first[1:] = ir[order][1:] != ir[order][:-1]
    keep = order[first]
    ia, ir, dt = ia[keep], ir[keep], dt[keep]
    it, jr = join_equal(track_mode_s, plots.mode_s[ir])
    vel = np.full((len(ir), 2), np.nan)
    _, first_track = np.unique(jr, return_index=True)
    vel[jr[first_track]] = track_velocity[it[first_track]]
    known = np.isfinite(vel).all(axis=1)
    ia, ir, dt, vel = ia[known], ir[known], dt[known], vel[known]

    n = len(ir)
    out = {name: np.full(n, np.nan) for name in ("lat", "lon", "dist", "chi2", "sigma")}
    for sid in np.unique(plots.sensor_id[ir]):
        spec = sensors[str(sid)]
        rows = np.flatnonzero(plots.sensor_id[ir] == sid)
        r, a = ir[rows], ia[rows]
        rho = plots.range_m[r]
        alt = plots.altitude_m[r]
        az = plots.azimuth_deg[r]
        el = _elevation_deg(spec, rho, az, alt)
        e_r, n_r, u_r = aer_to_enu(az, el, rho)
        frame = LocalFrame(spec.lat_deg, spec.lon_deg, spec.alt_m)
        e_a, n_a, _ = frame.geodetic_to_enu(plots.lat_deg[a], plots.lon_deg[a], plots.altitude_m[a])
        e_a = e_a + vel[rows, 0] * dt[rows]
        n_a = n_a + vel[rows, 1] * dt[rows]
        de, dn = e_a - e_r, n_a - n_r
        cos_el = np.cos(np.radians(el))
        ground = rho * cos_el
        sigma_ground = np.hypot(spec.sigma_range_m, spec.sigma_altitude_m * np.tan(np.radians(el))) / cos_el
        sigma_cross = ground * np.radians(spec.sigma_azimuth_deg)
        fallback = lookup(plots.sensor_id[a], {k: v.sigma_range_m for k, v in sensors.items()}, np.nan)
        nacp = plots.nacp[a].astype(np.int64)
        valid = (nacp >= 1) & (nacp <= 11)
        sigma_adsb = np.where(valid, NACP_EPU_M[np.where(valid, nacp, 0)] / RAYLEIGH_95, fallback)
        iso = sigma_adsb**2 + (speed_sigma_mps * dt[rows]) ** 2 + bias_sigma_m**2
        # Covariance in (east, north): radial along the azimuth, cross-range across it.
        s_az, c_az = np.sin(np.radians(az)), np.cos(np.radians(az))
        vr, vc = sigma_ground**2, sigma_cross**2
        s_ee = vr * s_az**2 + vc * c_az**2 + iso
        s_nn = vr * c_az**2 + vc * s_az**2 + iso
        s_en = (vr - vc) * s_az * c_az
        det = s_ee * s_nn - s_en**2
        out["chi2"][rows] = (s_nn * de**2 - 2 * s_en * de * dn + s_ee * dn**2) / det
        out["dist"][rows] = np.hypot(de, dn)
        out["sigma"][rows] = np.sqrt(0.5 * (s_ee + s_nn))
        lat, lon, _ = frame.enu_to_geodetic(e_r, n_r, u_r)
        out["lat"][rows], out["lon"][rows] = lat, lon
    return AdsbRadarPairs(
        mode_s=plots.mode_s[ir],
        time_s=plots.time_s[ir],
        radar_sensor=plots.sensor_id[ir],
        adsb_sensor=plots.sensor_id[ia],
        lat_deg=out["lat"],
        lon_deg=out["lon"],
        distance_m=out["dist"],
        chi2=out["chi2"],
        sigma_m=out["sigma"],
    )


def _elevation_deg(spec: SensorSpec, rho: F64, az: F64, alt: F64) -> F64:
    """Elevation (deg) of a plot at slant range `rho` and ellipsoid height `alt` seen from the radar.

    Spherical first guess from the triangle (Earth centre, radar, target), then Newton steps on
    the ellipsoid height of the point the (azimuth, elevation, range) ray reaches.
    """
    rs = EARTH_RADIUS_M + spec.alt_m
    rt = EARTH_RADIUS_M + alt
    el = np.arcsin(np.clip((rt * rt - rs * rs - rho * rho) / (2.0 * rho * rs), -1.0, 1.0))
    frame = LocalFrame(spec.lat_deg, spec.lon_deg, spec.alt_m)
    for _ in range(2):
        _, _, h = frame.enu_to_geodetic(*aer_to_enu(az, np.degrees(el), rho))
        el = el + (alt - h) / (rho * np.cos(el))
    return np.asarray(np.degrees(el))


@dataclass(frozen=True)
class PartnerContradictions:
    """Partner tracks that own sensors contradict, with the rule and the values that decided."""

    partner_row: I64
    """Row in the partner reports."""
    rule: NDArray[np.str_]
    """"same_address_far" or "unexplained_in_coverage"."""
    own_track_id: I64
    """The nearest own track (-1 when there is none)."""
    distance_m: F64
    """To that own track, after moving the partner track to the own time."""
    chi2: F64
    """Same-address rule only (NaN otherwise)."""
    covering_sensor: NDArray[np.str_]
    """Unexplained-in-coverage rule only: an own radar whose coverage holds the partner track."""


def partner_contradictions(
    frame: LocalFrame,
    local: TrackReports,
    partner: TrackReports,
    own_radars: list[SensorSpec],
    time_s: float,
    gate_chi2: float,
    bias_sigma_m: float,
    explain_m: float,
    coverage_fraction: float,
) -> PartnerContradictions:
    """The two contradiction rules over all partner tracks at once (documented in the engine).

    Same address far: a partner track whose Mode S address is on own tracks, but which is further
    than `gate_chi2` (combined covariances plus a registration allowance) from every one of them.
    Unexplained in coverage: a confirmed partner track of known altitude well inside the coverage of
    an own radar that is up and would see it (primary always, secondary if it has a transponder),
    with no own track within `explain_m`. Positions are compared in `frame` at `time_s`.
    """
    pe, pn = _at(frame, partner, time_s)
    oe, on = _at(frame, local, time_s)

    # Rule 1: same address, statistically far from every own track of that address.
    io, ip = join_equal(local.mode_s, partner.mode_s)
    cov_o = local.covariance()[io, :2, :2]
    cov_p = partner.covariance()[ip]
    dt = np.abs(time_s - partner.time_s[ip])[:, None, None]
    s = cov_o + cov_p[:, :2, :2] + dt * dt * cov_p[:, 2:, 2:] + bias_sigma_m**2 * np.eye(2)
    d = np.stack([pe[ip] - oe[io], pn[ip] - on[io]], axis=-1)
    with np.errstate(invalid="ignore"):
        chi2 = np.einsum("ki,kij,kj->k", d, np.linalg.inv(s) if len(s) else s, d)
    chi2 = np.where(np.isfinite(chi2), chi2, np.nan)
    order = np.lexsort((chi2, ip))
    first = np.ones(len(order), dtype=bool)
    first[1:] = ip[order][1:] != ip[order][:-1]
    best = order[first]
    far = best[chi2[best] > gate_chi2]
    flagged = np.zeros(len(partner), dtype=bool)
    flagged[ip[far]] = True

    # Rule 2: well inside the coverage of an own radar that is up, and no own track near.
    candidates = np.flatnonzero(
        (partner.status == "confirmed") & np.isfinite(partner.alt_m) & np.isfinite(pe) & ~flagged
    )
    covering = np.full(len(partner), "", dtype="<U24")
    transponder = (partner.mode_s >= 0) | (partner.squawk >= 0)
    for spec in own_radars:
        sees = transponder[candidates] if spec.kind is SensorKind.SSR else np.ones(len(candidates), dtype=bool)
        c = candidates[sees & (covering[candidates] == "")]
        inside = in_coverage(spec, partner.lat_deg[c], partner.lon_deg[c], partner.alt_m[c], coverage_fraction)
        covering[c[inside]] = spec.id
    candidates = candidates[covering[candidates] != ""]
    finite = np.isfinite(oe) & np.isfinite(on)
    if finite.any() and len(candidates):
        dist, nearest = cKDTree(np.stack([oe[finite], on[finite]], axis=-1)).query(
            np.stack([pe[candidates], pn[candidates]], axis=-1)
        )
        nearest_id = local.track_id[np.flatnonzero(finite)[nearest]]
    else:
        dist = np.full(len(candidates), np.inf)
        nearest_id = np.full(len(candidates), -1, dtype=np.int64)
    lonely = dist > explain_m
    alone = candidates[lonely]

    return PartnerContradictions(
        partner_row=np.concatenate([ip[far], alone]).astype(np.int64),
        rule=np.array(["same_address_far"] * len(far) + ["unexplained_in_coverage"] * len(alone), dtype="<U24"),
        own_track_id=np.concatenate([local.track_id[io[far]], nearest_id[lonely]]).astype(np.int64),
        distance_m=np.concatenate([np.hypot(d[far, 0], d[far, 1]), dist[lonely]]),
        chi2=np.concatenate([chi2[far], np.full(len(alone), np.nan)]),
        covering_sensor=np.concatenate([np.full(len(far), "", dtype="<U24"), covering[alone]]),
    )


def _at(frame: LocalFrame, reports: TrackReports, time_s: float) -> tuple[F64, F64]:
    """East, north (m) in `frame` of reports moved along their velocity to `time_s`."""
    e, n, _ = frame.geodetic_to_enu(reports.lat_deg, reports.lon_deg, 0.0)
    dt = time_s - reports.time_s
    return e + np.nan_to_num(reports.v_east_mps) * dt, n + np.nan_to_num(reports.v_north_mps) * dt


def in_coverage(spec: SensorSpec, lat_deg: F64, lon_deg: F64, alt_m: F64, fraction: float) -> NDArray[np.bool_]:
    """Whether targets lie well inside a sensor's coverage: range and (for known altitude) radar horizon.

    `fraction` shrinks both limits so that targets at the fringe, where detection is unreliable,
    do not count. Unknown altitude is tested on range only.
    """
    alt = np.where(np.isfinite(alt_m), alt_m, spec.alt_m)
    _, _, slant = sensor_aer(spec.lat_deg, spec.lon_deg, spec.alt_m, lat_deg, lon_deg, alt)
    horizon = radar_horizon_m(spec.alt_m, alt)
    visible = np.where(np.isfinite(alt_m), slant <= fraction * horizon, True)
    return np.asarray((slant <= fraction * spec.max_range_m) & visible)


MOORED_BELOW_MPS = 0.5
"""A vessel slower than this is taken as at anchor or moored when its navigational status is not known."""


def ais_report_interval_s(speed_mps: F64) -> F64:
    """Expected interval (s) between a class A AIS unit's position reports at a speed (ITU-R M.1371-5, table 1).

    180 s below 0.5 m/s (the standard's 3 minutes at anchor or moored, taken as not making way), else the
    interval under way (`core.sensors.ais_class_a_interval_s`: 10 s up to 14 kn, 6 s up to 23 kn, 2 s above; an
    unknown speed 10 s). Class B units report less often (30 s under way); `commonsky.assess.rules.surface`
    learns that from the vessel's own silences.
    """
    v = np.asarray(speed_mps, dtype=np.float64)
    return np.where(v < MOORED_BELOW_MPS, AIS_MOORED_INTERVAL_S, ais_class_a_interval_s(v))


@dataclass(frozen=True)
class AisRadarTests:
    """Own AIS reports inside an up shore radar's coverage, and how far the nearest radar-fed vessel track is."""

    mmsi: NDArray[np.int32]
    time_s: F64
    lat_deg: F64
    lon_deg: F64
    distance_m: F64
    """To the nearest radar-fed surface track moved to the report's time (inf when there is none)."""
    track_row: I64
    """That track's row in the track arrays (-1 when there is none)."""
    radar_sensor: NDArray[np.str_]
    """The first listed radar whose coverage holds the report."""
    ais_sensor: NDArray[np.str_]

    def __len__(self) -> int:
        return len(self.mmsi)


def ais_radar_tests(
    frame: LocalFrame,
    plots: Plots,
    sensors: Mapping[str, SensorSpec],
    radars: list[SensorSpec],
    tracks: tuple[F64, F64, F64, F64, F64, NDArray[np.int32]],
    coverage_fraction: float,
) -> AisRadarTests:
    """Test each own AIS report (one per MMSI and report time: a broadcast heard by two stations counts once)
    that a shore radar in `radars` covers against the radar-fed vessel tracks.

    `tracks` are those tracks' (lat_deg, lon_deg, time_s, v_east_mps, v_north_mps, mmsi); each is moved along
    its velocity to the report's time before the distance is taken. A track of another MMSI is another vessel and
    supports no report. Reports outside every listed radar's coverage are not tested: no radar could support them.
    """
    kind = lookup(plots.sensor_id, {sid: s.kind.value for sid, s in sensors.items()}, "")
    ais = np.flatnonzero(
        (kind == SensorKind.AIS) & (plots.mmsi >= 0) & np.isfinite(plots.lat_deg) & np.isfinite(plots.lon_deg)
    )
    order = ais[np.lexsort((plots.sensor_id[ais], plots.time_s[ais], plots.mmsi[ais]))]
    mmsi, t = plots.mmsi[order], plots.time_s[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (mmsi[1:] != mmsi[:-1]) | (t[1:] != t[:-1])
    rows = order[first]
    covering = np.full(len(rows), "", dtype="<U24")
    for spec in radars:
        free = rows[covering == ""]
        inside = in_coverage(spec, plots.lat_deg[free], plots.lon_deg[free], plots.altitude_m[free], coverage_fraction)
        covering[np.flatnonzero(covering == "")[inside]] = spec.id
    tested = covering != ""
    rows, covering = rows[tested], covering[tested]
    lat, lon, t, ve, vn, track_mmsi = tracks
    pe, pn, _ = frame.geodetic_to_enu(plots.lat_deg[rows], plots.lon_deg[rows], 0.0)
    te, tn, _ = frame.geodetic_to_enu(lat, lon, 0.0)
    dt = plots.time_s[rows][:, None] - t[None, :]
    de = te[None, :] + np.nan_to_num(ve)[None, :] * dt - pe[:, None]
    dn = tn[None, :] + np.nan_to_num(vn)[None, :] * dt - pn[:, None]
    other = (track_mmsi[None, :] >= 0) & (track_mmsi[None, :] != plots.mmsi[rows][:, None])
    dist = np.where(other, np.inf, np.hypot(de, dn))
    if dist.shape[1]:
        nearest = np.argmin(dist, axis=1)
        distance = dist[np.arange(len(rows)), nearest]
        nearest = np.where(np.isfinite(distance), nearest, -1)
    else:
        nearest = np.full(len(rows), -1, dtype=np.int64)
        distance = np.full(len(rows), np.inf)
    return AisRadarTests(
        mmsi=plots.mmsi[rows],
        time_s=plots.time_s[rows],
        lat_deg=plots.lat_deg[rows],
        lon_deg=plots.lon_deg[rows],
        distance_m=distance,
        track_row=nearest.astype(np.int64),
        radar_sensor=covering,
        ais_sensor=plots.sensor_id[rows],
    )
