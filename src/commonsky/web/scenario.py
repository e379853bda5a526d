"""A simulated scenario as a picture source: every partner's node runs, the display shows one partner's.

The scenario's nodes (`commonsky.network.runner.ScenarioSession`) track, share, fuse and assess;
`ScenarioSource` pushes the viewed partner's tick output into its `PictureFeed` at `speed` x real
time from a background thread, and sends operator actions to that partner's node, which records them.
A river scenario's waterway (`Scenario.river`) is the map's water layer.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from commonsky.core.waterway import Waterway
from commonsky.tracking import registration_report
from commonsky.web.actions import ActionError
from commonsky.web.feed import PictureFeed, PictureRelay
from commonsky.web.picture import Picture, waterway_geojson

if TYPE_CHECKING:
    from commonsky.network.runner import ScenarioSession
    from commonsky.sim import Scenario


class ScenarioSource(PictureRelay):
    """One partner's view of a simulated scenario, advanced one step per 1/`speed` s in a background thread.

    All partners' nodes run (they must, to share tracks); the picture is `partner`'s fused view
    (default: the scenario's first partner). With `stop_s` (seconds after the scenario start) the
    run holds there, e.g. for a stable picture in tests. Not seekable; shared by every session.
    """

    def __init__(
        self,
        session: ScenarioSession,
        partner: str | None = None,
        speed: float = 1.0,
        zones: dict[str, Any] | None = None,
        stop_s: float | None = None,
    ) -> None:
        self.session = session
        partners = list(session.nodes)
        self.partner = partner or partners[0]
        if self.partner not in partners:
            raise ValueError(f"partner {self.partner!r} is not one of {', '.join(partners)}")
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self.stop_time_s = None if stop_s is None else session.scenario.start_time_s + stop_s
        node = session.nodes[self.partner]
        self._lock = threading.Lock()
        self.feed = self.shown = PictureFeed(
            self.partner,
            self._act,
            lambda sid: node.assessment.identity_history(sid),
            session.simulation.sensors,
            zones if zones is not None else node.config.zones,
            scenario_waterway(session.scenario),
        )
        own = {s.id for s in session.simulation.sensors if s.partner == self.partner}
        plots = session.simulation.plots
        mask = np.isin(plots.sensor_id, list(own))
        self._plot_times = _plot_times(plots.sensor_id[mask], plots.time_s[mask])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"scenario-{self.partner}", daemon=True)

    @property
    def seekable(self) -> bool:
        """A running simulation cannot go back."""
        return False

    def _finished(self) -> bool:
        """True at the end of the scenario or at `stop_s`."""
        return bool(self.session.done) or (self.stop_time_s is not None and self.session.time_s >= self.stop_time_s)

    def _act(self, action: dict[str, Any]) -> None:
        """An operator action to the viewed partner's node, which records and applies it."""
        with self._lock:
            self.session.nodes[self.partner].act(action, self.session.time_s)

    def step(self) -> Picture:
        """Advance the scenario one step and publish the partner's new picture."""
        with self._lock:
            outputs = self.session.step()
            registration = registration_report(self.session.nodes[self.partner].tracker)
        out = outputs[self.partner]
        node = self.session.nodes[self.partner]
        partners = [
            {"id": peer, "status": status, "last_message_s": node.monitor.last_seen_s.get(peer)}
            for peer, status in out.partners.items()
        ]
        last_plot = _last_before(self._plot_times, out.time_s)
        return self.feed.push(out.time_s, out.fused, out.assessment, partners, last_plot, registration=registration)

    def _run(self) -> None:
        """Step at `speed` x real time until finished or closed."""
        period = 1.0 / self.speed
        deadline = time.monotonic()
        while not self._stop.is_set() and not self._finished():
            self.step()
            deadline += period
            self._stop.wait(max(0.0, deadline - time.monotonic()))

    def seek(self, time_s: float) -> None:
        """Not possible for a running simulation."""
        raise ActionError(409, "a running scenario cannot seek; replay a recording to review")

    def session_view(self) -> ScenarioSource:
        """A running scenario is shared: every session sees the same one."""
        return self

    def start(self) -> None:
        """Start the stepping thread."""
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and close the nodes' recordings."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.session.close()


def scenario_waterway(scenario: Scenario) -> dict[str, Any] | None:
    """The scenario's river as the map's water layer (`waterway_geojson`); None for a scenario without one."""
    return None if scenario.river is None else waterway_geojson(Waterway.load(scenario.river.waterway))


def _plot_times(sensor_ids: np.ndarray, times: np.ndarray) -> dict[str, np.ndarray]:
    """Sorted plot times per sensor id."""
    return {str(s): np.sort(times[sensor_ids == s]) for s in np.unique(sensor_ids)}


def _last_before(times: dict[str, np.ndarray], now_s: float) -> dict[str, float]:
    """Per sensor, its last plot time at or before `now_s` (sensors without one left out)."""
    out: dict[str, float] = {}
    for sid, t in times.items():
        k = int(np.searchsorted(t, now_s, side="right"))
        if k:
            out[sid] = float(t[k - 1])
    return out
