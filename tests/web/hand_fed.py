"""A node given its fused pictures by hand, for tests and benchmarks of the display without tracking or fusion.

`HandFedNode.push` assesses each hand-made fused picture in a real `Node`'s assessment state, as
`Node.tick` does after fusing, and publishes it to the node's `PictureFeed`; the feed's operator
actions go to `Node.act`. So identities and alerts come from the node, as in a live display.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from commonsky.assess import assess
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import SensorSpec
from commonsky.fusion import SystemTracks
from commonsky.network.node import NO_ZONES, Node, NodeConfig
from commonsky.web.feed import PictureFeed
from commonsky.web.picture import Picture

FRAME = LocalFrame(47.6, 9.5, 0.0)


class HandFedNode:
    """One partner's node whose fused pictures are pushed by hand, and the display's feed of it (`feed`)."""

    def __init__(self, partner: str, sensors: Sequence[SensorSpec] = (), zones: dict[str, Any] | None = None) -> None:
        self.node = Node(NodeConfig(partner, tuple(sensors), (), FRAME, zones=zones if zones is not None else NO_ZONES))
        self.time_s = 0.0
        self.feed = PictureFeed(
            partner,
            lambda action: self.node.act(action, self.time_s),
            lambda sid: self.node.assessment.identity_history(sid),
            sensors,
            zones,
        )

    def push(
        self,
        time_s: float,
        fused: SystemTracks,
        partners: list[dict[str, Any]] | None = None,
        last_plot_s: dict[str, float] | None = None,
        inputs: dict[str, dict[str, Any]] | None = None,
    ) -> Picture:
        """Assess `fused` at `time_s` in the node and publish it with the peer status, plot times and inputs given."""
        self.node.assessment, assessment = assess(self.node.assessment, time_s, fused)
        self.time_s = time_s
        return self.feed.push(time_s, fused, assessment, partners, last_plot_s, inputs=inputs)
