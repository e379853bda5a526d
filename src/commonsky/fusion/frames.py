"""Between exchanged reports (WGS-84, local axes at each aircraft) and fusion's one working frame.

Fusion compares and combines estimates in the horizontal plane of one `LocalFrame`. A report's
position is mapped to the frame's east/north of the point on the ellipsoid below the aircraft
(height 0): the horizontal position then does not depend on the altitude, which some reports
lack (primary-only tracks) and which is fused separately. Velocity and covariance arrive in the
local east/north axes at the aircraft; the 2x2 matrix A whose rows are the frame-horizontal
components of the local east and north unit vectors takes frame components to local ones (the
same projection the tracker uses when it exports), and its inverse brings them into the frame.
The map back is the exact inverse at the fused position, so a single report goes through fusion
unchanged. The per-row work is done by compiled kernels (`kernels.geodetic_to_frame`,
`kernels.frame_to_geodetic`).
"""

from __future__ import annotations

import numpy as np

from commonsky.core.arrays import F64
from commonsky.core.geodesy import LocalFrame
from commonsky.fusion import kernels


def _c(a: F64) -> F64:
    return np.ascontiguousarray(a, dtype=np.float64)


def to_frame(
    frame: LocalFrame, lat_deg: F64, lon_deg: F64, v_east: F64, v_north: F64, cov_local: F64
) -> tuple[F64, F64]:
    """Reports to frame states [e, n, ve, vn] (K, 4) and covariances (K, 4, 4)."""
    return kernels.geodetic_to_frame(
        _c(lat_deg), _c(lon_deg), _c(v_east), _c(v_north), _c(cov_local), frame.origin_ecef, frame.rotation
    )


def to_local(frame: LocalFrame, x: F64, P: F64) -> tuple[F64, F64, F64, F64, F64]:
    """Frame states and covariances to latitude, longitude (deg), local v_east, v_north and local covariance."""
    return kernels.frame_to_geodetic(_c(x), _c(P), frame.origin_ecef, frame.rotation, float(frame.alt0_m))


def surface_to_geodetic(frame: LocalFrame, e: F64, n: F64) -> tuple[F64, F64]:
    """Latitude and longitude (deg) of the ellipsoid point whose frame east/north are (e, n)."""
    x = np.zeros((len(e), 4))
    x[:, 0] = e
    x[:, 1] = n
    lat, lon, _, _, _ = to_local(frame, x, np.zeros((len(e), 4, 4)))
    return lat, lon
