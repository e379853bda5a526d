"""Scenario files: the TOML schema of a simulation, parsed once into frozen, validated dataclasses.

Validation happens here and only here, so the simulator can trust its input and every mistake in a
file is reported as a `ConfigError` naming the file, the dotted key (e.g. `partners[0].sensors[1].pd`)
and what is allowed. Unknown keys are errors too, so a misspelt optional key is never silently ignored.

Schema (all times in seconds; event times are seconds after the scenario start; angles in degrees,
azimuths and headings clockwise from true north; distances and heights in metres)::

    [scenario]
    name = "border3"              # free text
    seed = 42                     # default seed of the random streams
    duration_s = 600              # whole seconds; truth at every whole second 0..duration
    start_time_s = 1780000000     # UTC seconds of the first truth sample (whole seconds)

    [region]                      # centre of the traffic area (also the natural local-frame origin)
    lat_deg = 47.5
    lon_deg = 9.5
    radius_km = 120               # random traffic starts inside this disk

    [[partners]]                  # one table per partner (node of the cooperative network)
    id = "north"
    name = "North ANSP"
    [[partners.sensors]]          # the sensors that partner owns
    id = "N-PSR1"                 # unique over all partners
    kind = "psr"                  # "psr" | "ssr" | "adsb"
    lat_deg = 47.9
    lon_deg = 9.4
    alt_m = 700                   # antenna height
    pd = 0.9                      # detection (radar) / reception (ADS-B) probability
    max_range_m = 150000          # instrumented range (radar: slant range)
    time_offset_s = 0.0           # optional: plot time_s = true detection time + time_offset_s
    # psr/ssr only:
    sigma_range_m = 50            # Gaussian range noise
    sigma_azimuth_deg = 0.1       # Gaussian azimuth noise
    scan_period_s = 4             # antenna rotation period
    sigma_altitude_m = 8.8        # optional, published in sensors.json (default: SSR 100 ft / sqrt(12), PSR 0)
    clutter_density_per_km2 = 0   # optional: mean false plots per km^2 per scan (Poisson)
    range_bias_m = 0              # optional systematic range error
    azimuth_bias_deg = 0          # optional systematic azimuth error
    # adsb only:
    nacp = 8                      # optional (default 8): 1..11, position noise sigma = EPU(95 %) / 2.448
    update_period_s = 1.0         # optional (default 1): one position report per aircraft per period
    sigma_range_m = 37.8          # optional, published horizontal sigma (default from nacp)
    sigma_altitude_m = 2.2        # optional, published altitude sigma (default 25 ft / sqrt(12))

    [traffic]                     # random traffic; all keys but count optional
    count = 50
    altitude_min_m = 1000
    altitude_max_m = 12500
    speed_min_mps = 100           # speed when low and slow ...
    speed_max_mps = 260           # ... up to this when high and fast
    max_turn_rate_deg_s = 3.0     # coordinated turns, at most 3 deg/s
    max_vertical_rate_mps = 15.0
    late_start_fraction = 0.1     # share of aircraft appearing during the first half of the run
    early_end_fraction = 0.1      # share of aircraft disappearing during the second half
    [traffic.equipage]            # fractions summing to 1 (missing keys count 0)
    adsb = 0.7
    mode_s = 0.2
    mode_ac = 0.05
    none = 0.05
    [[traffic.routes]]            # optional listed flights, flown waypoint to waypoint
    speed_mps = 200
    equipage = "adsb"             # "adsb" | "mode_s" | "mode_ac" | "none"
    callsign = "SWR123"           # optional (random for adsb when left out)
    mode_s = "4B1A2C"             # optional hex (random when left out)
    squawk = "1000"               # optional octal (random when left out)
    start_s = 0                   # optional; appears at the first whole second >= start_s
    waypoints = [{lat_deg = 47.0, lon_deg = 8.6, alt_m = 9000}, {lat_deg = 48.0, lon_deg = 10.5, alt_m = 11000}]

    [[events]]                    # each has a kind and that kind's keys:
    kind = "intruder"             # at_s, start_lat_deg, start_lon_deg, end_lat_deg, end_lon_deg,
                                  # alt_m (default 300), speed_mps (default 60): a new target without
                                  # transponder, from the first whole second >= at_s until it arrives
    kind = "emergency"            # target_id, at_s, code (7500 | 7600 | 7700)
    kind = "transponder_off"      # target_id, at_s: SSR and ADS-B stop, PSR still sees it
    kind = "spoofer"              # target_id, at_s, offset_east_m, offset_north_m,
                                  # drift_east_mps, drift_north_mps (optional, 0): ADS-B reports truth + offset
    kind = "sensor_outage"        # sensor_id, start_s, end_s: no plots from that sensor in [start, end)
    kind = "link_outage"          # partner_a, partner_b, start_s, end_s: only listed, for the network layer

Target ids: random traffic is 1..count, listed routes follow in file order, intruders after those in
event order. Event targets must be random traffic or routes. Random ones then fly the whole run
and are given the equipage their event needs (ADS-B for a spoofer, a Mode S transponder for an
emergency or transponder-off target that had none); routes must already carry it.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from commonsky.core.errors import ConfigError
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import SensorKind, SensorSpec

FEET_M = 0.3048
"""One foot in metres."""
NACP_EPU_M = {
    11: 3.0,
    10: 10.0,
    9: 30.0,
    8: 92.6,
    7: 185.2,
    6: 555.6,
    5: 926.0,
    4: 1852.0,
    3: 3704.0,
    2: 7408.0,
    1: 18520.0,
}
"""Estimated position uncertainty bound (95 % horizontal radius, m) of each NACp (DO-260B)."""
EPU_TO_SIGMA = 2.448
"""EPU / sigma for a circular 2-D Gaussian: the 95 % radius is sqrt(-2 ln 0.05) = 2.448 sigma."""
MAX_SPEED_MPS = 400.0
"""Highest ground speed a scenario may ask for (sensor models rely on it to skip far targets)."""
MAX_VERTICAL_RATE_MPS = 50.0
"""Highest vertical rate a scenario may ask for."""
EMERGENCY_CODES = (7500, 7600, 7700)
"""Squawks of the emergency event: unlawful interference, radio failure, general emergency."""


class Equipage(StrEnum):
    """What an aircraft carries; the order is the array code (0..3), each level implying the ones below."""

    NONE = "none"
    """No transponder: primary radar only."""
    MODE_AC = "mode_ac"
    """Mode A/C transponder: squawk and altitude to SSR."""
    MODE_S = "mode_s"
    """Mode S transponder: also a 24-bit address."""
    ADSB = "adsb"
    """Mode S with 1090 ES: also broadcasts position, callsign and NACp."""

    @property
    def code(self) -> int:
        """Integer code used in arrays: none 0, mode_ac 1, mode_s 2, adsb 3."""
        return list(Equipage).index(self)


@dataclass(frozen=True)
class SensorConfig(SensorSpec):
    """One simulated sensor: what it publishes (the `SensorSpec` fields) plus the hidden errors injected.

    For a radar `scan_period_s` is the rotation period; for ADS-B the report period per aircraft.
    """

    clutter_density_per_km2: float = 0.0
    range_bias_m: float = 0.0
    azimuth_bias_deg: float = 0.0
    time_offset_s: float = 0.0
    nacp: int = -1
    """ADS-B NACp of the reports (-1 for radars)."""

    @property
    def spec(self) -> SensorSpec:
        """The sensors.json entry: nominal accuracy only, never the injected biases."""
        return SensorSpec(**{name: getattr(self, name) for name in SensorSpec.__dataclass_fields__})

    @property
    def errors(self) -> dict[str, float]:
        """The injected systematic errors: the answer key for sensor registration."""
        return {
            "range_bias_m": self.range_bias_m,
            "azimuth_bias_deg": self.azimuth_bias_deg,
            "time_offset_s": self.time_offset_s,
        }

    @property
    def position_sigma_m(self) -> float:
        """ADS-B per-axis position noise derived from the NACp (NaN for radars)."""
        return NACP_EPU_M[self.nacp] / EPU_TO_SIGMA if self.nacp in NACP_EPU_M else math.nan


@dataclass(frozen=True)
class PartnerConfig:
    """A partner of the cooperative network and the sensors it owns."""

    id: str
    name: str
    sensors: tuple[SensorConfig, ...]


@dataclass(frozen=True)
class Region:
    """Centre and radius of the traffic area."""

    lat_deg: float
    lon_deg: float
    radius_km: float

    @property
    def frame(self) -> LocalFrame:
        """The local ENU frame at the region centre."""
        return LocalFrame(self.lat_deg, self.lon_deg, 0.0)


@dataclass(frozen=True)
class EquipageMix:
    """Fractions of the random traffic per equipage; they sum to 1."""

    adsb: float
    mode_s: float
    mode_ac: float
    none: float

    @property
    def probabilities(self) -> tuple[float, float, float, float]:
        """Fractions in `Equipage.code` order (none, mode_ac, mode_s, adsb)."""
        return (self.none, self.mode_ac, self.mode_s, self.adsb)


DEFAULT_EQUIPAGE = EquipageMix(adsb=0.7, mode_s=0.2, mode_ac=0.05, none=0.05)
"""Equipage of random traffic when `[traffic.equipage]` is left out."""


@dataclass(frozen=True)
class Waypoint:
    """A point of a listed route."""

    lat_deg: float
    lon_deg: float
    alt_m: float


@dataclass(frozen=True)
class RouteConfig:
    """A listed flight: flies its waypoints in order at a constant speed, then leaves the scenario."""

    waypoints: tuple[Waypoint, ...]
    speed_mps: float
    equipage: Equipage
    callsign: str = ""
    """Empty: random for ADS-B aircraft."""
    mode_s: int = -1
    """-1: a random unique address for Mode S / ADS-B aircraft."""
    squawk: int = -1
    """-1: a random code for transponder-equipped aircraft."""
    start_s: float = 0.0


@dataclass(frozen=True)
class TrafficConfig:
    """Random traffic parameters and the listed routes."""

    count: int
    altitude_min_m: float
    altitude_max_m: float
    speed_min_mps: float
    speed_max_mps: float
    max_turn_rate_deg_s: float
    max_vertical_rate_mps: float
    late_start_fraction: float
    early_end_fraction: float
    equipage: EquipageMix
    routes: tuple[RouteConfig, ...]


@dataclass(frozen=True)
class IntruderEvent:
    """A non-cooperative aircraft (no transponder) flying low and straight from start to end."""

    KIND: ClassVar[str] = "intruder"
    at_s: float
    start_lat_deg: float
    start_lon_deg: float
    end_lat_deg: float
    end_lon_deg: float
    alt_m: float
    speed_mps: float


@dataclass(frozen=True)
class EmergencyEvent:
    """The target squawks an emergency code from `at_s` on (SSR and ADS-B)."""

    KIND: ClassVar[str] = "emergency"
    target_id: int
    at_s: float
    code: int


@dataclass(frozen=True)
class TransponderOffEvent:
    """The target's transponder stops at `at_s`: no more SSR replies or ADS-B reports."""

    KIND: ClassVar[str] = "transponder_off"
    target_id: int
    at_s: float


@dataclass(frozen=True)
class SpooferEvent:
    """From `at_s` the target's ADS-B position is truth + offset + drift * (t - at_s); radars see truth."""

    KIND: ClassVar[str] = "spoofer"
    target_id: int
    at_s: float
    offset_east_m: float
    offset_north_m: float
    drift_east_mps: float
    drift_north_mps: float


@dataclass(frozen=True)
class SensorOutageEvent:
    """The sensor produces no plots in [start_s, end_s)."""

    KIND: ClassVar[str] = "sensor_outage"
    sensor_id: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class LinkOutageEvent:
    """The network link between two partners is down in [start_s, end_s) (no effect on plots)."""

    KIND: ClassVar[str] = "link_outage"
    partner_a: str
    partner_b: str
    start_s: float
    end_s: float


Event = IntruderEvent | EmergencyEvent | TransponderOffEvent | SpooferEvent | SensorOutageEvent | LinkOutageEvent
EVENT_KINDS: tuple[type[Event], ...] = (
    IntruderEvent,
    EmergencyEvent,
    TransponderOffEvent,
    SpooferEvent,
    SensorOutageEvent,
    LinkOutageEvent,
)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: everything `simulate` needs."""

    name: str
    seed: int
    duration_s: float
    start_time_s: float
    region: Region
    partners: tuple[PartnerConfig, ...]
    traffic: TrafficConfig
    events: tuple[Event, ...]
    source: str = "<scenario>"
    sharing: tuple[dict[str, Any], ...] = ()
    """The `[[sharing]]` tables, unvalidated: `commonsky.sharing` reads them."""
    assess: dict[str, Any] = field(default_factory=dict)
    """The `[assess]` table, unvalidated: `commonsky.assess` reads it (its `zones` is a GeoJSON path)."""

    @property
    def sensors(self) -> tuple[SensorConfig, ...]:
        """All sensors of all partners, in file order."""
        return tuple(s for p in self.partners for s in p.sensors)

    @property
    def steps(self) -> int:
        """Number of one-second steps; truth has steps + 1 samples per target."""
        return int(self.duration_s)

    @property
    def intruders(self) -> tuple[IntruderEvent, ...]:
        """The intruder events, in file order (their targets follow traffic and routes)."""
        return tuple(e for e in self.events if isinstance(e, IntruderEvent))

    @property
    def target_count(self) -> int:
        """Random traffic + routes + intruders."""
        return self.traffic.count + len(self.traffic.routes) + len(self.intruders)


_REQUIRED: Any = object()


class _Table:
    """A TOML table being read: typed accessors that raise ConfigError naming file and dotted key."""

    def __init__(self, data: Any, source: str, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(source, path or "<root>", f"expected a table, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data
        self.source = source
        self.path = path
        self._read: list[str] = []

    def key(self, name: str) -> str:
        """The dotted key of `name` in this table."""
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, problem: str) -> ConfigError:
        """A ConfigError about key `name` of this table."""
        return ConfigError(self.source, self.key(name), problem)

    def raw(self, name: str, default: Any = _REQUIRED) -> Any:
        """The value of `name`, or `default`; a missing required key is an error."""
        self._read.append(name)
        if name in self.data:
            return self.data[name]
        if default is _REQUIRED:
            close = difflib.get_close_matches(name, [str(k) for k in self.data], n=1)
            raise self.error(name, "missing (required)" + (f"; did you mean to write {close[0]!r}?" if close else ""))
        return default

    def number(
        self,
        name: str,
        default: Any = _REQUIRED,
        *,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
    ) -> float:
        """A finite float within [lo, hi] ((lo, hi] when lo_open)."""
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.error(name, f"{value!r} is not a finite number")
        value = float(value)
        if lo is not None and (value < lo or (lo_open and value == lo)):
            raise self.error(name, f"{value:g} must be {'>' if lo_open else '>='} {lo:g}")
        if hi is not None and value > hi:
            raise self.error(name, f"{value:g} must be <= {hi:g}")
        return value

    def integer(self, name: str, default: Any = _REQUIRED, *, lo: int | None = None, hi: int | None = None) -> int:
        """An integer within [lo, hi]."""
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"{value!r} is not an integer")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(name, f"{value} must lie in [{lo}, {hi}]")
        return value

    def whole_seconds(self, name: str, *, positive: bool = False) -> float:
        """A time that is a whole number of seconds, so truth samples fall on whole UTC seconds."""
        value = self.number(name, lo=0.0, lo_open=positive)
        if value != math.floor(value):
            raise self.error(name, f"{value!r} must be a whole number of seconds")
        return value

    def text(self, name: str, default: Any = _REQUIRED, *, max_len: int | None = None) -> str:
        """A non-empty string (or the default) of at most max_len characters."""
        value = self.raw(name, default)
        if not isinstance(value, str) or (not value and default is _REQUIRED):
            raise self.error(name, f"{value!r} is not a non-empty string")
        if max_len is not None and len(value) > max_len:
            raise self.error(name, f"{value!r} is longer than {max_len} characters")
        return value

    def choice(self, name: str, allowed: tuple[str, ...], default: Any = _REQUIRED) -> str:
        """One of the allowed strings."""
        value = self.raw(name, default)
        if value not in allowed:
            raise self.error(name, f"{value!r} is not one of {', '.join(allowed)}")
        return str(value)

    def squawk(self, name: str, default: Any = _REQUIRED) -> int:
        """A Mode A code given as "7700" or 7700: four octal digits, held as that decimal integer."""
        value = self.raw(name, default)
        if name not in self.data:
            return int(default)
        text = value if isinstance(value, str) else str(value) if isinstance(value, int) else ""
        if isinstance(value, bool) or not text.isdigit() or len(text) > 4 or any(c in "89" for c in text):
            raise self.error(name, f"{value!r} is not a 4-digit octal squawk")
        return int(text)

    def mode_s(self, name: str, default: Any = _REQUIRED) -> int:
        """A 24-bit Mode S address given as a hex string ("4B1A2C") or an integer."""
        value = self.raw(name, default)
        if name not in self.data:
            return int(default)
        try:
            address = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value), 16)
        except ValueError:
            raise self.error(name, f"{value!r} is not a hex Mode S address") from None
        if not 0 < address < 0xFFFFFF:
            raise self.error(name, f"{value!r} is not a 24-bit address (000001..FFFFFE)")
        return address

    def table(self, name: str, *, required: bool = True) -> _Table:
        """A sub-table (an empty one when optional and missing)."""
        return _Table(self.raw(name, _REQUIRED if required else {}), self.source, self.key(name))

    def tables(self, name: str, *, required: bool = False) -> list[_Table]:
        """An array of tables."""
        value = self.raw(name, _REQUIRED if required else [])
        if not isinstance(value, list) or (required and not value):
            raise self.error(
                name, "expected a non-empty array of tables" if required else "expected an array of tables"
            )
        return [_Table(item, self.source, f"{self.key(name)}[{i}]") for i, item in enumerate(value)]

    def finish(self) -> None:
        """Reject keys that were never read: typos must not pass silently."""
        for name in self.data:
            if name not in self._read:
                allowed = ", ".join(sorted(set(self._read))) or "none"
                raise self.error(name, f"unknown key (allowed here: {allowed})")


def _sensor(t: _Table, partner: str) -> SensorConfig:
    sid = t.text("id", max_len=24)
    kind = SensorKind(t.choice("kind", tuple(k.value for k in SensorKind)))
    common: dict[str, Any] = {
        "id": sid,
        "partner": partner,
        "kind": kind,
        "lat_deg": t.number("lat_deg", lo=-89.0, hi=89.0),
        "lon_deg": t.number("lon_deg", lo=-180.0, hi=180.0),
        "alt_m": t.number("alt_m", lo=-500.0, hi=20_000.0),
        "pd": t.number("pd", lo=0.0, hi=1.0),
        "max_range_m": t.number("max_range_m", lo=0.0, hi=1_000_000.0, lo_open=True),
        "time_offset_s": t.number("time_offset_s", 0.0, lo=-60.0, hi=60.0),
    }
    if kind is SensorKind.ADSB:
        nacp = t.integer("nacp", 8, lo=1, hi=11)
        sigma_pos = NACP_EPU_M[nacp] / EPU_TO_SIGMA
        config = SensorConfig(
            **common,
            nacp=nacp,
            scan_period_s=t.number("update_period_s", 1.0, lo=0.0, hi=60.0, lo_open=True),
            sigma_range_m=t.number("sigma_range_m", sigma_pos, lo=0.0),
            sigma_azimuth_deg=0.0,
            sigma_altitude_m=t.number("sigma_altitude_m", 25 * FEET_M / math.sqrt(12.0), lo=0.0),
        )
    else:
        mode_c_sigma = 100 * FEET_M / math.sqrt(12.0) if kind is SensorKind.SSR else 0.0
        config = SensorConfig(
            **common,
            sigma_range_m=t.number("sigma_range_m", lo=0.0),
            sigma_azimuth_deg=t.number("sigma_azimuth_deg", lo=0.0, hi=10.0),
            sigma_altitude_m=t.number("sigma_altitude_m", mode_c_sigma, lo=0.0),
            scan_period_s=t.number("scan_period_s", lo=0.5, hi=60.0),
            clutter_density_per_km2=t.number("clutter_density_per_km2", 0.0, lo=0.0, hi=1.0),
            range_bias_m=t.number("range_bias_m", 0.0, lo=-10_000.0, hi=10_000.0),
            azimuth_bias_deg=t.number("azimuth_bias_deg", 0.0, lo=-10.0, hi=10.0),
        )
    t.finish()
    return config


def _partners(root: _Table) -> tuple[PartnerConfig, ...]:
    partners: list[PartnerConfig] = []
    seen_sensors: set[str] = set()
    for pt in root.tables("partners", required=True):
        pid = pt.text("id")
        if pid in {p.id for p in partners}:
            raise pt.error("id", f"duplicate partner id {pid!r}")
        name = pt.text("name", pid)
        sensors: list[SensorConfig] = []
        for st in pt.tables("sensors", required=True):
            sensor = _sensor(st, pid)
            if sensor.id in seen_sensors:
                raise st.error("id", f"duplicate sensor id {sensor.id!r}")
            seen_sensors.add(sensor.id)
            sensors.append(sensor)
        pt.finish()
        partners.append(PartnerConfig(pid, name, tuple(sensors)))
    return tuple(partners)


def _route(t: _Table, duration_s: float) -> RouteConfig:
    waypoints: list[Waypoint] = []
    raw = t.raw("waypoints")
    if not isinstance(raw, list) or len(raw) < 2:
        raise t.error("waypoints", "expected an array of at least 2 {lat_deg, lon_deg, alt_m} tables")
    for i, item in enumerate(raw):
        w = _Table(item, t.source, f"{t.key('waypoints')}[{i}]")
        waypoints.append(
            Waypoint(
                w.number("lat_deg", lo=-89.0, hi=89.0),
                w.number("lon_deg", lo=-180.0, hi=180.0),
                w.number("alt_m", lo=0.0, hi=20_000.0),
            )
        )
        w.finish()
    speed = t.number("speed_mps", lo=10.0, hi=MAX_SPEED_MPS)
    route = RouteConfig(
        waypoints=tuple(waypoints),
        speed_mps=speed,
        equipage=Equipage(t.choice("equipage", tuple(e.value for e in Equipage))),
        callsign=t.text("callsign", "", max_len=8),
        mode_s=t.mode_s("mode_s", -1),
        squawk=t.squawk("squawk", -1),
        start_s=t.number("start_s", 0.0, lo=0.0, hi=duration_s),
    )
    t.finish()
    return route


def _traffic(t: _Table, duration_s: float) -> TrafficConfig:
    count = t.integer("count", lo=0, hi=100_000)
    alt_min = t.number("altitude_min_m", 1_000.0, lo=0.0, hi=20_000.0)
    alt_max = t.number("altitude_max_m", 12_500.0, lo=0.0, hi=20_000.0)
    if alt_max <= alt_min:
        raise t.error("altitude_max_m", f"{alt_max:g} must exceed altitude_min_m {alt_min:g}")
    v_min = t.number("speed_min_mps", 100.0, lo=10.0, hi=MAX_SPEED_MPS)
    v_max = t.number("speed_max_mps", 260.0, lo=10.0, hi=MAX_SPEED_MPS)
    if v_max < v_min:
        raise t.error("speed_max_mps", f"{v_max:g} must be at least speed_min_mps {v_min:g}")
    max_turn = t.number("max_turn_rate_deg_s", 3.0, lo=1.0, hi=3.0)
    eq = t.table("equipage", required=False)
    mix = DEFAULT_EQUIPAGE
    if eq.data:
        mix = EquipageMix(**{e.value: eq.number(e.value, 0.0, lo=0.0, hi=1.0) for e in Equipage})
        eq.finish()
        if abs(sum(mix.probabilities) - 1.0) > 1e-6:
            raise ConfigError(eq.source, eq.path, f"fractions sum to {sum(mix.probabilities):g}, must sum to 1")
    config = TrafficConfig(
        count=count,
        altitude_min_m=alt_min,
        altitude_max_m=alt_max,
        speed_min_mps=v_min,
        speed_max_mps=v_max,
        max_turn_rate_deg_s=max_turn,
        max_vertical_rate_mps=t.number("max_vertical_rate_mps", 15.0, lo=1.0, hi=MAX_VERTICAL_RATE_MPS),
        late_start_fraction=t.number("late_start_fraction", 0.1, lo=0.0, hi=1.0),
        early_end_fraction=t.number("early_end_fraction", 0.1, lo=0.0, hi=1.0),
        equipage=mix,
        routes=tuple(_route(r, duration_s) for r in t.tables("routes")),
    )
    t.finish()
    return config


@dataclass(frozen=True)
class _References:
    """What events may refer to: the run length, targets, sensors and partners."""

    duration_s: float
    n_targets: int
    route_equipage: dict[int, Equipage]
    sensors: tuple[str, ...]
    partners: tuple[str, ...]


def _event(t: _Table, refs: _References) -> Event:
    kind = t.choice("kind", tuple(k.KIND for k in EVENT_KINDS))

    def when(name: str) -> float:
        return t.number(name, lo=0.0, hi=refs.duration_s)

    def target(need: Equipage) -> int:
        tid = t.integer("target_id")
        if not 1 <= tid <= refs.n_targets:
            raise t.error("target_id", f"{tid} is not a traffic or route target (1..{refs.n_targets})")
        route_equipage = refs.route_equipage.get(tid)
        if route_equipage is not None and route_equipage.code < need.code:
            raise t.error("target_id", f"route target {tid} is {route_equipage.value}; this event needs {need.value}")
        return tid

    def window() -> tuple[float, float]:
        start, end = when("start_s"), when("end_s")
        if end <= start:
            raise t.error("end_s", f"{end:g} must be after start_s {start:g}")
        return start, end

    event: Event
    if kind == IntruderEvent.KIND:
        event = IntruderEvent(
            at_s=when("at_s"),
            start_lat_deg=t.number("start_lat_deg", lo=-89.0, hi=89.0),
            start_lon_deg=t.number("start_lon_deg", lo=-180.0, hi=180.0),
            end_lat_deg=t.number("end_lat_deg", lo=-89.0, hi=89.0),
            end_lon_deg=t.number("end_lon_deg", lo=-180.0, hi=180.0),
            alt_m=t.number("alt_m", 300.0, lo=30.0, hi=3_000.0),
            speed_mps=t.number("speed_mps", 60.0, lo=5.0, hi=MAX_SPEED_MPS),
        )
    elif kind == EmergencyEvent.KIND:
        tid = target(Equipage.MODE_AC)
        code = t.squawk("code")
        if code not in EMERGENCY_CODES:
            raise t.error("code", f"{code:04d} is not one of 7500, 7600, 7700")
        event = EmergencyEvent(target_id=tid, at_s=when("at_s"), code=code)
    elif kind == TransponderOffEvent.KIND:
        event = TransponderOffEvent(target_id=target(Equipage.MODE_AC), at_s=when("at_s"))
    elif kind == SpooferEvent.KIND:
        event = SpooferEvent(
            target_id=target(Equipage.ADSB),
            at_s=when("at_s"),
            offset_east_m=t.number("offset_east_m", lo=-1e6, hi=1e6),
            offset_north_m=t.number("offset_north_m", lo=-1e6, hi=1e6),
            drift_east_mps=t.number("drift_east_mps", 0.0, lo=-1000.0, hi=1000.0),
            drift_north_mps=t.number("drift_north_mps", 0.0, lo=-1000.0, hi=1000.0),
        )
    elif kind == SensorOutageEvent.KIND:
        sensor_id = t.choice("sensor_id", refs.sensors)
        event = SensorOutageEvent(sensor_id, *window())
    else:
        a = t.choice("partner_a", refs.partners)
        b = t.choice("partner_b", refs.partners)
        if a == b:
            raise t.error("partner_b", "must differ from partner_a")
        event = LinkOutageEvent(a, b, *window())
    t.finish()
    return event


def parse_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a parsed TOML document into a `Scenario` (errors name `source` and the key)."""
    root = _Table(data, source, "")
    sc = root.table("scenario")
    name = sc.text("name")
    seed = sc.integer("seed", lo=0)
    duration = sc.whole_seconds("duration_s", positive=True)
    start_time = sc.whole_seconds("start_time_s")
    sc.finish()
    rg = root.table("region")
    region = Region(
        lat_deg=rg.number("lat_deg", lo=-85.0, hi=85.0),
        lon_deg=rg.number("lon_deg", lo=-180.0, hi=180.0),
        radius_km=rg.number("radius_km", lo=0.0, hi=2_000.0, lo_open=True),
    )
    rg.finish()
    partners = _partners(root)
    traffic = _traffic(root.table("traffic"), duration)
    refs = _References(
        duration_s=duration,
        n_targets=traffic.count + len(traffic.routes),
        route_equipage={traffic.count + 1 + i: r.equipage for i, r in enumerate(traffic.routes)},
        sensors=tuple(s.id for p in partners for s in p.sensors),
        partners=tuple(p.id for p in partners),
    )
    events = tuple(_event(e, refs) for e in root.tables("events"))
    # Sharing agreements belong to the network layer, which validates them; carried here verbatim.
    sharing = tuple(dict(t.data) for t in root.tables("sharing"))
    assess = dict(root.table("assess", required=False).data)
    root.finish()
    return Scenario(name, seed, duration, start_time, region, partners, traffic, events, source, sharing, assess)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file; any problem raises `ConfigError` naming file and key."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(p), "<file>", f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), "<syntax>", str(exc)) from None
    return parse_scenario(data, str(p))
