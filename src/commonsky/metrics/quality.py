"""Per-sensor surveillance quality against truth: detection, registration errors, code correctness, false plots.

What an ANSP's surveillance engineer measures before trusting a sensor (the EUROCONTROL radar standard's figures,
as OpenATS COMPASS evaluates them): probability of detection per scan inside coverage, range and azimuth bias and
spread with the time-stamp offset estimated jointly, Mode A/C correctness, false plots per scan, each with its 95 %
confidence interval; and pass/fail against a requirement set. The reference is the simulator's truth and the
plots' `truth_id` answer key (docs/formats.md, "quality.json"). Columnar: one pass of NumPy per sensor.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table as RichTable
from scipy import stats

from commonsky.core.arrays import F64, I64, B
from commonsky.core.batches import Plots, Truth
from commonsky.core.config import Table, read_toml
from commonsky.core.geodesy import LocalFrame, enu_to_aer, geodetic_to_ecef, radar_horizon_m
from commonsky.core.sensors import DOMAIN_SURFACE, SensorKind, SensorSpec

CONFIDENCE = 0.95
"""Level of every confidence interval reported."""
MODE_C_TOLERANCE_M = 300 * 0.3048
"""A Mode C altitude is correct within 300 ft of the truth, as the EUROCONTROL radar standard counts it."""
GAUSS_NEWTON_ITERATIONS = 4
"""Iterations of the joint bias and time-offset fit: the model is linear in the biases and nearly so in the offset."""
DEFAULT_REQUIREMENTS = Path(__file__).resolve().parents[1] / "examples" / "quality" / "eurocontrol_radar.toml"
"""The requirement set used when none is given: the EUROCONTROL radar standard's figures."""
SIGNED_FIGURES = ("range_bias_m", "azimuth_bias_deg", "time_offset_s")
"""Figures a requirement bounds by magnitude (a bias of -150 m is as bad as one of +150 m)."""
REQUIREMENT_FIGURES = (
    "pd",
    *SIGNED_FIGURES,
    "range_sd_m",
    "azimuth_sd_deg",
    "position_error_rms_m",
    "mode_a_present",
    "mode_a_correct",
    "mode_c_present",
    "mode_c_correct",
    "false_plots_per_scan",
)
"""The per-sensor figures a requirement may bound."""
REFERENCE = "truth"
"""The reference the figures are measured against: truth is the only one so far (ADS-B and fused are to come)."""


Interval = tuple[float, float]


@dataclass(frozen=True)
class SensorQuality:
    """One sensor's figures (`sensors.<id>` of quality.json); None where a figure does not apply or has no data.

    Radars (psr, ssr, surface_radar) fill the range/azimuth/time-offset figures, ADS-B and AIS
    `position_error_rms_m`; Mode A applies to SSR and ADS-B, Mode C to SSR.
    """

    kind: str
    partner: str
    plots: int
    """Every plot of the sensor."""
    target_plots: int
    """Plots of a target the truth holds (truth_id >= 0), within its truth's time span."""
    false_plots: int
    """Plots with truth_id -1 in the counted scans."""
    scans: int
    """Complete scans (report periods for ADS-B/AIS) from the sensor's first plot to its last."""
    targets_in_coverage: int
    target_scans: int
    """(target, scan) pairs with the target inside coverage for the whole scan: the pd's denominator."""
    detected_scans: int
    pd: float | None
    pd_ci: Interval | None
    range_bias_m: float | None
    range_bias_se_m: float | None
    range_bias_ci_m: Interval | None
    range_sd_m: float | None
    azimuth_bias_deg: float | None
    azimuth_bias_se_deg: float | None
    azimuth_bias_ci_deg: Interval | None
    azimuth_sd_deg: float | None
    time_offset_s: float | None
    time_offset_se_s: float | None
    time_offset_ci_s: Interval | None
    position_error_rms_m: float | None
    mode_a_present: float | None
    mode_a_correct: float | None
    mode_c_present: float | None
    mode_c_correct: float | None
    false_plots_per_scan: float | None

    def figure(self, name: str) -> float | None:
        """The value of one figure by its JSON name."""
        value = getattr(self, name)
        return None if value is None else float(value)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object: intervals as [low, high] lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Requirement:
    """One requirement: a figure bounded from below (`at_least`) or above, for the sensors of some kinds."""

    figure: str
    bound: float
    at_least: bool
    kinds: tuple[SensorKind, ...]

    def measure(self, value: float | None) -> float | None:
        """The value compared with the bound: magnitude for signed figures (biases, time offset)."""
        if value is None:
            return None
        return abs(value) if self.figure in SIGNED_FIGURES else value


@dataclass(frozen=True)
class RequirementResult:
    """One row of the pass/fail table; `measured`, `passed` and `margin` are None when the figure has no data."""

    sensor: str
    figure: str
    required: float
    comparison: str
    """">=" or "<=": how `measured` must compare with `required`."""
    measured: float | None
    passed: bool | None
    margin: float | None
    """How far inside the bound the figure lies (negative: outside), in the figure's unit."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of a `requirements` entry."""
        return {
            "sensor": self.sensor,
            "figure": self.figure,
            "required": self.required,
            "comparison": self.comparison,
            "measured": self.measured,
            "pass": self.passed,
            "margin": self.margin,
        }


@dataclass(frozen=True)
class RequirementSet:
    """A named set of requirements with its public source, read from TOML (`RequirementSet.load`)."""

    name: str
    source: str
    requirements: tuple[Requirement, ...]

    @classmethod
    def load(cls, path: str | Path = DEFAULT_REQUIREMENTS) -> RequirementSet:
        """Read and validate a requirement file: `name`, `source` and `[[requirement]]` tables of `figure`, one of
        `at_least`/`at_most` and optional `kinds` (default: every kind); errors name the file and key."""
        data, source = read_toml(path)
        root = Table(data, source)
        name, origin = root.text("name"), root.text("source")
        requirements = []
        for table in root.tables("requirement", required=True):
            figure = table.choice("figure", REQUIREMENT_FIGURES)
            at_least = table.present("at_least")
            if at_least == table.present("at_most"):
                raise table.error("at_least", "give exactly one of at_least and at_most")
            bound = table.number("at_least" if at_least else "at_most")
            kinds = table.texts("kinds", tuple(SensorKind))
            unknown = [k for k in kinds if k not in set(SensorKind)]
            if unknown or not kinds:
                raise table.expected("kinds", f"sensor kinds among {', '.join(SensorKind)}", list(kinds))
            table.finish()
            requirements.append(Requirement(figure, bound, at_least, tuple(SensorKind(k) for k in kinds)))
        root.finish()
        return cls(name, origin, tuple(requirements))

    def check(self, sensors: dict[str, SensorQuality]) -> list[RequirementResult]:
        """Each requirement against each sensor of its kinds, in sensor then requirement order."""
        rows = []
        for sid, quality in sensors.items():
            for req in self.requirements:
                if SensorKind(quality.kind) not in req.kinds:
                    continue
                measured = req.measure(quality.figure(req.figure))
                margin = None if measured is None else (measured - req.bound if req.at_least else req.bound - measured)
                passed = None if margin is None else margin >= 0.0
                comparison = ">=" if req.at_least else "<="
                rows.append(RequirementResult(sid, req.figure, req.bound, comparison, measured, passed, margin))
        return rows


@dataclass(frozen=True)
class QualityReport:
    """Every sensor's figures and the requirement table: what `commonsky quality` prints and writes."""

    sensors: dict[str, SensorQuality]
    requirement_set: RequirementSet
    requirements: list[RequirementResult]

    def as_dict(self) -> dict[str, Any]:
        """quality.json (docs/formats.md)."""
        return {
            "reference": REFERENCE,
            "confidence": CONFIDENCE,
            "requirement_set": {"name": self.requirement_set.name, "source": self.requirement_set.source},
            "sensors": {sid: q.as_dict() for sid, q in self.sensors.items()},
            "requirements": [r.as_dict() for r in self.requirements],
        }


class _Paths:
    """Truth as piecewise-linear paths per target, in ECEF: a target's point and velocity at any time in its span."""

    def __init__(self, truth: Truth) -> None:
        order = np.lexsort((truth.time_s, truth.target_id))
        tid, t = truth.target_id[order].astype(np.int64), truth.time_s[order]
        fresh = np.ones(len(t), dtype=bool)
        fresh[1:] = (tid[1:] != tid[:-1]) | (t[1:] != t[:-1])
        order, tid, t = order[fresh], tid[fresh], t[fresh]
        self.ids, self.first, counts = np.unique(tid, return_index=True, return_counts=True)
        self.last = self.first + counts - 1
        self.rank = np.repeat(np.arange(len(self.ids)), counts)
        self.time = t
        self.xyz = np.stack(geodetic_to_ecef(truth.lat_deg[order], truth.lon_deg[order], truth.alt_m[order]))
        self.alt = truth.alt_m[order]
        self.squawk = truth.squawk[order]
        self.domain = truth.domain[order]
        self._origin = float(t[0]) if len(t) else 0.0
        self._stride = float(np.ptp(t)) + 1.0 if len(t) else 1.0
        self._key = self.rank * self._stride + (t - self._origin)

    def lookup(self, target_id: I64) -> tuple[I64, B]:
        """Each id's target rank and whether the truth holds that target with two samples at least."""
        rank = np.clip(np.searchsorted(self.ids, target_id), 0, max(len(self.ids) - 1, 0))
        if not len(self.ids):
            return rank, np.zeros(len(target_id), dtype=bool)
        return rank, (self.ids[rank] == target_id) & (self.last[rank] > self.first[rank])

    def spans(self, rank: I64, time: F64) -> B:
        """Whether each time lies within its target's truth."""
        return (self.time[self.first[rank]] <= time) & (time <= self.time[self.last[rank]])

    def segment(self, rank: I64, time: F64) -> tuple[I64, F64]:
        """The sample before each time on its target's path and the interpolation weight (extrapolating at ends)."""
        i = np.searchsorted(self._key, rank * self._stride + (time - self._origin), side="right") - 1
        i = np.clip(i, self.first[rank], self.last[rank] - 1)
        return i, (time - self.time[i]) / (self.time[i + 1] - self.time[i])

    def state(self, i: I64, w: F64) -> tuple[F64, F64]:
        """ECEF point (3, n) and velocity (3, n) on the segments `i` at weights `w`."""
        step = self.xyz[:, i + 1] - self.xyz[:, i]
        return self.xyz[:, i] + w * step, step / (self.time[i + 1] - self.time[i])

    def altitude(self, i: I64, w: F64) -> F64:
        """Interpolated height (m)."""
        return self.alt[i] + w * (self.alt[i + 1] - self.alt[i])


def _wrap_deg(angle: F64) -> F64:
    """Angles wrapped to [-180, 180)."""
    return np.mod(angle + 180.0, 360.0) - 180.0


def _radar_view(frame: LocalFrame, point: F64, velocity: F64) -> tuple[F64, F64, F64, F64]:
    """Azimuth (deg), slant range (m) and their rates (deg/s, m/s) of ECEF points seen from the frame's origin."""
    e, n, u = frame.ecef_to_enu(*point)
    ve, vn, vu = frame.vector_to_enu(*velocity)
    az, _, slant = enu_to_aer(e, n, u)
    ground2 = np.maximum(e * e + n * n, 1e-6)
    return az, slant, np.degrees((n * ve - e * vn) / ground2), (e * ve + n * vn + u * vu) / np.maximum(slant, 1e-3)


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> Interval:
    """Wilson score interval of a binomial proportion: well behaved near 0 and 1, where detection figures live."""
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    p = successes / trials
    scale = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / scale
    half = z * math.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class _Registration:
    """The joint fit of range bias, azimuth bias and time offset, with standard errors and residual spreads."""

    estimate: F64
    """[range bias (m), azimuth bias (deg), time offset (s)]; the offset is NaN when the motion cannot show it."""
    standard_error: F64
    range_sd_m: float
    azimuth_sd_deg: float
    dof: int


def _registration(
    frame: LocalFrame, paths: _Paths, rank: I64, time: F64, range_m: F64, azimuth_deg: F64, spec: SensorSpec
) -> _Registration | None:
    """Least squares over every plot of a known target: range residual r = b_r - rho_dot * dt and azimuth residual
    a = b_a - az_dot * dt, measured minus truth at the plot's time less the offset dt (Gauss-Newton on dt),
    weighted by each channel's residual spread (re-estimated each iteration from the sensor's nominal sigma)."""
    n = len(time)
    if n < 4:
        return None
    sigma = np.array([spec.sigma_range_m or 1.0, spec.sigma_azimuth_deg or 0.1])
    offset, columns = 0.0, 3
    for _ in range(GAUSS_NEWTON_ITERATIONS):
        az, slant, az_rate, range_rate = _radar_view(frame, *paths.state(*paths.segment(rank, time - offset)))
        residual = np.concatenate([range_m - slant, _wrap_deg(azimuth_deg - az)])
        design = np.zeros((2 * n, 3))
        design[:n, 0], design[n:, 1] = 1.0, 1.0
        design[:, 2] = -np.concatenate([range_rate, az_rate])
        weight = np.repeat(1.0 / sigma, n)
        weighted = design * weight[:, None]
        solution, _, rank_found, _ = np.linalg.lstsq(weighted[:, :columns], residual * weight, rcond=None)
        if rank_found < columns:
            columns = 2
            solution = np.linalg.lstsq(weighted[:, :2], residual * weight, rcond=None)[0]
        fitted = residual - design[:, :columns] @ solution
        sigma = np.sqrt([np.mean(fitted[:n] ** 2), np.mean(fitted[n:] ** 2)])
        sigma = np.maximum(sigma, 1e-9)
        if columns == 3:
            offset += float(solution[2])
    weighted = design[:, :columns] * np.repeat(1.0 / sigma, n)[:, None]
    covariance = np.linalg.inv(weighted.T @ weighted)
    estimate = np.array([solution[0], solution[1], offset if columns == 3 else np.nan])
    standard_error = np.full(3, np.nan)
    standard_error[:columns] = np.sqrt(np.diag(covariance))
    return _Registration(estimate, standard_error, float(sigma[0]), float(sigma[1]), n - 3)


def _interval(value: float, se: float, dof: int) -> Interval | None:
    """Two-sided Student-t interval at `CONFIDENCE` (None when the value is undefined)."""
    if not math.isfinite(value):
        return None
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2.0, dof)) * se
    return float(value - half), float(value + half)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _in_coverage(spec: SensorSpec, frame: LocalFrame, point: F64, alt: F64) -> B:
    """Inside the instrumented range, above the 4/3-Earth horizon and (radars) below the cone of silence.

    A vessel's truth height is the water's, so a surface sensor's horizon is taken over the water surface
    (its own height above the water, the vessel at it), as the simulator does."""
    az_el_range = enu_to_aer(*frame.ecef_to_enu(*point))
    slant = az_el_range[2]
    if spec.kind.domain == DOMAIN_SURFACE:
        horizon = radar_horizon_m(spec.alt_m - alt, 0.0)
    else:
        horizon = radar_horizon_m(spec.alt_m, alt)
    inside = (slant <= spec.max_range_m) & (slant <= horizon)
    if spec.kind.is_radar:
        inside &= az_el_range[1] <= spec.max_elevation_deg
    return inside


@dataclass(frozen=True)
class _Scans:
    """A sensor's scans (report periods for ADS-B/AIS) as bins of the rotation time u (a plot's time less the
    part of a clockwise turn from north to its azimuth, so every plot of one turn shares u; the time itself for
    sensors that do not turn): scan k holds u in [t0 + kP, t0 + (k+1)P). The scans counted are 1 .. last - 1:
    the first and last of the record, which its ends may cut, are left out."""

    t0: float
    period: float
    last: int
    rotating: bool

    @classmethod
    def of(cls, spec: SensorSpec, plots: Plots, span: Interval) -> _Scans:
        """The scans of a sensor's plots; a radar's bins are centred on its turns (the antenna phase, as the
        circular mean of the plots' u), so the bin edges fall halfway between turns."""
        period, rotating = spec.scan_period_s, spec.kind.is_radar
        if not len(plots):
            return cls(span[0], period, int((span[1] - span[0]) // period), rotating)
        u = plots.time_s - (plots.azimuth_deg / 360.0 * period if rotating else 0.0)
        first = float(u.min())
        edge = first
        if rotating:
            turn = np.angle(np.mean(np.exp(2j * np.pi * (u - first) / period))) / (2.0 * np.pi)
            edge = first + period * (float(turn) - 0.5)
            edge -= period * math.ceil((edge - first) / period)
        return cls(edge, period, int((float(u.max()) - edge) // period), rotating)

    @property
    def count(self) -> int:
        """Scans counted."""
        return max(self.last - 1, 0)

    def index(self, time: F64, azimuth_deg: F64) -> I64:
        """The scan of each plot or truth sample (azimuth: measured for plots, true for truth)."""
        u = time - (azimuth_deg / 360.0 * self.period if self.rotating else 0.0)
        return np.floor((u - self.t0) / self.period).astype(np.int64)

    def counted(self, scan: I64) -> B:
        """Whether each scan index is one of the scans counted."""
        return (scan >= 1) & (scan < self.last)


def _detection(
    spec: SensorSpec,
    frame: LocalFrame,
    paths: _Paths,
    eligible: B,
    scans: _Scans,
    offset: float,
    detected_rank: I64,
    detected_scan: I64,
) -> tuple[int, int, int]:
    """(target-scans in coverage, of them detected, targets in coverage).

    A (target, scan) pair counts when the target's truth, shifted by the time offset, spans the whole scan
    and every truth sample in it lies inside coverage; it is detected when a plot of the target falls in it."""
    rows = np.flatnonzero(eligible[paths.rank] & (paths.domain == spec.kind.domain))
    rank = paths.rank[rows]
    point = paths.xyz[:, rows]
    azimuth = enu_to_aer(*frame.ecef_to_enu(*point))[0]
    scan_of = np.full(len(paths.time), -1, dtype=np.int64)
    scan_of[rows] = scans.index(paths.time[rows] + offset, azimuth)
    scan = scan_of[rows]
    whole = (scan_of[paths.first[rank]] < scan) & (scan_of[paths.last[rank]] > scan)
    if scans.rotating:
        # A target crossing north between two samples has no well-defined turn there (the beam meets it twice in
        # one turn or in none): both samples' scans are left out.
        crossing = (np.abs(np.diff(azimuth)) > 180.0) & (rank[1:] == rank[:-1])
        whole[:-1] &= ~crossing
        whole[1:] &= ~crossing
    keep = scans.counted(scan)
    rows, rank, scan, whole = rows[keep], rank[keep], scan[keep], whole[keep]
    outside = ~(whole & _in_coverage(spec, frame, paths.xyz[:, rows], paths.alt[rows]))
    width = scans.last + 1
    keys, inverse = np.unique(rank * width + scan, return_inverse=True)
    covered = keys[np.bincount(inverse, weights=outside, minlength=len(keys)) == 0]
    hits = int(np.isin(covered, detected_rank * width + detected_scan).sum())
    return len(covered), hits, len(np.unique(covered // width))


def _horizontal_error_m(paths: _Paths, i: I64, w: F64, lat_deg: F64, lon_deg: F64) -> F64:
    """Horizontal distance (m) of reported positions from the truth, in the local east/north at the report."""
    point, _ = paths.state(i, w)
    reported = np.stack(geodetic_to_ecef(lat_deg, lon_deg, paths.altitude(i, w)))
    d = reported - point
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    east = -np.sin(lon) * d[0] + np.cos(lon) * d[1]
    north = -np.sin(lat) * np.cos(lon) * d[0] - np.sin(lat) * np.sin(lon) * d[1] + np.cos(lat) * d[2]
    return np.hypot(east, north)


def _fraction(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _sensor_quality(spec: SensorSpec, plots: Plots, paths: _Paths, eligible: B, span: Interval) -> SensorQuality:
    """Every figure of one sensor from its plots (time-sorted) and the truth paths."""
    frame = LocalFrame(spec.lat_deg, spec.lon_deg, spec.alt_m)
    kind = spec.kind
    rank, known = paths.lookup(plots.truth_id.astype(np.int64))
    known &= plots.truth_id >= 0
    on_path = known.copy()
    on_path[known] = paths.spans(rank[known], plots.time_s[known])
    target = plots.take(on_path)
    target_rank = rank[on_path]
    fit = (
        _registration(frame, paths, target_rank, target.time_s, target.range_m, target.azimuth_deg, spec)
        if kind.is_radar
        else None
    )
    offset = 0.0 if fit is None or not math.isfinite(fit.estimate[2]) else float(fit.estimate[2])
    i, w = paths.segment(target_rank, target.time_s - offset)
    scans = _Scans.of(spec, plots, span)
    # A target's plot takes its scan from the true azimuth: near north a measured one may wrap to the next turn.
    azimuth = plots.azimuth_deg.copy()
    azimuth[on_path] = enu_to_aer(*frame.ecef_to_enu(*paths.state(i, w)[0]))[0]
    scan = scans.index(plots.time_s, azimuth)
    pairs, hits, targets = _detection(spec, frame, paths, eligible, scans, offset, rank[known], scan[known])
    false_plots = int((scans.counted(scan) & (plots.truth_id < 0)).sum())
    codes = kind in (SensorKind.SSR, SensorKind.ADSB)
    squawked = target.squawk >= 0
    truth_squawk = paths.squawk[np.where(w < 0.5, i, i + 1)]
    with_alt = np.isfinite(target.altitude_m)
    alt_ok = np.abs(target.altitude_m - paths.altitude(i, w)) <= MODE_C_TOLERANCE_M
    ssr = kind is SensorKind.SSR
    position_rms = None
    if not kind.is_radar and len(target):
        position_rms = float(np.sqrt(np.mean(_horizontal_error_m(paths, i, w, target.lat_deg, target.lon_deg) ** 2)))
    est = fit.estimate if fit is not None else np.full(3, np.nan)
    se = fit.standard_error if fit is not None else np.full(3, np.nan)
    dof = fit.dof if fit is not None else 1
    return SensorQuality(
        kind=kind.value,
        partner=spec.partner,
        plots=len(plots),
        target_plots=len(target),
        false_plots=false_plots,
        scans=scans.count,
        targets_in_coverage=targets,
        target_scans=pairs,
        detected_scans=hits,
        pd=_fraction(hits, pairs),
        pd_ci=wilson_interval(hits, pairs) if pairs else None,
        range_bias_m=_finite(est[0]),
        range_bias_se_m=_finite(se[0]),
        range_bias_ci_m=_interval(est[0], se[0], dof),
        range_sd_m=fit.range_sd_m if fit is not None else None,
        azimuth_bias_deg=_finite(est[1]),
        azimuth_bias_se_deg=_finite(se[1]),
        azimuth_bias_ci_deg=_interval(est[1], se[1], dof),
        azimuth_sd_deg=fit.azimuth_sd_deg if fit is not None else None,
        time_offset_s=_finite(est[2]),
        time_offset_se_s=_finite(se[2]),
        time_offset_ci_s=_interval(est[2], se[2], dof),
        position_error_rms_m=position_rms,
        mode_a_present=_fraction(int(squawked.sum()), len(target)) if codes else None,
        mode_a_correct=_fraction(int((squawked & (target.squawk == truth_squawk)).sum()), int(squawked.sum()))
        if codes
        else None,
        mode_c_present=_fraction(int(with_alt.sum()), len(target)) if ssr else None,
        mode_c_correct=_fraction(int((with_alt & alt_ok).sum()), int(with_alt.sum())) if ssr else None,
        false_plots_per_scan=false_plots / scans.count if scans.count else None,
    )


def sensor_quality(sensors: list[SensorSpec], plots: Plots, truth: Truth) -> dict[str, SensorQuality]:
    """Each sensor's figures against truth, keyed by sensor id in the order given (plots of unknown sensors are
    ignored).

    A radar's pd counts every target of its domain; a cooperative sensor's (SSR, ADS-B, AIS) only the targets some
    sensor of its kind reported at least once: the truth does not say what a target carries, and a target without
    a transponder (or AIS) is not a miss of the SSR (or the station)."""
    paths = _Paths(truth)
    span = (float(truth.time_s.min()), float(truth.time_s.max())) if len(truth) else (0.0, 0.0)
    plots = plots.sorted_by_time()
    names, group = np.unique(plots.sensor_id, return_inverse=True)
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(len(names) + 1))
    by_id = {str(name): order[bounds[j] : bounds[j + 1]] for j, name in enumerate(names)}
    kind_of = {s.id: s.kind for s in sensors}
    heard: dict[SensorKind, B] = {}
    for kind in {s.kind for s in sensors if s.kind.role is not SensorKind.PSR}:
        mine = np.isin(plots.sensor_id, [sid for sid, k in kind_of.items() if k is kind]) & (plots.truth_id >= 0)
        rank, known = paths.lookup(plots.truth_id[mine].astype(np.int64))
        heard[kind] = np.zeros(len(paths.ids), dtype=bool)
        heard[kind][rank[known]] = True
    everyone = np.ones(len(paths.ids), dtype=bool)
    empty = np.zeros(0, dtype=np.int64)
    return {
        s.id: _sensor_quality(s, plots.take(by_id.get(s.id, empty)), paths, heard.get(s.kind, everyone), span)
        for s in sensors
    }


def evaluate_quality(
    sensors: list[SensorSpec], plots: Plots, truth: Truth, requirements: RequirementSet | None = None
) -> QualityReport:
    """Every sensor's figures against truth and the pass/fail table of `requirements` (default: the EUROCONTROL
    radar standard, `DEFAULT_REQUIREMENTS`)."""
    checked = requirements if requirements is not None else RequirementSet.load()
    figures = sensor_quality(sensors, plots, truth)
    return QualityReport(figures, checked, checked.check(figures))


_ROWS: tuple[tuple[str, str, str, float, str], ...] = (
    ("pd", "Probability of detection", "%", 100.0, "{:.2f}"),
    ("range_bias_m", "Range bias", "m", 1.0, "{:.1f}"),
    ("range_sd_m", "Range error SD", "m", 1.0, "{:.1f}"),
    ("azimuth_bias_deg", "Azimuth bias", "°", 1.0, "{:.3f}"),
    ("azimuth_sd_deg", "Azimuth error SD", "°", 1.0, "{:.3f}"),
    ("time_offset_s", "Time-stamp offset", "s", 1.0, "{:.3f}"),
    ("position_error_rms_m", "Horizontal position error RMS", "m", 1.0, "{:.1f}"),
    ("mode_a_present", "Mode A present", "%", 100.0, "{:.2f}"),
    ("mode_a_correct", "Mode A correct", "%", 100.0, "{:.2f}"),
    ("mode_c_present", "Mode C present", "%", 100.0, "{:.2f}"),
    ("mode_c_correct", "Mode C correct (300 ft)", "%", 100.0, "{:.2f}"),
    ("false_plots_per_scan", "False plots per scan", "", 1.0, "{:.2f}"),
)
"""Figure, label, unit, display scale and format of the table rows."""
_CI = {
    "pd": "pd_ci",
    "range_bias_m": "range_bias_ci_m",
    "azimuth_bias_deg": "azimuth_bias_ci_deg",
    "time_offset_s": "time_offset_ci_s",
}
"""The interval reported beside a figure."""


_VERDICTS = {True: "[green]pass[/green]", False: "[red]fail[/red]", None: "no data"}
"""How the table shows a requirement's pass, fail or lack of data."""


def _show(value: float | None, scale: float, fmt: str) -> str:
    return "–" if value is None else fmt.format(value * scale)


def render_quality_tables(report: QualityReport) -> list[RichTable]:
    """One Rich table per sensor: each figure with its 95 % interval and, where a requirement bounds it, the verdict."""
    tables = []
    for sid, q in report.sensors.items():
        verdicts = {r.figure: r for r in report.requirements if r.sensor == sid}
        table = RichTable(
            title=f"{sid} ({q.kind}, {q.partner}): {q.plots} plots, {q.scans} scans, "
            f"{q.targets_in_coverage} targets in coverage"
        )
        table.add_column("Figure")
        table.add_column("Value", justify="right")
        table.add_column("95 % CI", justify="right")
        table.add_column("Unit")
        table.add_column("Requirement")
        table.add_column("Verdict")
        for figure, label, unit, scale, fmt in _ROWS:
            value = q.figure(figure)
            if value is None and figure not in verdicts:
                continue
            ci = getattr(q, _CI[figure]) if figure in _CI else None
            shown_ci = "" if ci is None else f"{_show(ci[0], scale, fmt)} – {_show(ci[1], scale, fmt)}"
            verdict = verdicts.get(figure)
            needed = "" if verdict is None else f"{verdict.comparison} {verdict.required * scale:g}"
            passed = "" if verdict is None else _VERDICTS[verdict.passed]
            table.add_row(label, _show(value, scale, fmt), shown_ci, unit, needed, passed)
        tables.append(table)
    return tables
