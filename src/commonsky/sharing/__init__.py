"""Track sharing between partners: the policy one partner grants another, enforced on both sides.

Rules: a partner sends another only its own tracks, only inside the agreed areas and altitude bands,
only the identity fields agreed, only once a report is old enough (min delay) and no faster than the
agreed rate; every default withholds. The receiver re-checks each batch against the exporter's
published policy (verified by digest) and drops, counting why, any row that breaks it.
See `policy` for the policy and its files, `enforce` for the rules applied to rows, `geometry` for areas.
"""

from commonsky.sharing.enforce import (
    EXPORT_REASONS,
    IMPORT_REASONS,
    RATE_TOLERANCE_S,
    STALE_AFTER_S,
    ExportState,
    ExportStats,
    ImportStats,
    SharingError,
    check_import,
    export_reports,
    releasable,
)
from commonsky.sharing.geometry import Area
from commonsky.sharing.policy import (
    IDENTITY_FIELDS,
    SharingAgreement,
    SharingPolicy,
    from_json,
    policy_digest,
    policy_from_mapping,
    to_json,
)

__all__ = [
    "EXPORT_REASONS",
    "IDENTITY_FIELDS",
    "IMPORT_REASONS",
    "RATE_TOLERANCE_S",
    "STALE_AFTER_S",
    "Area",
    "ExportState",
    "ExportStats",
    "ImportStats",
    "SharingAgreement",
    "SharingError",
    "SharingPolicy",
    "check_import",
    "export_reports",
    "from_json",
    "policy_digest",
    "policy_from_mapping",
    "releasable",
    "to_json",
]
