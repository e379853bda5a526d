"""Scenario events as they act on sensor reports, and as JSON records for the stages downstream.

Effects are evaluated vectorised over (target, time) pairs, so each sensor model asks once per batch
"what squawk / is the transponder on / where does ADS-B claim to be" instead of per plot. A vessel's
AIS is its transponder: `transponder_off` silences it and `spoofer` offsets its AIS positions. Times
given to and kept by `EventEffects` are seconds after the scenario start; records use UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from commonsky.core.arrays import F64, I64
from commonsky.core.waterway import Waterway
from commonsky.sim.scenario import (
    EmergencyEvent,
    IntruderEvent,
    LinkOutageEvent,
    Scenario,
    SensorOutageEvent,
    SpooferEvent,
    TargetEvent,
    TransponderOffEvent,
)
from commonsky.sim.traffic import Targets, Trajectories
from commonsky.sim.vessels import Vessels


@dataclass(frozen=True)
class EventEffects:
    """What the scenario's events do to the reports of targets and sensors."""

    scenario: Scenario

    def squawk(self, targets: Targets, index: I64, t: F64) -> NDArray[np.int16]:
        """Mode A code of targets `index` at times `t`: the assigned one, or the emergency code once declared."""
        out = targets.squawk[index].copy()
        for e in self.scenario.events:
            if isinstance(e, EmergencyEvent):
                out[(index == e.target_id - 1) & (t >= e.at_s)] = e.code
        return out

    def transponder_on(self, index: I64, t: F64) -> NDArray[np.bool_]:
        """False once a transponder_off event has switched the target's transponder (a vessel's AIS) off."""
        on = np.ones(len(index), dtype=bool)
        for e in self.scenario.events:
            if isinstance(e, TransponderOffEvent):
                on &= ~((index == e.target_id - 1) & (t >= e.at_s))
        return on

    def spoof_offset(self, index: I64, t: F64) -> tuple[F64, F64]:
        """East and north error (m) a spoofer adds to the target's ADS-B or AIS position (0 when not spoofed)."""
        east = np.zeros(len(index))
        north = np.zeros(len(index))
        for e in self.scenario.events:
            if isinstance(e, SpooferEvent):
                hit = (index == e.target_id - 1) & (t >= e.at_s)
                dt = t[hit] - e.at_s
                east[hit] += e.offset_east_m + e.drift_east_mps * dt
                north[hit] += e.offset_north_m + e.drift_north_mps * dt
        return east, north

    def sensor_up(self, sensor_id: str, t: F64) -> NDArray[np.bool_]:
        """False while the sensor is in an outage window [start, end)."""
        up = np.ones(len(t), dtype=bool)
        for e in self.scenario.events:
            if isinstance(e, SensorOutageEvent) and e.sensor_id == sensor_id:
                up &= ~((t >= e.start_s) & (t < e.end_s))
        return up


@dataclass(frozen=True, eq=False)
class World:
    """What every sensor model observes and the truth records: the scenario, its aircraft and vessels, every
    target's trajectory (aircraft first, then vessels), the events and the river's waterway (None: no river)."""

    scenario: Scenario
    targets: Targets
    trajectories: Trajectories
    effects: EventEffects
    vessels: Vessels
    waterway: Waterway | None


def event_records(world: World) -> list[dict[str, Any]]:
    """Every event as a JSON-serialisable dict: `kind`, UTC `time_s` (and `end_time_s`), and its details.

    Target events carry the target's identity (Mode S address as 6 hex digits, callsign; a vessel's MMSI and
    name besides) so later stages can match them without the truth file; intruders carry the target id they
    were given.
    """
    scenario, targets, trajectories, vessels = world.scenario, world.targets, world.trajectories, world.vessels
    t0 = scenario.start_time_s
    first_intruder = scenario.traffic.count + len(scenario.traffic.routes)
    records: list[dict[str, Any]] = []
    intruders = 0
    for e in scenario.events:
        record: dict[str, Any] = {"kind": e.KIND}
        if isinstance(e, IntruderEvent):
            j = first_intruder + intruders
            intruders += 1
            record |= {
                "time_s": t0 + float(trajectories.first_step[j]),
                "end_time_s": t0 + float(trajectories.last_step[j]),
                "target_id": j + 1,
                "start_lat_deg": e.start_lat_deg,
                "start_lon_deg": e.start_lon_deg,
                "end_lat_deg": e.end_lat_deg,
                "end_lon_deg": e.end_lon_deg,
                "alt_m": e.alt_m,
                "speed_mps": e.speed_mps,
            }
        elif isinstance(e, TargetEvent) and e.target_id > vessels.first_index:
            v = e.target_id - 1 - vessels.first_index
            record |= {
                "time_s": t0 + e.at_s,
                "target_id": e.target_id,
                "mode_s": None,
                "callsign": str(vessels.callsign[v]) or None,
                "mmsi": int(vessels.mmsi[v]),
                "name": str(vessels.name[v]),
            }
            if isinstance(e, SpooferEvent):
                record |= _spoof(e)
        elif isinstance(e, TargetEvent):
            j = e.target_id - 1
            mode_s = int(targets.mode_s[j])
            record |= {
                "time_s": t0 + e.at_s,
                "target_id": e.target_id,
                "mode_s": f"{mode_s:06X}" if mode_s >= 0 else None,
                "callsign": str(targets.callsign[j]) or None,
            }
            if isinstance(e, EmergencyEvent):
                record["squawk"] = f"{e.code:04d}"
            if isinstance(e, SpooferEvent):
                record |= _spoof(e)
        elif isinstance(e, SensorOutageEvent):
            record |= {"time_s": t0 + e.start_s, "end_time_s": t0 + e.end_s, "sensor_id": e.sensor_id}
        elif isinstance(e, LinkOutageEvent):
            record |= {
                "time_s": t0 + e.start_s,
                "end_time_s": t0 + e.end_s,
                "partner_a": e.partner_a,
                "partner_b": e.partner_b,
            }
        records.append(record)
    return records


def _spoof(e: SpooferEvent) -> dict[str, float]:
    """A spoofer event's offset and drift."""
    return {
        "offset_east_m": e.offset_east_m,
        "offset_north_m": e.offset_north_m,
        "drift_east_mps": e.drift_east_mps,
        "drift_north_mps": e.drift_north_mps,
    }
