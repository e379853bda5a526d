"""Online sensor registration: each radar's range bias, azimuth bias and time offset.

Model (per radar): reported range = true range + b_r, reported azimuth = true azimuth + b_az,
reported time = true time + tau. Radar plots associated with tracks that ADS-B kept accurate in
the last seconds give residuals of the raw plot against the track predicted at the corrected
time, y = innovation + b_est - rate * tau_est. Regressing y_range = b_r - range_rate * tau and
y_az = b_az - azimuth_rate * tau by weighted least squares (information form, exponentially
forgotten) estimates all three, with their uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from commonsky.core.arrays import F64, I64


@dataclass
class Registration:
    """Accumulated evidence and current estimates, one row per sensor."""

    information: F64
    """(S,3,3) accumulated H' W H of (range bias, azimuth bias, time offset)."""
    vector: F64
    """(S,3) accumulated H' W y."""
    samples: F64
    """(S,) effective number of plots behind each estimate (after forgetting)."""
    estimate: F64
    """(S,3) bias estimate applied to plots: range (m), azimuth (rad), time offset (s)."""
    min_samples: int
    forgetting_s: float
    last_time_s: float = -np.inf

    @classmethod
    def zeros(cls, n_sensors: int, min_samples: int, forgetting_s: float) -> Registration:
        """No evidence yet: every estimate zero."""
        return cls(
            information=np.zeros((n_sensors, 3, 3)),
            vector=np.zeros((n_sensors, 3)),
            samples=np.zeros(n_sensors),
            estimate=np.zeros((n_sensors, 3)),
            min_samples=min_samples,
            forgetting_s=forgetting_s,
        )

    def accumulate(
        self,
        time_s: float,
        sensor_idx: I64,
        innovation: F64,
        rates: F64,
        variances: F64,
    ) -> None:
        """Add residual evidence from radar plots on ADS-B-fed tracks, then refresh the estimates.

        innovation (K,2): corrected measurement minus prediction; rates (K,2): d(range, azimuth)/dt;
        variances (K,2): innovation variances used as weights.
        """
        if np.isfinite(self.last_time_s) and time_s > self.last_time_s:
            decay = np.exp(-(time_s - self.last_time_s) / self.forgetting_s)
            self.information *= decay
            self.vector *= decay
            self.samples *= decay
        self.last_time_s = max(self.last_time_s, time_s)
        if len(sensor_idx) == 0:
            return
        # Raw measurement minus the prediction at the corrected time, undoing the current time correction.
        est = self.estimate[sensor_idx]
        y = innovation + est[:, :2] - rates * est[:, 2:3]
        rows = np.zeros((len(sensor_idx), 2, 3))
        rows[:, 0, 0] = 1.0
        rows[:, 1, 1] = 1.0
        rows[:, :, 2] = -rates
        w = 1.0 / variances
        info = np.einsum("kri,kr,krj->kij", rows, w, rows)
        vec = np.einsum("kri,kr,kr->ki", rows, w, y)
        np.add.at(self.information, sensor_idx, info)
        np.add.at(self.vector, sensor_idx, vec)
        np.add.at(self.samples, sensor_idx, 1.0)
        ready = np.unique(sensor_idx[self.samples[sensor_idx] >= self.min_samples])
        for s in ready:
            info_s = self.information[s] + np.eye(3) * 1e-9
            self.estimate[s] = np.linalg.solve(info_s, self.vector[s])

    def sigma(self) -> F64:
        """(S,3) one-sigma uncertainty of each estimate (inf where no evidence)."""
        out = np.full(self.estimate.shape, np.inf)
        for s in range(len(self.samples)):
            if self.samples[s] >= 3:
                out[s] = np.sqrt(np.clip(np.diag(np.linalg.pinv(self.information[s])), 0.0, None))
        return out
