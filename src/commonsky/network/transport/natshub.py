"""Steps 1 to 3 of a coalition's set-up: each partner's keys and join request, the hub's files, each partner's creds.

    1. keygen  (each partner, on its own machine)  PARTNER_DIR/user.nk (NKey seed), client.key,
               seal.key (end-to-end sealing), request.json (the partner id, the *public* NKey and
               seal key, a CSR): only request.json leaves
    2. hub     (the hub operator)  from the coalition file and the partners' request.json files:
               the coalition CA (HUB_DIR/ca, or an organisation's own: put its ca.pem/ca.key there),
               a backbone-only CA for cluster routes, server certificates, nats-<i>.conf per server,
               grants/<partner>.json (the partner's signed certificate, CA, URLs, quotas)
    3. join    (each partner)  from its grant: ca.pem, client.pem, creds.json for `commonsky node --creds`

Each step writes files only, and only what its owner may hold: the hub never sees a partner's seed or
private key. Starting the servers from these files is `natsserver`'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from commonsky.network.transport import keys, seal
from commonsky.network.transport.natsconfig import (
    JETSTREAM_DOMAIN,
    Coalition,
    Credentials,
    JoinGrant,
    JoinRequest,
    ServerSpec,
    ServerTls,
    server_config,
)
from commonsky.network.transport.natsprocess import free_port


@dataclass(frozen=True)
class Hub:
    """What `hub_build` made: the servers, their config files, and a grant per partner."""

    directory: Path
    """HUB_DIR: the CAs, the servers' keys and certificates, their configs and the grants."""
    servers: tuple[ServerSpec, ...]
    configs: tuple[Path, ...]
    grants: Mapping[str, Path]
    """Partner -> its grant file (grants/<partner>.json)."""
    tls: bool


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
