"""The operator display beside a live node (`commonsky node --serve PORT`): same process, same event loop.

Each tick the node's fused picture, assessment and registration estimates are pushed to a
`PictureFeed`; an operator's acknowledgement or identity override goes to the node (`Node.act`,
recorded) under the node's lock, since web requests run on other threads.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from commonsky.network.live import LiveHooks
from commonsky.network.node import Node, TickOutput
from commonsky.network.transport.base import STATUS_RANK
from commonsky.sharing import SharingPolicy
from commonsky.tracking import registration_report
from commonsky.web.app import deployed_app
from commonsky.web.auth import User, uses_demo_accounts
from commonsky.web.feed import PictureFeed
from commonsky.web.oidc import OidcConfig
from commonsky.web.picture import node_waterway
from commonsky.web.security import Deployment


def link_rows(partners: list[dict[str, Any]], link: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Partner rows with the coalition link's word on each: why a partner is down (the link is) or
    degraded (over its quota, or our messages to it being dropped). A stand-alone node (no link) changes nothing."""
    if link is None:
        return partners
    rows = []
    for row in partners:
        peer, status, reason = row["id"], row["status"], None
        if link["state"] != "up":
            status, reason = "down", f"coalition link {link['state']}: {link.get('last_error') or 'no server'}"
        elif peer in link["throttled"]:
            reason = link["throttled"][peer]
        elif link["dropped"].get(peer):
            reason = f"{link['dropped'][peer]} of our messages to it dropped while unreachable"
        if reason is not None and STATUS_RANK[status] < STATUS_RANK["degraded"]:
            status = "degraded"
        rows.append(row | {"status": status, "reason": reason})
    return rows


def display_hooks(
    users: dict[str, User] | None,
    deployment: Deployment | None = None,
    oidc: OidcConfig | None = None,
    aircraft_policy: SharingPolicy | None = None,
) -> LiveHooks:
    """Hooks that serve the node's picture as `deployment` says (checked now: ConfigError when unsafe)
    while it runs, and stop with it."""
    deployment = deployment or Deployment()
    deployment.check(uses_demo_accounts(users))
    hooks = LiveHooks()
    held: dict[str, Any] = {"time_s": 0.0}

    def act(action: dict[str, Any]) -> None:
        with hooks.lock:
            held["node"].act(action, held["time_s"])

    def on_start(node: Node) -> None:
        config = node.config
        feed = PictureFeed(
            config.partner,
            act,
            lambda sid: node.assessment.identity_history(sid),
            [*config.sensors, *config.known_sensors],
            config.zones,
            waterway=node_waterway(config.waterway),
        )
        app = deployed_app(feed, users, deployment, oidc=oidc, aircraft_policy=aircraft_policy)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **deployment.uvicorn_options()))
        held.update(node=node, feed=feed, server=server, task=asyncio.get_running_loop().create_task(server.serve()))

    def on_tick(node: Node, result: TickOutput) -> None:
        held["time_s"] = result.time_s
        partners = link_rows(
            [
                {"id": peer, "status": status, "last_message_s": node.monitor.last_seen_s.get(peer)}
                for peer, status in result.partners.items()
            ],
            hooks.link(),
        )
        with hooks.lock:
            registration = registration_report(node.tracker)
        inputs = {i["sensor"]: i for i in hooks.inputs() if i.get("sensor")}
        held["feed"].push(
            result.time_s, result.fused, result.assessment, partners, registration=registration, inputs=inputs
        )

    async def on_stop() -> None:
        if "server" in held:
            held["server"].should_exit = True
            await held["task"]

    hooks.on_start, hooks.on_tick, hooks.on_stop = on_start, on_tick, on_stop
    return hooks
