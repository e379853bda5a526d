"""A small reader of readsb/tar1090 `aircraft.json`, written from readsb's README-json.md and independent of commonsky.

It checks each aircraft against the documented format (keys, value types, hex and squawk shapes, track range)
and turns it into SI terms the way a tar1090-like client would: `hex` without its `~`, `flight` stripped,
feet to metres, ground speed and track to east/north velocity, feet per minute to metres per second.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

FT_M = 0.3048
KT_MPS = 1852.0 / 3600.0
FPM_MPS = FT_M / 60.0

TYPES = {
    "adsb_icao",
    "adsb_icao_nt",
    "adsr_icao",
    "tisb_icao",
    "adsc",
    "mlat",
    "other",
    "mode_s",
    "adsb_other",
    "adsr_other",
    "tisb_other",
    "tisb_trackfile",
}
"""readsb's `type` values."""
NUMBERS = {"alt_geom", "gs", "track", "baro_rate", "geom_rate", "lat", "lon", "seen", "seen_pos", "rssi", "messages"}
DOCUMENTED = {"hex", "type", "flight", "alt_baro", "squawk", *NUMBERS}
"""The documented keys this reader knows (others must carry an extension prefix)."""
HEX = re.compile(r"~?[0-9a-f]{6}")
SQUAWK = re.compile(r"[0-7]{4}")


@dataclass(frozen=True)
class Aircraft:
    """One aircraft of the file, in SI units; None where the file leaves the key out."""

    address: int
    """The 24-bit address (or, for a non-ICAO one, the identifier after `~`)."""
    icao: bool
    """False for a `~` (non-ICAO) address."""
    type: str | None
    callsign: str | None
    alt_m: float | None
    on_ground: bool
    v_east_mps: float | None
    v_north_mps: float | None
    v_up_mps: float | None
    squawk: str | None
    lat: float | None
    lon: float | None
    seen_s: float | None
    seen_pos_s: float | None
    extras: dict[str, Any]
    """Keys outside the documented set (each must start with `extension_prefix`)."""


def read_aircraft_json(data: dict[str, Any], extension_prefix: str = "cs_") -> tuple[float, list[Aircraft]]:
    """The file's `now` and its aircraft; AssertionError on anything the format does not allow."""
    assert isinstance(data["now"], int | float) and math.isfinite(data["now"])
    assert isinstance(data.get("messages", 0), int)
    return float(data["now"]), [_aircraft(a, extension_prefix) for a in data["aircraft"]]


def _aircraft(a: dict[str, Any], prefix: str) -> Aircraft:
    hex_id = a["hex"]
    assert isinstance(hex_id, str) and HEX.fullmatch(hex_id), hex_id
    for key in NUMBERS & a.keys():
        assert isinstance(a[key], int | float) and not isinstance(a[key], bool) and math.isfinite(a[key]), (key, a)
    extras = {k: v for k, v in a.items() if k not in DOCUMENTED}
    assert all(k.startswith(prefix) for k in extras), extras
    kind = a.get("type")
    assert kind is None or kind in TYPES, kind
    flight = a.get("flight")
    assert flight is None or (isinstance(flight, str) and len(flight) == 8 and flight.strip()), flight
    squawk = a.get("squawk")
    assert squawk is None or SQUAWK.fullmatch(squawk), squawk
    alt = a.get("alt_baro")
    on_ground = alt == "ground"
    assert alt is None or on_ground or (isinstance(alt, int) and not isinstance(alt, bool)), alt
    if "lat" in a or "lon" in a:
        assert -90 <= a["lat"] <= 90 and -180 <= a["lon"] <= 180, a
    ve = vn = None
    if "gs" in a:
        gs = a["gs"] * KT_MPS
        assert gs >= 0
        track = a.get("track")
        assert track is not None or gs == 0, "a moving aircraft has a track"
        angle = math.radians(track or 0.0)
        assert track is None or 0 <= track < 360, track
        ve, vn = gs * math.sin(angle), gs * math.cos(angle)
    rate = a.get("baro_rate", a.get("geom_rate"))
    return Aircraft(
        address=int(hex_id.lstrip("~"), 16),
        icao=not hex_id.startswith("~"),
        type=kind,
        callsign=None if flight is None else flight.rstrip(),
        alt_m=None if alt is None or on_ground else alt * FT_M,
        on_ground=on_ground,
        v_east_mps=ve,
        v_north_mps=vn,
        v_up_mps=None if rate is None else rate * FPM_MPS,
        squawk=squawk,
        lat=a.get("lat"),
        lon=a.get("lon"),
        seen_s=a.get("seen"),
        seen_pos_s=a.get("seen_pos"),
        extras=extras,
    )
