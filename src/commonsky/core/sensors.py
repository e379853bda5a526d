"""Sensor descriptions as published in `sensors.json`: what each sensor is, where, and how good."""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from commonsky.core.arrays import F64
from commonsky.core.errors import ConfigError
from commonsky.core.geodesy import KNOT_MPS


class SensorKind(StrEnum):
    """Kinds of sensor a node can own."""

    PSR = "psr"
    """Primary radar: slant range and azimuth only."""
    SSR = "ssr"
    """Secondary / Mode S radar: range, azimuth, Mode A code, Mode C altitude, Mode S address."""
    ADSB = "adsb"
    """ADS-B ground station: the aircraft's own position, altitude, address and callsign."""
    AIS = "ais"
    """AIS receiver station: vessels' own positions, MMSI, name and call sign (the surface's ADS-B)."""
    SURFACE_RADAR = "surface_radar"
    """Shore radar watching the water: short range, fast scan, fine range resolution, range and azimuth only."""

    @property
    def is_radar(self) -> bool:
        """True for sensors that measure range and azimuth."""
        return self.role is not SensorKind.ADSB

    @property
    def role(self) -> SensorKind:
        """The air kind whose measurement this kind's is: an AIS report is a self-reported position like
        ADS-B, a shore radar plot a primary radar's range and azimuth. The tracker works by role."""
        return _ROLES.get(self, self)

    @property
    def domain(self) -> str:
        """The picture the kind's plots belong to: `DOMAIN_SURFACE` for AIS and shore radar, else `DOMAIN_AIR`."""
        return DOMAIN_SURFACE if self in _ROLES else DOMAIN_AIR

    @property
    def code(self) -> int:
        """Integer code in arrays: psr 0, ssr 1, adsb 2, ais 3, surface_radar 4."""
        return list(SensorKind).index(self)

    @property
    def bit(self) -> int:
        """Bit of the kind in a `sensor_kinds` mask (`TrackReports`): psr 1, ssr 2, adsb 4, ais 8, surface_radar 16."""
        return 1 << self.code


DOMAIN_AIR = "air"
"""The air picture's domain (`domain` column of plots and tracks)."""
DOMAIN_SURFACE = "surface"
"""The surface picture's domain: vessels on water, seen by AIS and shore radar."""
DOMAINS = (DOMAIN_AIR, DOMAIN_SURFACE)
_ROLES = {SensorKind.AIS: SensorKind.ADSB, SensorKind.SURFACE_RADAR: SensorKind.PSR}

AIS_CLASS_A_INTERVALS_S = ((14.0 * KNOT_MPS, 10.0), (23.0 * KNOT_MPS, 6.0), (math.inf, 2.0))
"""A class A AIS unit's position report interval under way (ITU-R M.1371-5, table 1): (below this speed in m/s,
interval in s)."""
AIS_MOORED_INTERVAL_S = 180.0
"""A class A unit's interval at anchor or moored (not making way)."""
AIS_CLASS_B_INTERVAL_S = 30.0
"""A class B unit's interval under way."""


def ais_class_a_interval_s(speed_mps: ArrayLike) -> F64:
    """A class A unit's report interval under way at each speed; an unknown speed is taken as the slowest band's."""
    v = np.asarray(speed_mps, dtype=np.float64)
    limits, intervals = zip(*AIS_CLASS_A_INTERVALS_S, strict=True)
    return np.asarray(np.select([v < limit for limit in limits], intervals, intervals[0]), dtype=np.float64)


@dataclass(frozen=True)
class SensorSpec:
    """One entry of `sensors.json` (see docs/formats.md).

    For ADS-B and AIS, `sigma_range_m` is the horizontal position standard deviation used when a plot
    carries no NACp, and `sigma_azimuth_deg` is unused (0).
    """

    id: str
    partner: str
    kind: SensorKind
    lat_deg: float
    lon_deg: float
    alt_m: float
    sigma_range_m: float
    sigma_azimuth_deg: float
    sigma_altitude_m: float
    scan_period_s: float
    pd: float
    max_range_m: float
    max_elevation_deg: float = 90.0
    """Radars: highest elevation seen; above it is the cone of silence (optional in sensors.json, 90: none)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "sensors.json") -> SensorSpec:
        """Validate one JSON object; errors name the sensor and the key."""
        sid = str(data.get("id", "?"))
        missing = [f for f, spec in cls.__dataclass_fields__.items() if f not in data and spec.default is MISSING]
        if missing:
            raise ConfigError(source, f"sensor {sid}", f"missing keys {missing}")
        try:
            kind = SensorKind(data["kind"])
        except ValueError:
            raise ConfigError(
                source, f"sensor {sid}.kind", f"{data['kind']!r} is not one of {', '.join(SensorKind)}"
            ) from None
        values: dict[str, Any] = {"id": sid, "partner": str(data["partner"]), "kind": kind}
        for name in cls.__dataclass_fields__:
            if name in values or name not in data:
                continue
            try:
                values[name] = float(data[name])
            except (TypeError, ValueError):
                raise ConfigError(source, f"sensor {sid}.{name}", f"{data[name]!r} is not a number") from None
        if not 0.0 <= values["pd"] <= 1.0:
            raise ConfigError(source, f"sensor {sid}.pd", "must lie in [0, 1]")
        return cls(**values)

    @classmethod
    def receiver(
        cls, sensor_id: str, partner: str, lat_deg: float, lon_deg: float, kind: SensorKind = SensorKind.ADSB
    ) -> SensorSpec:
        """A receiver of a real feed that no sensors.json describes (Beast, SBS, Mode S: ADS-B; AIS).

        Reports carry their own position; the 50 m sigma (ADS-B; 30 m AIS) is used only for plots without
        NACp, 15 m for barometric altitude, and a 400 km range covers any receiver's horizon.
        """
        sigma_m = 30.0 if kind is SensorKind.AIS else 50.0
        return cls(sensor_id, partner, kind, lat_deg, lon_deg, 0.0, sigma_m, 0.0, 15.0, 1.0, 0.9, 400_000.0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of `sensors.json`."""
        out = asdict(self)
        out["kind"] = self.kind.value
        return out
