"""Compiled per-row kernels of the tracker's hot path: IMM predict-update and gating (Numba).

A round of updates touches a few hundred tracks, each a 5-state, 2-model filter. As NumPy batch
operations that costs hundreds of tiny array calls per round, dominated by call overhead; as one
compiled loop over rows it is a few microseconds per plot. The motion models match the NumPy
ones in `models` (used for output prediction) and the radar geometry matches `measurements`.

Conventions: horizontal state [e, n, v_e, v_n, omega]; model 0 is CV, model 1 is CT; radar
measurements are (slant range m, azimuth rad); ADS-B measurements are (e, n) m.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from commonsky.core.geodesy import EARTH_RADIUS_M, WGS84_A, WGS84_B, WGS84_E2, WGS84_EP2, WGS84_F

F64 = NDArray[np.float64]

SMALL_TURN = 1e-6
LOG_2PI = math.log(2.0 * math.pi)
# Parameter vector layout shared with the tracker.
P_Q_CV, P_Q_CT, P_Q_TURN, P_CV_SOJOURN, P_CT_SOJOURN = 0, 1, 2, 3, 4
N_PARAMS = 5


@njit(cache=True, fastmath=False)
def _ecef_to_geodetic(x: float, y: float, z: float) -> tuple[float, float, float]:
    lon = math.atan2(y, x)
    p = math.hypot(x, y)
    beta = math.atan2(z * WGS84_A, p * WGS84_B)
    lat = 0.0
    for _ in range(2):
        sb = math.sin(beta)
        cb = math.cos(beta)
        lat = math.atan2(z + WGS84_EP2 * WGS84_B * sb * sb * sb, p - WGS84_E2 * WGS84_A * cb * cb * cb)
        beta = math.atan2((1.0 - WGS84_F) * math.sin(lat), math.cos(lat))
    sl = math.sin(lat)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * sl * sl)
    h = p * math.cos(lat) + z * sl - WGS84_A * WGS84_A / n
    return lat, lon, h


@njit(cache=True)
def _point_from_altitude(origin: F64, rot: F64, e: float, n: float, alt: float) -> tuple[float, F64]:
    """Frame-up u of the point above (e, n) at ellipsoid height alt, and the point's up vector in frame axes."""
    r = EARTH_RADIUS_M + alt
    u = math.sqrt(max(r * r - e * e - n * n, 0.0)) - EARTH_RADIUS_M
    up = np.empty(3)
    for _ in range(2):
        x = origin[0] + rot[0, 0] * e + rot[1, 0] * n + rot[2, 0] * u
        y = origin[1] + rot[0, 1] * e + rot[1, 1] * n + rot[2, 1] * u
        z = origin[2] + rot[0, 2] * e + rot[1, 2] * n + rot[2, 2] * u
        lat, lon, h = _ecef_to_geodetic(x, y, z)
        cl = math.cos(lat)
        ux, uy, uz = cl * math.cos(lon), cl * math.sin(lon), math.sin(lat)
        for i in range(3):
            up[i] = rot[i, 0] * ux + rot[i, 1] * uy + rot[i, 2] * uz
        u += (alt - h) / up[2]
    return u, up


@njit(cache=True)
def _radar_geometry(
    origin: F64, rot: F64, s_pos: F64, s_rot: F64, e: float, n: float, alt: float, H: F64, J: F64
) -> tuple[float, float]:
    """Slant range and azimuth of (e, n, alt) from a sensor; fills H = d/d(e,n) (2x2) and J = d/d(alt) (2)."""
    u, up = _point_from_altitude(origin, rot, e, n, alt)
    d0, d1, d2 = e - s_pos[0], n - s_pos[1], u - s_pos[2]
    ds0 = s_rot[0, 0] * d0 + s_rot[0, 1] * d1 + s_rot[0, 2] * d2
    ds1 = s_rot[1, 0] * d0 + s_rot[1, 1] * d1 + s_rot[1, 2] * d2
    rho = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
    ground2 = ds0 * ds0 + ds1 * ds1
    az = math.atan2(ds0, ds1)
    du_de = -up[0] / up[2]
    du_dn = -up[1] / up[2]
    du_dalt = 1.0 / up[2]
    gr0, gr1, gr2 = d0 / rho, d1 / rho, d2 / rho
    ga0 = (ds1 * s_rot[0, 0] - ds0 * s_rot[1, 0]) / ground2
    ga1 = (ds1 * s_rot[0, 1] - ds0 * s_rot[1, 1]) / ground2
    ga2 = (ds1 * s_rot[0, 2] - ds0 * s_rot[1, 2]) / ground2
    H[0, 0] = gr0 + gr2 * du_de
    H[0, 1] = gr1 + gr2 * du_dn
    H[1, 0] = ga0 + ga2 * du_de
    H[1, 1] = ga1 + ga2 * du_dn
    J[0] = gr2 * du_dalt
    J[1] = ga2 * du_dalt
    return rho, az


@njit(cache=True)
def _add_noise(P: F64, dt: float, q: float, q_turn: float) -> None:
    q2 = q * q
    pp, pv, vv = q2 * dt**3 / 3.0, q2 * dt * dt / 2.0, q2 * dt
    for i in range(2):
        P[i, i] += pp
        P[i, i + 2] += pv
        P[i + 2, i] += pv
        P[i + 2, i + 2] += vv
    P[4, 4] += q_turn * q_turn * dt


@njit(cache=True)
def _sandwich(A: F64, P: F64, out: F64, tmp: F64) -> None:
    """out = A P A' for square matrices, without allocating."""
    m = A.shape[0]
    for i in range(m):
        for j in range(m):
            acc = 0.0
            for k in range(m):
                acc += A[i, k] * P[k, j]
            tmp[i, j] = acc
    for i in range(m):
        for j in range(m):
            acc = 0.0
            for k in range(m):
                acc += tmp[i, k] * A[j, k]
            out[i, j] = acc


@njit(cache=True)
def _predict(
    x: F64, P: F64, dt: float, turn_model: bool, q: float, q_turn: float, xn: F64, Pn: F64, F: F64, tmp: F64
) -> None:
    """CV or CT prediction of one 5-state (EKF for CT) into xn, Pn; F and tmp are scratch."""
    for i in range(5):
        for j in range(5):
            F[i, j] = 1.0 if i == j else 0.0
        xn[i] = x[i]
    if turn_model:
        ve, vn, w = x[2], x[3], x[4]
        wt = w * dt
        s, c = math.sin(wt), math.cos(wt)
        if abs(w) < SMALL_TURN:
            a = dt - w * w * dt**3 / 6.0
            b = w * dt * dt / 2.0
            da = -w * dt**3 / 3.0
            db = dt * dt / 2.0 - w * w * dt**4 / 8.0
        else:
            a = s / w
            b = (1.0 - c) / w
            da = (dt * c * w - s) / (w * w)
            db = (dt * s * w - (1.0 - c)) / (w * w)
        xn[0] = x[0] + a * ve - b * vn
        xn[1] = x[1] + b * ve + a * vn
        xn[2] = c * ve - s * vn
        xn[3] = s * ve + c * vn
        F[0, 2], F[0, 3], F[0, 4] = a, -b, da * ve - db * vn
        F[1, 2], F[1, 3], F[1, 4] = b, a, db * ve + da * vn
        F[2, 2], F[2, 3], F[2, 4] = c, -s, -dt * (s * ve + c * vn)
        F[3, 2], F[3, 3], F[3, 4] = s, c, dt * (c * ve - s * vn)
    else:
        xn[0] = x[0] + dt * x[2]
        xn[1] = x[1] + dt * x[3]
        F[0, 2] = dt
        F[1, 3] = dt
    _sandwich(F, P, Pn, tmp)
    _add_noise(Pn, dt, q, q_turn)


@njit(cache=True)
def _measurement(
    origin: F64,
    rot: F64,
    is_radar: bool,
    s_pos: F64,
    s_rot: F64,
    e: float,
    n: float,
    alt: float,
    alt_sigma: float,
    sigma: F64,
    H: F64,
    R: F64,
    J: F64,
) -> tuple[float, float]:
    """Predicted measurement at (e, n); fills H (2x2) and R (2x2, altitude uncertainty folded in)."""
    R[0, 0] = sigma[0] * sigma[0]
    R[1, 1] = sigma[1] * sigma[1]
    R[0, 1] = R[1, 0] = 0.0
    if not is_radar:
        H[0, 0], H[0, 1], H[1, 0], H[1, 1] = 1.0, 0.0, 0.0, 1.0
        return e, n
    rho, az = _radar_geometry(origin, rot, s_pos, s_rot, e, n, alt, H, J)
    v = alt_sigma * alt_sigma
    R[0, 0] += J[0] * J[0] * v
    R[0, 1] += J[0] * J[1] * v
    R[1, 0] += J[0] * J[1] * v
    R[1, 1] += J[1] * J[1] * v
    return rho, az


@njit(cache=True)
def _ekf_update(
    xp: F64, Pp: F64, H: F64, R: F64, nu0: float, nu1: float, xo: F64, Po: F64, PHt: F64, G: F64, A: F64, tmp: F64
) -> float:
    """Joseph-form EKF update of a 5-state with a 2-D innovation on (e, n) through H; returns the log-likelihood."""
    for i in range(5):
        PHt[i, 0] = Pp[i, 0] * H[0, 0] + Pp[i, 1] * H[0, 1]
        PHt[i, 1] = Pp[i, 0] * H[1, 0] + Pp[i, 1] * H[1, 1]
    s00 = H[0, 0] * PHt[0, 0] + H[0, 1] * PHt[1, 0] + R[0, 0]
    s01 = H[0, 0] * PHt[0, 1] + H[0, 1] * PHt[1, 1] + R[0, 1]
    s10 = H[1, 0] * PHt[0, 0] + H[1, 1] * PHt[1, 0] + R[1, 0]
    s11 = H[1, 0] * PHt[0, 1] + H[1, 1] * PHt[1, 1] + R[1, 1]
    det = s00 * s11 - s01 * s10
    i00, i01, i10, i11 = s11 / det, -s01 / det, -s10 / det, s00 / det
    for i in range(5):
        G[i, 0] = PHt[i, 0] * i00 + PHt[i, 1] * i10
        G[i, 1] = PHt[i, 0] * i01 + PHt[i, 1] * i11
        xo[i] = xp[i] + G[i, 0] * nu0 + G[i, 1] * nu1
    # A = I - G Hf, where Hf is H padded to 2x5.
    for i in range(5):
        for j in range(5):
            A[i, j] = 1.0 if i == j else 0.0
        for j in range(2):
            A[i, j] -= G[i, 0] * H[0, j] + G[i, 1] * H[1, j]
    _sandwich(A, Pp, Po, tmp)
    # + G R G'
    for i in range(5):
        gr0 = G[i, 0] * R[0, 0] + G[i, 1] * R[1, 0]
        gr1 = G[i, 0] * R[0, 1] + G[i, 1] * R[1, 1]
        for j in range(5):
            Po[i, j] += gr0 * G[j, 0] + gr1 * G[j, 1]
    for i in range(5):
        for j in range(i + 1, 5):
            avg = 0.5 * (Po[i, j] + Po[j, i])
            Po[i, j] = avg
            Po[j, i] = avg
    d2 = nu0 * (i00 * nu0 + i01 * nu1) + nu1 * (i10 * nu0 + i11 * nu1)
    return -0.5 * (d2 + math.log(det) + 2.0 * LOG_2PI)


@njit(cache=True)
def _mix(x: F64, P: F64, w0: float, w1: float, x0: F64, P0: F64) -> None:
    """x0, P0 = the Gaussian mixture w0 N(x[0], P[0]) + w1 N(x[1], P[1]) moment-matched."""
    for i in range(5):
        x0[i] = w0 * x[0, i] + w1 * x[1, i]
    for i in range(5):
        a0 = x[0, i] - x0[i]
        a1 = x[1, i] - x0[i]
        for j in range(5):
            P0[i, j] = w0 * (P[0, i, j] + a0 * (x[0, j] - x0[j])) + w1 * (P[1, i, j] + a1 * (x[1, j] - x0[j]))


@njit(cache=True)
def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


@njit(cache=True)
def imm_update_rows(
    x: F64,
    P: F64,
    mu: F64,
    dt: F64,
    z: F64,
    sigma: F64,
    is_radar: NDArray[np.bool_],
    s_pos: F64,
    s_rot: F64,
    alt: F64,
    alt_sigma: F64,
    origin: F64,
    rot: F64,
    params: F64,
) -> tuple[F64, F64, F64]:
    """IMM interaction, model-matched prediction by dt and EKF update with one plot, for each row.

    x (K,2,5), P (K,2,5,5), mu (K,2) are the rows' states; the plot of row k is z[k] with
    standard deviations sigma[k], from a radar at s_pos[k] with axes s_rot[k] when is_radar[k];
    alt/alt_sigma give the height used for radar geometry. Returns the updated x, P, mu.
    """
    K = x.shape[0]
    xo = np.empty_like(x)
    Po = np.empty_like(P)
    muo = np.empty_like(mu)
    q_cv, q_ct, q_turn = params[P_Q_CV], params[P_Q_CT], params[P_Q_TURN]
    rate = 1.0 / params[P_CV_SOJOURN] + 1.0 / params[P_CT_SOJOURN]
    p_cv = (1.0 / params[P_CT_SOJOURN]) / rate
    p_ct = 1.0 - p_cv
    H = np.empty((2, 2))
    R = np.empty((2, 2))
    J = np.empty(2)
    T = np.empty((2, 2))
    c = np.empty(2)
    loglik = np.empty(2)
    x0 = np.empty(5)
    P0 = np.empty((5, 5))
    xp = np.empty((2, 5))
    Pp = np.empty((2, 5, 5))
    F = np.empty((5, 5))
    A = np.empty((5, 5))
    tmp = np.empty((5, 5))
    PHt = np.empty((5, 2))
    G = np.empty((5, 2))
    for k in range(K):
        decay = math.exp(-rate * max(dt[k], 0.0))
        T[0, 0] = p_cv + p_ct * decay
        T[0, 1] = p_ct * (1.0 - decay)
        T[1, 0] = p_cv * (1.0 - decay)
        T[1, 1] = p_ct + p_cv * decay
        for j in range(2):
            c[j] = max(mu[k, 0] * T[0, j] + mu[k, 1] * T[1, j], 1e-12)
        for j in range(2):
            _mix(x[k], P[k], mu[k, 0] * T[0, j] / c[j], mu[k, 1] * T[1, j] / c[j], x0, P0)
            if j == 0:
                _predict(x0, P0, dt[k], False, q_cv, q_turn * 0.1, xp[0], Pp[0], F, tmp)
            else:
                _predict(x0, P0, dt[k], True, q_ct, q_turn, xp[1], Pp[1], F, tmp)
        csum = c[0] + c[1]
        e_ref = (c[0] * xp[0, 0] + c[1] * xp[1, 0]) / csum
        n_ref = (c[0] * xp[0, 1] + c[1] * xp[1, 1]) / csum
        z0, z1 = _measurement(
            origin, rot, is_radar[k], s_pos[k], s_rot[k], e_ref, n_ref, alt[k], alt_sigma[k], sigma[k], H, R, J
        )
        for j in range(2):
            de = xp[j, 0] - e_ref
            dn = xp[j, 1] - n_ref
            nu0 = z[k, 0] - (z0 + H[0, 0] * de + H[0, 1] * dn)
            nu1 = z[k, 1] - (z1 + H[1, 0] * de + H[1, 1] * dn)
            if is_radar[k]:
                nu1 = _wrap(nu1)
            loglik[j] = _ekf_update(xp[j], Pp[j], H, R, nu0, nu1, xo[k, j], Po[k, j], PHt, G, A, tmp)
        top = max(loglik[0] + math.log(c[0]), loglik[1] + math.log(c[1]))
        m0 = math.exp(loglik[0] + math.log(c[0]) - top)
        m1 = math.exp(loglik[1] + math.log(c[1]) - top)
        m0, m1 = max(m0 / (m0 + m1), 1e-6), max(m1 / (m0 + m1), 1e-6)
        muo[k, 0] = m0 / (m0 + m1)
        muo[k, 1] = m1 / (m0 + m1)
    return xo, Po, muo


@njit(cache=True)
def gate_rows(
    x: F64,
    P: F64,
    mu: F64,
    dt: F64,
    z: F64,
    sigma: F64,
    is_radar: NDArray[np.bool_],
    s_pos: F64,
    s_rot: F64,
    alt: F64,
    alt_sigma: F64,
    origin: F64,
    rot: F64,
    q: float,
    q_turn: float,
) -> tuple[F64, F64, F64, F64, F64, F64]:
    """Score (track, plot) pairs: the track's moment-matched mixture predicted by dt under CV with noise q.

    Returns squared Mahalanobis distance, log det S, innovation (K,2), S (K,2,2), H (K,2,2) and
    the predicted horizontal velocity (K,2).
    """
    K = x.shape[0]
    d2 = np.empty(K)
    logdet = np.empty(K)
    nu = np.empty((K, 2))
    So = np.empty((K, 2, 2))
    Ho = np.empty((K, 2, 2))
    vel = np.empty((K, 2))
    H = np.empty((2, 2))
    R = np.empty((2, 2))
    J = np.empty(2)
    xc = np.empty(5)
    Pc = np.empty((5, 5))
    xp = np.empty(5)
    Pp = np.empty((5, 5))
    F = np.empty((5, 5))
    tmp = np.empty((5, 5))
    for k in range(K):
        _mix(x[k], P[k], mu[k, 0], mu[k, 1], xc, Pc)
        _predict(xc, Pc, dt[k], False, q, q_turn, xp, Pp, F, tmp)
        z0, z1 = _measurement(
            origin, rot, is_radar[k], s_pos[k], s_rot[k], xp[0], xp[1], alt[k], alt_sigma[k], sigma[k], H, R, J
        )
        n0 = z[k, 0] - z0
        n1 = z[k, 1] - z1
        if is_radar[k]:
            n1 = _wrap(n1)
        # S = H Pp[:2,:2] H' + R
        for i in range(2):
            for j in range(2):
                acc = R[i, j]
                for a in range(2):
                    for b in range(2):
                        acc += H[i, a] * Pp[a, b] * H[j, b]
                So[k, i, j] = acc
                Ho[k, i, j] = H[i, j]
        s00, s01, s11 = So[k, 0, 0], So[k, 0, 1], So[k, 1, 1]
        det = s00 * s11 - s01 * s01
        d2[k] = (s11 * n0 * n0 - 2.0 * s01 * n0 * n1 + s00 * n1 * n1) / det
        logdet[k] = math.log(det)
        nu[k, 0], nu[k, 1] = n0, n1
        vel[k, 0], vel[k, 1] = xp[2], xp[3]
    return d2, logdet, nu, So, Ho, vel


@njit(cache=True)
def points_from_altitude(origin: F64, rot: F64, e: F64, n: F64, alt: F64) -> tuple[F64, F64]:
    """Vectorised `_point_from_altitude`: frame-up u (K,) and up vectors (K,3) of many points."""
    K = e.shape[0]
    u = np.empty(K)
    up = np.empty((K, 3))
    for k in range(K):
        u[k], up[k] = _point_from_altitude(origin, rot, e[k], n[k], alt[k])
    return u, up


@njit(cache=True)
def geodetic_points(origin: F64, rot: F64, e: F64, n: F64, alt: F64) -> tuple[F64, F64, F64]:
    """Latitude, longitude (deg) of the points above (e, n) at height alt, and their up vectors (K,3)."""
    K = e.shape[0]
    lat = np.empty(K)
    lon = np.empty(K)
    up = np.empty((K, 3))
    for k in range(K):
        u, up[k] = _point_from_altitude(origin, rot, e[k], n[k], alt[k])
        x = origin[0] + rot[0, 0] * e[k] + rot[1, 0] * n[k] + rot[2, 0] * u
        y = origin[1] + rot[0, 1] * e[k] + rot[1, 1] * n[k] + rot[2, 1] * u
        z = origin[2] + rot[0, 2] * e[k] + rot[1, 2] * n[k] + rot[2, 2] * u
        la, lo, _ = _ecef_to_geodetic(x, y, z)
        lat[k] = math.degrees(la)
        lon[k] = math.degrees(lo)
    return lat, lon, up
