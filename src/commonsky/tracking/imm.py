"""Interacting Multiple Model filter (CV + CT), vectorised over tracks: mix, predict, update, combine.

Shapes: x (K,M,5), P (K,M,5,5), mu (K,M) with M = 2 models (0: CV, 1: CT). The measurement is
2-D (east/north for ADS-B, slant range/azimuth for radar) and enters each model through an EKF
linearised once at the mixture's predicted position, which keeps radar geometry to one
evaluation per plot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from commonsky.tracking.config import TrackerConfig
from commonsky.tracking.models import DIM, ct_predict, cv_predict, imm_transition

F64 = NDArray[np.float64]
B = NDArray[np.bool_]
LOG_2PI = np.log(2.0 * np.pi)


def combine(x: F64, P: F64, mu: F64) -> tuple[F64, F64]:
    """Moment-matched single Gaussian (K,5), (K,5,5) of the model mixture."""
    xc = np.einsum("km,kmi->ki", mu, x)
    dx = x - xc[:, None, :]
    Pc = np.einsum("km,kmij->kij", mu, P + dx[..., :, None] * dx[..., None, :])
    return xc, Pc


def mix_and_predict(x: F64, P: F64, mu: F64, dt: F64, cfg: TrackerConfig) -> tuple[F64, F64, F64]:
    """IMM interaction then model-matched prediction by dt; returns predicted x, P and prior weights c (K,M)."""
    T = imm_transition(dt, cfg.cv_mean_sojourn_s, cfg.ct_mean_sojourn_s)
    c = np.einsum("ki,kij->kj", mu, T)
    c = np.maximum(c, 1e-12)
    w = mu[:, :, None] * T / c[:, None, :]  # w[k, i, j] = P(model i before | model j after)
    x0 = np.einsum("kij,kid->kjd", w, x)
    dx = x[:, :, None, :] - x0[:, None, :, :]  # (K, i, j, d)
    P0 = np.einsum("kij,kiab->kjab", w, P) + np.einsum("kij,kija,kijb->kjab", w, dx, dx)
    turn = np.radians(cfg.q_turn_rate_dps)
    xp = np.empty_like(x0)
    Pp = np.empty_like(P0)
    xp[:, 0], Pp[:, 0] = cv_predict(x0[:, 0], P0[:, 0], dt, cfg.q_cv_mps2, turn * 0.1)
    xp[:, 1], Pp[:, 1] = ct_predict(x0[:, 1], P0[:, 1], dt, cfg.q_ct_mps2, turn)
    return xp, Pp, c


def predict_mixture(x: F64, P: F64, dt: F64, cfg: TrackerConfig) -> tuple[F64, F64]:
    """Each model predicted by dt without interaction (for output and gating)."""
    turn = np.radians(cfg.q_turn_rate_dps)
    xp = np.empty_like(x)
    Pp = np.empty_like(P)
    xp[:, 0], Pp[:, 0] = cv_predict(x[:, 0], P[:, 0], dt, cfg.q_cv_mps2, turn * 0.1)
    xp[:, 1], Pp[:, 1] = ct_predict(x[:, 1], P[:, 1], dt, cfg.q_ct_mps2, turn)
    return xp, Pp


@dataclass(frozen=True)
class LinearisedMeasurement:
    """A 2-D measurement and its model linearised at a reference position (K rows)."""

    z: F64
    """(K,2) measured values (azimuth in radians for radar)."""
    z_ref: F64
    """(K,2) predicted measurement at the reference position."""
    H: F64
    """(K,2,2) Jacobian of the measurement in (e, n) at the reference."""
    position_ref: F64
    """(K,2) the reference east/north position."""
    R: F64
    """(K,2,2) measurement noise (altitude uncertainty already folded in for radar)."""
    wrap_second: B
    """(K,) true where the second component is an angle to wrap to (-pi, pi]."""


def innovation(m: LinearisedMeasurement, position: F64) -> F64:
    """z - h(position) to first order about the reference, with azimuth wrapping: (K,2)."""
    zhat = m.z_ref + np.einsum("kij,kj->ki", m.H, position - m.position_ref)
    nu = m.z - zhat
    nu[:, 1] = np.where(m.wrap_second, (nu[:, 1] + np.pi) % (2.0 * np.pi) - np.pi, nu[:, 1])
    return nu


def update(xp: F64, Pp: F64, c: F64, m: LinearisedMeasurement) -> tuple[F64, F64, F64]:
    """Model-matched EKF updates and model probability update; returns x, P, mu."""
    K, M = c.shape
    x_new = np.empty_like(xp)
    P_new = np.empty_like(Pp)
    loglik = np.empty((K, M))
    Hfull = np.zeros((K, 2, DIM))
    Hfull[:, :, :2] = m.H
    eye = np.eye(DIM)
    for j in range(M):
        nu = innovation(m, xp[:, j, :2])
        PHt = Pp[:, j] @ Hfull.transpose(0, 2, 1)  # (K,5,2)
        S = Hfull @ PHt + m.R
        Sinv, logdet = _inv2(S)
        gain = PHt @ Sinv
        x_new[:, j] = xp[:, j] + np.einsum("kij,kj->ki", gain, nu)
        # Joseph form keeps P symmetric positive definite under rounding.
        A = eye - gain @ Hfull
        Pj = A @ Pp[:, j] @ A.transpose(0, 2, 1) + gain @ m.R @ gain.transpose(0, 2, 1)
        P_new[:, j] = 0.5 * (Pj + Pj.transpose(0, 2, 1))
        loglik[:, j] = -0.5 * (np.einsum("ki,kij,kj->k", nu, Sinv, nu) + logdet + 2.0 * LOG_2PI)
    logw = np.log(c) + loglik
    logw -= logw.max(axis=1, keepdims=True)
    mu = np.exp(logw)
    mu /= mu.sum(axis=1, keepdims=True)
    mu = np.clip(mu, 1e-6, 1.0)
    mu /= mu.sum(axis=1, keepdims=True)
    return x_new, P_new, mu


def _inv2(S: F64) -> tuple[F64, F64]:
    """Inverse and log-determinant of (K,2,2) symmetric positive definite matrices."""
    a, b, d = S[:, 0, 0], S[:, 0, 1], S[:, 1, 1]
    det = a * d - b * b
    inv = np.empty_like(S)
    inv[:, 0, 0] = d / det
    inv[:, 1, 1] = a / det
    inv[:, 0, 1] = inv[:, 1, 0] = -b / det
    return inv, np.log(det)


def mahalanobis2(nu: F64, S: F64) -> tuple[F64, F64]:
    """Squared Mahalanobis distance and log-determinant of 2-D innovations."""
    Sinv, logdet = _inv2(S)
    return np.einsum("ki,kij,kj->k", nu, Sinv, nu), logdet


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
