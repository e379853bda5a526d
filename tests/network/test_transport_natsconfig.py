"""Coalition config: one account per partner, exports/imports from the agreements, keys, grants (no server needed)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from commonsky.network.transport import keys
from commonsky.network.transport.natsconfig import (
    DEFAULT_COALITION,
    Coalition,
    Credentials,
    JoinGrant,
    JoinRequest,
    Limits,
    ServerSpec,
    account_config,
    inbound_subject,
)
from commonsky.network.transport.natsserver import (
    find_nats_server,
    hub_build,
    partner_join,
    partner_keygen,
    topology,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "commonsky" / "examples"

RESTRICTED = Coalition(("north", "east", "west"), {"east": ("north",), "north": ("east", "west")})


def test_accounts_export_and_import_exactly_the_agreed_subjects() -> None:
    east = account_config("east", RESTRICTED, "UEAST")
    # east takes messages from north only, on north's subject addressed to east, and only north may send them
    assert east["exports"] == [{"service": "commonsky.north.*.east", "accounts": ["north"]}]
    # east sends only to north (the only partner receiving from east), on east's own subject
    assert east["imports"] == [{"service": {"account": "north", "subject": "commonsky.east.*.north"}}]
    assert east["users"] == [{"nkey": "UEAST"}]
    assert east["jetstream"]["max_streams"] == 2  # one inbound stream per sender, and one spare
    north = account_config("north", RESTRICTED, "UNORTH")
    assert sorted(e["service"] for e in north["exports"]) == ["commonsky.east.*.north", "commonsky.west.*.north"]
    assert [i["service"]["account"] for i in north["imports"]] == ["east"]
    west = account_config("west", RESTRICTED, "UWEST")
    assert west["exports"] == []  # receives from nobody
    assert [i["service"]["subject"] for i in west["imports"]] == ["commonsky.west.*.north"]
    assert inbound_subject("west", "north") == "commonsky.west.*.north"


def test_coalition_from_scenario_and_file(tmp_path: Path) -> None:
    assert Coalition.load(EXAMPLES / "border3.toml") == DEFAULT_COALITION
    path = tmp_path / "c.toml"
    path.write_text('partners = ["a", "b"]\n[receives_from]\na = ["b"]\n[limits]\nmax_rows_per_batch = 500\n')
    loaded = Coalition.load(path)
    assert loaded.senders_for("a") == ("b",)
    assert loaded.senders_for("b") == ()
    assert loaded.limits.max_rows_per_batch == 500
    assert Coalition.from_dict(json.loads(json.dumps(loaded.to_dict()))) == loaded
    with pytest.raises(ValueError, match="unknown partners"):
        Coalition(("a",), {"a": ("z",)})
    with pytest.raises(ValueError, match="the partner itself"):
        Coalition(("a",), {"a": ("a",)})
    with pytest.raises(ValueError):
        Coalition(("a.b",), {})
    with pytest.raises(ValueError, match="unknown key 'max_rows'"):
        Limits.from_dict({"max_rows": 5})
    with pytest.raises(ValueError, match="positive"):
        Limits(max_messages_per_s=0)


def _hub(tmp_path: Path, coalition: Coalition = RESTRICTED, servers: int = 1) -> dict[str, Path]:
    """keygen on each partner's side, the hub from the requests, join: the three steps of a deployment."""
    requests = [partner_keygen(tmp_path / "partners" / p, p) for p in coalition.partners]
    hub = hub_build(tmp_path / "hub", coalition, requests, topology("127.0.0.1", 4333, servers, 0))
    return {p: partner_join(tmp_path / "partners" / p, JoinGrant.read(hub.grants[p])) for p in coalition.partners}


def test_partners_keep_their_secrets_and_the_hub_holds_public_keys_only(tmp_path: Path) -> None:
    creds_paths = _hub(tmp_path, servers=3)
    seeds = {p: (tmp_path / "partners" / p / "user.nk").read_text().strip() for p in RESTRICTED.partners}
    private_keys = {p: (tmp_path / "partners" / p / "client.key").read_text() for p in RESTRICTED.partners}
    seal_keys = {p: (tmp_path / "partners" / p / "seal.key").read_text().strip() for p in RESTRICTED.partners}
    for p in RESTRICTED.partners:
        for secret in ("user.nk", "client.key", "seal.key", "creds.json"):
            assert stat.S_IMODE((tmp_path / "partners" / p / secret).stat().st_mode) == 0o600
    hub_files = [f for f in (tmp_path / "hub").rglob("*") if f.is_file()]
    assert len([f for f in hub_files if f.name.endswith(".conf")]) == 3
    for f in hub_files:
        text = f.read_text(errors="replace")
        for p in RESTRICTED.partners:
            assert seeds[p] not in text, f"{p}'s seed in {f}"
            assert private_keys[p].strip() not in text, f"{p}'s private key in {f}"
            assert seal_keys[p] not in text, f"{p}'s private seal key in {f}"
        assert not re.search(r"\bSU[A-Z2-7]{50,}", text), f"an NKey user seed in {f}"
        if f.suffix == ".conf":
            assert "password" not in text  # no shared secret at all
    config = (tmp_path / "hub" / "nats-commonsky-1.conf").read_text()
    for p in RESTRICTED.partners:
        assert keys.user_public_key(seeds[p]) in config
    # what the partner holds: its own seed file, TLS files, the servers and its place in the coalition
    east = Credentials.read(creds_paths["east"])
    assert (east.partner, east.senders, east.receivers, east.replicas) == ("east", ("north",), ("north",), 3)
    assert east.seed() == seeds["east"]
    assert east.urls[0] == "tls://127.0.0.1:4333" and len(east.urls) == 3
    assert east.ssl_context() is not None
    # east holds the public seal keys of north only, the one partner it exchanges with
    assert set(east.peer_seal_keys) == {"north"}
    assert east.peer_seal_keys["north"] == JoinRequest.read(tmp_path / "partners" / "north" / "request.json").seal_key


def test_hub_refuses_bad_requests(tmp_path: Path) -> None:
    north = partner_keygen(tmp_path / "north", "north")
    east = partner_keygen(tmp_path / "east", "east")
    west = partner_keygen(tmp_path / "west", "west")
    servers = (ServerSpec("commonsky-1", "127.0.0.1", 4333),)
    stranger = partner_keygen(tmp_path / "south", "south")
    with pytest.raises(ValueError, match="not a partner of the coalition"):
        hub_build(tmp_path / "hub", RESTRICTED, [north, east, west, stranger], servers)
    seed_instead = JoinRequest("west", (tmp_path / "west" / "user.nk").read_text().strip(), west.csr_pem, west.seal_key)
    with pytest.raises(ValueError, match="not a public user NKey"):
        hub_build(tmp_path / "hub", RESTRICTED, [north, east, seed_instead], servers)
    east_csr_as_west = JoinRequest("west", west.user_key, east.csr_pem, west.seal_key)
    with pytest.raises(ValueError, match="request is for 'east', expected 'west'"):
        hub_build(tmp_path / "hub", RESTRICTED, [north, east, east_csr_as_west], servers)
    private_seal = (tmp_path / "west" / "seal.key").read_text().strip()[:20]
    with pytest.raises(ValueError, match="not a public seal key"):
        hub_build(tmp_path / "hub", RESTRICTED, [north, east, replace(west, seal_key=private_seal)], servers)
    with pytest.raises(ValueError, match=r"no join request from partners \['west'\]"):
        hub_build(tmp_path / "hub", RESTRICTED, [north, east], servers)


def test_rotation_makes_new_keys_and_keeps_them_otherwise(tmp_path: Path) -> None:
    first = partner_keygen(tmp_path / "north", "north")
    assert partner_keygen(tmp_path / "north", "north") == first  # idempotent: nothing rotates by accident
    rotated = partner_keygen(tmp_path / "north", "north", rotate=True)
    assert rotated.user_key != first.user_key
    assert rotated.csr_pem != first.csr_pem
    assert rotated.seal_key != first.seal_key


@pytest.mark.skipif(find_nats_server() is None, reason="nats-server binary not installed")
@pytest.mark.parametrize("servers", [1, 3])
def test_generated_configs_are_valid_for_nats_server(tmp_path: Path, servers: int) -> None:
    _hub(tmp_path, servers=servers)
    binary = find_nats_server()
    assert binary is not None
    for config in sorted((tmp_path / "hub").glob("nats-*.conf")):
        result = subprocess.run([str(binary), "-c", str(config), "-t"], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
