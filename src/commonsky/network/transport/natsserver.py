"""Start and stop a coalition's `nats-server`s (one, or a cluster of three) and partners' own leaf servers.

A real deployment runs three steps, each by whoever owns what it makes (`commonsky coalition ...`;
see `natshub`): keygen on each partner's machine, hub by the hub operator, join on each partner's
machine. `start` runs all three on one machine for tests and the demo (DIR/partners/<p>/ stand for
each partner's machine, DIR/hub/ for the hub's) and starts the servers; what DIR/hub holds is
exactly what a hub operator would: public keys, certificates, its own server keys, never a
partner's seed or private key. Rotation: run keygen again (new seed and key; `--rotate`), hub,
join, then restart or reload (`nats-server --signal reload`) the servers.

Files under the server directory (`start`): DIR/server.json (urls, pids, topology), DIR/hub/nats-<i>.conf,
DIR/hub/jetstream-<i>/ (kept across restarts: durable consumers survive), DIR/hub/nats-<i>.log.

The processes themselves (binary, ports, launch, readiness, stop) are `natsprocess`'s; the names
other code imports from here (`find_nats_server`, `ServerInfo`, `running`, the three steps) still are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from pathlib import Path

from commonsky.network.transport import keys
from commonsky.network.transport.natsconfig import (
    DEFAULT_COALITION,
    JETSTREAM_DOMAIN,
    Coalition,
    Credentials,
    JoinGrant,
    ServerSpec,
    leaf_config,
)
from commonsky.network.transport.natshub import Hub, hub_build, partner_join, partner_keygen, topology
from commonsky.network.transport.natsprocess import (
    ServerInfo,
    exited,
    find_nats_server,
    free_port,
    launch,
    log_text,
    nats_ready,
    nats_server_binary,
    port_is_free,
    running,
    save,
    server_info_line,
    terminate,
    wait_ready,
)

__all__ = [
    "DEFAULT_PORT",
    "Hub",
    "ServerInfo",
    "find_nats_server",
    "free_port",
    "hub_build",
    "main",
    "nats_ready",
    "partner_join",
    "partner_keygen",
    "port_is_free",
    "restart_server",
    "running",
    "server_info_line",
    "start",
    "start_leaf",
    "stop",
    "stop_server",
    "topology",
]

DEFAULT_PORT = 4222


def start(
    directory: str | Path,
    coalition: Coalition | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    servers: int = 1,
    fallback_port: bool = True,
    timeout_s: float = 30.0,
    leaf_port: int | None = None,
    tls: bool = True,
) -> ServerInfo:
    """Run keygen for every partner (DIR/partners/<p>), build the hub (DIR/hub), join, and start the servers.

    `servers=3` starts a clustered backbone (routes over TLS, inbound streams replicated R3). With
    `leaf_port` (0: free ports), partners' own servers may join as leaf nodes (`start_leaf`).
    `tls=False` runs plain TCP: only for measuring what TLS costs. Idempotent: a backbone already
    running from `directory` is returned unchanged. `port=0` picks a free port; with
    `fallback_port`, a busy `port` is replaced by a free one (the creds files carry the URLs).
    """
    d = Path(directory).resolve()
    current = running(d)
    if current is not None:
        return current
    binary = nats_server_binary()
    if coalition is None:
        saved = d / "hub" / "coalition.json"
        coalition = Coalition.load(saved) if saved.exists() else DEFAULT_COALITION
    if port == 0 or (fallback_port and not port_is_free(host, port)):
        port = free_port(host)
    requests = [partner_keygen(d / "partners" / p, p) for p in coalition.partners]
    hub = hub_build(d / "hub", coalition, requests, topology(host, port, servers, leaf_port), tls=tls)
    for p in coalition.partners:
        partner_join(d / "partners" / p, JoinGrant.read(hub.grants[p]))
    pids = tuple(
        launch(binary, config, d / "hub" / f"nats-{spec.name}.log")
        for spec, config in zip(hub.servers, hub.configs, strict=True)
    )
    info = ServerInfo(d, hub.servers, pids, hub.configs, tls, d / "partners")
    save(info)
    try:
        for index in range(len(hub.servers)):
            wait_ready(info, index, timeout_s)
        _wait_jetstream(info, coalition.partners[0], timeout_s)
    except BaseException:
        stop(d)
        raise
    return info


def _wait_jetstream(info: ServerInfo, partner: str, timeout_s: float) -> None:
    """Wait until JetStream answers a partner's account request (a cluster first elects its meta leader)."""
    import nats
    import nats.errors
    import nats.js.errors

    creds = Credentials.read(info.creds(partner))

    async def probe() -> None:
        nc = await nats.connect(
            list(info.urls),
            nkeys_seed_str=creds.seed(),
            tls=creds.ssl_context(),
            connect_timeout=2,
            allow_reconnect=False,
            inbox_prefix=creds.inbox_prefix,
        )
        try:
            deadline = time.monotonic() + timeout_s
            js = nc.jetstream(timeout=2.0)
            while True:
                try:
                    await js.account_info()
                    return
                except (nats.errors.TimeoutError, nats.js.errors.Error):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    asyncio.run(probe())


def stop_server(info: ServerInfo, index: int, *, kill: bool = False, timeout_s: float = 10.0) -> None:
    """Stop one server of the backbone (SIGKILL with `kill`: a crash), keeping its store for a restart."""
    terminate(info.pids[index], signal.SIGKILL if kill else signal.SIGTERM, timeout_s)


def restart_server(info: ServerInfo, index: int, timeout_s: float = 30.0) -> ServerInfo:
    """Start server `index` again from its config and store; the returned info (and server.json) has its new pid."""
    binary = nats_server_binary()
    spec = info.servers[index]
    pid = launch(binary, info.configs[index], info.directory / "hub" / f"nats-{spec.name}.log")
    pids = tuple(pid if i == index else p for i, p in enumerate(info.pids))
    updated = ServerInfo(info.directory, info.servers, pids, info.configs, info.tls, info.partners_dir)
    save(updated)
    wait_ready(updated, index, timeout_s)
    return updated


def start_leaf(
    directory: str | Path,
    hub: ServerInfo,
    partner: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout_s: float = 15.0,
) -> ServerInfo:
    """Start `partner`'s own server joined to the backbone `hub` as a leaf node, with the partner's own files.

    Writes `partners/<partner>/creds.json` under `directory` for the partner's nodes (this server's local
    URL, the partner's seed, the coalition's JetStream domain) and returns once the leaf link is up.
    """
    if not hub.leaf_urls:
        raise ValueError("the coalition servers were started without leaf ports (start(..., leaf_port=0))")
    binary = nats_server_binary()
    d = Path(directory).resolve()
    d.mkdir(parents=True, exist_ok=True)
    port = free_port(host) if port == 0 else port
    on_hub = Credentials.read(hub.creds(partner))
    local = Credentials(
        partner=partner,
        seed_file=on_hub.seed_file,
        urls=(f"nats://{host}:{port}",),
        tls_files=None,  # the local listener is loopback-only; the leaf link to the hub is TLS
        receivers=on_hub.receivers,
        senders=on_hub.senders,
        domain=JETSTREAM_DOMAIN,
        replicas=on_hub.replicas,
        limits=on_hub.limits,
        seal_key_file=on_hub.seal_key_file,
        peer_seal_keys=on_hub.peer_seal_keys,
    )
    local.write(d / "partners" / partner / "creds.json")
    text = leaf_config(
        partner,
        keys.user_public_key(on_hub.seed()),
        on_hub.seed(),
        hub.leaf_urls,
        host=host,
        port=port,
        max_payload=on_hub.limits.max_payload_bytes,
        tls=on_hub.tls_files,
    )
    config = keys.write_secret(d / "nats-server.conf", text.encode())
    log = d / "nats-server.log"
    pid = launch(binary, config, log)
    spec = ServerSpec(f"commonsky-{partner}-leaf", host, port)
    info = ServerInfo(d, (spec,), (pid,), (config,), False, d / "partners")
    save(info)
    deadline = time.monotonic() + timeout_s
    while "Leafnode connection created" not in log_text(log):
        if time.monotonic() > deadline or exited(pid):
            tail = log_text(log)[-2000:]
            stop(d)
            raise TimeoutError(f"{partner}'s leaf server did not join {hub.leaf_urls} within {timeout_s} s:\n{tail}")
        time.sleep(0.05)
    return info


def stop(directory: str | Path, timeout_s: float = 10.0) -> bool:
    """Stop every server started from `directory` (SIGTERM, then SIGKILL); False if none ran."""
    d = Path(directory).resolve()
    try:
        pids = [int(p) for p in json.loads((d / "server.json").read_text(encoding="utf-8"))["pids"]]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    was_alive = False
    for pid in pids:
        was_alive |= terminate(pid, signal.SIGTERM, timeout_s)
    (d / "server.json").unlink(missing_ok=True)
    return was_alive


def main(argv: list[str] | None = None) -> int:
    """Command line: start | leaf | stop | status DIR (the all-in-one local setup of `start`)."""
    parser = argparse.ArgumentParser(prog="nats_server", description="Local nats-server(s) for a commonsky coalition")
    parser.add_argument("action", choices=["start", "leaf", "stop", "status"])
    parser.add_argument("directory", type=Path)
    parser.add_argument(
        "--coalition", type=Path, help="TOML/JSON coalition or scenario file (default: north/east/west)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 = any free port; a busy port falls back")
    parser.add_argument(
        "--servers", type=int, default=1, choices=[1, 3], help="start: one server or a cluster of three"
    )
    parser.add_argument("--leaf-port", type=int, help="start: also accept partners' leaf servers (0 = free)")
    parser.add_argument("--hub", type=Path, help="leaf: the coalition servers' directory")
    parser.add_argument("--partner", help="leaf: whose own server this is")
    args = parser.parse_args(argv)
    if args.action == "start":
        coalition = Coalition.load(args.coalition) if args.coalition else None
        info = start(
            args.directory, coalition, host=args.host, port=args.port, servers=args.servers, leaf_port=args.leaf_port
        )
        leaf = f"; leaf nodes on {', '.join(info.leaf_urls)}" if info.leaf_urls else ""
        where = f"{', '.join(info.urls)} ({'mutual TLS' if info.tls else 'plain TCP'})"
        print(f"nats-server pids {list(info.pids)} on {where}; creds in {info.partners_dir}/<p>/creds.json{leaf}")
        return 0
    if args.action == "leaf":
        hub = running(args.hub) if args.hub else None
        if hub is None or not args.partner:
            parser.error("leaf needs --hub DIR of running coalition servers and --partner ID")
        info = start_leaf(
            args.directory, hub, args.partner, host=args.host, port=0 if args.port == DEFAULT_PORT else args.port
        )
        joined = f"joined to {', '.join(hub.leaf_urls)}; creds in {info.creds(args.partner)}"
        print(f"{args.partner}'s nats-server pid {info.pids[0]} on {info.url}, {joined}")
        return 0
    if args.action == "stop":
        print("stopped" if stop(args.directory) else "not running")
        return 0
    now = running(args.directory)
    print(f"running, pids {list(now.pids)} on {', '.join(now.urls)}" if now else "not running")
    return 0 if now else 1


if __name__ == "__main__":
    raise SystemExit(main())
