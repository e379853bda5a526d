"""Multi-sensor tracking: IMM (CV + CT) filters, gating, GNN assignment, track management, registration.

Written by hand (no library does batched multi-sensor tracking at this scale); the vocabulary
follows Stone Soup: motion models, measurement models, gate, associator, initiator, deleter.
"""

from commonsky.tracking.config import TrackerConfig
from commonsky.tracking.state import TrackerState
from commonsky.tracking.tracker import maintain, new_state, picture, registration_report, reports, run, step

__all__ = [
    "TrackerConfig",
    "TrackerState",
    "maintain",
    "new_state",
    "picture",
    "registration_report",
    "reports",
    "run",
    "step",
]
