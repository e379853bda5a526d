"""Compact Position Reporting maths, pure and vectorised: global decoding of even/odd pairs, local decoding."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def _nl_edges() -> NDArray[np.float64]:
    """Latitudes (ascending) at which the CPR longitude-zone count NL drops from 59 down to 1."""
    nz = 15
    nl = np.arange(59, 1, -1, dtype=np.float64)
    return np.degrees(np.arccos(np.sqrt((1 - np.cos(np.pi / (2 * nz))) / (1 - np.cos(2 * np.pi / nl)))))


_NL_EDGES = _nl_edges()


def nl(lat: NDArray[np.float64]) -> NDArray[np.int64]:
    """Number of CPR longitude zones at each latitude (1-59)."""
    return 59 - np.searchsorted(_NL_EDGES, np.abs(lat), side="right")


def cpr_global(
    y_even: NDArray[np.float64],
    x_even: NDArray[np.float64],
    y_odd: NDArray[np.float64],
    x_odd: NDArray[np.float64],
    parity: NDArray[np.int8],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Airborne global CPR decoding of even/odd pairs; the position of the `parity` frame and whether it is valid."""
    j = np.floor(59 * y_even - 60 * y_odd + 0.5)
    lat_e = 6.0 * (np.mod(j, 60) + y_even)
    lat_o = (360.0 / 59) * (np.mod(j, 59) + y_odd)
    lat_e = np.where(lat_e >= 270, lat_e - 360, lat_e)
    lat_o = np.where(lat_o >= 270, lat_o - 360, lat_o)
    ok = (nl(lat_e) == nl(lat_o)) & (np.abs(lat_e) <= 90) & (np.abs(lat_o) <= 90)
    lat = np.where(parity == 0, lat_e, lat_o)
    zones = nl(lat)
    ni = np.maximum(zones - parity, 1)
    m = np.floor(x_even * (zones - 1) - x_odd * zones + 0.5)
    lon = (360.0 / ni) * (np.mod(m, ni) + np.where(parity == 0, x_even, x_odd))
    return lat, (lon + 180.0) % 360.0 - 180.0, ok


def cpr_local(
    y: NDArray[np.float64],
    x: NDArray[np.float64],
    parity: NDArray[np.int8],
    surface: NDArray[np.bool_],
    ref_lat: NDArray[np.float64],
    ref_lon: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Local CPR decoding of single frames against a reference within half a zone (airborne 360°, surface 90°)."""
    span = np.where(surface, 90.0, 360.0)
    dlat = span / (60 - parity)
    j = np.floor(ref_lat / dlat) + np.floor(0.5 + np.mod(ref_lat, dlat) / dlat - y)
    lat = dlat * (j + y)
    ni = nl(lat) - parity
    dlon = np.where(ni > 0, span / np.maximum(ni, 1), span)
    m = np.floor(ref_lon / dlon) + np.floor(0.5 + np.mod(ref_lon, dlon) / dlon - x)
    lon = dlon * (m + x)
    return lat, (lon + 180.0) % 360.0 - 180.0
