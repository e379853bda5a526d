"""The seam between the display and where its picture comes from: `PictureSource`, and `PictureFeed` behind it.

The app depends only on the `PictureSource` protocol. A `PictureFeed` is pushed one fused picture
per node tick together with that tick's assessment (`TickOutput.assessment`: identities and alerts
are the node's, never the display's own) and publishes immutable `Picture`s; operator actions go
back to the node through its `act`, which records them, and the feed keeps their audit log.
`PictureRelay` is the base of sources that answer through a feed or view they hold.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from commonsky.assess import IDENTITIES, AlertError, AlertView, Assessment, IdentityChange
from commonsky.core.sensors import SensorSpec
from commonsky.fusion import SystemTracks
from commonsky.web.actions import Act, ActionError, AuditEntry, acknowledge_action, audit_entry, override_action
from commonsky.web.picture import EMPTY_ZONES, Picture, history_dicts

CLEARED_KEPT = 1000
"""Cleared alerts the display keeps listing (the newest); active ones are always kept."""


class PictureSource(Protocol):
    """What the web app needs from wherever the picture comes from (a scenario, a recording, a live node)."""

    @property
    def version(self) -> int:
        """Grows by one with every new picture or operator action; the stream polls it."""
        ...

    @property
    def seekable(self) -> bool:
        """True for sources that can `seek` (recordings)."""
        ...

    def snapshot(self) -> Picture:
        """The current picture (immutable; safe to keep)."""
        ...

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]:
        """Acknowledge an alert as `user`; returns the alert. ActionError 404/409 when it cannot."""
        ...

    def override_identity(self, system_id: int, identity: str, user: str) -> dict[str, Any]:
        """Set a system track's identity as `user`; returns the track's history entry. ActionError 404/422."""
        ...

    def audit(self) -> list[AuditEntry]:
        """Every operator action so far, oldest first."""
        ...

    def seek(self, time_s: float) -> None:
        """Jump to a picture time (ActionError 409 when not `seekable`)."""
        ...

    def session_view(self) -> PictureSource:
        """The source as one session sees it: itself for a shared live source; a fresh playhead for a recording."""
        ...

    def start(self) -> None:
        """Begin producing pictures (background thread)."""
        ...

    def close(self) -> None:
        """Stop producing pictures and release resources."""
        ...


class PictureFeed:
    """A `PictureSource` fed by its node's owner: `push` each fused picture with its assessment; actions and audit.

    `zones` and `waterway` (`picture.waterway_geojson`, None without a river) are the map's fixed layers.

    `act` applies an operator action in the node (`Node.act`, which records it); `history` gives a
    system track's identity changes from the node's assessment. Thread-safe: `push` (a producer
    thread), snapshots and actions (the app) take one lock.
    """

    def __init__(
        self,
        partner: str,
        act: Act,
        history: Callable[[int], Sequence[IdentityChange]],
        sensors: Iterable[SensorSpec] = (),
        zones: dict[str, Any] | None = None,
        waterway: dict[str, Any] | None = None,
    ) -> None:
        self.partner = partner
        self._sensors = [s.to_dict() | {"own": s.partner == partner} for s in sensors]
        self._zones = zones if zones is not None else EMPTY_ZONES
        self._waterway = waterway
        self._act = act
        self._history = history
        self._lock = threading.RLock()
        self._alerts: dict[str, dict[str, Any]] = {}
        self._identity: list[str] = []
        self._registration: dict[str, dict[str, Any]] = {}
        self._inputs: dict[str, dict[str, Any]] = {}
        self._audit: list[AuditEntry] = []
        self._version = 0
        self._last: tuple[float, SystemTracks, list[dict[str, Any]], dict[str, float], dict[str, Any] | None] = (
            0.0,
            SystemTracks.empty(),
            [],
            {},
            None,
        )
        self._picture = self._build()

    @property
    def version(self) -> int:
        """Grows with every new picture or action."""
        return self._version

    @property
    def seekable(self) -> bool:
        """A plain feed cannot seek."""
        return False

    def push(
        self,
        time_s: float,
        fused: SystemTracks,
        assessment: Assessment,
        partners: list[dict[str, Any]] | None = None,
        last_plot_s: dict[str, float] | None = None,
        replay: dict[str, Any] | None = None,
        registration: dict[str, dict[str, Any]] | None = None,
        inputs: dict[str, dict[str, Any]] | None = None,
    ) -> Picture:
        """Publish the node's fused picture at `time_s` with its assessment, peer status, plot times, the own
        radars' registration estimates and, per sensor fed by a live input, that input's status."""
        with self._lock:
            self._inputs = inputs or {}
            for event in assessment.events:
                self._alerts[str(event["alert_id"])] = AlertView.from_record(event).to_dict()
            for alert in assessment.alerts:
                self._alerts[str(alert.id)] = alert.view().to_dict()
            self._forget_old_cleared()
            self._identity = [str(i) for i in assessment.identity]
            self._registration = registration or {}
            self._last = (time_s, fused, partners or [], last_plot_s or {}, replay)
            self._picture = self._build()
            return self._picture

    def _forget_old_cleared(self) -> None:
        """Keep at most `CLEARED_KEPT` cleared alerts (the newest): months of running must not grow the list."""
        cleared = [k for k, a in self._alerts.items() if a["state"] == "cleared"]
        for key in cleared[: max(0, len(cleared) - CLEARED_KEPT)]:
            del self._alerts[key]

    def _build(self) -> Picture:
        """Publish the last pushed picture with the current identities and alerts (lock held)."""
        time_s, fused, partners, last_plot_s, replay = self._last
        self._version += 1
        sensors = [
            s
            | {
                "last_plot_s": last_plot_s.get(s["id"]),
                "registration": self._registration.get(s["id"]),
                "input_state": self._inputs.get(s["id"], {}).get("state"),
                "input_reason": self._inputs.get(s["id"], {}).get("reason"),
            }
            for s in self._sensors
        ]
        active: dict[int, list[str]] = {}
        for alert_id, alert in self._alerts.items():
            if alert["state"] != "cleared":
                active.setdefault(alert["system_id"], []).append(alert_id)
        history = self._history
        return Picture(
            time_s=time_s,
            partner=self.partner,
            version=self._version,
            fused=fused,
            identity=list(self._identity),
            track_alerts=[active.get(sid, []) for sid in fused.system_id.tolist()],
            alerts=list(self._alerts.values()),
            partners=partners,
            sensors=sensors,
            zones=self._zones,
            identity_history=lambda sid: history_dicts(history(sid)),
            replay=replay,
            waterway=self._waterway,
        )

    def snapshot(self) -> Picture:
        """The current picture."""
        return self._picture

    def _apply(self, action: dict[str, Any]) -> None:
        """Apply an operator action in the node and audit it (lock held); refusals become ActionErrors."""
        try:
            self._act(action)
        except AlertError as exc:
            raise ActionError(409, str(exc)) from None
        except ValueError as exc:
            raise ActionError(422, str(exc)) from None
        self._audit.append(audit_entry(len(self._audit) + 1, action, self._last[0]))

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]:
        """Acknowledge a raised alert; recorded by the node and in the audit log."""
        with self._lock:
            alert = self._alerts.get(alert_id)
            if alert is None:
                raise ActionError(404, f"no alert {alert_id!r}")
            if alert["state"] != "raised":
                raise ActionError(409, f"alert {alert_id} is {alert['state']}, not raised")
            self._apply(acknowledge_action(alert_id, user))
            alert = alert | {"state": "acknowledged", "acknowledged_by": user, "acknowledged_s": self._last[0]}
            self._alerts[alert_id] = alert
            self._picture = self._build()
            return alert

    def override_identity(self, system_id: int, identity: str, user: str) -> dict[str, Any]:
        """Set a system track's identity by hand (it then stays until overridden again); audited."""
        if identity not in IDENTITIES:
            raise ActionError(422, f"identity {identity!r} is not one of {', '.join(IDENTITIES)}")
        with self._lock:
            row = self._picture.index.get(system_id)
            if row is None:
                raise ActionError(404, f"no system track {system_id}")
            self._apply(override_action(system_id, identity, user))
            self._identity[row] = identity
            self._picture = self._build()
            entry = {"time_s": self._last[0], "identity": identity, "by": user, "reason": "operator override"}
            history = self._picture.identity_history(system_id)
            return history[-1] if history else entry

    def audit(self) -> list[AuditEntry]:
        """Every operator action so far."""
        with self._lock:
            return list(self._audit)

    def set_audit(self, entries: list[AuditEntry]) -> None:
        """Replace the audit log (a replay shows the actions recorded up to the picture's time)."""
        with self._lock:
            self._audit = list(entries)

    def reset(self) -> None:
        """Forget alerts and audit (a replay seeking backwards re-runs them from the start)."""
        with self._lock:
            self._alerts = {}
            self._audit = []

    def seek(self, time_s: float) -> None:
        """A feed follows its producer: it cannot seek."""
        raise ActionError(409, "this picture source is live: it cannot seek")

    def session_view(self) -> PictureFeed:
        """A live feed is shared: every session sees the same one."""
        return self

    def start(self) -> None:
        """Nothing to start: the owner pushes."""

    def close(self) -> None:
        """Nothing to release."""


class PictureRelay:
    """What a source answers by asking the source it shows (`shown`: its feed, or a recording's default view)."""

    shown: PictureSource

    @property
    def version(self) -> int:
        """The shown source's version."""
        return self.shown.version

    def snapshot(self) -> Picture:
        """The shown source's picture."""
        return self.shown.snapshot()

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]:
        """See `PictureSource.acknowledge`."""
        return self.shown.acknowledge(alert_id, user)

    def override_identity(self, system_id: int, identity: str, user: str) -> dict[str, Any]:
        """See `PictureSource.override_identity`."""
        return self.shown.override_identity(system_id, identity, user)

    def audit(self) -> list[AuditEntry]:
        """The shown source's operator actions."""
        return self.shown.audit()
