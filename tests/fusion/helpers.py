"""Hand-built `TrackReports` for fusion tests: positions given in a local ENU frame.

Positions are east/north of the point on the ellipsoid below the aircraft in `FRAME` (the plane
fusion works in); tests stay within a few tens of kilometres of the origin, where local axes at
the aircraft and frame axes differ by a fraction of a degree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from commonsky.core import LocalFrame
from commonsky.core.batches import TrackReports
from commonsky.fusion import FusionConfig, FusionState, SystemTracks, new_fusion_state
from commonsky.fusion.frames import surface_to_geodetic

F64 = NDArray[np.float64]
FRAME = LocalFrame(50.0, 8.0, 0.0)


def cov4(
    sigma_e: float = 50.0,
    sigma_n: float = 50.0,
    sigma_v: float = 5.0,
    angle_deg: float = 0.0,
    corr_pv: float = 0.0,
) -> F64:
    """A 4x4 [e, n, ve, vn] covariance: position ellipse (sigmas along its axes, rotated by angle_deg),
    isotropic velocity sigma, and correlation corr_pv between position and velocity along each axis."""
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    principal = np.zeros((4, 4))
    principal[0, 0], principal[1, 1] = sigma_e**2, sigma_n**2
    principal[2, 2] = principal[3, 3] = sigma_v**2
    principal[0, 2] = principal[2, 0] = corr_pv * sigma_e * sigma_v
    principal[1, 3] = principal[3, 1] = corr_pv * sigma_n * sigma_v
    block = np.zeros((4, 4))
    block[:2, :2] = block[2:, 2:] = rot
    return block @ principal @ block.T


def reports(
    owner: str,
    track_id: ArrayLike,
    e: ArrayLike,
    n: ArrayLike,
    ve: ArrayLike = 200.0,
    vn: ArrayLike = 0.0,
    t: ArrayLike = 0.0,
    cov: ArrayLike | None = None,
    **columns: Any,
) -> TrackReports:
    """Reports of one owner; scalars broadcast to the number of track ids. `cov` is (4,4) or (K,4,4)."""
    ids = np.atleast_1d(np.asarray(track_id, dtype=np.int64))
    k = len(ids)

    def col(v: ArrayLike) -> F64:
        return np.broadcast_to(np.asarray(v, dtype=np.float64), (k,)).copy()

    lat, lon = surface_to_geodetic(FRAME, col(e), col(n))
    c = np.broadcast_to(np.asarray(cov4() if cov is None else cov, dtype=np.float64), (k, 4, 4)).copy()
    base: dict[str, Any] = {
        "alt_m": np.full(k, 9000.0),
        "var_alt_m2": np.full(k, 900.0),
        "v_up_mps": np.zeros(k),
        "quality": np.full(k, 0.8),
    }
    for name, value in columns.items():
        base[name] = np.broadcast_to(np.asarray(value), (k,)).copy()
    return TrackReports.build(
        k,
        time_s=col(t),
        owner=np.full(k, owner),
        track_id=ids,
        lat_deg=lat,
        lon_deg=lon,
        v_east_mps=col(ve),
        v_north_mps=col(vn),
        **TrackReports.covariance_columns(c),
        **base,
    )


def to_enu(tracks: SystemTracks | TrackReports) -> tuple[F64, F64]:
    """East/north (m) in FRAME of the ellipsoid point below each row."""
    e, n, _ = FRAME.geodetic_to_enu(tracks.lat_deg, tracks.lon_deg, np.zeros(len(tracks)))
    return e, n


def state(**config: Any) -> FusionState:
    """A fresh fusion state in FRAME with config overrides."""
    return new_fusion_state(FRAME, FusionConfig.from_dict(config))


def links_of(picture: SystemTracks) -> dict[tuple[str, int], int]:
    """(owner, track_id) -> system_id in one picture."""
    return {(o, t): s for s, o, t in picture.source_links()}


def concat(*parts: TrackReports) -> TrackReports:
    """Reports of several owners in one batch."""
    return TrackReports.concat(list(parts))
