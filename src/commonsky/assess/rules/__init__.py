"""The built-in alert rules, one module per family, registered here in the order `assess` runs them.

A new kind is one `AlertRule` in a family module (listed with its severities in the module docstring)
and one entry in `BUILT_IN`; the order is that of the ids of alerts raised at the same tick.
"""

from commonsky.assess.registry import register
from commonsky.assess.rules.partner import PARTNER_CONTRADICTION, PARTNER_CONTRADICTION_RULE
from commonsky.assess.rules.surface import (
    AIS_GAP,
    AIS_RADAR_INCONSISTENT,
    BORDER_CROSSING,
    DARK_VESSEL,
    FAST_APPROACH,
    LOITERING,
    MMSI_CONFLICT,
    SURFACE_RULES,
    WORK_ZONE_ENTRY,
)
from commonsky.assess.rules.transponder import (
    ADSB_INCONSISTENT,
    ADSB_INCONSISTENT_RULE,
    EMERGENCY,
    EMERGENCY_RULE,
    EMERGENCY_SEVERITY,
    TRANSPONDER_LOSS,
    TRANSPONDER_LOSS_RULE,
)
from commonsky.assess.rules.zones import (
    UNKNOWN_NEAR_BORDER,
    UNKNOWN_NEAR_BORDER_RULE,
    ZONE_ENTRY,
    ZONE_ENTRY_RULE,
    ZONE_PREDICTED,
    ZONE_PREDICTED_RULE,
)

BUILT_IN = (
    ZONE_ENTRY_RULE,
    ZONE_PREDICTED_RULE,
    EMERGENCY_RULE,
    TRANSPONDER_LOSS_RULE,
    UNKNOWN_NEAR_BORDER_RULE,
    ADSB_INCONSISTENT_RULE,
    PARTNER_CONTRADICTION_RULE,
    *SURFACE_RULES,
)
"""The built-in rules in the order they run: the air picture's, then the surface picture's."""

for _rule in BUILT_IN:
    register(_rule)

__all__ = [
    "ADSB_INCONSISTENT",
    "AIS_GAP",
    "AIS_RADAR_INCONSISTENT",
    "BORDER_CROSSING",
    "BUILT_IN",
    "DARK_VESSEL",
    "EMERGENCY",
    "EMERGENCY_SEVERITY",
    "FAST_APPROACH",
    "LOITERING",
    "MMSI_CONFLICT",
    "PARTNER_CONTRADICTION",
    "TRANSPONDER_LOSS",
    "UNKNOWN_NEAR_BORDER",
    "WORK_ZONE_ENTRY",
    "ZONE_ENTRY",
    "ZONE_PREDICTED",
]
