"""Compiled per-row kernels of fusion's hot path (Numba): extrapolation, pair distances, covariance intersection.

A fusion call handles tens of thousands of 4-state estimates ([east, north, v_east, v_north] in the
fusion frame). As NumPy batch operations on (K, 4, 4) stacks each step would cost a dozen array
passes and batched LAPACK calls; as one compiled loop over rows it is a few hundred nanoseconds per
row. Small symmetric positive-definite matrices are handled by an explicit Cholesky factorisation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from commonsky.core.arrays import F64, I64, B
from commonsky.core.geodesy import EARTH_RADIUS_M, WGS84_A, WGS84_E2
from commonsky.tracking.kernels import ecef_to_geodetic_scalar as _ecef_to_geodetic

DIM = 4
"""State dimension: east, north, v_east, v_north."""


@njit(cache=True)
def _cholesky(a: F64, low: F64, n: int) -> bool:
    """Lower Cholesky factor of the leading n x n block of a symmetric matrix into `low`; False if not SPD."""
    for i in range(n):
        for j in range(i + 1):
            s = a[i, j]
            for k in range(j):
                s -= low[i, k] * low[j, k]
            if i == j:
                if not s > 0.0:  # also catches NaN
                    return False
                low[i, i] = math.sqrt(s)
            else:
                low[i, j] = s / low[j, j]
        for j in range(i + 1, n):
            low[i, j] = 0.0
    return True


@njit(cache=True)
def _spd_inverse(a: F64, out: F64, low: F64, linv: F64, n: int) -> bool:
    """Inverse of an n x n symmetric positive-definite matrix through its Cholesky factor; False if not SPD."""
    if not _cholesky(a, low, n):
        return False
    # linv = low^-1 (lower triangular), then out = linv^T linv.
    for i in range(n):
        linv[i, i] = 1.0 / low[i, i]
        for j in range(i):
            s = 0.0
            for k in range(j, i):
                s -= low[i, k] * linv[k, j]
            linv[i, j] = s / low[i, i]
        for j in range(i + 1, n):
            linv[i, j] = 0.0
    for i in range(n):
        for j in range(i + 1):
            s = 0.0
            for k in range(i, n):
                s += linv[k, i] * linv[k, j]
            out[i, j] = s
            out[j, i] = s
    return True


@njit(cache=True)
def positive_definite(P: F64) -> B:
    """Per row: is the (K, n, n) covariance finite, symmetric enough and positive definite?"""
    k_rows, n = P.shape[0], P.shape[1]
    ok = np.zeros(k_rows, np.bool_)
    low = np.empty((n, n))
    for r in range(k_rows):
        ok[r] = _cholesky(P[r], low, n)
    return ok


@njit(cache=True)
def extrapolate(x: F64, P: F64, dt: F64, q: float) -> tuple[F64, F64]:
    """Constant-velocity prediction of [e, n, ve, vn] by dt per row, with white-acceleration noise q (m²/s³).

    F = [[I, dt I], [0, I]]; Q = q [[dt³/3 I, dt²/2 I], [dt²/2 I, dt I]] (per axis, isotropic, so the
    same in any horizontal axes).
    """
    k_rows = x.shape[0]
    xo = np.empty_like(x)
    Po = np.empty_like(P)
    for r in range(k_rows):
        t = dt[r]
        xo[r, 0] = x[r, 0] + t * x[r, 2]
        xo[r, 1] = x[r, 1] + t * x[r, 3]
        xo[r, 2] = x[r, 2]
        xo[r, 3] = x[r, 3]
        p = P[r]
        o = Po[r]
        # Blocks: pp (0:2, 0:2), pv (0:2, 2:4), vv (2:4, 2:4).
        for i in range(2):
            for j in range(2):
                pp = p[i, j] + t * (p[i, j + 2] + p[i + 2, j]) + t * t * p[i + 2, j + 2]
                pv = p[i, j + 2] + t * p[i + 2, j + 2]
                vv = p[i + 2, j + 2]
                if i == j:
                    pp += q * t * t * t / 3.0
                    pv += q * t * t / 2.0
                    vv += q * t
                o[i, j] = pp
                o[i, j + 2] = pv
                o[j + 2, i] = pv
                o[i + 2, j + 2] = vv
    return xo, Po


@njit(cache=True)
def pair_chi2(xa: F64, Pa: F64, ia: I64, xb: F64, Pb: F64, ib: I64) -> F64:
    """Mahalanobis distance² of xa[ia] - xb[ib] under Pa[ia] + Pb[ib], per pair (inf if not SPD).

    The sum of the covariances is the covariance of the difference only if the two estimation
    errors are uncorrelated; between partners' trackers the cross-covariance is unknown (common
    process noise, shared sensors), and positive correlation makes the true difference smaller,
    so the summed form errs towards keeping a pair (the safe side for association).
    """
    if xa.shape[1] != DIM or xb.shape[1] != DIM:
        raise ValueError("pair_chi2: states must have 4 components")
    m = ia.shape[0]
    n = DIM
    out = np.empty(m)
    s = np.empty((n, n))
    low = np.empty((n, n))
    z = np.empty(n)
    for p in range(m):
        a = ia[p]
        b = ib[p]
        for i in range(n):
            for j in range(n):
                s[i, j] = Pa[a, i, j] + Pb[b, i, j]
        if not _cholesky(s, low, n):
            out[p] = np.inf
            continue
        d2 = 0.0
        for i in range(n):
            v = xa[a, i] - xb[b, i]
            for k in range(i):
                v -= low[i, k] * z[k]
            z[i] = v / low[i, i]
            d2 += z[i] * z[i]
        out[p] = d2
    return out


@njit(cache=True)
def _chol_solve(low: F64, b: F64, out: F64, size: int) -> None:
    """Solve (low low^T) out = b for the leading `size` rows of a lower Cholesky factor."""
    for i in range(size):
        v = b[i]
        for k in range(i):
            v -= low[i, k] * out[k]
        out[i] = v / low[i, i]
    for i in range(size - 1, -1, -1):
        v = out[i]
        for k in range(i + 1, size):
            v -= low[k, i] * out[k]
        out[i] = v / low[i, i]


@njit(cache=True)
def _weighted_information(w: F64, info: F64, m: int, M: F64) -> None:
    """M = Σ w_k info_k over the first m inputs: the fused information of covariance intersection at w."""
    for i in range(DIM):
        for j in range(DIM):
            acc = 0.0
            for k in range(m):
                acc += w[k] * info[k, i, j]
            M[i, j] = acc


@njit(cache=True)
def _ci_objective(
    w: F64, info: F64, m: int, trace_criterion: bool, smoothing: float, M: F64, Pm: F64, low: F64, linv: F64
) -> float:
    """CI objective at w: log det M(w)⁻¹ or tr M(w)⁻¹, plus (s/2) Σ (w - 1/m)²; inf if M(w) is not SPD."""
    n = DIM
    _weighted_information(w, info, m, M)
    t = 0.0
    if trace_criterion:
        if not _spd_inverse(M, Pm, low, linv, n):
            return np.inf
        for i in range(n):
            t += Pm[i, i]
    else:
        if not _cholesky(M, low, n):
            return np.inf
        for i in range(n):
            t -= 2.0 * math.log(low[i, i])
    for k in range(m):
        t += 0.5 * smoothing * (w[k] - 1.0 / m) ** 2
    return t


@njit(cache=True)
def covariance_intersection(
    x: F64,
    P: F64,
    starts: I64,
    w0: F64,
    trace_criterion: bool,
    smoothing: float,
    max_iterations: int,
    tolerance: float,
) -> tuple[F64, F64, F64, B]:
    """Covariance intersection of each group of rows x[starts[g]:starts[g+1]] (any group size).

    Fused information M(w) = Σ w_i P_i⁻¹, fused estimate P = M⁻¹, x = P Σ w_i P_i⁻¹ x_i, with the
    weights w on the simplex. For any such w the fused covariance bounds the true error covariance
    whatever the cross-correlations of the inputs are (Julier & Uhlmann), so the result is
    consistent; the weights are chosen to make it small, minimising a convex function of w:

    - determinant criterion: f(w) = log det P = -log det M(w). The determinant is invariant to
      units and axes, so metres and metres per second need no relative scaling.
      Gradient -tr(P I_i), Hessian tr(P I_i P I_j) (I_i = P_i⁻¹).
    - trace criterion: f(w) = tr P. Gradient -tr(P I_i P), Hessian 2 tr(P I_i P I_j P).

    When the inputs' covariances are nearly proportional f is almost flat and its minimum jumps
    between vertices as their sizes cross, which would make the fused track jump between sources
    from one second to the next. `smoothing` s > 0 adds (s/2) Σ (w_i - 1/m)² (for the trace
    criterion scaled by the trace at the starting weights), which makes the objective strongly
    convex, so its minimiser is unique and continuous in the inputs; the objective then exceeds
    its unsmoothed minimum by at most s/2. 0 gives the exact minimum.

    Minimised by Newton steps on the simplex (Σ w = 1 through a Lagrange multiplier; an active set
    for weights at 0, a weight leaving it when its gradient says so) with Armijo backtracking; a
    few iterations reach machine precision, as f is smooth and convex.
    Stops when no weight would move by more than `tolerance` and the optimality conditions hold,
    or after `max_iterations`. `w0` (K,) are starting weights per row, e.g. those of the previous
    call (the optimum moves little from one second to the next, so one or two Newton steps then
    suffice); a group with any non-finite or negative starting weight starts from equal weights.
    Returns the fused states (G, n), covariances (G, n, n), the weight of each input row (K,) and
    per group whether every input was positive definite (groups with a bad input return NaN).
    """
    if x.shape[1] != DIM:
        raise ValueError("covariance_intersection: states must have 4 components")
    n_groups = starts.shape[0] - 1
    n = DIM
    xf = np.empty((n_groups, n))
    Pf = np.empty((n_groups, n, n))
    weights = np.zeros(x.shape[0])
    ok = np.ones(n_groups, np.bool_)
    max_m = 1
    for g in range(n_groups):
        max_m = max(max_m, starts[g + 1] - starts[g])
    info = np.empty((max_m, n, n))
    A = np.empty((max_m, n, n))
    C = np.empty((max_m, n, n))
    y = np.empty((max_m, n))
    w = np.empty(max_m)
    w_try = np.empty(max_m)
    grad = np.empty(max_m)
    d = np.empty(max_m)
    free = np.empty(max_m, np.bool_)
    idx = np.empty(max_m, np.int64)
    H = np.empty((max_m, max_m))
    Hlow = np.empty((max_m, max_m))
    gf = np.empty(max_m)
    ones = np.ones(max_m)
    u = np.empty(max_m)
    v = np.empty(max_m)
    b = np.empty(n)
    M = np.empty((n, n))
    Pm = np.empty((n, n))
    low = np.empty((n, n))
    linv = np.empty((n, n))
    for g in range(n_groups):
        s0 = starts[g]
        m = starts[g + 1] - s0
        if m == 1:
            xf[g] = x[s0]
            Pf[g] = P[s0]
            weights[s0] = 1.0
            continue
        good = True
        for k in range(m):
            if not _spd_inverse(P[s0 + k], info[k], low, linv, n):
                good = False
                break
            for i in range(n):
                acc = 0.0
                for j in range(n):
                    acc += info[k, i, j] * x[s0 + k, j]
                y[k, i] = acc
        if not good:
            ok[g] = False
            xf[g] = np.nan
            Pf[g] = np.nan
            continue
        # Starting weights: the previous ones if usable, else equal.
        total = 0.0
        warm = True
        for k in range(m):
            if not (w0[s0 + k] >= 0.0 and w0[s0 + k] < np.inf):
                warm = False
            else:
                total += w0[s0 + k]
        for k in range(m):
            w[k] = w0[s0 + k] / total if warm and total > 0.0 else 1.0 / m
            free[k] = w[k] > 0.0
        eps = smoothing
        if smoothing > 0.0 and trace_criterion:
            eps = smoothing * _ci_objective(w, info, m, True, 0.0, M, Pm, low, linv)
        for _ in range(max_iterations):
            # M and P at w, A_k = P I_k, objective, gradient and Hessian.
            _weighted_information(w, info, m, M)
            if not _spd_inverse(M, Pm, low, linv, n):
                break
            f = 0.0
            for i in range(n):
                f += Pm[i, i] if trace_criterion else -2.0 * math.log(low[i, i])
            for k in range(m):
                f += 0.5 * eps * (w[k] - 1.0 / m) ** 2
            for k in range(m):
                for i in range(n):
                    for j in range(n):
                        acc = 0.0
                        for t in range(n):
                            acc += Pm[i, t] * info[k, t, j]
                        A[k, i, j] = acc
            if trace_criterion:
                for k in range(m):
                    for i in range(n):
                        for j in range(n):
                            acc = 0.0
                            for t in range(n):
                                acc += A[k, i, t] * Pm[t, j]
                            C[k, i, j] = acc
            for k in range(m):
                acc = 0.0
                for i in range(n):
                    acc += C[k, i, i] if trace_criterion else A[k, i, i]
                grad[k] = -acc + eps * (w[k] - 1.0 / m)
            mf = 0
            for k in range(m):
                if free[k]:
                    idx[mf] = k
                    mf += 1
            for a in range(mf):
                ka = idx[a]
                for c in range(a + 1):
                    kc = idx[c]
                    acc = 0.0
                    for i in range(n):
                        for j in range(n):
                            acc += A[ka, i, j] * (C[kc, j, i] if trace_criterion else A[kc, j, i])
                    if trace_criterion:
                        acc *= 2.0
                    H[a, c] = acc
                    H[c, a] = acc
                H[a, a] += eps
                gf[a] = grad[ka]
            # Newton direction on the free set with Σ d = 0: d = -H⁻¹(g - λ1). A relative ridge
            # keeps H definite when inputs are duplicates.
            for a in range(mf):
                H[a, a] += 1e-10 * H[a, a] + 1e-300
            if not _cholesky(H, Hlow, mf):
                break
            _chol_solve(Hlow, gf, u, mf)
            _chol_solve(Hlow, ones, v, mf)
            su = 0.0
            sv = 0.0
            for a in range(mf):
                su += u[a]
                sv += v[a]
            lam = su / sv
            slope = 0.0
            step = 0.0
            for k in range(m):
                d[k] = 0.0
            for a in range(mf):
                d[idx[a]] = -(u[a] - lam * v[a])
                slope += gf[a] * d[idx[a]]
                step = max(step, abs(d[idx[a]]))
            progressed = False
            # Newton decrement -slope below rounding level: nothing left to gain on this free set.
            if step >= tolerance and -slope > 1e-12 * (abs(f) + abs(lam)):
                # Longest feasible step, then Armijo backtracking.
                alpha = 1.0
                blocking = -1
                for k in range(m):
                    if d[k] < 0.0 and -w[k] / d[k] < alpha:
                        alpha = -w[k] / d[k]
                        blocking = k
                f_try = np.inf
                for _half in range(40):
                    for k in range(m):
                        w_try[k] = max(w[k] + alpha * d[k], 0.0)
                    if blocking >= 0:
                        w_try[blocking] = 0.0
                    f_try = _ci_objective(w_try, info, m, trace_criterion, eps, M, Pm, low, linv)
                    if f_try <= f + 1e-4 * alpha * slope:
                        progressed = f_try <= f
                        break
                    alpha *= 0.5
                    blocking = -1
                if progressed:
                    total = 0.0
                    for k in range(m):
                        total += w_try[k]
                    for k in range(m):
                        w[k] = w_try[k] / total
                    if blocking >= 0:
                        free[blocking] = False
            if not progressed:
                # Converged on the free set (or rounding stops progress): free the bound weight
                # that most wants to grow, if the optimality conditions say one should.
                worst = -1
                worst_gap = 1e-12 * abs(lam)
                for k in range(m):
                    if not free[k] and lam - grad[k] > worst_gap:
                        worst_gap = lam - grad[k]
                        worst = k
                if worst < 0:
                    break
                # Move towards that vertex (a Frank-Wolfe step, a descent direction since its
                # gradient is below the free weights' average), so that Newton starts inside.
                slope = grad[worst]
                for k in range(m):
                    slope -= w[k] * grad[k]
                t_step = 1.0
                moved = False
                for _half in range(40):
                    for k in range(m):
                        w_try[k] = (1.0 - t_step) * w[k]
                    w_try[worst] += t_step
                    f_try = _ci_objective(w_try, info, m, trace_criterion, eps, M, Pm, low, linv)
                    if f_try <= f + 1e-4 * t_step * slope:
                        moved = f_try < f
                        break
                    t_step *= 0.5
                if not moved:
                    break
                for k in range(m):
                    w[k] = w_try[k]
                    if w[k] > 0.0:
                        free[k] = True
        # Final fused estimate with the chosen weights.
        _weighted_information(w, info, m, M)
        if not _spd_inverse(M, Pm, low, linv, n):
            ok[g] = False
            xf[g] = np.nan
            Pf[g] = np.nan
            continue
        for i in range(n):
            acc = 0.0
            for k in range(m):
                acc += w[k] * y[k, i]
            b[i] = acc
        for i in range(n):
            acc = 0.0
            for j in range(n):
                acc += Pm[i, j] * b[j]
            xf[g, i] = acc
            for j in range(n):
                Pf[g, i, j] = Pm[i, j]
        for k in range(m):
            weights[s0 + k] = w[k]
    return xf, Pf, weights, ok


# ----------------------------------------------------------------------------- frame conversions


@njit(cache=True)
def _local_axes(rot: F64, sl: float, cl: float, so: float, co: float, a: F64) -> None:
    """a (2x2): rows are the frame-horizontal components of the local east and north unit vectors."""
    east = (-so, co, 0.0)
    north = (-sl * co, -sl * so, cl)
    for c in range(2):
        a[0, c] = rot[c, 0] * east[0] + rot[c, 1] * east[1] + rot[c, 2] * east[2]
        a[1, c] = rot[c, 0] * north[0] + rot[c, 1] * north[1] + rot[c, 2] * north[2]


@njit(cache=True)
def _sandwich_2x2_blocks(b: F64, P: F64, out: F64, tmp: F64) -> None:
    """out = B P B^T with B = diag(b, b) (b 2x2, P and out 4x4; tmp 4x4 scratch)."""
    for i in range(4):
        bi = i // 2 * 2
        for j in range(4):
            tmp[i, j] = b[i % 2, 0] * P[bi, j] + b[i % 2, 1] * P[bi + 1, j]
    for i in range(4):
        for j in range(i + 1):
            bj = j // 2 * 2
            v = tmp[i, bj] * b[j % 2, 0] + tmp[i, bj + 1] * b[j % 2, 1]
            out[i, j] = v
            out[j, i] = v


@njit(cache=True)
def geodetic_to_frame(
    lat_deg: F64, lon_deg: F64, v_east: F64, v_north: F64, cov_local: F64, origin: F64, rot: F64
) -> tuple[F64, F64]:
    """Frame state [e, n, ve, vn] of the ellipsoid point below each report, and its frame-axis covariance.

    `origin` is the frame origin in ECEF, `rot` the ECEF->ENU rotation (rows east, north, up).
    """
    k_rows = lat_deg.shape[0]
    x = np.empty((k_rows, 4))
    P = np.empty((k_rows, 4, 4))
    a = np.empty((2, 2))
    ai = np.empty((2, 2))
    tmp = np.empty((4, 4))
    for r in range(k_rows):
        la = math.radians(lat_deg[r])
        lo = math.radians(lon_deg[r])
        sl, cl, so, co = math.sin(la), math.cos(la), math.sin(lo), math.cos(lo)
        nn = WGS84_A / math.sqrt(1.0 - WGS84_E2 * sl * sl)
        dx = nn * cl * co - origin[0]
        dy = nn * cl * so - origin[1]
        dz = nn * (1.0 - WGS84_E2) * sl - origin[2]
        x[r, 0] = rot[0, 0] * dx + rot[0, 1] * dy + rot[0, 2] * dz
        x[r, 1] = rot[1, 0] * dx + rot[1, 1] * dy + rot[1, 2] * dz
        _local_axes(rot, sl, cl, so, co, a)
        det = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
        ai[0, 0] = a[1, 1] / det
        ai[1, 1] = a[0, 0] / det
        ai[0, 1] = -a[0, 1] / det
        ai[1, 0] = -a[1, 0] / det
        x[r, 2] = ai[0, 0] * v_east[r] + ai[0, 1] * v_north[r]
        x[r, 3] = ai[1, 0] * v_east[r] + ai[1, 1] * v_north[r]
        _sandwich_2x2_blocks(ai, cov_local[r], P[r], tmp)
    return x, P


@njit(cache=True)
def frame_to_geodetic(x: F64, P: F64, origin: F64, rot: F64, alt0_m: float) -> tuple[F64, F64, F64, F64, F64]:
    """Inverse of `geodetic_to_frame`: latitude, longitude (deg), local v_east, v_north and covariance.

    The frame-up coordinate of the ellipsoid point is found by Newton steps on its ellipsoidal
    height along the frame's up axis, from a spherical first guess.
    """
    k_rows = x.shape[0]
    lat_out = np.empty(k_rows)
    lon_out = np.empty(k_rows)
    ve = np.empty(k_rows)
    vn = np.empty(k_rows)
    cov = np.empty((k_rows, 4, 4))
    a = np.empty((2, 2))
    tmp = np.empty((4, 4))
    for r in range(k_rows):
        e = x[r, 0]
        n = x[r, 1]
        u = math.sqrt(max(EARTH_RADIUS_M * EARTH_RADIUS_M - e * e - n * n, 0.0)) - EARTH_RADIUS_M - alt0_m
        lat = 0.0
        lon = 0.0
        for it in range(4):
            px = origin[0] + rot[0, 0] * e + rot[1, 0] * n + rot[2, 0] * u
            py = origin[1] + rot[0, 1] * e + rot[1, 1] * n + rot[2, 1] * u
            pz = origin[2] + rot[0, 2] * e + rot[1, 2] * n + rot[2, 2] * u
            lat, lon, h = _ecef_to_geodetic(px, py, pz)
            if it == 3 or abs(h) < 1e-4:
                break
            cl = math.cos(lat)
            cos_tilt = cl * math.cos(lon) * rot[2, 0] + cl * math.sin(lon) * rot[2, 1] + math.sin(lat) * rot[2, 2]
            u -= h / cos_tilt
        sl, cl, so, co = math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)
        lat_out[r] = math.degrees(lat)
        lon_out[r] = math.degrees(lon)
        _local_axes(rot, sl, cl, so, co, a)
        ve[r] = a[0, 0] * x[r, 2] + a[0, 1] * x[r, 3]
        vn[r] = a[1, 0] * x[r, 2] + a[1, 1] * x[r, 3]
        _sandwich_2x2_blocks(a, P[r], cov[r], tmp)
    return lat_out, lon_out, ve, vn, cov
