"""What a decoder saw: message and error counts, categories, identities and time span, for summaries.

A file's report is exact. A live input's report never ends, so it caps its identity sets
(`max_identities`: the least recently seen go first, counted in `addresses_evicted` and
`callsigns_evicted`); `by_category` and `not_decoded` need no cap, their keys being bounded by the
formats (256 ASTERIX categories, 32 downlink formats, 64 AIS types, 13 SBS record types). Each bad
message is counted, but logged at most once per `ERROR_LOG_INTERVAL_S` per source.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from commonsky.core.bounded import BoundedSet
from commonsky.core.errors import DecodeError
from commonsky.core.logs import RateLimitedLog

log = logging.getLogger(__name__)

MAX_KEPT_ERRORS = 100
"""Errors kept verbatim per report (all are counted); a flood of bad input must not grow memory."""
ERROR_LOG_INTERVAL_S = 10.0
"""Per source (`log_key`), at most one bad-message warning this often; the others are counted in the next."""
_error_log = RateLimitedLog(log, ERROR_LOG_INTERVAL_S)


@dataclass
class DecodeReport:
    """Counts kept while decoding one source; `summary()` is the `--summary-json` object of `commonsky decode`.

    `by_category` keys are the ASTERIX category (`"048"`), the Mode S downlink format (`"DF17"`) or
    the AIS message type (`"AIS1"`); `addresses` holds Mode S addresses (6 hex digits) or MMSIs;
    `not_decoded` counts well-formed ASTERIX blocks of categories commonsky does not decode (`"001"`).
    `max_identities` caps `addresses` and `callsigns` each (None: exact); `log_key` is what its
    warnings are rate-limited by (default: `source`; a per-datagram report gives its input's).
    """

    source: str
    messages: int = 0
    errors: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    not_decoded: Counter[str] = field(default_factory=Counter)
    addresses: BoundedSet[str] = field(init=False)
    callsigns: BoundedSet[str] = field(init=False)
    time_min_s: float = math.inf
    time_max_s: float = -math.inf
    first_errors: list[DecodeError] = field(default_factory=list)
    max_identities: int | None = None
    log_key: str = ""

    def __post_init__(self) -> None:
        self.addresses = BoundedSet(self.max_identities)
        self.callsigns = BoundedSet(self.max_identities)

    def error(self, offset: int, problem: str) -> DecodeError:
        """Count and log (rate-limited) one bad message at `offset` (bytes or lines, as the format counts)."""
        err = DecodeError(self.source, offset, problem)
        self.errors += 1
        if len(self.first_errors) < MAX_KEPT_ERRORS:
            self.first_errors.append(err)
        _error_log.warning(self.log_key or self.source, "%s", err)
        return err

    def saw_times(self, times: Any) -> None:
        """Widen the time span with the finite values of `times` (a scalar or an array of UTC seconds)."""
        t = np.asarray(times, dtype=np.float64).ravel()
        t = t[np.isfinite(t)]
        if t.size:
            self.time_min_s = min(self.time_min_s, float(t.min()))
            self.time_max_s = max(self.time_max_s, float(t.max()))

    def merge(self, other: DecodeReport) -> None:
        """Add another report's counts into this one (e.g. the files of one recording)."""
        self.messages += other.messages
        self.errors += other.errors
        self.by_category.update(other.by_category)
        self.not_decoded.update(other.not_decoded)
        self.addresses.update(other.addresses)
        self.callsigns.update(other.callsigns)
        self.addresses.evicted += other.addresses.evicted
        self.callsigns.evicted += other.callsigns.evicted
        self.time_min_s = min(self.time_min_s, other.time_min_s)
        self.time_max_s = max(self.time_max_s, other.time_max_s)
        room = MAX_KEPT_ERRORS - len(self.first_errors)
        self.first_errors.extend(other.first_errors[: max(room, 0)])

    @property
    def time_span_s(self) -> float:
        """Seconds between the first and last message time (0 when fewer than two times were seen)."""
        return max(self.time_max_s - self.time_min_s, 0.0) if math.isfinite(self.time_min_s) else 0.0

    def summary(self) -> dict[str, Any]:
        """The JSON-serialisable summary (documented in docs/formats.md)."""
        return {
            "source": self.source,
            "messages": self.messages,
            "errors": self.errors,
            "by_category": {k: v for k, v in sorted(self.by_category.items()) if v},
            "not_decoded": {k: v for k, v in sorted(self.not_decoded.items()) if v},
            "addresses": len(self.addresses),
            "callsigns": len(self.callsigns),
            "addresses_evicted": self.addresses.evicted,
            "callsigns_evicted": self.callsigns.evicted,
            "time_span_s": round(self.time_span_s, 3),
            "first_errors": [str(e) for e in self.first_errors[:10]],
        }
