"""NATS server configuration for a coalition: users, subject permissions, credentials files.

Layout on the server (subjects: see `base`):

    stream   COMMONSKY_<sender>          one JetStream stream per sender, subjects commonsky.<sender>.>,
                                         created by the sender itself on connect
    consumer <receiver>-from-<sender>    one durable pull consumer per (receiver, sender) on that stream,
                                         created by the *sender* for each partner allowed to receive
                                         from it, filtered to commonsky.<sender>.* (broadcasts) and
                                         commonsky.<sender>.*.<receiver> (addressed to that receiver)
    inbox    _INBOX_<partner>.>          each partner's private reply inbox (the client's inbox_prefix)

Why one stream per sender, consumers made by the sender: export policies are per peer, so north's
track batch for east is not its batch for west. A JetStream consumer reads whatever its filter
says, so the filter must not be the reader's choice; the owner of the data sets it, and each
receiver may only pull from (and ack on) its own durable. The server's permissions alone then
decide who reads what, not each client's good behaviour.

Each partner is one NATS user (username = partner id, random password) allowed to

    publish    commonsky.<self>.>                                      its own messages
               $JS.API.STREAM.{CREATE,UPDATE,INFO,PURGE,MSG.GET}.COMMONSKY_<self>
                                                                       manage and read back its stream
               $JS.API.CONSUMER.{CREATE,DURABLE.CREATE,INFO,DELETE}.COMMONSKY_<self>.<r>-from-<self>[.>]
                                                                       for each receiver r it sends to
               $JS.API.CONSUMER.{INFO,MSG.NEXT}.COMMONSKY_<s>.<self>-from-<s>, $JS.ACK.COMMONSKY_<s>.<self>-from-<s>.>
                                                                       for each sender s it receives from
    subscribe  _INBOX_<self>.>                                         replies to its own requests only
               commonsky.<s>.*, commonsky.<s>.*.<self>                 live reads, for each sender s

so it can neither publish as another partner, nor read a partner it was not granted or what a
partner addressed to someone else, nor open or drain another partner's durable consumer, nor
snoop on another partner's inbox.

Credentials file (what `commonsky node --creds FILE` reads), JSON, mode 0600:

    {"format": "commonsky-nats-creds/1", "partner": "east", "user": "east", "password": "...",
     "url": "nats://127.0.0.1:4222", "inbox_prefix": "_INBOX_east",
     "receivers": ["north", "west"],      # partners that may receive from east
     "senders": ["north", "west"]}        # partners east may receive from
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from commonsky.network.transport.base import check_partner_id, inbound_patterns, sender_wildcard

CREDS_FORMAT = "commonsky-nats-creds/1"
STREAM_PREFIX = "COMMONSKY_"
JETSTREAM_DOMAIN = "commonsky"
"""The coalition server's JetStream domain: partners behind their own leaf-node servers reach the
coalition's streams as `$JS.commonsky.API`, which the leaf connection carries to the hub."""
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
"""Server max_payload: a TrackBatch is ~200 bytes a track, so about 40,000 tracks per batch."""


def stream_name(sender: str) -> str:
    """The JetStream stream holding everything `sender` publishes."""
    return STREAM_PREFIX + check_partner_id(sender)


def durable_name(importer: str, sender: str) -> str:
    """The durable pull consumer through which `importer` reads `sender`'s stream."""
    return f"{check_partner_id(importer)}-from-{check_partner_id(sender)}"


def inbox_prefix(partner: str) -> str:
    """The private reply-inbox prefix of `partner` (passed as nats-py's `inbox_prefix`)."""
    return f"_INBOX_{check_partner_id(partner)}"


@dataclass(frozen=True)
class Coalition:
    """The partners and, for each, the senders it may receive from."""

    partners: tuple[str, ...]
    receives_from: Mapping[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        for p in self.partners:
            check_partner_id(p)
        if len(set(self.partners)) != len(self.partners):
            raise ValueError(f"duplicate partner ids in {self.partners}")
        for importer, senders in self.receives_from.items():
            unknown = [s for s in (importer, *senders) if s not in self.partners]
            if unknown:
                raise ValueError(f"receives_from[{importer!r}] names unknown partners {unknown}")

    @classmethod
    def all_to_all(cls, partners: Iterable[str]) -> Coalition:
        """Every partner may receive from every other one."""
        ps = tuple(partners)
        return cls(ps, {p: tuple(q for q in ps if q != p) for p in ps})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Coalition:
        """From {"partners": [...], "receives_from": {importer: [senders]}} (receives_from optional).

        `partners` may also be a scenario's `[[partners]]` tables (their `id` is used), so a
        scenario file such as `examples/border3.toml` is a valid coalition (all to all).
        """
        raw = data.get("partners")
        if not isinstance(raw, list) or not raw:
            raise ValueError("coalition: 'partners' must be a non-empty list")
        partners = tuple(str(p["id"]) if isinstance(p, Mapping) else str(p) for p in raw)
        rf = data.get("receives_from")
        if rf is None:
            return cls.all_to_all(partners)
        if not isinstance(rf, Mapping):
            raise ValueError("coalition: 'receives_from' must be a table of importer -> [senders]")
        return cls(partners, {str(k): tuple(str(s) for s in v) for k, v in rf.items()})

    @classmethod
    def load(cls, path: str | Path) -> Coalition:
        """From a TOML or JSON file (see `from_dict`)."""
        p = Path(path)
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, readable by `from_dict`."""
        return {"partners": list(self.partners), "receives_from": {k: list(v) for k, v in self.receives_from.items()}}

    def senders_for(self, importer: str) -> tuple[str, ...]:
        """The partners `importer` may receive from."""
        return tuple(self.receives_from.get(importer, ()))

    def receivers_of(self, sender: str) -> tuple[str, ...]:
        """The partners that may receive from `sender`."""
        return tuple(p for p in self.partners if sender in self.receives_from.get(p, ()))


DEFAULT_COALITION = Coalition.all_to_all(("north", "east", "west"))
"""The border3 example's partners, all sharing with all (used when no coalition is given)."""


def partner_permissions(partner: str, coalition: Coalition) -> dict[str, dict[str, list[str]]]:
    """The NATS `permissions` block of `partner`'s user (see the module docstring)."""
    own = stream_name(partner)
    publish = [sender_wildcard(partner)]
    publish += [f"$JS.API.STREAM.{op}.{own}" for op in ("CREATE", "UPDATE", "INFO", "PURGE", "MSG.GET")]
    for receiver in coalition.receivers_of(partner):
        durable = durable_name(receiver, partner)
        publish += [f"$JS.API.CONSUMER.{op}.{own}.{durable}" for op in ("CREATE", "DURABLE.CREATE", "INFO", "DELETE")]
        publish.append(f"$JS.API.CONSUMER.CREATE.{own}.{durable}.>")
    subscribe = [f"{inbox_prefix(partner)}.>"]
    for sender in coalition.senders_for(partner):
        stream, durable = stream_name(sender), durable_name(partner, sender)
        publish += [
            f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>",
        ]
        subscribe += inbound_patterns(sender, partner)
    # The same API and acks addressed through the JetStream domain (clients behind a leaf node).
    publish += [x.replace("$JS.API.", f"$JS.{JETSTREAM_DOMAIN}.API.") for x in publish if x.startswith("$JS.API.")]
    publish += [x.replace("$JS.ACK.", f"$JS.ACK.{JETSTREAM_DOMAIN}.*.") for x in publish if x.startswith("$JS.ACK.")]
    return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}


def server_config(
    coalition: Coalition,
    passwords: Mapping[str, str],
    *,
    host: str = "127.0.0.1",
    port: int = 4222,
    store_dir: str | Path,
    max_memory_store: int = 256 * 1024 * 1024,
    max_file_store: int = 2 * 1024 * 1024 * 1024,
    leaf_port: int | None = None,
) -> str:
    """nats-server configuration text (NATS conf accepts JSON, which is what this writes).

    With `leaf_port`, the server also accepts leaf-node connections there: a partner's own server
    joins as that partner's user, with that user's permissions.
    """
    users = [
        {"user": p, "password": passwords[p], "permissions": partner_permissions(p, coalition)}
        for p in coalition.partners
    ]
    config = {
        "server_name": "commonsky",
        "host": host,
        "port": port,
        "max_payload": MAX_PAYLOAD_BYTES,
        "jetstream": {
            "store_dir": str(store_dir),
            "max_memory_store": max_memory_store,
            "max_file_store": max_file_store,
            "domain": JETSTREAM_DOMAIN,
        },
        "authorization": {"users": users},
    }
    if leaf_port is not None:
        config["leafnodes"] = {"host": host, "port": leaf_port}
    return "# generated by commonsky.network.transport.natsconfig; edits are overwritten\n" + json.dumps(
        config, indent=2
    )


@dataclass(frozen=True)
class Credentials:
    """What a node needs to log in: partner id, user, password, server URL, and its coalition view."""

    partner: str
    user: str
    password: str
    url: str
    receivers: tuple[str, ...] = ()
    """Partners that may receive from this one (its transport makes their durable consumers)."""
    senders: tuple[str, ...] = ()
    """Partners this one may receive from."""
    domain: str | None = None
    """The coalition's JetStream domain (needed behind a leaf node; harmless on the hub)."""

    @property
    def inbox_prefix(self) -> str:
        """The partner's private inbox prefix (its permissions only allow this one)."""
        return inbox_prefix(self.partner)

    def to_dict(self) -> dict[str, Any]:
        """The creds-file JSON object."""
        return {
            "format": CREDS_FORMAT,
            "partner": self.partner,
            "user": self.user,
            "password": self.password,
            "url": self.url,
            "inbox_prefix": self.inbox_prefix,
            "receivers": list(self.receivers),
            "senders": list(self.senders),
            "domain": self.domain,
        }

    def write(self, path: str | Path) -> Path:
        """Write the creds file, readable by its owner only."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")
        p.chmod(0o600)
        return p

    @classmethod
    def read(cls, path: str | Path) -> Credentials:
        """Read a creds file; ValueError if it is not one."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable creds file: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != CREDS_FORMAT:
            raise ValueError(f"{path}: not a {CREDS_FORMAT} file")
        try:
            return cls(
                partner=check_partner_id(data["partner"]),
                user=str(data["user"]),
                password=str(data["password"]),
                url=str(data["url"]),
                receivers=tuple(check_partner_id(p) for p in data.get("receivers", [])),
                senders=tuple(check_partner_id(p) for p in data.get("senders", [])),
                domain=data.get("domain"),
            )
        except KeyError as exc:
            raise ValueError(f"{path}: missing {exc.args[0]!r}") from None


def new_password() -> str:
    """A random password (URL-safe, 32 characters)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class ServerFiles:
    """Where `write_server_files` put things."""

    config: Path
    creds: dict[str, Path]
    store_dir: Path
    coalition: Path


def write_server_files(
    directory: str | Path,
    coalition: Coalition,
    *,
    host: str = "127.0.0.1",
    port: int = 4222,
    leaf_port: int | None = None,
) -> ServerFiles:
    """Write `nats-server.conf`, `creds/<partner>.json` and `coalition.json` under `directory`.

    Passwords already in `creds/` are kept, so regenerating (e.g. on a restart with another
    port) does not invalidate the creds files nodes hold.
    """
    d = Path(directory).resolve()
    (d / "creds").mkdir(parents=True, exist_ok=True)
    store = d / "jetstream"
    store.mkdir(exist_ok=True)
    url = f"nats://{host}:{port}"
    passwords: dict[str, str] = {}
    creds: dict[str, Path] = {}
    for p in coalition.partners:
        path = d / "creds" / f"{p}.json"
        try:
            passwords[p] = Credentials.read(path).password
        except ValueError:
            passwords[p] = new_password()
        creds[p] = Credentials(
            p,
            p,
            passwords[p],
            url,
            receivers=coalition.receivers_of(p),
            senders=coalition.senders_for(p),
            domain=JETSTREAM_DOMAIN,
        ).write(path)
    config = d / "nats-server.conf"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(server_config(coalition, passwords, host=host, port=port, store_dir=store, leaf_port=leaf_port))
    coalition_path = d / "coalition.json"
    coalition_path.write_text(json.dumps(coalition.to_dict(), indent=2) + "\n", encoding="utf-8")
    return ServerFiles(config, creds, store, coalition_path)


def leaf_config(hub: Credentials, hub_leaf_url: str, local_password: str, *, host: str, port: int) -> str:
    """nats-server configuration of a partner's own server, joined to the coalition server as a leaf node.

    The partner's nodes log in locally (user = partner id, `local_password`); the leaf connection
    logs in to the coalition server as the partner's user, so the coalition server applies that
    partner's permissions to everything the leaf carries.
    """
    remote = hub_leaf_url.replace("nats-leaf://", f"nats-leaf://{hub.user}:{hub.password}@", 1)
    config = {
        "server_name": f"commonsky-{hub.partner}-leaf",
        "host": host,
        "port": port,
        "max_payload": MAX_PAYLOAD_BYTES,
        "authorization": {"users": [{"user": hub.partner, "password": local_password}]},
        "leafnodes": {"remotes": [{"url": remote}]},
    }
    return "# generated by commonsky.network.transport.natsconfig; edits are overwritten\n" + json.dumps(
        config, indent=2
    )
