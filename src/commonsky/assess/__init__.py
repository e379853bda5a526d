"""Identification and early-warning alerts over the common picture: identities, zones, alerts with lifecycle.

`new_assessment_state` and `assess(state, time_s, system, plots, local, partner)` form a pure,
deterministic step per tick; `acknowledge` and `override_identity` record operator actions.
Every kind of alert is an `AlertRule` in one registry (`register`, `unregister`): `ALERT_KINDS` is that
registry, read-only (label, severities, colour, help, settings and conditions of each kind); the built-in
rules are in `commonsky.assess.rules`. `AlertView` is the one shape the display shows an alert in.
Surveillance only: the package identifies and warns, it has no engagement function.
"""

from commonsky.assess.alerts import ACKNOWLEDGED, CLEARED, RAISED, Alert, AlertError, AlertView, Condition
from commonsky.assess.config import AssessmentConfig, load_assessment_config
from commonsky.assess.engine import (
    acknowledge,
    assess,
    new_assessment_state,
    override_identity,
    reconfigure_assessment,
)
from commonsky.assess.identity import IDENTITIES, Identity, IdentityChange
from commonsky.assess.registry import ALERT_KINDS, SEVERITIES, AlertKind, AlertRule, Tick, register, unregister
from commonsky.assess.rules import (
    ADSB_INCONSISTENT,
    AIS_GAP,
    AIS_RADAR_INCONSISTENT,
    BORDER_CROSSING,
    DARK_VESSEL,
    EMERGENCY,
    FAST_APPROACH,
    LOITERING,
    MMSI_CONFLICT,
    PARTNER_CONTRADICTION,
    TRANSPONDER_LOSS,
    UNKNOWN_NEAR_BORDER,
    WORK_ZONE_ENTRY,
    ZONE_ENTRY,
    ZONE_PREDICTED,
)
from commonsky.assess.state import Assessment, AssessmentState, SystemPicture
from commonsky.assess.zones import Zone, Zones, load_zones, zones_from_geojson

__all__ = [
    "ACKNOWLEDGED",
    "ADSB_INCONSISTENT",
    "AIS_GAP",
    "AIS_RADAR_INCONSISTENT",
    "ALERT_KINDS",
    "BORDER_CROSSING",
    "CLEARED",
    "DARK_VESSEL",
    "EMERGENCY",
    "FAST_APPROACH",
    "IDENTITIES",
    "LOITERING",
    "MMSI_CONFLICT",
    "PARTNER_CONTRADICTION",
    "RAISED",
    "SEVERITIES",
    "TRANSPONDER_LOSS",
    "UNKNOWN_NEAR_BORDER",
    "WORK_ZONE_ENTRY",
    "ZONE_ENTRY",
    "ZONE_PREDICTED",
    "Alert",
    "AlertError",
    "AlertKind",
    "AlertRule",
    "AlertView",
    "Assessment",
    "AssessmentConfig",
    "AssessmentState",
    "Condition",
    "Identity",
    "IdentityChange",
    "SystemPicture",
    "Tick",
    "Zone",
    "Zones",
    "acknowledge",
    "assess",
    "load_assessment_config",
    "load_zones",
    "new_assessment_state",
    "override_identity",
    "reconfigure_assessment",
    "register",
    "unregister",
    "zones_from_geojson",
]
