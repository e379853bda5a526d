"""A validated scenario: frozen dataclasses for everything `simulate` needs, and the limits they keep.

`commonsky.sim.scenario_file` reads a scenario TOML into these (its docstring is the schema); each
simulated sensor holds its published `SensorSpec` beside the simulation-only settings (the errors
injected, clutter, NACp). A river scenario adds the waterway (`RiverConfig`) and its vessels
(`VesselConfig`, one `Behaviour` each, and `VesselTrafficConfig`); vessels are targets after the aircraft.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import SensorSpec

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
MAX_VESSEL_SPEED_MPS = 25.0
"""Highest vessel speed a scenario may ask for (about 49 kn: a fast patrol boat)."""
AIS_CLASSES = ("A", "B", "none")
"""What AIS a vessel carries: class A (SOLAS and inland vessels), class B (small craft) or none at all."""
AIS_ACCURACY_NACP = {1: 10, 0: 9}
"""AIS position accuracy flag -> NACp, as the decoder maps it: 1 better than 10 m, 0 a plain GNSS fix (< 30 m)."""


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
class SensorConfig:
    """One simulated sensor: what it publishes (its `sensors.json` entry) and the hidden settings of the simulation.

    For a radar `spec.scan_period_s` is the rotation period; for ADS-B the report period per aircraft.
    """

    spec: SensorSpec
    """The sensors.json entry: nominal accuracy only, never the injected biases."""
    clutter_density_per_km2: float = 0.0
    range_bias_m: float = 0.0
    azimuth_bias_deg: float = 0.0
    time_offset_s: float = 0.0
    nacp: int = -1
    """ADS-B NACp of the reports (-1 for radars; AIS takes it from each vessel's accuracy flag)."""
    land_clutter_density_per_km2: float = 0.0
    """Shore radar only: false plots per km^2 per scan on the land strip along the banks."""

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
class TargetEvent:
    """Base of the events that happen to one traffic or route target from `at_s` on (its first fields)."""

    target_id: int
    at_s: float


@dataclass(frozen=True)
class EmergencyEvent(TargetEvent):
    """The target squawks an emergency code from `at_s` on (SSR and ADS-B)."""

    KIND: ClassVar[str] = "emergency"
    code: int


@dataclass(frozen=True)
class TransponderOffEvent(TargetEvent):
    """The target's transponder stops at `at_s`: no more SSR replies or ADS-B reports."""

    KIND: ClassVar[str] = "transponder_off"


@dataclass(frozen=True)
class SpooferEvent(TargetEvent):
    """From `at_s` the target's ADS-B position is truth + offset + drift * (t - at_s); radars see truth."""

    KIND: ClassVar[str] = "spoofer"
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


@dataclass(frozen=True)
class RiverConfig:
    """The river of a surface scenario: its waterway file and the height of its water surface."""

    waterway: str
    """Absolute path of the waterway GeoJSON (`commonsky.core.waterway.Waterway.load`)."""
    water_height_m: float
    """Height of the water surface above the ellipsoid: vessels' truth height and AIS plots' altitude."""


@dataclass(frozen=True)
class Transit:
    """Along the centreline from `from_km` to `to_km` (km from its upstream end), `lane_m` right of it looking
    downstream; stops there, or leaves the scenario when `to_km` is an end of the centreline."""

    KIND: ClassVar[str] = "transit"
    from_km: float
    to_km: float
    lane_m: float


@dataclass(frozen=True)
class Work:
    """A dredger at work: back and forth along the river through a point, up to `radius_m` either way."""

    KIND: ClassVar[str] = "work"
    lat_deg: float
    lon_deg: float
    radius_m: float


@dataclass(frozen=True)
class Loiter:
    """A fishing boat: a slow random drift around a point, within `radius_m` of it."""

    KIND: ClassVar[str] = "loiter"
    lat_deg: float
    lon_deg: float
    radius_m: float


@dataclass(frozen=True)
class Cross:
    """Bank to bank across the river at `along_km`, from the `from_bank` side ("left" or "right" looking
    downstream), then moored at the far bank."""

    KIND: ClassVar[str] = "cross"
    along_km: float
    from_bank: str


@dataclass(frozen=True)
class Approach:
    """From a point straight at another vessel (`target`, by name), then keeping `stop_m` off it."""

    KIND: ClassVar[str] = "approach"
    lat_deg: float
    lon_deg: float
    target: str
    stop_m: float


@dataclass(frozen=True)
class Anchored:
    """At anchor: stationary at a point."""

    KIND: ClassVar[str] = "anchored"
    lat_deg: float
    lon_deg: float


Behaviour = Transit | Work | Loiter | Cross | Approach | Anchored
BEHAVIOURS: tuple[type[Behaviour], ...] = (Transit, Work, Loiter, Cross, Approach, Anchored)


@dataclass(frozen=True)
class VesselConfig:
    """A listed vessel: identity, AIS equipment and behaviour; it appears at the first whole second >= `start_s`."""

    name: str
    mmsi: int
    """-1 for a vessel without AIS."""
    callsign: str
    ship_type: int
    """AIS ship and cargo type (0: not available)."""
    length_m: float
    """Length overall (0: not available)."""
    ais: str
    """One of `AIS_CLASSES`."""
    accuracy: int
    """AIS position accuracy flag (1: better than 10 m), -1 without AIS."""
    start_s: float
    speed_mps: float
    """Speed over ground (0 at anchor)."""
    behaviour: Behaviour


@dataclass(frozen=True)
class VesselTrafficConfig:
    """Random barges and tankers with class A AIS transiting both ways in their lanes (downstream right)."""

    count: int
    lane_m: float
    """Distance of each direction's lane from the centreline."""
    speed_min_mps: float
    speed_max_mps: float


NO_VESSEL_TRAFFIC = VesselTrafficConfig(0, 50.0, 2.0, 4.5)
"""Random vessel traffic when `[vessel_traffic]` is left out: none."""


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
    river: RiverConfig | None = None
    """The river of a surface scenario (None: air only)."""
    vessels: tuple[VesselConfig, ...] = ()
    vessel_traffic: VesselTrafficConfig = NO_VESSEL_TRAFFIC

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
    def aircraft_count(self) -> int:
        """Random traffic + routes + intruders: target ids 1..aircraft_count."""
        return self.traffic.count + len(self.traffic.routes) + len(self.intruders)

    @property
    def vessel_count(self) -> int:
        """Listed vessels + random vessel traffic: the target ids after the aircraft, in that order."""
        return len(self.vessels) + self.vessel_traffic.count

    @property
    def target_count(self) -> int:
        """Aircraft and vessels."""
        return self.aircraft_count + self.vessel_count
