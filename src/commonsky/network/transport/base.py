"""What both transports share: partner ids, the subject layout, sequence numbers, partner status.

Subject layout (identical on the in-process bus and on NATS):

    commonsky.<sender>.tracks.<receiver>   TrackBatch for one receiver (export policies are per peer)
    commonsky.<sender>.heartbeat           Heartbeat, to every peer
    commonsky.<sender>.policy[.<receiver>] PolicyAnnouncement, to every peer or to one

Any kind may be broadcast (3 tokens) or addressed to one receiver (4 tokens); a sender uses one
form per kind, never both, so each receiver sees exactly one numbering per (sender, kind).
A receiver listens on `inbound_patterns(sender, receiver)`: `commonsky.<sender>.*` and
`commonsky.<sender>.*.<receiver>`, so it never sees what a sender addressed to someone else.

`<sender>`/`<receiver>` are partner ids, `[A-Za-z0-9_-]{1,16}`: safe as a NATS subject token,
in JetStream stream and consumer names, and short enough for `TrackReports.owner` (`<U16`).

Sequence numbers are per subject (sender, kind and receiver), start at 1 and grow by one per
message. Delivery is at least once (JetStream redelivers anything not acked), so the importer
keeps a `SeqTracker` per sender and kind and applies each sequence number at most once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

SUBJECT_ROOT = "commonsky"
"""First token of every subject."""

Kind = Literal["tracks", "heartbeat", "policy"]
KINDS: tuple[Kind, ...] = ("tracks", "heartbeat", "policy")
"""Message kinds; each is also the last subject token and the msgpack tag of its struct."""

PARTNER_ID_RE = r"^[A-Za-z0-9_-]{1,16}$"
"""Partner ids: one subject token, valid in stream and consumer names, fits `TrackReports.owner`."""
_PARTNER_ID = re.compile(PARTNER_ID_RE)

PartnerStatus = Literal["up", "degraded", "down"]


def check_partner_id(partner: str) -> str:
    """Return `partner` if it is a valid partner id, else raise ValueError naming the rule."""
    if not isinstance(partner, str) or not _PARTNER_ID.match(partner):
        raise ValueError(f"partner id {partner!r} must match {PARTNER_ID_RE}")
    return partner


def subject(sender: str, kind: Kind, receiver: str | None = None) -> str:
    """The subject `sender` publishes `kind` on: to everyone, or to `receiver` only."""
    if kind not in KINDS:
        raise ValueError(f"message kind {kind!r} is not one of {KINDS}")
    base = f"{SUBJECT_ROOT}.{check_partner_id(sender)}.{kind}"
    return base if receiver is None else f"{base}.{check_partner_id(receiver)}"


def sender_wildcard(sender: str) -> str:
    """The subject pattern matching everything `sender` publishes (`commonsky.<sender>.>`)."""
    return f"{SUBJECT_ROOT}.{check_partner_id(sender)}.>"


def inbound_patterns(sender: str, receiver: str) -> tuple[str, str]:
    """What `receiver` may see of `sender`: its broadcasts and what it addressed to `receiver`."""
    return (f"{SUBJECT_ROOT}.{check_partner_id(sender)}.*", f"{SUBJECT_ROOT}.{sender}.*.{check_partner_id(receiver)}")


def split_subject(subj: str) -> tuple[str, Kind, str | None]:
    """(sender, kind, receiver or None) of a commonsky subject; ValueError for anything else."""
    parts = subj.split(".")
    if len(parts) not in (3, 4) or parts[0] != SUBJECT_ROOT or parts[2] not in KINDS:
        raise ValueError(f"{subj!r} is not a commonsky subject ({SUBJECT_ROOT}.<sender>.<kind>[.<receiver>])")
    kind: Kind = parts[2]
    receiver = check_partner_id(parts[3]) if len(parts) == 4 else None
    return check_partner_id(parts[1]), kind, receiver


def parse_subject(subj: str) -> tuple[str, Kind]:
    """(sender, kind) of a commonsky subject; ValueError for anything else."""
    sender, kind, _ = split_subject(subj)
    return sender, kind


def subject_matches(pattern: str, subj: str) -> bool:
    """NATS wildcard match: `*` matches one token, a final `>` one or more tokens."""
    pat = pattern.split(".")
    tok = subj.split(".")
    for i, p in enumerate(pat):
        if p == ">":
            return i == len(pat) - 1 and len(tok) > i
        if i >= len(tok) or (p != "*" and p != tok[i]):
            return False
    return len(tok) == len(pat)


class Sequencer:
    """A publisher's next sequence number per subject (kind, receiver), from 1; resumable.

    Refuses to number one kind both as a broadcast and as addressed messages: a receiver could
    not tell the two numberings apart.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str | None], int] = {}
        self._addressed: dict[str, bool] = {}

    def next(self, kind: Kind, receiver: str | None = None) -> int:
        """Assign the next sequence number of `kind` (to `receiver`, or broadcast)."""
        addressed = receiver is not None
        if self._addressed.setdefault(kind, addressed) != addressed:
            form = "addressed" if self._addressed[kind] else "broadcast"
            raise ValueError(f"{kind} messages are {form} by this sender; do not mix the two forms")
        key = (kind, receiver)
        self._last[key] = self._last.get(key, 0) + 1
        return self._last[key]

    def last(self, kind: Kind, receiver: str | None = None) -> int:
        """The last number assigned for `kind` to `receiver` (0 before the first)."""
        return self._last.get((kind, receiver), 0)

    def resume(self, kind: Kind, last_seq: int, receiver: str | None = None) -> None:
        """Continue after `last_seq` (read back from the sender's own stream after a restart)."""
        if last_seq < 0:
            raise ValueError(f"last_seq must be >= 0, got {last_seq}")
        key = (kind, receiver)
        self._last[key] = max(self._last.get(key, 0), last_seq)


@dataclass
class _Applied:
    contiguous: int = 0
    """Every sequence number <= this has been applied (or written off as lost)."""
    above: set[int] = field(default_factory=set)
    """Applied numbers above `contiguous` (out-of-order redeliveries leave holes)."""
    max_sent_s: float = -math.inf
    """Largest `sent_s` applied: a true duplicate can never be newer than this."""


Verdict = Literal["new", "duplicate", "restart"]


class SeqTracker:
    """Which sequence numbers of each (sender, kind) the importer has applied; drops duplicates.

    `check` says whether a message is new; `mark` records it as applied (call it when the
    message is acked, i.e. processed). Holes (a redelivery arriving after later numbers) are
    handled: only numbers actually applied count as duplicates. A number at or below what was
    applied but sent *later* than anything applied cannot be a duplicate: the sender restarted
    its numbering (lost its stream); the tracker then starts that (sender, kind) afresh.
    Holes older than `window` numbers are written off as lost (`lost` counts them), so memory
    stays bounded when a lossy link never fills them. `snapshot`/`restore` persist the state so
    a restarted importer still refuses what it applied before the crash.
    """

    def __init__(self, window: int = 65536) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self.window = window
        self._state: dict[tuple[str, str], _Applied] = {}
        self.lost: dict[tuple[str, str], int] = {}
        """(sender, kind) -> sequence numbers never received and written off."""
        self.restarts: dict[tuple[str, str], int] = {}
        """(sender, kind) -> times the sender's numbering was seen to restart."""

    def check(self, sender: str, kind: str, seq: int, sent_s: float) -> Verdict:
        """'new' (apply it), 'duplicate' (drop it) or 'restart' (new numbering: apply it)."""
        st = self._state.get((sender, kind))
        if st is None:
            return "new"
        if seq > st.contiguous and seq not in st.above:
            return "new"
        if sent_s > st.max_sent_s:
            return "restart"
        return "duplicate"

    def mark(self, sender: str, kind: str, seq: int, sent_s: float) -> None:
        """Record (sender, kind, seq) as applied."""
        key = (sender, kind)
        verdict = self.check(sender, kind, seq, sent_s)
        if verdict == "duplicate":
            return
        if verdict == "restart":
            self.restarts[key] = self.restarts.get(key, 0) + 1
            self._state[key] = _Applied()
        st = self._state.setdefault(key, _Applied())
        st.max_sent_s = max(st.max_sent_s, sent_s)
        if seq == st.contiguous + 1:
            st.contiguous = seq
            while st.contiguous + 1 in st.above:
                st.contiguous += 1
                st.above.discard(st.contiguous)
        else:
            st.above.add(seq)
            if seq - st.contiguous > self.window:
                floor = seq - self.window
                written_off = (floor - st.contiguous) - sum(1 for s in st.above if s <= floor)
                self.lost[key] = self.lost.get(key, 0) + written_off
                st.above = {s for s in st.above if s > floor}
                st.contiguous = floor
                while st.contiguous + 1 in st.above:
                    st.contiguous += 1
                    st.above.discard(st.contiguous)

    def last_applied(self, sender: str, kind: str) -> int:
        """Highest sequence number applied for (sender, kind); 0 if none."""
        st = self._state.get((sender, kind))
        if st is None:
            return 0
        return max(st.above, default=st.contiguous)

    def forget(self, sender: str) -> None:
        """Drop everything known about `sender` (operator reset)."""
        for key in [k for k in self._state if k[0] == sender]:
            del self._state[key]

    def snapshot(self) -> dict[str, dict[str, object]]:
        """JSON-ready state: {"sender/kind": {"contiguous", "above", "max_sent_s"}}."""
        return {
            f"{s}/{k}": {
                "contiguous": st.contiguous,
                "above": sorted(st.above),
                "max_sent_s": st.max_sent_s if math.isfinite(st.max_sent_s) else None,
            }
            for (s, k), st in self._state.items()
        }

    @classmethod
    def restore(cls, snapshot: dict[str, dict[str, object]], window: int = 65536) -> SeqTracker:
        """A tracker continuing from `snapshot()` output."""
        tracker = cls(window)
        for key, value in snapshot.items():
            sender, _, kind = key.partition("/")
            above = value.get("above", [])
            max_sent = value.get("max_sent_s")
            tracker._state[(sender, kind)] = _Applied(
                contiguous=int(value.get("contiguous", 0)),  # type: ignore[call-overload]
                above={int(s) for s in above},  # type: ignore[attr-defined]
                max_sent_s=-math.inf if max_sent is None else float(max_sent),  # type: ignore[arg-type]
            )
        return tracker


def partner_status(
    last_seen_s: float | None,
    now_s: float,
    degraded_after_s: float = 3.0,
    down_after_s: float = 10.0,
) -> PartnerStatus:
    """'up', 'degraded' or 'down' from the age of the last message heard from a partner.

    Age <= `degraded_after_s` is up, <= `down_after_s` degraded, older (or never heard) down.
    The defaults suit the default 1 s heartbeat: three missed beats degrade, ten mean down.
    """
    if degraded_after_s > down_after_s:
        raise ValueError("degraded_after_s must not exceed down_after_s")
    if last_seen_s is None or not math.isfinite(last_seen_s):
        return "down"
    age = now_s - last_seen_s
    if age <= degraded_after_s:
        return "up"
    if age <= down_after_s:
        return "degraded"
    return "down"


class Heard(Protocol):
    """Any message: who sent it and when."""

    @property
    def sender(self) -> str: ...
    @property
    def sent_s(self) -> float: ...


STATUS_RANK: dict[str, int] = {"up": 0, "degraded": 1, "down": 2}
"""How bad each partner status is: the worse of two wins."""


class PartnerMonitor:
    """Status of each partner from the messages heard from it.

    Age is judged on the newest `sent_s` seen (the sender's clock; partners run NTP, and in the
    simulation it is the simulated time, so the result is deterministic). A heartbeat's own
    status can only make things worse: a partner reporting "degraded" is at best degraded, one
    reporting "stopping" is down.
    """

    def __init__(self, degraded_after_s: float = 3.0, down_after_s: float = 10.0) -> None:
        partner_status(None, 0.0, degraded_after_s, down_after_s)  # validates the thresholds
        self.degraded_after_s = degraded_after_s
        self.down_after_s = down_after_s
        self.last_seen_s: dict[str, float] = {}
        self.reported: dict[str, str] = {}

    def observe_message(self, message: Heard) -> None:
        """Note any decoded message (its `sender`, `sent_s` and, for a heartbeat, `status`)."""
        status = getattr(message, "status", None)
        self.observe(message.sender, message.sent_s, status if isinstance(status, str) else None)

    def observe(self, sender: str, sent_s: float, reported_status: str | None = None) -> None:
        """Note a message from `sender` sent at `sent_s` (with its heartbeat status, if one)."""
        if sent_s >= self.last_seen_s.get(sender, -math.inf):
            self.last_seen_s[sender] = sent_s
            if reported_status is not None:
                self.reported[sender] = reported_status

    def status(self, partner: str, now_s: float) -> PartnerStatus:
        """Current status of `partner`."""
        by_age = partner_status(self.last_seen_s.get(partner), now_s, self.degraded_after_s, self.down_after_s)
        reported = {"stopping": "down", "degraded": "degraded"}.get(self.reported.get(partner, "up"), "up")
        return by_age if STATUS_RANK[by_age] >= STATUS_RANK[reported] else reported  # type: ignore[return-value]

    def statuses(self, partners: Iterable[str], now_s: float) -> dict[str, PartnerStatus]:
        """Status of each of `partners`."""
        return {p: self.status(p, now_s) for p in partners}
