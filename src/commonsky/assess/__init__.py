"""Identification and early-warning alerts over the common picture: identities, zones, alerts with lifecycle.

`new_assessment_state` and `assess(state, time_s, system, plots, local, partner)` form a pure,
deterministic step per tick; `acknowledge` and `override_identity` record operator actions.
`ALERT_KINDS` describes every kind of alert the rules raise (label, severities, colour, help).
Surveillance only: the package identifies and warns, it has no engagement function.
"""

from commonsky.assess.alerts import ACKNOWLEDGED, CLEARED, RAISED, Alert, AlertError
from commonsky.assess.config import AssessmentConfig, load_assessment_config
from commonsky.assess.engine import (
    ADSB_INCONSISTENT,
    ALERT_KINDS,
    EMERGENCY,
    PARTNER_CONTRADICTION,
    SEVERITIES,
    TRANSPONDER_LOSS,
    UNKNOWN_NEAR_BORDER,
    ZONE_ENTRY,
    ZONE_PREDICTED,
    AlertKind,
    Assessment,
    AssessmentState,
    SystemPicture,
    acknowledge,
    assess,
    new_assessment_state,
    override_identity,
    reconfigure_assessment,
)
from commonsky.assess.identity import IDENTITIES, Identity, IdentityChange
from commonsky.assess.zones import Zone, Zones, load_zones, zones_from_geojson

__all__ = [
    "ACKNOWLEDGED",
    "ADSB_INCONSISTENT",
    "ALERT_KINDS",
    "CLEARED",
    "EMERGENCY",
    "IDENTITIES",
    "PARTNER_CONTRADICTION",
    "RAISED",
    "SEVERITIES",
    "TRANSPONDER_LOSS",
    "UNKNOWN_NEAR_BORDER",
    "ZONE_ENTRY",
    "ZONE_PREDICTED",
    "Alert",
    "AlertError",
    "AlertKind",
    "Assessment",
    "AssessmentConfig",
    "AssessmentState",
    "Identity",
    "IdentityChange",
    "SystemPicture",
    "Zone",
    "Zones",
    "acknowledge",
    "assess",
    "load_assessment_config",
    "load_zones",
    "new_assessment_state",
    "override_identity",
    "reconfigure_assessment",
    "zones_from_geojson",
]
