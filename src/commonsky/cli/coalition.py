"""`commonsky coalition`: each partner makes its own keys, the hub builds its servers' config from public keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from commonsky.cli.common import console, fail
from commonsky.core.errors import ConfigError

coalition_app = typer.Typer(
    help="Coalition keys and servers: each partner makes its own keys, the hub builds its config from public keys.",
    no_args_is_help=True,
)


@coalition_app.command("keygen")
def coalition_keygen(
    partner: Annotated[str, typer.Argument(help="Your partner id.")],
    directory: Annotated[Path, typer.Option("--dir", help="Your own folder for the keys (stays on your machine).")],
    rotate: Annotated[bool, typer.Option("--rotate", help="Make new keys even if some exist.")] = False,
) -> None:
    """On the partner's machine: NKey seed and TLS key (kept 0600), and request.json for the hub (public only)."""
    from commonsky.network.transport.natsserver import partner_keygen

    try:
        request = partner_keygen(directory, partner, rotate=rotate)
    except ValueError as exc:
        raise fail(ConfigError(str(directory), "partner", str(exc))) from None
    from commonsky.network.transport.seal import fingerprint

    console.print(f"{partner}: public key {request.user_key}, seal key fingerprint {fingerprint(request.seal_key)}")
    console.print(
        f"send {directory / 'request.json'} to the hub operator; user.nk, client.key, seal.key stay in {directory}"
    )


@coalition_app.command("hub")
def coalition_hub(
    coalition: Annotated[
        Path, typer.Option("--coalition", help="Coalition TOML/JSON (partners, receives_from, limits).")
    ],
    requests: Annotated[list[Path], typer.Option("--request", help="A partner's request.json (one per partner).")],
    directory: Annotated[Path, typer.Option("--dir", help="The hub's folder (CA, configs, grants).")],
    host: Annotated[
        str, typer.Option("--host", help="Where the servers listen (and partners reach them).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Client port of the first server.")] = 4222,
    servers: Annotated[int, typer.Option("--servers", help="1, or 3 for a clustered backbone (streams R3).")] = 1,
    leaf_port: Annotated[int | None, typer.Option("--leaf-port", help="Accept partners' leaf servers here.")] = None,
) -> None:
    """At the hub: check the partners' requests, sign their certificates, write each server's config and grants."""
    from commonsky.network.transport.natsconfig import Coalition, JoinRequest
    from commonsky.network.transport.natsserver import hub_build, topology

    if servers not in (1, 3):
        raise fail(ConfigError("--servers", "servers", "1 or 3"))
    try:
        hub = hub_build(
            directory,
            Coalition.load(coalition),
            [JoinRequest.read(r) for r in requests],
            topology(host, port, servers, leaf_port),
        )
    except ValueError as exc:
        raise fail(ConfigError(str(coalition), "requests", str(exc))) from None
    for config in hub.configs:
        console.print(f"server config {config}  (run: nats-server -c {config})")
    for partner, grant in hub.grants.items():
        console.print(f"grant for {partner}: {grant}")


@coalition_app.command("join")
def coalition_join(
    grant: Annotated[Path, typer.Argument(help="The grant the hub sent you.", exists=True, dir_okay=False)],
    directory: Annotated[Path, typer.Option("--dir", help="Your key folder (from keygen).")],
) -> None:
    """On the partner's machine: install the hub's grant (CA, your certificate, servers) and write creds.json."""
    from commonsky.network.transport.natsconfig import JoinGrant
    from commonsky.network.transport.natsserver import partner_join
    from commonsky.network.transport.seal import fingerprint

    try:
        granted = JoinGrant.read(grant)
        creds = partner_join(directory, granted)
    except ValueError as exc:
        raise fail(ConfigError(str(grant), "grant", str(exc))) from None
    console.print("compare these with your partners once, out of band (the hub handed them out):")
    for peer, key in sorted(granted.peer_seal_keys.items()):
        console.print(f"  {peer}: seal key fingerprint {fingerprint(key)}")
    console.print(f"commonsky node --config YOUR.toml --creds {creds}")
