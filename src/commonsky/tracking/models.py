"""Motion models, vectorised over tracks: constant velocity (CV), coordinated turn (CT), vertical CV.

Horizontal state per model: x = [e, n, v_e, v_n, omega] in the local ENU frame (m, m/s, rad/s);
both models share the 5-D layout so the IMM can mix them (CV carries omega unchanged and unused).
The vertical channel is a separate CV filter on [altitude, vertical rate], fed by Mode C and
ADS-B altitude, because primary radars and many tracks have no altitude at all.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
DIM = 5
SMALL_TURN = 1e-6


def white_acceleration_q(dt: F64, q: float) -> tuple[F64, F64, F64]:
    """Per-axis (pos-pos, pos-vel, vel-vel) terms of continuous white-noise acceleration q^2."""
    q2 = q * q
    return q2 * dt**3 / 3.0, q2 * dt**2 / 2.0, q2 * dt


def cv_predict(x: F64, P: F64, dt: F64, q: float, q_turn: float) -> tuple[F64, F64]:
    """Predict (K,5) states and (K,5,5) covariances by dt (K,) under constant velocity."""
    x_new = x.copy()
    x_new[:, 0] += dt * x[:, 2]
    x_new[:, 1] += dt * x[:, 3]
    F = np.broadcast_to(np.eye(DIM), (len(dt), DIM, DIM)).copy()
    F[:, 0, 2] = dt
    F[:, 1, 3] = dt
    P_new = F @ P @ F.transpose(0, 2, 1)
    _add_process_noise(P_new, dt, q, q_turn)
    return x_new, P_new


def ct_predict(x: F64, P: F64, dt: F64, q: float, q_turn: float) -> tuple[F64, F64]:
    """Predict (K,5) states and covariances by dt under a coordinated turn at the state's rate (EKF)."""
    ve, vn, w = x[:, 2], x[:, 3], x[:, 4]
    wt = w * dt
    s, c = np.sin(wt), np.cos(wt)
    small = np.abs(w) < SMALL_TURN
    w_safe = np.where(small, 1.0, w)
    # a = sin(wT)/w, b = (1 - cos(wT))/w and their derivatives in w; series near w = 0.
    a = np.where(small, dt - w * w * dt**3 / 6.0, s / w_safe)
    b = np.where(small, w * dt * dt / 2.0, (1.0 - c) / w_safe)
    da = np.where(small, -w * dt**3 / 3.0, (dt * c * w - s) / (w_safe * w_safe))
    db = np.where(small, dt * dt / 2.0 - w * w * dt**4 / 8.0, (dt * s * w - (1.0 - c)) / (w_safe * w_safe))
    x_new = x.copy()
    x_new[:, 0] = x[:, 0] + a * ve - b * vn
    x_new[:, 1] = x[:, 1] + b * ve + a * vn
    x_new[:, 2] = c * ve - s * vn
    x_new[:, 3] = s * ve + c * vn
    F = np.broadcast_to(np.eye(DIM), (len(dt), DIM, DIM)).copy()
    F[:, 0, 2], F[:, 0, 3], F[:, 0, 4] = a, -b, da * ve - db * vn
    F[:, 1, 2], F[:, 1, 3], F[:, 1, 4] = b, a, db * ve + da * vn
    F[:, 2, 2], F[:, 2, 3], F[:, 2, 4] = c, -s, -dt * (s * ve + c * vn)
    F[:, 3, 2], F[:, 3, 3], F[:, 3, 4] = s, c, dt * (c * ve - s * vn)
    P_new = F @ P @ F.transpose(0, 2, 1)
    _add_process_noise(P_new, dt, q, q_turn)
    return x_new, P_new


def _add_process_noise(P: F64, dt: F64, q: float, q_turn: float) -> None:
    pp, pv, vv = white_acceleration_q(dt, q)
    for i in (0, 1):
        P[:, i, i] += pp
        P[:, i, i + 2] += pv
        P[:, i + 2, i] += pv
        P[:, i + 2, i + 2] += vv
    P[:, 4, 4] += q_turn * q_turn * dt


def vertical_predict(z: F64, Pz: F64, dt: F64, q: float) -> tuple[F64, F64]:
    """Predict (K,2) [altitude, vertical rate] and (K,2,2) covariances by dt under constant rate."""
    z_new = z.copy()
    z_new[:, 0] += dt * z[:, 1]
    pp, pv, vv = white_acceleration_q(dt, q)
    P = Pz.copy()
    P[:, 0, 0] = Pz[:, 0, 0] + 2.0 * dt * Pz[:, 0, 1] + dt * dt * Pz[:, 1, 1] + pp
    P[:, 0, 1] = Pz[:, 0, 1] + dt * Pz[:, 1, 1] + pv
    P[:, 1, 0] = P[:, 0, 1]
    P[:, 1, 1] = Pz[:, 1, 1] + vv
    return z_new, P
