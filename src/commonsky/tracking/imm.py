"""IMM helper vectorised over tracks: the moment-matched single Gaussian of the model mixture.

Shapes: x (K,M,7), P (K,M,7,7), mu (K,M) with M = 2 models (0: CV, 1: CT). The motion models,
the IMM interaction and the EKF updates run in the compiled `kernels`.
"""

from __future__ import annotations

import numpy as np

from commonsky.core.arrays import F64


def combine(x: F64, P: F64, mu: F64) -> tuple[F64, F64]:
    """Moment-matched single Gaussian (K,n), (K,n,n) of the model mixture."""
    xc = np.einsum("km,kmi->ki", mu, x)
    dx = x - xc[:, None, :]
    Pc = np.einsum("km,kmij->kij", mu, P + dx[..., :, None] * dx[..., None, :])
    return xc, Pc


def combine_mean(x: F64, mu: F64) -> F64:
    """Mean (K,n) of the model mixture, when its covariance is not needed."""
    return np.einsum("km,kmi->ki", mu, x)
