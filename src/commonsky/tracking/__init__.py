"""Multi-sensor tracking: IMM filters over a table of motion models, gating, pluggable association
(GNN by default), track management, registration.

Written by hand (no library does batched multi-sensor tracking at this scale); the vocabulary
follows Stone Soup: motion models, measurement models, gate, associator, initiator, deleter.
"""

from commonsky.tracking.associate import Associator, Candidates, Hypotheses
from commonsky.tracking.config import TrackerConfig
from commonsky.tracking.report import picture, registration_report, reports
from commonsky.tracking.state import TrackerState
from commonsky.tracking.tracker import maintain, new_state, run, step

__all__ = [
    "Associator",
    "Candidates",
    "Hypotheses",
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
