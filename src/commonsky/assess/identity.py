"""Standard identities of system tracks: the documented rules, vectorised, and their anti-flapping settle step.

Rules, first match wins (evaluated per system track each tick; see `propose`):

1. an operator override always wins (kept in the track's memory, never changed by rules);
2. a Mode S address, Mode A code or MMSI on a friend list gives `friend`, on a neutral list `neutral`;
3. a track younger than `pending_s`, or tentative, is `pending`; so is a track that has shown no
   transponder while it lies within `duplicate_m` of one of its domain that has (for vessels
   `surface_duplicate_m` of one that has shown an MMSI): most likely the same aircraft or vessel seen
   by another radar and not yet fused, and identifying it would create a false unknown;
4. a track that has shown a full identity is `neutral`: ADS-B fed it with an address and a callsign
   (a cooperative civil flight), or AIS with an MMSI and a call sign (merchant or leisure traffic
   announcing itself, as a watch officer regards it until told otherwise);
5. a track that has shown a transponder (address or Mode A code) or an AIS MMSI gets
   `transponder_identity` (default `assumed_friend`);
6. anything else (radar only: no address, no code, no MMSI; a dark vessel) is `unknown`.

Rules 4 and 5 use what the track has shown over its life, so a transponder failure, an AIS switched
off or a squawk change does not by itself change the identity. An emergency squawk never changes it: the track keeps its
identity while it squawks 7500, 7600 or 7700. Rules never propose `suspect` or `hostile`: those
are operator decisions. A change between settled identities is made only after the same new
identity has been proposed for `identity_confirm_s`, which stops flapping on noisy inputs; leaving
`pending` is immediate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from commonsky.core.arrays import F64, B

if TYPE_CHECKING:
    from commonsky.assess.config import AssessmentConfig


class Identity(StrEnum):
    """The standard identities; the order gives the integer code used in arrays."""

    PENDING = "pending"
    UNKNOWN = "unknown"
    ASSUMED_FRIEND = "assumed_friend"
    FRIEND = "friend"
    NEUTRAL = "neutral"
    SUSPECT = "suspect"
    HOSTILE = "hostile"

    @property
    def code(self) -> int:
        """Integer code of the identity in arrays."""
        return IDENTITIES.index(self.value)


IDENTITIES = tuple(i.value for i in Identity)
"""Identity names by code."""
NO_IDENTITY = -1
"""Code of a system track not yet identified (first tick)."""
IDENTITY_NAMES = np.array(IDENTITIES)


@dataclass(frozen=True)
class IdentityChange:
    """One entry of a system track's identity history: who or what changed it, when, from what to what."""

    system_id: int
    time_s: float
    previous: str
    """The identity before ("" for the first one)."""
    identity: str
    by: str
    """The operator's user name, or "rules"."""
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "system_id": self.system_id,
            "time_s": self.time_s,
            "from": self.previous,
            "to": self.identity,
            "by": self.by,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class IdentityRules:
    """The configured lists and rule choices (`AssessmentConfig` fields), as arrays."""

    friend_mode_s: NDArray[np.int64]
    friend_squawks: NDArray[np.int64]
    neutral_mode_s: NDArray[np.int64]
    neutral_squawks: NDArray[np.int64]
    friend_mmsi: NDArray[np.int64]
    neutral_mmsi: NDArray[np.int64]
    transponder_identity: int
    pending_s: float

    @classmethod
    def from_config(cls, config: AssessmentConfig) -> IdentityRules:
        """The lists and choices of an assessment configuration."""
        return cls(
            friend_mode_s=np.array(config.friend_mode_s, dtype=np.int64),
            friend_squawks=np.array(config.friend_squawks, dtype=np.int64),
            neutral_mode_s=np.array(config.neutral_mode_s, dtype=np.int64),
            neutral_squawks=np.array(config.neutral_squawks, dtype=np.int64),
            friend_mmsi=np.array(config.friend_mmsi, dtype=np.int64),
            neutral_mmsi=np.array(config.neutral_mmsi, dtype=np.int64),
            transponder_identity=Identity(config.transponder_identity).code,
            pending_s=config.pending_s,
        )


@dataclass(frozen=True)
class IdentityEvidence:
    """What each system track has shown of its identity so far, one row per track: what `propose` judges."""

    mode_s: NDArray[np.int32]
    squawk: NDArray[np.int16]
    mmsi: NDArray[np.int32]
    tentative: B
    age_s: F64
    """Since the track was first seen."""
    ever_adsb_identity: B
    """ADS-B fed it with an address and a callsign once."""
    ever_ais_identity: B
    """AIS fed it with an MMSI and a call sign once."""
    ever_transponder: B
    """It showed a Mode S address or a Mode A code once."""
    ever_mmsi: B
    """It showed an MMSI once."""
    near_transponder: B
    """Within the duplicate distance of a transponder track of its domain: likely a radar echo of it."""


def propose(rules: IdentityRules, evidence: IdentityEvidence) -> tuple[NDArray[np.int8], NDArray[np.str_]]:
    """Identity codes the rules give each track now, and the rule that decided (for the history)."""
    e = evidence
    friend = _listed(e.mode_s, e.squawk, rules.friend_mode_s, rules.friend_squawks) | _vessel_listed(
        e.mmsi, rules.friend_mmsi
    )
    neutral = _listed(e.mode_s, e.squawk, rules.neutral_mode_s, rules.neutral_squawks) | _vessel_listed(
        e.mmsi, rules.neutral_mmsi
    )
    cooperative = e.ever_transponder | e.ever_mmsi
    young = e.tentative | (e.age_s < rules.pending_s) | (e.near_transponder & ~cooperative)
    conditions = [friend, neutral, young, e.ever_adsb_identity, e.ever_ais_identity, e.ever_transponder, e.ever_mmsi]
    codes = [
        Identity.FRIEND.code,
        Identity.NEUTRAL.code,
        Identity.PENDING.code,
        Identity.NEUTRAL.code,
        Identity.NEUTRAL.code,
        rules.transponder_identity,
        rules.transponder_identity,
    ]
    reasons = [
        "friend list",
        "neutral list",
        "young, tentative or next to a transponder track",
        "ADS-B identity",
        "AIS identity",
        "transponder",
        "AIS MMSI",
    ]
    code = np.select(conditions, codes, default=Identity.UNKNOWN.code).astype(np.int8)
    reason = np.select(conditions, reasons, default="no transponder")
    return code, reason


def _listed(
    mode_s: NDArray[np.int32], squawk: NDArray[np.int16], addresses: NDArray[np.int64], codes: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """Tracks whose known Mode S address or known Mode A code is on a list (one rule for every list)."""
    return (np.isin(mode_s, addresses) & (mode_s >= 0)) | (np.isin(squawk, codes) & (squawk >= 0))


def _vessel_listed(mmsi: NDArray[np.int32], listed: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Vessels whose known MMSI is on a list."""
    return np.isin(mmsi, listed) & (mmsi >= 0)


def settle(
    current: NDArray[np.int8],
    candidate: NDArray[np.int8],
    candidate_since_s: NDArray[np.float64],
    proposed: NDArray[np.int8],
    frozen: NDArray[np.bool_],
    now_s: float,
    confirm_s: float,
) -> tuple[NDArray[np.int8], NDArray[np.int8], NDArray[np.float64]]:
    """New (identity, candidate, candidate since) after this tick's proposals.

    `frozen` rows (operator override, emergency squawk) keep their identity, but may leave pending
    (an aircraft first seen squawking 7700 still gets identified); a first identity or leaving
    pending is immediate; going back to pending never happens; other changes need the
    same proposal for `confirm_s`.
    """
    held = frozen & (current != NO_IDENTITY) & (current != Identity.PENDING.code)
    proposed = np.where(held, current, proposed).astype(np.int8)
    same_candidate = proposed == candidate
    since = np.where(same_candidate, candidate_since_s, now_s)
    immediate = (current == NO_IDENTITY) | (current == Identity.PENDING.code)
    back_to_pending = (proposed == Identity.PENDING.code) & ~immediate
    confirmed = (now_s - since) >= confirm_s
    change = (proposed != current) & ~back_to_pending & (immediate | confirmed)
    new = np.where(change, proposed, current).astype(np.int8)
    return new, proposed, since
