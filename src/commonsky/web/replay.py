"""A node recording as a picture source: replayed once through a fresh node, then played per session, seekable.

`ReplaySource` feeds the recording's inputs to the node (`commonsky.network.node.replay_start`,
`Node.apply`), so every picture, identity and alert is the one the node had, recorded operator
actions included; it keeps each tick (immutable, shared). `ReplayView` is one session's playhead
over those ticks. A recording is read-only: acting on it is refused (409).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from commonsky.assess import Assessment, IdentityChange
from commonsky.fusion import SystemTracks
from commonsky.tracking import registration_report
from commonsky.web.actions import ActionError, AuditEntry, audit_entry
from commonsky.web.feed import PictureFeed, PictureRelay
from commonsky.web.picture import Picture, node_waterway

READ_ONLY = "a recording is read-only: act on the live picture"


@dataclass(frozen=True)
class _Tick:
    """One replayed tick: what the picture needs, and the operator actions recorded up to it."""

    time_s: float
    fused: SystemTracks
    partners: list[dict[str, Any]]
    last_plot_s: dict[str, float]
    assessment: Assessment
    history: Callable[[int], Sequence[IdentityChange]]
    audit: list[AuditEntry]
    registration: dict[str, dict[str, Any]]


def _refuse(action: dict[str, Any]) -> None:
    """A recording's feed takes no operator action."""
    raise ActionError(409, READ_ONLY)


class ReplayView:
    """One session's playhead over a `ReplaySource`'s ticks: its own read-only feed, played lazily, seekable.

    No thread: `version`, `snapshot()`, `audit()` and the actions first bring the feed up to the tick
    the clock says (one tick per 1/`speed` s since the last seek or creation). Forward, the ticks in
    between are pushed one by one (alerts accumulate in the feed); after a backward seek the feed is
    reset and ticks 0..k re-run: ~35 us a tick, ~10 ms back to the end of a 300 s border3 recording.
    Memory: the ticks are the recording's, shared; a view holds only its feed. Thread-safe (one lock).
    """

    def __init__(self, replay: ReplaySource, clock: Callable[[], float] = time.monotonic) -> None:
        self._replay = replay
        self._clock = clock
        self._history: Callable[[int], Sequence[IdentityChange]] = replay.ticks[0].history
        self.feed = PictureFeed(
            replay.partner,
            _refuse,
            lambda sid: self._history(sid),
            replay.sensors,
            replay.zones,
            waterway=replay.waterway,
        )
        self._lock = threading.Lock()
        self._shown = -1
        self._anchor = (0, clock())  # (tick, clock time) of the last seek or of creation: play counts from there
        with self._lock:
            self._catch_up()

    @property
    def seekable(self) -> bool:
        """Recordings can seek."""
        return True

    def _due(self) -> int:
        """The tick the playhead is at now (a whole number of periods counts despite float rounding)."""
        k, since = self._anchor
        played = int((self._clock() - since) * self._replay.speed + 1e-9)
        return min(len(self._replay.ticks) - 1, k + played)

    def _advance(self, k: int) -> None:
        """Publish tick `k`'s picture, with the identity history and audit as they were then (lock held)."""
        tick = self._replay.ticks[k]
        self._history = tick.history
        self.feed.set_audit(tick.audit)
        self.feed.push(
            tick.time_s,
            tick.fused,
            tick.assessment,
            tick.partners,
            tick.last_plot_s,
            self._replay.replay_state(k),
            tick.registration,
        )
        self._shown = k

    def _catch_up(self) -> None:
        """Bring the feed to the due tick (lock held): forward tick by tick, backward by re-running from tick 0."""
        k = self._due()
        if k < self._shown:
            self.feed.reset()
            self._shown = -1
        for j in range(self._shown + 1, k + 1):
            self._advance(j)

    @property
    def version(self) -> int:
        """The feed's version, once caught up."""
        with self._lock:
            self._catch_up()
            return self.feed.version

    def snapshot(self) -> Picture:
        """The picture at the playhead."""
        with self._lock:
            self._catch_up()
            return self.feed.snapshot()

    def audit(self) -> list[AuditEntry]:
        """The operator actions recorded up to the playhead."""
        with self._lock:
            self._catch_up()
            return self.feed.audit()

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]:
        """Refused: a recording is read-only (404 first for an alert not in the picture at the playhead)."""
        with self._lock:
            self._catch_up()
            return self.feed.acknowledge(alert_id, user)

    def override_identity(self, system_id: int, identity: str, user: str) -> dict[str, Any]:
        """Refused: a recording is read-only (404/422 first, as for a live picture)."""
        with self._lock:
            self._catch_up()
            return self.feed.override_identity(system_id, identity, user)

    def seek(self, time_s: float) -> None:
        """Move this view only to the last tick at or before `time_s` (clamped to the recording); play on from there."""
        k = max(0, int(np.searchsorted(self._replay.times, time_s, side="right")) - 1)
        with self._lock:
            self._anchor = (k, self._clock())
            self._catch_up()

    def session_view(self) -> ReplayView:
        """A fresh playhead over the same recording."""
        return ReplayView(self._replay, self._clock)

    def start(self) -> None:
        """Nothing to start: a view plays lazily."""

    def close(self) -> None:
        """Nothing to release: the ticks are the recording's."""


class ReplaySource(PictureRelay):
    """A node recording replayed at `speed` x real time, seekable, read-only; each session gets its own playhead.

    The recording is replayed through a fresh node once at construction (its recorded operator
    actions re-applied by the node; ticks kept in memory, immutable), so every picture, identity and
    alert is the one the node had. `session_view()` hands out `ReplayView`s over those shared ticks;
    used directly, the source shows its own default view. Acting on a recording is refused (409).
    """

    def __init__(
        self,
        recording: str | Path,
        speed: float = 1.0,
        zones: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from commonsky.network.node import replay_start
        from commonsky.store import plots_from_bytes, read_events

        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        start = replay_start(recording)  # the start, or the oldest checkpoint retention kept
        node = start.node
        self.partner = node.config.partner
        ticks: list[_Tick] = []
        last_plot: dict[str, float] = {}
        audit: list[AuditEntry] = []
        for event in read_events(recording, after=start.checkpoint):
            if event.kind == "action":
                audit.append(audit_entry(len(audit) + 1, json.loads(event.payload), event.time_s))
            if event.kind == "plots":
                plots = plots_from_bytes(event.payload)
                for sid, t in zip(plots.sensor_id.tolist(), plots.time_s.tolist(), strict=True):
                    last_plot[sid] = max(t, last_plot.get(sid, -math.inf))
            out = node.apply(event.kind, event.time_s, event.payload)
            if out is not None:
                partners = [
                    {"id": p, "status": s, "last_message_s": node.monitor.last_seen_s.get(p)}
                    for p, s in out.partners.items()
                ]
                ticks.append(
                    _Tick(
                        out.time_s,
                        out.fused,
                        partners,
                        dict(last_plot),
                        out.assessment,
                        node.assessment.identity_history,
                        list(audit),
                        registration_report(node.tracker),
                    )
                )
        if not ticks:
            raise ValueError(f"{recording}: the recording holds no ticks")
        self.ticks = tuple(ticks)
        self.times = np.array([t.time_s for t in ticks])
        self.sensors = [*node.config.sensors, *node.config.known_sensors]
        self.zones = zones if zones is not None else node.config.zones
        self.waterway = node_waterway(node.config.waterway)
        self._clock = clock
        self.shown = ReplayView(self, clock)

    @property
    def seekable(self) -> bool:
        """Recordings can seek."""
        return True

    def replay_state(self, k: int) -> dict[str, Any]:
        """The `Picture.replay` of tick `k`: the recording's span and the tick's time."""
        return {"start_s": self.ticks[0].time_s, "end_s": self.ticks[-1].time_s, "time_s": self.ticks[k].time_s}

    def session_view(self) -> ReplayView:
        """A fresh playhead over the recording, at its start: one per session, so one viewer's seek moves no other's."""
        return ReplayView(self, self._clock)

    def seek(self, time_s: float) -> None:
        """Move the default view (not the session views) to `time_s`."""
        self.shown.seek(time_s)

    def start(self) -> None:
        """Nothing to start: views play lazily, from their creation."""

    def close(self) -> None:
        """Nothing to release: no thread."""
