"""Compiled per-row kernels of the tracker's hot path: IMM predict-update and gating (Numba).

A round of updates touches a few hundred tracks, each a 5-state, 2-model filter. As NumPy batch
operations that costs hundreds of tiny array calls per round, dominated by call overhead; as one
compiled loop over rows it is a few microseconds per plot. The IMM iterates over the rows of the
`motion` table; the radar geometry matches `measurements`.

Conventions: state [e, n, v_e, v_n, omega, h, v_h] (m, m/s, rad/s; h the height above the
ellipsoid); each model is CV or CT in the horizontal plane and CV in height. A plot is a
3-vector: radar (slant range m, azimuth rad, Mode C height m), ADS-B (e m, n m, height m); a
plot without a height (primary radar) has a zero third row in H, so only the geometry couples it
to h. That is how primary-only tracks get their height from several radars.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from commonsky.core.arrays import F64
from commonsky.core.geodesy import EARTH_RADIUS_M, WGS84_A, WGS84_B, WGS84_E2, WGS84_EP2, WGS84_F
from commonsky.tracking.motion import M_ENTRY_RATE, M_Q, M_Q_TURN, M_Q_VERTICAL, M_TURN

PlotColumns = tuple[F64, F64, NDArray[np.bool_], NDArray[np.bool_], F64, F64]
"""Plots as the kernels take them: z (K,3), sigma (K,3), has_height, is_radar, sensor position (K,3), axes (K,3,3)."""
Frame = tuple[F64, F64]
"""The local frame as the kernels take it: ECEF origin (3,) and ECEF-to-frame rotation (3,3)."""
Scratch = tuple[F64, F64, F64, F64, F64]
"""Work arrays of one update: cross-covariance (NX,NZ), S and its inverse (NZ,NZ), gain (NX,NZ), (NX,NZ)."""

SMALL_TURN = 1e-6
LOG_2PI = math.log(2.0 * math.pi)
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


@njit(cache=True, fastmath=True, inline="always")
def _product(A: F64, B: F64, out: F64, transpose_b: bool) -> None:
    """out = A B, or A B' when `transpose_b`, without allocating; each entry summed from 0 in index order."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            acc = 0.0
            for k in range(A.shape[1]):
                acc += A[i, k] * (B[j, k] if transpose_b else B[k, j])
            out[i, j] = acc


@njit(cache=True, fastmath=True, inline="always")
def _quadratic_form(v: F64, M: F64) -> float:
    """v' M v of a NZ-vector."""
    acc = 0.0
    for a in range(NZ):
        for b in range(NZ):
            acc += v[a] * M[a, b] * v[b]
    return acc


TRANSITION_COLUMNS = np.array(
    [[0, 2, 3, 4], [1, 2, 3, 4], [2, 3, 4, -1], [2, 3, 4, -1], [4, -1, -1, -1], [5, 6, -1, -1], [6, -1, -1, -1]]
)
"""Columns where row i of a transition Jacobian F may be non-zero (-1 pads): position from velocity and
turn rate, velocity rotated by the turn, height from vertical rate; 18 of 49 entries."""


@njit(cache=True, fastmath=True, inline="always")
def _transition_times(F: F64, M: F64, out: F64, transpose_m: bool) -> None:
    """out = F M (or F M') for a transition Jacobian F, summing only the entries `TRANSITION_COLUMNS` allows."""
    for i in range(NX):
        for j in range(NX):
            acc = 0.0
            for c in TRANSITION_COLUMNS[i]:
                if c < 0:
                    break
                acc += F[i, c] * (M[j, c] if transpose_m else M[c, j])
            out[i, j] = acc


@njit(cache=True, fastmath=True)
def _transition_sandwich(F: F64, P: F64, out: F64, tmp: F64) -> None:
    """out = F P F' = F (F P)' for a transition Jacobian and a symmetric P, symmetrised (the prediction runs for
    every model of every track and plot: a third of the dense product's work)."""
    _transition_times(F, P, tmp, False)
    _transition_times(F, tmp, out, True)
    for i in range(NX):
        for j in range(i + 1, NX):
            avg = 0.5 * (out[i, j] + out[j, i])
            out[i, j] = avg
            out[j, i] = avg


@njit(cache=True, fastmath=True)
def _predict(x: F64, P: F64, dt: float, model: F64, xn: F64, Pn: F64, F: F64, tmp: F64) -> None:
    """Prediction of one state into xn, Pn by one row of the model table (CV, or CT as an EKF); height is
    constant-rate in both; F, tmp scratch."""
    for i in range(NX):
        for j in range(NX):
            F[i, j] = 1.0 if i == j else 0.0
        xn[i] = x[i]
    if model[M_TURN] != 0.0:
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
    _transition_sandwich(F, P, Pn, tmp)
    _add_noise(Pn, dt, model[M_Q], model[M_Q_TURN], model[M_Q_VERTICAL])


@njit(cache=True, fastmath=True)
def _measurement(frame: Frame, plots: PlotColumns, k: int, xs: F64, zp: F64, H: F64, R: F64, J: F64, H2: F64) -> None:
    """Predicted plot k of `plots` zp (3) at state xs; fills H (3 x NX) and R (3x3). H2, J are scratch."""
    origin, rot = frame
    _, sigma, has_height, is_radar, s_pos, s_rot = plots
    for i in range(NZ):
        for j in range(NX):
            H[i, j] = 0.0
        for j in range(NZ):
            R[i, j] = 0.0
    R[0, 0] = sigma[k, 0] * sigma[k, 0]
    R[1, 1] = sigma[k, 1] * sigma[k, 1]
    e, n, h = xs[0], xs[1], xs[5]
    if is_radar[k]:
        zp[0], zp[1] = _radar_geometry(origin, rot, s_pos[k], s_rot[k], e, n, h, H2, J)
        H[0, 0], H[0, 1], H[0, 5] = H2[0, 0], H2[0, 1], J[0]
        H[1, 0], H[1, 1], H[1, 5] = H2[1, 0], H2[1, 1], J[1]
    else:
        zp[0], zp[1] = e, n
        H[0, 0] = 1.0
        H[1, 1] = 1.0
    if has_height[k]:
        zp[2] = h
        H[2, 5] = 1.0
        R[2, 2] = sigma[k, 2] * sigma[k, 2]
    else:
        zp[2] = 0.0
        R[2, 2] = 1.0  # an empty row: zero innovation, unit variance, no effect


@njit(cache=True, fastmath=True)
def _observation_scratch() -> tuple[F64, F64, F64, F64, F64, F64]:
    """Scratch of one predicted plot: H (NZ,NX), R (NZ,NZ), H2 (2,2), J (2), zp (NZ), innovation (NZ)."""
    return np.empty((NZ, NX)), np.empty((NZ, NZ)), np.empty((2, 2)), np.empty(2), np.empty(NZ), np.empty(NZ)


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
    _innovation_covariance(Pp, H, R, PHt, S)
    return _apply_gain(xp, Pp, PHt, S, nu, xo, Po, Si, G, A)


@njit(cache=True, fastmath=True)
def _innovation_covariance(Pp: F64, H: F64, R: F64, PHt: F64, S: F64) -> None:
    """PHt = Pp H' and S = H Pp H' + R."""
    _product(Pp, H, PHt, True)
    _product(H, PHt, S, False)
    for a in range(NZ):
        for b in range(NZ):
            S[a, b] += R[a, b]


@njit(cache=True, fastmath=True)
def _apply_gain(x: F64, P: F64, C: F64, S: F64, nu: F64, xo: F64, Po: F64, Si: F64, G: F64, A: F64) -> float:
    """xo, Po = x + G nu, P - G S G' with G = C S^-1, C the state-measurement cross-covariance (P H' for a
    plot at the state's time); returns the innovation's log-likelihood. Si, G, A are scratch."""
    det = _inv3(S, Si)
    _product(C, Si, G, False)
    for i in range(NX):
        acc = x[i]
        for k in range(NZ):
            acc += G[i, k] * nu[k]
        xo[i] = acc
    # P - G S G' (= P - C S^-1 C'), symmetrised.
    _product(G, S, A, False)
    _product(A, G, Po, True)
    for i in range(NX):
        for j in range(i, NX):
            avg = 0.5 * ((P[i, j] - Po[i, j]) + (P[j, i] - Po[j, i]))
            Po[i, j] = avg
            Po[j, i] = avg
    return -0.5 * (_quadratic_form(nu, Si) + math.log(det) + NZ * LOG_2PI)


@njit(cache=True, fastmath=True)
def _retrodicted_update(
    x: F64, P: F64, F: F64, Pb: F64, H: F64, R: F64, nu: F64, xo: F64, Po: F64, scratch: Scratch
) -> float:
    """Update of the current state (x, P) by a plot from the past (Bar-Shalom's one-step algorithm B1).

    The state was predicted back to the plot's time with Jacobian F and covariance Pb, where H and the
    innovation nu were taken; S = H Pb H' + R, the cross-covariance of the current state and the plot is
    P F' H', and the state stays at its own time. Returns the innovation's log-likelihood.
    """
    C, S, Si, G, A = scratch
    _innovation_covariance(Pb, H, R, C, S)
    for j in range(NX):  # G = (H F)', once (the gain overwrites it after)
        for k in range(NZ):
            acc = 0.0
            for m in range(NX):
                acc += H[k, m] * F[m, j]
            G[j, k] = acc
    _product(P, G, C, False)
    return _apply_gain(x, P, C, S, nu, xo, Po, Si, G, A)


@njit(cache=True, fastmath=True)
def _weighted_sum(w: F64, x: F64, out: F64) -> None:
    """out (NX) = sum_m w[m] x[m] over the models' rows of x."""
    for i in range(NX):
        acc = w[0] * x[0, i]
        for m in range(1, w.shape[0]):
            acc += w[m] * x[m, i]
        out[i] = acc


@njit(cache=True, fastmath=True)
def _mix(x: F64, P: F64, w: F64, x0: F64, P0: F64) -> None:
    """x0, P0 = the Gaussian mixture sum_m w[m] N(x[m], P[m]) moment-matched."""
    M = w.shape[0]
    _weighted_sum(w, x, x0)
    for i in range(NX):
        for j in range(NX):
            acc = w[0] * (P[0, i, j] + (x[0, i] - x0[i]) * (x[0, j] - x0[j]))
            for m in range(1, M):
                acc += w[m] * (P[m, i, j] + (x[m, i] - x0[i]) * (x[m, j] - x0[j]))
            P0[i, j] = acc


@njit(cache=True, fastmath=True)
def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


@njit(cache=True, fastmath=True)
def _innovation(plots: PlotColumns, k: int, zp: F64, H: F64, dx: F64, nu: F64) -> None:
    """z - (zp + H dx) of plot k of `plots`, azimuth wrapped; zero for an empty height row."""
    z, _, has_height, is_radar, _, _ = plots
    for a in range(NZ):
        acc = zp[a]
        for j in range(NX):
            acc += H[a, j] * dx[j]
        nu[a] = z[k, a] - acc
    if is_radar[k]:
        nu[1] = _wrap(nu[1])
    if not has_height[k]:
        nu[2] = 0.0


@njit(cache=True, fastmath=True)
def _switching(models: F64) -> tuple[float, F64]:
    """Total switching rate and the long-run share of each model (the last takes the remainder, so they sum to one)."""
    M = models.shape[0]
    rate = models[0, M_ENTRY_RATE]
    for m in range(1, M):
        rate += models[m, M_ENTRY_RATE]
    shares = np.empty(M)
    rest = 1.0
    for m in range(M - 1):
        shares[m] = models[m, M_ENTRY_RATE] / rate
        rest -= shares[m]
    shares[M - 1] = rest
    return rate, shares


@njit(cache=True, fastmath=True)
def _transition(rate: float, shares: F64, dt: float, T: F64) -> None:
    """Model transition probabilities T[i, j] over dt: each model relaxes towards the long-run shares."""
    M = shares.shape[0]
    decay = math.exp(-rate * max(dt, 0.0))
    for i in range(M):
        leave = 0.0
        for j in range(M):
            if j != i:
                T[i, j] = shares[j] * (1.0 - decay)
                leave += shares[j]
        T[i, i] = shares[i] + leave * decay


@njit(cache=True, fastmath=True)
def _mixture(
    xp: F64, Pp: F64, xu: F64, Pu: F64, ll: F64, weight: F64, missed: float, xo: F64, Po: F64, loglik: F64
) -> None:
    """Per model: the moment-matched mixture of the prediction (weight `missed`) and its update by each plot,
    into xo, Po; loglik gets the log of the plots' weighted likelihood, given that one of them is the target's."""
    M = xp.shape[0]
    n = weight.shape[0]
    detected = 1.0 - missed
    for j in range(M):
        for i in range(NX):
            acc = missed * xp[j, i]
            for a in range(n):
                acc += weight[a] * xu[a, j, i]
            xo[j, i] = acc
        for i in range(NX):
            for m in range(NX):
                acc = missed * (Pp[j, i, m] + (xp[j, i] - xo[j, i]) * (xp[j, m] - xo[j, m]))
                for a in range(n):
                    acc += weight[a] * (Pu[a, j, i, m] + (xu[a, j, i] - xo[j, i]) * (xu[a, j, m] - xo[j, m]))
                Po[j, i, m] = acc
        top = ll[0, j]
        for a in range(1, n):
            top = max(top, ll[a, j])
        acc = 0.0
        for a in range(n):
            acc += weight[a] / detected * math.exp(ll[a, j] - top)
        loglik[j] = top + math.log(acc)


@njit(cache=True, fastmath=True)
def _model_probabilities(loglik: F64, c: F64, missed: float, mu: F64, m: F64) -> None:
    """Posterior model probabilities into mu from the predicted ones c and each model's log-likelihood;
    with weight `missed` the target was not seen and the predicted probabilities stand. m is scratch."""
    M = c.shape[0]
    for j in range(M):
        m[j] = loglik[j] + math.log(c[j])
    top = m.max()
    for j in range(M):
        m[j] = math.exp(m[j] - top)
    total = m.sum()
    for j in range(M):
        m[j] = max(m[j] / total, 1e-6)
    total = m.sum()
    csum = c.sum()
    for j in range(M):
        mu[j] = m[j] / total
        if missed > 0.0:
            mu[j] = missed * c[j] / csum + (1.0 - missed) * mu[j]


@njit(cache=True, fastmath=True)
def imm_update(
    x: F64,
    P: F64,
    mu: F64,
    rows: NDArray[np.int64],
    dt: F64,
    start: NDArray[np.int64],
    weight: F64,
    missed: F64,
    plots: PlotColumns,
    frame: Frame,
    models: F64,
    tables: NDArray[np.int64],
) -> None:
    """IMM interaction, model-matched prediction by dt and an EKF update with weighted plots, in place.

    Track rows[k] (distinct) takes the plots start[k]:start[k+1] of `plots` with their weights, and
    missed[k], the weight that none of them is the target's. Each model's posterior is the
    moment-matched mixture of its update by each plot and, for the missed weight, its prediction: one
    plot of weight one (GNN) is the plain IMM update, several (JPDA) give the PDA update. x (N,M,7),
    P (N,M,7,7), mu (N,M) hold every track; `models` (T,M,C) holds one model table per motion regime
    (air, surface) and tables[k] picks row k's. Working on the whole arrays by index avoids copying every
    updated track's covariance in and out. Plots older than their track (dt[k] < 0) update it at its
    own time by retrodiction (`_retrodicted_update`), each model with its own backward prediction.
    """
    K = rows.shape[0]
    M = models.shape[1]
    most = 1
    for k in range(K):
        most = max(most, start[k + 1] - start[k])
    xu = np.empty((most, M, NX))
    Pu = np.empty((most, M, NX, NX))
    ll = np.empty((most, M))
    rates = np.empty(models.shape[0])
    shares = np.empty((models.shape[0], M))
    for t in range(models.shape[0]):
        rates[t], shares[t] = _switching(models[t])
    T = np.empty((M, M))
    c = np.empty(M)
    w = np.empty(M)
    loglik = np.empty(M)
    x0, P0 = np.empty(NX), np.empty((NX, NX))
    xp, Pp = np.empty((M, NX)), np.empty((M, NX, NX))
    back = np.empty((M, NX, NX))
    xr, dx = np.empty(NX), np.empty(NX)
    F, tmp = np.empty((NX, NX)), np.empty((NX, NX))
    H, R, H2, J, zp, nu = _observation_scratch()
    A, PHt, G = np.empty((NX, NZ)), np.empty((NX, NZ)), np.empty((NX, NZ))
    S, Si = np.empty((NZ, NZ)), np.empty((NZ, NZ))
    scratch = (PHt, S, Si, G, A)
    for k in range(K):
        r = rows[k]
        table = models[tables[k]]
        late = dt[k] < 0.0
        if late:
            for j in range(M):
                _predict(x[r, j], P[r, j], dt[k], table[j], xp[j], Pp[j], back[j], tmp)
                c[j] = max(mu[r, j], 1e-12)
        else:
            _transition(rates[tables[k]], shares[tables[k]], dt[k], T)
            for j in range(M):
                acc = mu[r, 0] * T[0, j]
                for i in range(1, M):
                    acc += mu[r, i] * T[i, j]
                c[j] = max(acc, 1e-12)
            for j in range(M):
                inv = 1.0 / c[j]
                for i in range(M):
                    w[i] = mu[r, i] * T[i, j] * inv
                _mix(x[r], P[r], w, x0, P0)
                _predict(x0, P0, dt[k], table[j], xp[j], Pp[j], F, tmp)
        inv = 1.0 / c.sum()
        _weighted_sum(c, xp, xr)
        for i in range(NX):
            xr[i] *= inv
        first, n = start[k], start[k + 1] - start[k]
        for a in range(n):
            _measurement(frame, plots, first + a, xr, zp, H, R, J, H2)
            for j in range(M):
                for i in range(NX):
                    dx[i] = xp[j, i] - xr[i]
                _innovation(plots, first + a, zp, H, dx, nu)
                if late:
                    ll[a, j] = _retrodicted_update(
                        x[r, j], P[r, j], back[j], Pp[j], H, R, nu, xu[a, j], Pu[a, j], scratch
                    )
                else:
                    ll[a, j] = _ekf_update(xp[j], Pp[j], H, R, nu, xu[a, j], Pu[a, j], PHt, S, Si, G, A)
                xu[a, j, 5] = min(max(xu[a, j, 5], H_MIN), H_MAX)
        if late:  # without the plot, the track stays as it is now
            xp[:] = x[r]
            Pp[:] = P[r]
        if n == 1 and missed[k] == 0.0:
            loglik[:] = ll[0]
            x[r] = xu[0]
            P[r] = Pu[0]
        else:
            _mixture(xp, Pp, xu[:n], Pu[:n], ll[:n], weight[first : first + n], missed[k], x[r], P[r], loglik)
        _model_probabilities(loglik, c, missed[k], mu[r], w)


@njit(cache=True, fastmath=True)
def gate_rows(
    x: F64,
    P: F64,
    mu: F64,
    rows: NDArray[np.int64],
    dt: F64,
    plots: PlotColumns,
    frame: Frame,
    model: F64,
    tables: NDArray[np.int64],
) -> tuple[F64, F64, F64, F64, F64, F64]:
    """Score pairs (track rows[k], plot k): the track's moment-matched mixture predicted by dt under
    model[tables[k]] (one gating model per motion regime).

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
    H, R, H2, J, zp, nu = _observation_scratch()
    dx = np.zeros(NX)
    xc = np.empty(NX)
    Pc = np.empty((NX, NX))
    xp = np.empty(NX)
    Pp = np.empty((NX, NX))
    F, tmp = np.empty((NX, NX)), np.empty((NX, NX))
    S, Si = np.empty((NZ, NZ)), np.empty((NZ, NZ))
    for k in range(K):
        r = rows[k]
        _mix(x[r], P[r], mu[r], xc, Pc)
        _predict(xc, Pc, dt[k], model[tables[k]], xp, Pp, F, tmp)
        _measurement(frame, plots, k, xp, zp, H, R, J, H2)
        _innovation(plots, k, zp, H, dx, nu)
        for a in range(NZ):
            for b in range(NZ):
                acc = R[a, b]
                for i in range(NX):
                    for j in range(NX):
                        acc += H[a, i] * Pp[i, j] * H[b, j]
                S[a, b] = acc
        det = _inv3(S, Si)
        d2[k] = _quadratic_form(nu, Si)
        logdet[k] = math.log(det)
        for a in range(2):
            nu_o[k, a] = nu[a]
            rates[k, a] = H[a, 0] * xp[2] + H[a, 1] * xp[3] + H[a, 5] * xp[6]
            for b in range(2):
                So[k, a, b] = S[a, b]
                Ho[k, a, b] = H[a, b]
    return d2, logdet, nu_o, So, Ho, rates


@njit(cache=True, fastmath=True)
def predict_combined(
    x: F64,
    P: F64,
    mu: F64,
    rows: NDArray[np.int64],
    dt: F64,
    models: F64,
    tables: NDArray[np.int64],
    block: NDArray[np.int64],
) -> tuple[F64, F64]:
    """Tracks at `rows` predicted by dt (each model without interaction) and moment-matched: the mixture's mean
    (K,NX) and the covariance of the state components `block` (K,B,B), without the per-model arrays."""
    K = rows.shape[0]
    B = block.shape[0]
    xc = np.zeros((K, NX))
    Pc = np.zeros((K, B, B))
    xm = np.empty((models.shape[1], NX))
    Pm = np.empty((models.shape[1], NX, NX))
    F = np.empty((NX, NX))
    tmp = np.empty((NX, NX))
    for k in range(K):
        r = rows[k]
        table = models[tables[k]]
        n_models = table.shape[0]
        for m in range(n_models):
            _predict(x[r, m], P[r, m], dt[k], table[m], xm[m], Pm[m], F, tmp)
            for i in range(NX):
                xc[k, i] += mu[r, m] * xm[m, i]
        for m in range(n_models):
            for a in range(B):
                da = xm[m, block[a]] - xc[k, block[a]]
                for b in range(B):
                    db = xm[m, block[b]] - xc[k, block[b]]
                    Pc[k, a, b] += mu[r, m] * (Pm[m, block[a], block[b]] + da * db)
    return xc, Pc


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
