"""IMM helpers vectorised over tracks: moment-matched combination, prediction for output, altitude update.

Shapes: x (K,M,5), P (K,M,5,5), mu (K,M) with M = 2 models (0: CV, 1: CT). The per-plot IMM
interaction and EKF update run in the compiled `kernels.imm_update_rows`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from commonsky.tracking.config import TrackerConfig
from commonsky.tracking.models import ct_predict, cv_predict

F64 = NDArray[np.float64]


def combine(x: F64, P: F64, mu: F64) -> tuple[F64, F64]:
    """Moment-matched single Gaussian (K,5), (K,5,5) of the model mixture."""
    xc = np.einsum("km,kmi->ki", mu, x)
    dx = x - xc[:, None, :]
    Pc = np.einsum("km,kmij->kij", mu, P + dx[..., :, None] * dx[..., None, :])
    return xc, Pc


def predict_mixture(x: F64, P: F64, dt: F64, cfg: TrackerConfig) -> tuple[F64, F64]:
    """Each model predicted by dt without interaction (for reporting tracks at a later time)."""
    turn = np.radians(cfg.q_turn_rate_dps)
    xp = np.empty_like(x)
    Pp = np.empty_like(P)
    xp[:, 0], Pp[:, 0] = cv_predict(x[:, 0], P[:, 0], dt, cfg.q_cv_mps2, turn * 0.1)
    xp[:, 1], Pp[:, 1] = ct_predict(x[:, 1], P[:, 1], dt, cfg.q_ct_mps2, turn)
    return xp, Pp


def vertical_update(z: F64, Pz: F64, alt: F64, sigma: F64) -> tuple[F64, F64]:
    """Kalman update of [altitude, vertical rate] with a measured altitude."""
    s = Pz[:, 0, 0] + sigma * sigma
    k0 = Pz[:, 0, 0] / s
    k1 = Pz[:, 1, 0] / s
    nu = alt - z[:, 0]
    z_new = np.stack([z[:, 0] + k0 * nu, z[:, 1] + k1 * nu], axis=-1)
    P = Pz.copy()
    P[:, 0, 0] = (1.0 - k0) * Pz[:, 0, 0]
    P[:, 0, 1] = (1.0 - k0) * Pz[:, 0, 1]
    P[:, 1, 0] = P[:, 0, 1]
    P[:, 1, 1] = Pz[:, 1, 1] - k1 * Pz[:, 0, 1]
    return z_new, P
