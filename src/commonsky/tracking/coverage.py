"""Sensor coverage: whether some own sensor could see a point at all.

A sensor covers a point within its instrumented range, within the line of sight over a 4/3-Earth
(`core.geodesy.radar_horizon_m`, the rule the simulator detects by) and below its maximum elevation
(a radar's cone of silence), or within the farthest range it has actually delivered a plot from
(`SensorTable.seen_range_m`, learnt by `prepare`: a stated coverage that proves too small never cuts
tracks the sensor does see). Track management ends a track predicted outside every sensor's coverage
after one missed update instead of coasting it through the usual deletion time, and inside coverage
weighs a track's silence by the sensors that cover it (`manage`).
"""

from __future__ import annotations

import numpy as np

from commonsky.core.arrays import F64, B
from commonsky.core.geodesy import LocalFrame, radar_horizon_m
from commonsky.tracking.measurements import SensorTable, point_from_altitude

COVERAGE_SLACK_S = 0.5
"""Slack on a sensor's scan period before it counts as late (plots come late): a track outside coverage ends
once it is this much later than its expected update, a sensor stops counting once two scans and this have gone by."""


def covering(frame: LocalFrame, sensors: SensorTable, e: F64, n: F64, alt: F64, alt_known: B) -> B:
    """(K, S): whether each point (frame east, north; height alt) lies in each sensor's coverage.

    Where the height is not known (a primary-only track) only the range counts: horizon and cone
    depend on a height the track does not have, and an unknown track is better coasted than cut.
    """
    inside = np.zeros((len(e), len(sensors.ids)), dtype=bool)
    if len(e) == 0 or len(sensors.ids) == 0:
        return inside
    u, _ = point_from_altitude(frame, e, n, alt)
    point = np.stack([e, n, u], axis=-1)
    for s in range(len(sensors.ids)):
        d = point - sensors.position[s]
        slant = np.sqrt(np.einsum("ki,ki->k", d, d))
        seen = slant <= sensors.max_range_m[s]
        height = alt - sensors.alt_m[s]
        in_sight = (slant <= radar_horizon_m(sensors.alt_m[s], alt)) & (
            height <= slant * np.sin(sensors.max_elevation_rad[s])
        )
        inside[:, s] = (seen & (in_sight | ~alt_known)) | (slant <= sensors.seen_range_m[s])
    return inside
