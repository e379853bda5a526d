"""Compiled per-row kernels of the tracker's hot path: IMM predict-update and gating (Numba).

A round of updates touches a few hundred tracks, each a 5-state, 2-model filter. As NumPy batch
operations that costs hundreds of tiny array calls per round, dominated by call overhead; as one
compiled loop over rows it is a few microseconds per plot. The motion models match the NumPy
ones in `models` (used for output prediction) and the radar geometry matches `measurements`.

Conventions: state [e, n, v_e, v_n, omega, h, v_h] (m, m/s, rad/s; h the height above the
ellipsoid); model 0 is CV, model 1 is CT in the horizontal plane, both CV in height. A plot is a
3-vector: radar (slant range m, azimuth rad, Mode C height m), ADS-B (e m, n m, height m); a
plot without a height (primary radar) has a zero third row in H, so only the geometry couples it
to h. That is how primary-only tracks get their height from several radars.
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
P_Q_CV, P_Q_CT, P_Q_TURN, P_CV_SOJOURN, P_CT_SOJOURN, P_Q_VERTICAL = 0, 1, 2, 3, 4, 5
N_PARAMS = 6
NX = 7
"""State dimension."""
NZ = 3
"""Measurement dimension (the third row is empty for plots without height)."""
H_MIN, H_MAX = -500.0, 25_000.0
"""Heights outside this band are clamped after each update (the EKF can overshoot)."""


@njit(cache=True, fastmath=True)
def ecef_to_geodetic_scalar(x: float, y: float, z: float) -> tuple[float, float, float]:
    """ECEF (m) to geodetic latitude, longitude (rad) and height (m) of one point (Bowring, refined)."""
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


@njit(cache=True, fastmath=True)
def _point_from_altitude(origin: F64, rot: F64, e: float, n: float, alt: float) -> tuple[float, F64]:
    """Frame-up u of the point above (e, n) at ellipsoid height alt, and the point's up vector in frame axes."""
    r = EARTH_RADIUS_M + alt
    u = math.sqrt(max(r * r - e * e - n * n, 0.0)) - EARTH_RADIUS_M
    up = np.empty(3)
    for _ in range(2):
        x = origin[0] + rot[0, 0] * e + rot[1, 0] * n + rot[2, 0] * u
        y = origin[1] + rot[0, 1] * e + rot[1, 1] * n + rot[2, 1] * u
        z = origin[2] + rot[0, 2] * e + rot[1, 2] * n + rot[2, 2] * u
        lat, lon, h = ecef_to_geodetic_scalar(x, y, z)
        cl = math.cos(lat)
        ux, uy, uz = cl * math.cos(lon), cl * math.sin(lon), math.sin(lat)
        for i in range(3):
            up[i] = rot[i, 0] * ux + rot[i, 1] * uy + rot[i, 2] * uz
        u += (alt - h) / up[2]
    return u, up


@njit(cache=True, fastmath=True)
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


@njit(cache=True, fastmath=True)
def _add_noise(P: F64, dt: float, q: float, q_turn: float, q_vertical: float) -> None:
    """Process noise over |dt|; for a backward prediction (dt < 0, a late plot) the position-velocity
    covariance changes sign, as integrating the white acceleration back from the later time gives."""
    a = abs(dt)
    q2 = q * q
    pp, pv, vv = q2 * a**3 / 3.0, q2 * dt * a / 2.0, q2 * a
    for i in range(2):
        P[i, i] += pp
        P[i, i + 2] += pv
        P[i + 2, i] += pv
        P[i + 2, i + 2] += vv
    P[4, 4] += q_turn * q_turn * a
    qv = q_vertical * q_vertical
    P[5, 5] += qv * a**3 / 3.0
    P[5, 6] += qv * dt * a / 2.0
    P[6, 5] += qv * dt * a / 2.0
    P[6, 6] += qv * a


@njit(cache=True, fastmath=True)
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


@njit(cache=True, fastmath=True)
def _predict(
    x: F64,
    P: F64,
    dt: float,
    turn_model: bool,
    q: float,
    q_turn: float,
    q_vertical: float,
    xn: F64,
    Pn: F64,
    F: F64,
    tmp: F64,
) -> None:
    """CV or CT (EKF) prediction of one state into xn, Pn; height is constant-rate in both; F, tmp scratch."""
    for i in range(NX):
        for j in range(NX):
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
    xn[5] = x[5] + dt * x[6]
    F[5, 6] = dt
    _sandwich(F, P, Pn, tmp)
    _add_noise(Pn, dt, q, q_turn, q_vertical)


@njit(cache=True, fastmath=True)
def _measurement(
    origin: F64,
    rot: F64,
    is_radar: bool,
    s_pos: F64,
    s_rot: F64,
    e: float,
    n: float,
    h: float,
    sigma: F64,
    has_height: bool,
    zp: F64,
    H: F64,
    R: F64,
    J: F64,
    H2: F64,
) -> None:
    """Predicted plot zp (3) at state (e, n, h); fills H (3 x NX) and R (3x3). H2, J are scratch."""
    for i in range(NZ):
        for j in range(NX):
            H[i, j] = 0.0
        for j in range(NZ):
            R[i, j] = 0.0
    R[0, 0] = sigma[0] * sigma[0]
    R[1, 1] = sigma[1] * sigma[1]
    if is_radar:
        zp[0], zp[1] = _radar_geometry(origin, rot, s_pos, s_rot, e, n, h, H2, J)
        H[0, 0], H[0, 1], H[0, 5] = H2[0, 0], H2[0, 1], J[0]
        H[1, 0], H[1, 1], H[1, 5] = H2[1, 0], H2[1, 1], J[1]
    else:
        zp[0], zp[1] = e, n
        H[0, 0] = 1.0
        H[1, 1] = 1.0
    if has_height:
        zp[2] = h
        H[2, 5] = 1.0
        R[2, 2] = sigma[2] * sigma[2]
    else:
        zp[2] = 0.0
        R[2, 2] = 1.0  # an empty row: zero innovation, unit variance, no effect


@njit(cache=True, fastmath=True)
def _inv3(S: F64, out: F64) -> float:
    """Inverse of a 3x3 matrix into out; returns the determinant."""
    a, b, c = S[0, 0], S[0, 1], S[0, 2]
    d, e, f = S[1, 0], S[1, 1], S[1, 2]
    g, h, i = S[2, 0], S[2, 1], S[2, 2]
    A = e * i - f * h
    B = -(d * i - f * g)
    C = d * h - e * g
    det = a * A + b * B + c * C
    out[0, 0] = A / det
    out[1, 0] = B / det
    out[2, 0] = C / det
    out[0, 1] = -(b * i - c * h) / det
    out[1, 1] = (a * i - c * g) / det
    out[2, 1] = -(a * h - b * g) / det
    out[0, 2] = (b * f - c * e) / det
    out[1, 2] = -(a * f - c * d) / det
    out[2, 2] = (a * e - b * d) / det
    return det


@njit(cache=True, fastmath=True)
def _ekf_update(
    xp: F64, Pp: F64, H: F64, R: F64, nu: F64, xo: F64, Po: F64, PHt: F64, S: F64, Si: F64, G: F64, A: F64
) -> float:
    """EKF update of one state with a 3-D innovation; returns the log-likelihood. A is scratch."""
    for i in range(NX):
        for k in range(NZ):
            acc = 0.0
            for j in range(NX):
                acc += Pp[i, j] * H[k, j]
            PHt[i, k] = acc
    for a in range(NZ):
        for b in range(NZ):
            acc = R[a, b]
            for j in range(NX):
                acc += H[a, j] * PHt[j, b]
            S[a, b] = acc
    det = _inv3(S, Si)
    for i in range(NX):
        for k in range(NZ):
            acc = 0.0
            for m in range(NZ):
                acc += PHt[i, m] * Si[m, k]
            G[i, k] = acc
        acc = xp[i]
        for k in range(NZ):
            acc += G[i, k] * nu[k]
        xo[i] = acc
    # P - G S G' (= P - P H' S^-1 H P), symmetrised below.
    for i in range(NX):
        for b in range(NZ):
            acc = 0.0
            for a in range(NZ):
                acc += G[i, a] * S[a, b]
            A[i, b] = acc
    for i in range(NX):
        for j in range(NX):
            acc = Pp[i, j]
            for b in range(NZ):
                acc -= A[i, b] * G[j, b]
            Po[i, j] = acc
    for i in range(NX):
        for j in range(i + 1, NX):
            avg = 0.5 * (Po[i, j] + Po[j, i])
            Po[i, j] = avg
            Po[j, i] = avg
    d2 = 0.0
    for a in range(NZ):
        for b in range(NZ):
            d2 += nu[a] * Si[a, b] * nu[b]
    return -0.5 * (d2 + math.log(det) + NZ * LOG_2PI)


@njit(cache=True, fastmath=True)
def _mix(x: F64, P: F64, w0: float, w1: float, x0: F64, P0: F64) -> None:
    """x0, P0 = the Gaussian mixture w0 N(x[0], P[0]) + w1 N(x[1], P[1]) moment-matched."""
    for i in range(NX):
        x0[i] = w0 * x[0, i] + w1 * x[1, i]
    for i in range(NX):
        a0 = x[0, i] - x0[i]
        a1 = x[1, i] - x0[i]
        for j in range(NX):
            P0[i, j] = w0 * (P[0, i, j] + a0 * (x[0, j] - x0[j])) + w1 * (P[1, i, j] + a1 * (x[1, j] - x0[j]))


@njit(cache=True, fastmath=True)
def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


@njit(cache=True, fastmath=True)
def _innovation(z: F64, zp: F64, H: F64, dx: F64, is_radar: bool, has_height: bool, nu: F64) -> None:
    """z - (zp + H dx), azimuth wrapped; zero for an empty height row."""
    for a in range(NZ):
        acc = zp[a]
        for j in range(NX):
            acc += H[a, j] * dx[j]
        nu[a] = z[a] - acc
    if is_radar:
        nu[1] = _wrap(nu[1])
    if not has_height:
        nu[2] = 0.0


@njit(cache=True, fastmath=True)
def imm_update_rows(
    x: F64,
    P: F64,
    mu: F64,
    rows: NDArray[np.int64],
    dt: F64,
    z: F64,
    sigma: F64,
    has_height: NDArray[np.bool_],
    is_radar: NDArray[np.bool_],
    s_pos: F64,
    s_rot: F64,
    origin: F64,
    rot: F64,
    params: F64,
) -> None:
    """IMM interaction, model-matched prediction by dt and EKF update with one plot, in place.

    x (N,2,7), P (N,2,7,7), mu (N,2) hold every track; track rows[k] (distinct) takes plot k:
    z[k] (3) with standard deviations sigma[k] (3), its third component valid when
    has_height[k], from a radar at s_pos[k] with axes s_rot[k] when is_radar[k]. Working on the
    whole arrays by index avoids copying every updated track's covariance in and out.
    """
    K = rows.shape[0]
    xo = np.empty((2, NX))
    Po = np.empty((2, NX, NX))
    mun = np.empty(2)
    q_cv, q_ct, q_turn, q_v = params[P_Q_CV], params[P_Q_CT], params[P_Q_TURN], params[P_Q_VERTICAL]
    rate = 1.0 / params[P_CV_SOJOURN] + 1.0 / params[P_CT_SOJOURN]
    p_cv = (1.0 / params[P_CT_SOJOURN]) / rate
    p_ct = 1.0 - p_cv
    H = np.empty((NZ, NX))
    R = np.empty((NZ, NZ))
    H2 = np.empty((2, 2))
    J = np.empty(2)
    zp = np.empty(NZ)
    nu = np.empty(NZ)
    dx = np.empty(NX)
    T = np.empty((2, 2))
    c = np.empty(2)
    loglik = np.empty(2)
    x0 = np.empty(NX)
    P0 = np.empty((NX, NX))
    xp = np.empty((2, NX))
    Pp = np.empty((2, NX, NX))
    F = np.empty((NX, NX))
    A = np.empty((NX, NZ))
    tmp = np.empty((NX, NX))
    PHt = np.empty((NX, NZ))
    G = np.empty((NX, NZ))
    S = np.empty((NZ, NZ))
    Si = np.empty((NZ, NZ))
    xr = np.empty(NX)
    for k in range(K):
        r = rows[k]
        decay = math.exp(-rate * max(dt[k], 0.0))
        T[0, 0] = p_cv + p_ct * decay
        T[0, 1] = p_ct * (1.0 - decay)
        T[1, 0] = p_cv * (1.0 - decay)
        T[1, 1] = p_ct + p_cv * decay
        for j in range(2):
            c[j] = max(mu[r, 0] * T[0, j] + mu[r, 1] * T[1, j], 1e-12)
        for j in range(2):
            _mix(x[r], P[r], mu[r, 0] * T[0, j] / c[j], mu[r, 1] * T[1, j] / c[j], x0, P0)
            if j == 0:
                _predict(x0, P0, dt[k], False, q_cv, q_turn * 0.1, q_v, xp[0], Pp[0], F, tmp)
            else:
                _predict(x0, P0, dt[k], True, q_ct, q_turn, q_v, xp[1], Pp[1], F, tmp)
        csum = c[0] + c[1]
        for i in range(NX):
            xr[i] = (c[0] * xp[0, i] + c[1] * xp[1, i]) / csum
        _measurement(
            origin, rot, is_radar[k], s_pos[k], s_rot[k], xr[0], xr[1], xr[5], sigma[k], has_height[k], zp, H, R, J, H2
        )
        for j in range(2):
            for i in range(NX):
                dx[i] = xp[j, i] - xr[i]
            _innovation(z[k], zp, H, dx, is_radar[k], has_height[k], nu)
            loglik[j] = _ekf_update(xp[j], Pp[j], H, R, nu, xo[j], Po[j], PHt, S, Si, G, A)
            xo[j, 5] = min(max(xo[j, 5], H_MIN), H_MAX)
        top = max(loglik[0] + math.log(c[0]), loglik[1] + math.log(c[1]))
        m0 = math.exp(loglik[0] + math.log(c[0]) - top)
        m1 = math.exp(loglik[1] + math.log(c[1]) - top)
        m0, m1 = max(m0 / (m0 + m1), 1e-6), max(m1 / (m0 + m1), 1e-6)
        mun[0] = m0 / (m0 + m1)
        mun[1] = m1 / (m0 + m1)
        x[r] = xo
        P[r] = Po
        mu[r] = mun


@njit(cache=True, fastmath=True)
def gate_rows(
    x: F64,
    P: F64,
    mu: F64,
    rows: NDArray[np.int64],
    dt: F64,
    z: F64,
    sigma: F64,
    has_height: NDArray[np.bool_],
    is_radar: NDArray[np.bool_],
    s_pos: F64,
    s_rot: F64,
    origin: F64,
    rot: F64,
    q: float,
    q_turn: float,
    q_vertical: float,
) -> tuple[F64, F64, F64, F64, F64, F64]:
    """Score pairs (track rows[k], plot k): the track's moment-matched mixture predicted by dt under CV.

    Returns the squared Mahalanobis distance (over 2 or 3 components), log det S, the horizontal
    innovation (K,2), its covariance S (K,2,2), d(plot)/d(e, n) (K,2,2), and the plot's rate of
    change along the predicted velocity (K,2), used by registration.
    """
    K = rows.shape[0]
    d2 = np.empty(K)
    logdet = np.empty(K)
    nu_o = np.empty((K, 2))
    So = np.empty((K, 2, 2))
    Ho = np.empty((K, 2, 2))
    rates = np.empty((K, 2))
    H = np.empty((NZ, NX))
    R = np.empty((NZ, NZ))
    H2 = np.empty((2, 2))
    J = np.empty(2)
    zp = np.empty(NZ)
    nu = np.empty(NZ)
    dx = np.zeros(NX)
    xc = np.empty(NX)
    Pc = np.empty((NX, NX))
    xp = np.empty(NX)
    Pp = np.empty((NX, NX))
    F = np.empty((NX, NX))
    tmp = np.empty((NX, NX))
    S = np.empty((NZ, NZ))
    Si = np.empty((NZ, NZ))
    for k in range(K):
        r = rows[k]
        _mix(x[r], P[r], mu[r, 0], mu[r, 1], xc, Pc)
        _predict(xc, Pc, dt[k], False, q, q_turn, q_vertical, xp, Pp, F, tmp)
        _measurement(
            origin, rot, is_radar[k], s_pos[k], s_rot[k], xp[0], xp[1], xp[5], sigma[k], has_height[k], zp, H, R, J, H2
        )
        _innovation(z[k], zp, H, dx, is_radar[k], has_height[k], nu)
        for a in range(NZ):
            for b in range(NZ):
                acc = R[a, b]
                for i in range(NX):
                    for j in range(NX):
                        acc += H[a, i] * Pp[i, j] * H[b, j]
                S[a, b] = acc
        det = _inv3(S, Si)
        acc = 0.0
        for a in range(NZ):
            for b in range(NZ):
                acc += nu[a] * Si[a, b] * nu[b]
        d2[k] = acc
        logdet[k] = math.log(det)
        for a in range(2):
            nu_o[k, a] = nu[a]
            rates[k, a] = H[a, 0] * xp[2] + H[a, 1] * xp[3] + H[a, 5] * xp[6]
            for b in range(2):
                So[k, a, b] = S[a, b]
                Ho[k, a, b] = H[a, b]
    return d2, logdet, nu_o, So, Ho, rates


@njit(cache=True, fastmath=True)
def predict_rows(x: F64, P: F64, dt: F64, params: F64) -> tuple[F64, F64]:
    """Each model of each row predicted by dt without interaction (reporting tracks at a later time)."""
    K = x.shape[0]
    xo = np.empty_like(x)
    Po = np.empty_like(P)
    F = np.empty((NX, NX))
    tmp = np.empty((NX, NX))
    q_cv, q_ct, q_turn, q_v = params[P_Q_CV], params[P_Q_CT], params[P_Q_TURN], params[P_Q_VERTICAL]
    for k in range(K):
        _predict(x[k, 0], P[k, 0], dt[k], False, q_cv, q_turn * 0.1, q_v, xo[k, 0], Po[k, 0], F, tmp)
        _predict(x[k, 1], P[k, 1], dt[k], True, q_ct, q_turn, q_v, xo[k, 1], Po[k, 1], F, tmp)
    return xo, Po


@njit(cache=True, fastmath=True)
def points_from_altitude(origin: F64, rot: F64, e: F64, n: F64, alt: F64) -> tuple[F64, F64]:
    """Vectorised `_point_from_altitude`: frame-up u (K,) and up vectors (K,3) of many points."""
    K = e.shape[0]
    u = np.empty(K)
    up = np.empty((K, 3))
    for k in range(K):
        u[k], up[k] = _point_from_altitude(origin, rot, e[k], n[k], alt[k])
    return u, up


@njit(cache=True, fastmath=True)
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
        la, lo, _ = ecef_to_geodetic_scalar(x, y, z)
        lat[k] = math.degrees(la)
        lon[k] = math.degrees(lo)
    return lat, lon, up
