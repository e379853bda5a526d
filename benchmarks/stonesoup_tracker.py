"""Stone Soup as a reference tracker: commonsky plots in, a commonsky `Tracks` batch out.

The configuration follows the Stone Soup documentation's multi-target tutorials, so the comparison
measures a textbook EKF + GNN tracker rather than a strawman:

- State [x, vx, y, vy, z, vz] in commonsky's local ENU frame (`LocalFrame` at the sensors' mean
  latitude/longitude, height 0), so both trackers see exactly the same geometry.
- Motion: `CombinedLinearGaussianTransitionModel` of three `ConstantVelocity` models, process noise
  300 m²/s³ horizontally and 1 m²/s³ vertically.
- `ExtendedKalmanPredictor` / `ExtendedKalmanUpdater`; `DistanceHypothesiser` with the `Mahalanobis`
  measure and `missed_distance` 4 (the same chi² 16 gate as commonsky); `GNNWith2DAssignment`.
- `MultiMeasurementInitiator` (min_points 3, `UpdateTimeDeleter` of 10 s for tentative tracks) and
  an `UpdateTimeDeleter` of 15 s for confirmed tracks, in `MultiTargetTracker`'s loop.
- One tracker step per 0.1 s window holding every plot of that window; each detection keeps its own
  timestamp, so tracks are predicted to the exact plot time.

Three additions, each explained where it is defined:

- `PositionPreGater`: a cheap horizontal pre-gate in front of the hypothesiser (commonsky has one
  too). Pure speed-up: without it the run is over ten times slower, with the same associations.
- `GatedMultiTargetTracker` / `GatedMultiMeasurementInitiator` (`initiate_outside_gates`, on by
  default): a plot inside an existing track's gate does not start a new track. Stone Soup's loop
  hands every unassociated plot to the initiator; with several sensors in one 0.1 s window that
  gave ~40 % of the aircraft a lasting duplicate track (41 of 92 after 40 s in this benchmark's
  scenario, 1.5 confirmed tracks per aircraft). Set the flag to False for the unchanged loop.
- `PlotInitiator`: starts a track from one plot of any kind (see below).

Measurements (Stone Soup has no radar-plus-Mode-C model, so `RadarPlotModel` below adds one):

- ADS-B: a `LinearGaussian` position measurement (x, y, z) from the geodetic → ENU conversion of the
  report; per-axis sigma EPU(NACp) / 2.448 horizontally and the station's sigma_altitude_m vertically.
- PSR: (bearing, slant range) from the sensor's ENU position. The slant range is the 3-D Euclidean
  distance in the ENU frame, which is exact because sensor and target are both true ENU points (an
  aircraft at height h a distance d from the origin has z ≈ h − d²/2R). The bearing is taken in the
  sensor's own tangent plane, like the plot's azimuth: the frame's axes are rotated into the sensor's
  east/north/up axes first (meridian convergence is about 0.7° for a sensor 70 km east of the origin
  at 47.5° N, several azimuth sigmas), then bearing = atan2(north, east), counter-clockwise from east
  as everywhere in Stone Soup; a plot's azimuth (clockwise from north) becomes 90° − azimuth.
- SSR: (bearing, slant range, height). Height above the ellipsoid (Mode C) is approximated by the
  height above a sphere of the Gaussian mean radius √(MN) at the frame origin, centred below the
  origin: h = |(x, y, z + R)| − R. Within 150 km of the origin this is within a few metres of the
  ellipsoidal height, below the 8.8 m sigma of 100 ft Mode C quantisation.

New tracks start from one plot (`PlotInitiator`, passed to `MultiMeasurementInitiator` as its
`initiator`): the plot's position, with a covariance mapped from the measurement noise, zero
velocity with sigma 160 m/s (commonsky's start too) and, for a primary plot, the height prior
6000 ± 4000 m that commonsky also assumes. Stone Soup's `SimpleMeasurementInitiator` cannot do this
for a radar that does not measure height.

Input stage, as commonsky's own: plots of unknown sensors and plots with a non-finite measurement
are dropped, and one ADS-B broadcast heard by several stations (same address, same time) is kept
once. Mode S addresses, squawks and callsigns are not used: Stone Soup's components are purely
kinematic. Output: the picture at every whole second, as `commonsky.tracking.run` writes it, so
`commonsky.metrics.evaluate` treats both trackers alike.
"""

from __future__ import annotations

import datetime
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from stonesoup.base import Property
from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
from stonesoup.deleter.time import UpdateTimeDeleter
from stonesoup.gater.base import Gater
from stonesoup.hypothesiser.distance import DistanceHypothesiser
from stonesoup.initiator.base import GaussianInitiator
from stonesoup.initiator.simple import MultiMeasurementInitiator
from stonesoup.measures import Mahalanobis
from stonesoup.models.base import ReversibleModel
from stonesoup.models.measurement.linear import LinearGaussian
from stonesoup.models.measurement.nonlinear import NonLinearGaussianMeasurement
from stonesoup.models.transition.linear import CombinedLinearGaussianTransitionModel, ConstantVelocity
from stonesoup.predictor.kalman import ExtendedKalmanPredictor
from stonesoup.tracker.simple import MultiTargetTracker
from stonesoup.types.angle import Bearing
from stonesoup.types.array import CovarianceMatrix, StateVector, StateVectors
from stonesoup.types.detection import Detection
from stonesoup.types.hypothesis import SingleHypothesis
from stonesoup.types.state import GaussianState
from stonesoup.types.track import Track
from stonesoup.types.update import Update
from stonesoup.updater.kalman import ExtendedKalmanUpdater

from commonsky.core.batches import Plots, Tracks
from commonsky.core.geodesy import WGS84_A, WGS84_E2, LocalFrame
from commonsky.core.sensors import SensorKind, SensorSpec

F64 = NDArray[np.float64]

POSITION = (0, 2, 4)
"""Indices of x, y, z in the state [x, vx, y, vy, z, vz]."""
NACP_EPU_M = {7: 185.2, 8: 92.6, 9: 30.0, 10: 10.0, 11: 3.0}
"""95 % horizontal position bound (EPU) per NACp; other values fall back to the station's sigma."""
RAYLEIGH_95 = 2.448
"""EPU / per-axis sigma of a circular 2-D Gaussian."""


@dataclass(frozen=True)
class StoneSoupConfig:
    """The knobs of the reference tracker (defaults: the values the benchmark brief fixes)."""

    q_horizontal_m2ps3: float = 300.0
    """Constant-velocity process noise density in x and y."""
    q_vertical_m2ps3: float = 1.0
    """Constant-velocity process noise density in z."""
    gate: float = 4.0
    """Mahalanobis `missed_distance` of the hypothesiser (4 sigma: chi² 16)."""
    min_points: int = 3
    """Updates a tentative track needs (the initiating plot included) to be confirmed."""
    tentative_timeout_s: float = 10.0
    """A tentative track without an update for this long is dropped."""
    delete_after_s: float = 15.0
    """A confirmed track without an update for this long is deleted."""
    pregate_radius_m: float = 15_000.0
    """Fixed part of the `PositionPreGater` radius (a speed-up that leaves the associations unchanged)."""
    initiate_outside_gates: bool = True
    """Start tracks only from plots outside every track's gate (`GatedMultiTargetTracker`); False runs
    Stone Soup's `MultiTargetTracker` and `MultiMeasurementInitiator` unchanged."""
    window_s: float = 0.1
    """Plots are fed to the tracker in windows of this length, one tracker step per window."""
    velocity_sigma_mps: float = 160.0
    """Horizontal velocity sigma of a new track (zero mean)."""
    vertical_rate_sigma_mps: float = 15.0
    """Vertical rate sigma of a new track (zero mean)."""
    default_altitude_m: float = 6000.0
    """Height prior for a track started by a primary plot."""
    default_altitude_sigma_m: float = 4000.0
    """Sigma of that prior."""
    coast_after_s: float = 6.0
    """A confirmed track not updated for this long is reported as "coasting" (evaluation counts both)."""


def gaussian_radius_m(lat_deg: float) -> float:
    """Gaussian mean radius of curvature √(MN) of the WGS-84 ellipsoid at a latitude."""
    s2 = np.sin(np.radians(lat_deg)) ** 2
    w = np.sqrt(1.0 - WGS84_E2 * s2)
    m = WGS84_A * (1.0 - WGS84_E2) / w**3
    n = WGS84_A / w
    return float(np.sqrt(m * n))


class RadarPlotModel(NonLinearGaussianMeasurement, ReversibleModel):
    """(bearing, slant range[, height]) of an ENU state seen from a radar: PSR and SSR (Mode C) plots.

    Bearing is counter-clockwise from east in the sensor's own tangent plane (Stone Soup's
    convention), slant range is the 3-D distance from the sensor, height is above the sphere of
    radius `earth_radius_m` centred at (0, 0, -R) in the frame. The Jacobian is analytic. The inverse
    places a plot at a given height (the Mode C altitude, or `default_altitude_m` for a PSR plot).
    """

    sensor_position: StateVector = Property(doc="Sensor position (x, y, z) in the ENU frame (m).")
    to_sensor: np.ndarray = Property(doc="3x3 rotation from the frame's axes to the sensor's east/north/up axes.")
    with_altitude: bool = Property(default=False, doc="True for SSR: the third component is the Mode C height.")
    earth_radius_m: float = Property(default=6_371_000.0, doc="Radius of the sphere that defines height.")
    default_altitude_m: float = Property(default=6000.0, doc="Height used by the inverse of a PSR plot.")
    default_altitude_sigma_m: float = Property(default=4000.0, doc="Sigma of that height.")

    @property
    def ndim_meas(self) -> int:
        """2 (bearing, range) for PSR, 3 (bearing, range, height) for SSR."""
        return 3 if self.with_altitude else 2

    def _typed_vector(self) -> Any:
        """Zero measurement whose first element is a `Bearing`, so differences wrap at ±π."""
        rows: list[list[Any]] = [[Bearing(0.0)], [0.0]]
        if self.with_altitude:
            rows.append([0.0])
        return np.array(rows)

    def _height(self, pos: F64) -> F64:
        """Height above the sphere of positions (3, K)."""
        r = self.earth_radius_m
        return np.sqrt(pos[0] ** 2 + pos[1] ** 2 + (pos[2] + r) ** 2) - r

    def function(self, state: Any, noise: Any = False, **kwargs: Any) -> StateVector | StateVectors:
        """Measurement of the state(s): bearing (rad), slant range (m)[, height (m)]."""
        sv = state.state_vector
        pos = np.asarray(sv[POSITION, :], dtype=np.float64)
        d = pos - np.asarray(self.sensor_position, dtype=np.float64)
        ds = self.to_sensor @ d
        rho = np.sqrt(np.sum(d * d, axis=0))
        phi = np.arctan2(ds[1], ds[0])
        parts = [phi, rho]
        if self.with_altitude:
            parts.append(self._height(pos))
        if isinstance(noise, bool) or noise is None:
            noise = self.rvs(num_samples=sv.shape[1], **kwargs) if noise else 0
        out = StateVectors(parts) + noise
        return self._typed_vector() + out

    def rvs(self, num_samples: int = 1, **kwargs: Any) -> Any:
        """Noise samples, with a `Bearing`-typed first row."""
        return self._typed_vector() + super().rvs(num_samples, **kwargs)

    def jacobian(self, state: Any, **kwargs: Any) -> F64:
        """d(measurement)/d(state) at the state, (ndim_meas, 6)."""
        pos = np.asarray(state.state_vector[POSITION, :], dtype=np.float64)[:, 0]
        d = pos - np.asarray(self.sensor_position, dtype=np.float64)[:, 0]
        rot = self.to_sensor
        ds = rot @ d
        rho = float(np.linalg.norm(d))
        g2 = ds[0] ** 2 + ds[1] ** 2
        H = np.zeros((self.ndim_meas, 6))
        H[0, POSITION] = (ds[0] * rot[1] - ds[1] * rot[0]) / g2
        H[1, POSITION] = d / rho
        if self.with_altitude:
            c = pos + np.array([0.0, 0.0, self.earth_radius_m])
            H[2, POSITION] = c / np.linalg.norm(c)
        return H

    def inverse_function(self, detection: Any, **kwargs: Any) -> StateVector:
        """State (position only) of a plot placed at its Mode C height, or at the default height."""
        pos, _ = self.place(detection)
        out = StateVector(np.zeros((6, 1)))
        out[POSITION, 0] = pos
        return out

    def place(self, detection: Any) -> tuple[F64, F64]:
        """Position (3,) of a plot and its covariance (3, 3), mapped from (bearing, range, height)."""
        z = np.asarray(detection.state_vector, dtype=np.float64)[:, 0]
        phi, rho = z[0], z[1]
        sigma = np.sqrt(np.diag(np.asarray(self.covar(), dtype=np.float64)))
        if self.with_altitude:
            h, sigma_h = z[2], sigma[2]
        else:
            h, sigma_h = self.default_altitude_m, self.default_altitude_sigma_m
        r = self.earth_radius_m
        s = np.asarray(self.sensor_position, dtype=np.float64)[:, 0]
        rs = r + float(self._height(s[:, None])[0])
        sin_el = np.clip(((r + h) ** 2 - rs**2 - rho**2) / (2.0 * rho * rs), -1.0, 1.0)
        el = float(np.arcsin(sin_el))
        pos = s
        for _ in range(3):  # Newton on the height: the sensor's tangent plane is not the sphere's
            local = rho * np.array([np.cos(el) * np.cos(phi), np.cos(el) * np.sin(phi), np.sin(el)])
            pos = s + self.to_sensor.T @ local
            el += (h - float(self._height(pos[:, None])[0])) / (rho * np.cos(el))
        # Invert the forward model augmented with the height row: d(position)/d(bearing, range, height).
        J = np.zeros((3, 3))
        J[:2] = self.jacobian(GaussianState(_position_state(pos), np.eye(6)))[:2, POSITION]
        c = pos + np.array([0.0, 0.0, r])
        J[2] = c / np.linalg.norm(c)
        J_inv = np.linalg.inv(J)
        cov = J_inv @ np.diag([sigma[0] ** 2, sigma[1] ** 2, sigma_h**2]) @ J_inv.T
        return pos, cov


def _position_state(pos: F64) -> StateVector:
    sv = StateVector(np.zeros((6, 1)))
    sv[POSITION, 0] = pos
    return sv


class PositionPreGater(Gater):
    """Cheap horizontal pre-gate in front of the hypothesiser, like commonsky's 15 km k-d tree pre-gate.

    The wrapped `DistanceHypothesiser` predicts the track to every detection's time and computes a
    Mahalanobis distance for each pair: about a millisecond per pair, which makes an all-pairs search
    over a hundred tracks and a window of plots far slower than the data. This gater first drops the
    detections whose rough horizontal position (`metadata["en"]`, the plot placed at its Mode C or a
    default height) lies farther than `radius_m` plus four predicted position sigmas from the track's
    constant-velocity position. The radius dwarfs any 4-sigma gate (a primary plot placed at the
    wrong height moves by a few km at most), so the hypotheses, and the associations, are those of
    the plain hypothesiser.
    """

    radius_m: float = Property(default=15_000.0, doc="Fixed part of the pre-gate radius.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gated: set[Detection] = set()
        """Detections inside some track's gate since the last `gated.clear()` (see `GatedMultiTargetTracker`)."""

    def hypothesise(self, track: Any, detections: Any, timestamp: Any, *args: Any, **kwargs: Any) -> Any:
        """Hypotheses of the wrapped hypothesiser for the detections that pass the pre-gate."""
        if detections:
            state = track.state
            sv = np.asarray(state.state_vector, dtype=np.float64)[:, 0]
            P = np.asarray(state.covar, dtype=np.float64)
            dt = _seconds(timestamp) - _seconds(state.timestamp)
            var = P[0, 0] + P[2, 2] + (P[1, 1] + P[3, 3]) * dt * dt
            reach = self.radius_m + 4.0 * np.sqrt(var) + 400.0 * abs(dt)
            x, y = sv[0] + sv[1] * dt, sv[2] + sv[3] * dt
            detections = {
                d for d in detections if (d.metadata["en"][0] - x) ** 2 + (d.metadata["en"][1] - y) ** 2 < reach**2
            }
        hypotheses = self.hypothesiser.hypothesise(track, detections, timestamp, *args, **kwargs)
        self.gated.update(h.measurement for h in hypotheses if h)
        return hypotheses


class GatedMultiTargetTracker(MultiTargetTracker):
    """`MultiTargetTracker` that starts tracks only from plots outside every confirmed track's gate.

    Stone Soup's loop hands every unassociated detection to the initiator. With several sensors
    batched into one step, a second plot of an already tracked aircraft in the same window (say
    ADS-B at .80 s and a radar at .83 s: with 1 s ADS-B and 4 s scans this repeats every scan) is
    unassociated, because GNN gives a track one plot per step, and seeds a duplicate track, which
    then survives because GNN with a Mahalanobis cost hands the next plot to whichever twin has
    coasted longer. commonsky's rule, applied here, is that a plot inside the gate of an existing
    track never starts a new one.
    """

    def __next__(self) -> tuple[datetime.datetime, set[Track]]:
        """One step: associate, update or coast, delete, initiate from the plots outside all gates."""
        step_time, detections = next(self.detector_iter)
        gater = self.data_associator.hypothesiser
        gater.gated.clear()
        associations = self.data_associator.associate(self.tracks, detections, step_time)
        associated = set()
        for track, hypothesis in associations.items():
            if hypothesis:
                track.append(self.updater.update(hypothesis))
                associated.add(hypothesis.measurement)
            else:
                track.append(hypothesis.prediction)
        self._tracks -= self.deleter.delete_tracks(self.tracks)
        self._tracks |= self.initiator.initiate(detections - associated - gater.gated, step_time)
        return step_time, self.tracks


class GatedMultiMeasurementInitiator(MultiMeasurementInitiator):
    """`MultiMeasurementInitiator` with the same rule for its holding (tentative) tracks.

    A plot inside a holding track's gate does not start a second holding track; otherwise two
    sensors seeing a new aircraft in one window give it two tentative tracks that both confirm.
    """

    def initiate(self, detections: Any, timestamp: Any, **kwargs: Any) -> set[Track]:
        """Update the holding tracks; confirm those with `min_points` updates; start new ones."""
        sure_tracks = set()
        associated = set()
        gater = self.data_associator.hypothesiser
        gater.gated.clear()
        if self.holding_tracks:
            associations = self.data_associator.associate(self.holding_tracks, detections, timestamp)
            for track, hypothesis in associations.items():
                if hypothesis:
                    track.append(self.updater.update(hypothesis))
                    associated.add(hypothesis.measurement)
                else:
                    track.append(hypothesis.prediction)
                if sum(1 for state in track if not self.updates_only or isinstance(state, Update)) >= self.min_points:
                    sure_tracks.add(track)
                    self.holding_tracks.remove(track)
            self.holding_tracks -= self.deleter.delete_tracks(self.holding_tracks)
        self.holding_tracks |= self.initiator.initiate(detections - associated - gater.gated, timestamp)
        return sure_tracks


class PlotInitiator(GaussianInitiator):
    """One tentative track per plot: the plot's position and covariance, zero velocity with a wide prior.

    ADS-B (linear) plots are placed directly; radar plots through `RadarPlotModel.place`, which also
    handles a primary plot's unknown height.
    """

    velocity_sigma_mps: float = Property(default=160.0, doc="Horizontal velocity sigma.")
    vertical_rate_sigma_mps: float = Property(default=15.0, doc="Vertical rate sigma.")

    def initiate(self, detections: Any, timestamp: Any, **kwargs: Any) -> set[Track]:
        """Tracks started from the given detections."""
        tracks = set()
        for detection in detections:
            model = detection.measurement_model
            if isinstance(model, RadarPlotModel):
                pos, pos_cov = model.place(detection)
            else:
                pos = np.asarray(detection.state_vector, dtype=np.float64)[:, 0]
                pos_cov = np.asarray(model.covar(), dtype=np.float64)
            covar = np.zeros((6, 6))
            covar[np.ix_(POSITION, POSITION)] = pos_cov
            covar[1, 1] = covar[3, 3] = self.velocity_sigma_mps**2
            covar[5, 5] = self.vertical_rate_sigma_mps**2
            state = Update.from_state(
                GaussianState(_position_state(pos), CovarianceMatrix(covar), timestamp=detection.timestamp),
                hypothesis=SingleHypothesis(None, detection),
            )
            tracks.add(Track([state]))
        return tracks


@dataclass
class PreparedPlots:
    """Plots as Stone Soup detections, grouped into tracker steps."""

    steps: list[tuple[datetime.datetime, set[Detection]]]
    """(step time = latest plot time of the window, detections) per non-empty window, in order."""
    step_window: NDArray[np.int64]
    """Window index of each step, counted from `t0_s`."""
    t0_s: float
    """Start of window 0: the whole second at or before the first plot."""
    n_plots: int
    """Plots turned into detections."""
    n_dropped: int
    """Plots dropped: unknown sensor, non-finite measurement, or ADS-B duplicate."""


def _utc(t: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, tz=datetime.UTC)


def _seconds(t: datetime.datetime) -> float:
    return t.timestamp()


class StoneSoupReference:
    """Build the Stone Soup components for a set of sensors and run them over a commonsky `Plots` batch."""

    def __init__(self, sensors: Sequence[SensorSpec], config: StoneSoupConfig | None = None) -> None:
        self.config = config or StoneSoupConfig()
        self.sensors = {s.id: s for s in sensors}
        lat = float(np.mean([s.lat_deg for s in sensors]))
        lon = float(np.mean([s.lon_deg for s in sensors]))
        self.frame = LocalFrame(lat, lon, 0.0)
        self.earth_radius_m = gaussian_radius_m(lat)
        self._radar_models = {s.id: self._radar_model(s) for s in sensors if s.kind is not SensorKind.ADSB}
        self._adsb_models: dict[tuple[str, int], LinearGaussian] = {}

    def _radar_model(self, s: SensorSpec) -> RadarPlotModel:
        cfg = self.config
        e, n, u = self.frame.geodetic_to_enu(s.lat_deg, s.lon_deg, s.alt_m)
        to_sensor = LocalFrame(s.lat_deg, s.lon_deg).rotation @ self.frame.rotation.T
        ssr = s.kind is SensorKind.SSR
        variances = [np.radians(s.sigma_azimuth_deg) ** 2, s.sigma_range_m**2]
        if ssr:
            variances.append(s.sigma_altitude_m**2)
        return RadarPlotModel(
            ndim_state=6,
            mapping=POSITION,
            noise_covar=CovarianceMatrix(np.diag(variances)),
            sensor_position=StateVector([float(e), float(n), float(u)]),
            to_sensor=to_sensor,
            with_altitude=ssr,
            earth_radius_m=self.earth_radius_m,
            default_altitude_m=cfg.default_altitude_m,
            default_altitude_sigma_m=cfg.default_altitude_sigma_m,
        )

    def _adsb_model(self, sensor_id: str, nacp: int) -> LinearGaussian:
        key = (sensor_id, nacp)
        if key not in self._adsb_models:
            s = self.sensors[sensor_id]
            sigma = NACP_EPU_M[nacp] / RAYLEIGH_95 if nacp in NACP_EPU_M else s.sigma_range_m
            self._adsb_models[key] = LinearGaussian(
                ndim_state=6,
                mapping=POSITION,
                noise_covar=CovarianceMatrix(np.diag([sigma**2, sigma**2, s.sigma_altitude_m**2])),
            )
        return self._adsb_models[key]

    def build_tracker(self) -> MultiTargetTracker:
        """The Stone Soup pipeline described in the module docstring, with no tracks yet."""
        cfg = self.config
        transition = CombinedLinearGaussianTransitionModel(
            [
                ConstantVelocity(cfg.q_horizontal_m2ps3),
                ConstantVelocity(cfg.q_horizontal_m2ps3),
                ConstantVelocity(cfg.q_vertical_m2ps3),
            ]
        )
        predictor = ExtendedKalmanPredictor(transition)
        updater = ExtendedKalmanUpdater(measurement_model=None)

        def hypothesiser() -> PositionPreGater:
            return PositionPreGater(
                DistanceHypothesiser(predictor, updater, measure=Mahalanobis(), missed_distance=cfg.gate),
                radius_m=cfg.pregate_radius_m,
            )

        velocity_var = cfg.velocity_sigma_mps**2
        prior = GaussianState(
            StateVector(np.zeros((6, 1))),
            CovarianceMatrix(np.diag([1.0, velocity_var, 1.0, velocity_var, 1.0, cfg.vertical_rate_sigma_mps**2])),
        )
        gated = cfg.initiate_outside_gates
        initiator = (GatedMultiMeasurementInitiator if gated else MultiMeasurementInitiator)(
            prior_state=prior,  # unused: `initiator` below starts the tracks
            deleter=UpdateTimeDeleter(datetime.timedelta(seconds=cfg.tentative_timeout_s)),
            data_associator=GNNWith2DAssignment(hypothesiser()),
            updater=updater,
            min_points=cfg.min_points,
            initiator=PlotInitiator(
                velocity_sigma_mps=cfg.velocity_sigma_mps,
                vertical_rate_sigma_mps=cfg.vertical_rate_sigma_mps,
            ),
        )
        return (GatedMultiTargetTracker if gated else MultiTargetTracker)(
            initiator=initiator,
            deleter=UpdateTimeDeleter(datetime.timedelta(seconds=cfg.delete_after_s)),
            detector=None,
            data_associator=GNNWith2DAssignment(hypothesiser()),
            updater=updater,
        )

    def prepare(self, plots: Plots) -> PreparedPlots:
        """Turn plots into detections (same frame and noise as commonsky) and group them into windows."""
        cfg = self.config
        plots = plots.sorted_by_time()
        known = np.isin(plots.sensor_id, list(self.sensors))
        kind = np.array([self.sensors[s].kind.value if s in self.sensors else "" for s in plots.sensor_id])
        adsb = kind == SensorKind.ADSB.value
        finite = np.where(
            adsb,
            np.isfinite(plots.lat_deg) & np.isfinite(plots.lon_deg) & np.isfinite(plots.altitude_m),
            np.isfinite(plots.range_m) & np.isfinite(plots.azimuth_deg),
        )
        ssr = kind == SensorKind.SSR.value
        finite &= ~ssr | np.isfinite(plots.altitude_m)
        keep = known & finite & np.isfinite(plots.time_s)
        # One ADS-B broadcast heard by several stations is one measurement: keep its first copy.
        dup_idx = np.flatnonzero(keep & adsb & (plots.mode_s >= 0))
        key = plots.mode_s[dup_idx].astype(np.int64) * 2**40 + np.round(plots.time_s[dup_idx] * 1000).astype(np.int64)
        _, first = np.unique(key, return_index=True)
        keep[np.setdiff1d(dup_idx, dup_idx[first])] = False
        idx = np.flatnonzero(keep)

        e, n, u = self.frame.geodetic_to_enu(plots.lat_deg[idx], plots.lon_deg[idx], plots.altitude_m[idx])
        bearing = np.pi / 2.0 - np.radians(plots.azimuth_deg[idx])
        t0 = float(np.floor(plots.time_s[idx[0]])) if len(idx) else 0.0
        window = np.floor((plots.time_s[idx] - t0) / cfg.window_s).astype(np.int64)
        steps: list[tuple[datetime.datetime, set[Detection]]] = []
        step_window: list[int] = []
        bounds = np.flatnonzero(np.r_[True, np.diff(window) != 0, True])
        for lo, hi in itertools.pairwise(bounds):
            dets: set[Detection] = set()
            for j in range(lo, hi):
                i = idx[j]
                sid = str(plots.sensor_id[i])
                ts = _utc(float(plots.time_s[i]))
                if adsb[i]:
                    vec = StateVector([e[j], n[j], u[j]])
                    model: Any = self._adsb_model(sid, int(plots.nacp[i]))
                else:
                    model = self._radar_models[sid]
                    values: list[Any] = [Bearing(bearing[j]), float(plots.range_m[i])]
                    if ssr[i]:
                        values.append(float(plots.altitude_m[i]))
                    vec = StateVector(values)
                det = Detection(vec, timestamp=ts, measurement_model=model)
                det.metadata["en"] = (float(e[j]), float(n[j])) if adsb[i] else model.place(det)[0][:2]
                dets.add(det)
            steps.append((_utc(float(plots.time_s[idx[hi - 1]])), dets))
            step_window.append(int(window[lo]))
        return PreparedPlots(
            steps=steps,
            step_window=np.array(step_window, dtype=np.int64),
            t0_s=t0,
            n_plots=len(idx),
            n_dropped=len(plots) - len(idx),
        )

    def run(
        self,
        prepared: PreparedPlots,
        progress: Callable[[float], None] | None = None,
        max_wall_s: float = math.inf,
    ) -> StoneSoupRun:
        """Track the prepared plots; the picture of all confirmed tracks at every whole second.

        As in `commonsky.tracking.run`, the picture at second s holds every live track after the
        plots before s, each predicted (constant velocity) from its latest state to s. The run stops
        after the first step that ends past `max_wall_s` seconds of wall time.
        """
        started = time.perf_counter()
        tracker = self.build_tracker()
        per_second = round(1.0 / self.config.window_s)
        picture = _Picture()
        next_second = 1  # counted from t0
        n = len(prepared.steps)
        done = 0
        plots_done = 0
        last_time_s = -math.inf
        for step_time, detections in prepared.steps:
            while next_second * per_second <= prepared.step_window[done]:
                picture.add(tracker.tracks, prepared.t0_s + next_second)
                next_second += 1
            _, tracks = tracker.update_tracker(step_time, detections)
            picture.note_updates(tracks)
            done += 1
            plots_done += len(detections)
            last_time_s = _seconds(step_time)
            if progress is not None and done % 200 == 0:
                progress(done / n)
            if time.perf_counter() - started > max_wall_s:
                break
        if done:
            picture.add(tracker.tracks, prepared.t0_s + next_second)
        if progress is not None:
            progress(1.0)
        return StoneSoupRun(
            tracks=picture.to_tracks(self.frame, self.config.coast_after_s),
            finished=done == n,
            steps_done=done,
            plots_done=plots_done,
            last_time_s=last_time_s,
        )


@dataclass(frozen=True)
class StoneSoupRun:
    """Outcome of `StoneSoupReference.run`."""

    tracks: Tracks
    """The per-second picture, in commonsky's terms."""
    finished: bool
    """False when the wall-time budget stopped the run early."""
    steps_done: int
    plots_done: int
    """Detections processed (after the input stage's drops)."""
    last_time_s: float
    """Time of the last step processed (UTC seconds)."""


class _Picture:
    """Collects per-second track rows while Stone Soup runs, converted to a `Tracks` batch at the end."""

    def __init__(self) -> None:
        self.ids: dict[Track, int] = {}
        self.last_update_s: dict[Track, float] = {}
        self.time_s: list[float] = []
        self.track_id: list[int] = []
        self.age_s: list[float] = []
        self.state: list[F64] = []
        """[x, y, z, vx, vy, vz] predicted to the row's time."""

    def note_updates(self, tracks: set[Track]) -> None:
        """Remember when each track last took a plot (its latest state is then an `Update`)."""
        for track in tracks:
            state = track.state
            if isinstance(state, Update):
                self.last_update_s[track] = _seconds(state.timestamp)

    def add(self, tracks: set[Track], t: float) -> None:
        """One row per track: its latest state moved on at constant velocity to time t.

        Ids are numbered in order of first appearance, ties broken by the first state, so that they
        do not depend on the iteration order of Stone Soup's track set.
        """
        for track in sorted(tracks, key=_first_state_key):
            state = track.state
            sv = np.asarray(state.state_vector, dtype=np.float64)[:, 0]
            vel = sv[[1, 3, 5]]
            self.state.append(np.r_[sv[[0, 2, 4]] + vel * (t - _seconds(state.timestamp)), vel])
            self.time_s.append(t)
            self.track_id.append(self.ids.setdefault(track, len(self.ids) + 1))
            self.age_s.append(t - self.last_update_s.get(track, t))

    def to_tracks(self, frame: LocalFrame, coast_after_s: float) -> Tracks:
        """The rows in commonsky's terms: WGS-84 position and local east/north/up velocity."""
        if not self.time_s:
            return Tracks.empty()
        x = np.array(self.state)
        lat, lon, alt = frame.enu_to_geodetic(x[:, 0], x[:, 1], x[:, 2])
        ve, vn, vu = local_velocity(frame, lat, lon, x[:, 3], x[:, 4], x[:, 5])
        age = np.array(self.age_s)
        return Tracks.build(
            len(x),
            time_s=np.array(self.time_s),
            track_id=np.array(self.track_id, dtype=np.int64),
            lat_deg=lat,
            lon_deg=lon,
            alt_m=alt,
            v_east_mps=ve,
            v_north_mps=vn,
            v_up_mps=vu,
            status=np.where(age > coast_after_s, "coasting", "confirmed"),
        )


def _first_state_key(track: Track) -> tuple[float, float, float]:
    first = track.states[0]
    sv = np.asarray(first.state_vector, dtype=np.float64)[:, 0]
    return _seconds(first.timestamp), float(sv[0]), float(sv[2])


def local_velocity(frame: LocalFrame, lat_deg: F64, lon_deg: F64, vx: F64, vy: F64, vz: F64) -> tuple[F64, F64, F64]:
    """A velocity in the frame's axes expressed in the local east/north/up axes at each point."""
    v = np.stack(frame.vector_to_ecef(vx, vy, vz), axis=-1)
    la, lo = np.radians(lat_deg), np.radians(lon_deg)
    east = np.stack([-np.sin(lo), np.cos(lo), np.zeros_like(lo)], -1)
    north = np.stack([-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)], -1)
    up = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], -1)
    return (
        np.einsum("ki,ki->k", v, east),
        np.einsum("ki,ki->k", v, north),
        np.einsum("ki,ki->k", v, up),
    )
