"""The operator display's picture as readsb's `aircraft.json` and `receiver.json`, the files tar1090, Virtual Radar
Server and community tools read; optionally cut to what a sharing policy lets a partner see.

Field mapping (readsb README-json.md; like readsb, a key whose value is unknown is left out):
- `hex`: the Mode S address as 6 lowercase hex digits; without one (none known, or withheld by the policy)
  `~` + the low 24 bits of the system track number, readsb's mark of a non-ICAO address (as `encode_sbs`).
- `type`: `adsb_icao` (ADS-B fed, address known), `adsb_other` (ADS-B fed, no address), `tisb_icao` (radar
  only, address known: readsb's "Mode S target tracked by secondary radar"), `tisb_trackfile` (radar only,
  no address: "track/file identifier, typically from primary or Mode A/C radar"), `other` (kinds unknown).
- `flight`: the callsign padded to 8 characters; `squawk`: the Mode A code's 4 octal digits.
- `alt_baro` (ft) and `baro_rate` (ft/min), integers: the fused altitude is the Mode C or ADS-B barometric
  one (the CAT062 export writes it as I135, barometric), so `alt_geom`/`geom_rate` are never sent (the
  simulator has no pressure model: there the two coincide). No on-ground flag is known: never "ground".
- `gs` (kt), `track` (degrees true, left out when not moving), `lat`/`lon`; `seen` and `seen_pos`: seconds
  from the fused estimate's time to `now`.
- Not known, so left out: per-aircraft `messages`, `rssi`, `category`, integrity fields; the top-level
  `messages` (Mode S messages processed) is 0, as this server decodes none itself.
- Extras tar1090 ignores: `cs_id` (system track number), `cs_status`, `cs_quality`, `cs_identity`.
- Vessels (the surface picture's tracks) are left out: the file lists aircraft.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from commonsky import __version__
from commonsky.core.batches import SENSOR_ADSB, SENSOR_PSR, SENSOR_SSR, TrackReports
from commonsky.core.errors import ConfigError
from commonsky.core.sensors import DOMAIN_AIR
from commonsky.formats.modes import FPM_MPS, FT_M, KT_MPS
from commonsky.fusion import SystemTracks
from commonsky.sharing import SharingAgreement, SharingError, SharingPolicy, releasable
from commonsky.web.picture import Picture

ADDRESS_MAX = 0xFFFFFF
"""Mode S addresses (and readsb's `~` track identifiers) are 24 bits."""


def aircraft_json(picture: Picture, policy: SharingPolicy | None = None, now_s: float | None = None) -> dict[str, Any]:
    """The picture as an `aircraft.json` object (see the module mapping), at `now_s` (default: the picture time).

    With `policy`, exactly the rows and fields a partner export under it would send: rows fed by the
    exporter's own tracks (the owner rule; tracks fused only from other partners' are theirs to share),
    valid, inside its areas and altitude bands, not stale and at least `min_delay_s` older than `now_s`
    (so a policy with a delay empties the live picture: serve an older one, e.g. a replay, at wall-clock
    `now_s`); withheld identity fields are blanked, and `cs_identity` (the viewer's assessment, which
    no export carries) is left out. The rate limit is a property of a report stream, not of one file:
    not applied here.
    """
    now = picture.time_s if now_s is None else float(now_s)
    if not math.isfinite(now):
        raise ValueError(f"now_s must be finite, got {now_s!r}")
    air = np.flatnonzero(picture.fused.domain == DOMAIN_AIR)
    fused = picture.fused.take(air)
    identity: list[str] | None = [picture.identity[i] for i in air.tolist()]
    if policy is not None:
        fused = _shared(policy, fused, now)
        identity = None
    return {"now": round(now, 3), "messages": 0, "aircraft": _aircraft(fused, identity, now)}


def load_aircraft_policy(path: str | Path, partner: str) -> SharingPolicy:
    """The policy `partner` publishes its aircraft.json under: the one `[[sharing]]` table of the file from it
    (its `to` names the audience, e.g. "tar1090"); ConfigError when there is none or more than one."""
    policies = [p for p in SharingAgreement.load(path, exporter=partner).policies if p.exporter == partner]
    if len(policies) != 1:
        raise ConfigError(str(path), "sharing", f"expected one [[sharing]] from {partner!r}, found {len(policies)}")
    return policies[0]


def receiver_json(picture: Picture, refresh_ms: int = 1000) -> dict[str, Any]:
    """The `receiver.json` object: version, refresh period (ms), no history files, and the position of the
    viewed partner's first own sensor (tar1090 centres its map there) when it has one."""
    out: dict[str, Any] = {"version": f"commonsky {__version__}", "refresh": refresh_ms, "history": 0}
    own = next((s for s in picture.sensors if s["own"]), None)
    if own is not None:
        out |= {"lat": own["lat_deg"], "lon": own["lon_deg"]}
    return out


def _shared(policy: SharingPolicy, fused: SystemTracks, now_s: float) -> SystemTracks:
    """The rows an export under `policy` would send at `now_s`, withheld fields blanked (`enforce`'s rules)."""
    if policy.content != "tracks":
        raise SharingError(f"policy {policy.exporter}->{policy.receiver} shares {policy.content}, not tracks")
    reports = TrackReports.build(
        len(fused),
        time_s=fused.time_s,
        owner=np.where(fused.fed_by(policy.exporter), policy.exporter, ""),
        lat_deg=fused.lat_deg,
        lon_deg=fused.lon_deg,
        alt_m=fused.alt_m,
        mode_s=fused.mode_s,
        squawk=fused.squawk,
        callsign=fused.callsign,
    )
    keep, blanked = releasable(policy, reports, now_s)
    return fused.take(keep).replace(mode_s=blanked.mode_s, squawk=blanked.squawk, callsign=blanked.callsign)


def _aircraft(f: SystemTracks, identity: list[str] | None, now_s: float) -> list[dict[str, Any]]:
    """One readsb aircraft object per row: every column computed over all rows, then each row's known keys."""
    if not len(f):
        return []  # np.char's padding cannot size an empty column
    kinds = f.sensor_kinds.astype(np.int64)
    adsb = (kinds & SENSOR_ADSB) != 0
    radar = (kinds & (SENSOR_PSR | SENSOR_SSR)) != 0
    address = (f.mode_s >= 0) & (f.mode_s <= ADDRESS_MAX)
    kind = np.select(
        [adsb & address, adsb, radar & address, radar],
        ["adsb_icao", "adsb_other", "tisb_icao", "tisb_trackfile"],
        "other",
    )
    hexes = [
        f"{m:06x}" if has else f"~{s & ADDRESS_MAX:06x}"
        for m, s, has in zip(f.mode_s.tolist(), f.system_id.tolist(), address.tolist(), strict=True)
    ]
    callsign = np.char.strip(f.callsign)
    with np.errstate(invalid="ignore", over="ignore"):  # absurd values overflow to inf and are left out
        position = (
            np.isfinite(f.lat_deg) & np.isfinite(f.lon_deg) & (np.abs(f.lat_deg) <= 90) & (np.abs(f.lon_deg) <= 180)
        )
        lat, lon = np.round(f.lat_deg, 6), np.round(f.lon_deg, 6)
        alt_ft = np.round(f.alt_m / FT_M)
        rate_fpm = np.where(np.isfinite(alt_ft), np.round(f.v_up_mps / FPM_MPS), np.nan)  # of a known altitude
        gs_kt = np.round(np.hypot(f.v_east_mps, f.v_north_mps) / KT_MPS, 1)
        track = np.round(np.degrees(np.arctan2(f.v_east_mps, f.v_north_mps)), 2) % 360.0
        seen = np.round(np.maximum(now_s - f.time_s, 0.0), 3)
        quality = np.round(f.quality, 3)
    moving = np.isfinite(gs_kt) & (gs_kt > 0)
    columns: list[tuple[str, list[Any], list[bool] | None]] = [
        ("hex", hexes, None),
        ("type", kind.tolist(), None),
        ("flight", np.char.ljust(callsign, 8).tolist(), (callsign != "").tolist()),
        ("alt_baro", *_known(alt_ft, whole=True)),
        ("gs", *_known(gs_kt)),
        ("track", track.tolist(), (moving & np.isfinite(track)).tolist()),
        ("baro_rate", *_known(rate_fpm, whole=True)),
        ("squawk", [f"{s:04d}" for s in f.squawk.tolist()], (f.squawk >= 0).tolist()),
        ("lat", lat.tolist(), position.tolist()),
        ("lon", lon.tolist(), position.tolist()),
        ("seen_pos", seen.tolist(), (np.isfinite(seen) & position).tolist()),
        ("seen", *_known(seen)),
        ("cs_id", f.system_id.tolist(), None),
        ("cs_status", f.status.tolist(), None),
        ("cs_quality", *_known(quality)),
    ]
    if identity is not None:
        columns.append(("cs_identity", identity, None))
    return [{name: values[i] for name, values, known in columns if known is None or known[i]} for i in range(len(f))]


def _known(values: NDArray[np.floating[Any]], whole: bool = False) -> tuple[list[Any], list[bool]]:
    """A column's values (Python ints when `whole`; 0 stands in where not finite) and which are finite."""
    finite = np.isfinite(values)
    if whole:
        return [int(v) for v in np.where(finite, values, 0.0).tolist()], finite.tolist()
    return values.tolist(), finite.tolist()
