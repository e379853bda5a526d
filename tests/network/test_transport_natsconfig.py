"""Server config generation: per-partner permissions, creds files, coalition files (no server needed)."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from commonsky.network.transport.natsconfig import (
    DEFAULT_COALITION,
    Coalition,
    Credentials,
    durable_name,
    partner_permissions,
    stream_name,
    write_server_files,
)
from commonsky.network.transport.natsserver import find_nats_server

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "commonsky" / "examples"

RESTRICTED = Coalition(("north", "east", "west"), {"east": ("north",), "north": ("east", "west")})


def test_permissions_follow_the_coalition() -> None:
    east = partner_permissions("east", RESTRICTED)
    pub, sub = east["publish"]["allow"], east["subscribe"]["allow"]
    assert [p for p in pub if p.startswith("commonsky.")] == ["commonsky.east.>"]
    assert sub == ["_INBOX_east.>", "commonsky.north.*", "commonsky.north.*.east"]
    # east reads north through its own durable only, and cannot create or change consumers there
    # (each also through the coalition's JetStream domain, for a partner behind a leaf node)
    assert [p for p in pub if "COMMONSKY_north" in p] == [
        f"$JS.API.CONSUMER.INFO.{stream_name('north')}.{durable_name('east', 'north')}",
        "$JS.API.CONSUMER.MSG.NEXT.COMMONSKY_north.east-from-north",
        "$JS.ACK.COMMONSKY_north.east-from-north.>",
        "$JS.commonsky.API.CONSUMER.INFO.COMMONSKY_north.east-from-north",
        "$JS.commonsky.API.CONSUMER.MSG.NEXT.COMMONSKY_north.east-from-north",
        "$JS.ACK.commonsky.*.COMMONSKY_north.east-from-north.>",
    ]
    assert not any("COMMONSKY_west" in p for p in pub)  # east may not read west
    # east makes the durable of north, the only partner receiving from it, on its own stream
    own = [p for p in pub if p.startswith(("$JS.API.CONSUMER", "$JS.commonsky.API.CONSUMER")) and "COMMONSKY_east" in p]
    assert own and all("north-from-east" in p for p in own)
    assert not any(
        p.startswith(("$JS.API.STREAM", "$JS.commonsky.API.STREAM")) and "COMMONSKY_east" not in p for p in pub
    )
    west = partner_permissions("west", RESTRICTED)
    assert west["subscribe"]["allow"] == ["_INBOX_west.>"]  # receives from nobody
    assert RESTRICTED.receivers_of("west") == ("north",)


def test_coalition_from_scenario_and_file(tmp_path: Path) -> None:
    assert Coalition.load(EXAMPLES / "border3.toml") == DEFAULT_COALITION
    path = tmp_path / "c.toml"
    path.write_text('partners = ["a", "b"]\n[receives_from]\na = ["b"]\n')
    assert Coalition.load(path).senders_for("a") == ("b",)
    assert Coalition.load(path).senders_for("b") == ()
    with pytest.raises(ValueError, match="unknown partners"):
        Coalition(("a",), {"a": ("z",)})
    with pytest.raises(ValueError):
        Coalition(("a.b",), {})


def test_server_files_and_creds(tmp_path: Path) -> None:
    files = write_server_files(tmp_path, RESTRICTED, port=4333)
    creds = Credentials.read(files.creds["east"])
    assert (creds.partner, creds.user, creds.url, creds.inbox_prefix) == (
        "east",
        "east",
        "nats://127.0.0.1:4333",
        "_INBOX_east",
    )
    assert (creds.receivers, creds.senders) == (("north",), ("north",))
    assert stat.S_IMODE(files.creds["east"].stat().st_mode) == 0o600
    assert stat.S_IMODE(files.config.stat().st_mode) == 0o600
    again = write_server_files(tmp_path, RESTRICTED, port=4444)  # passwords survive a regeneration
    assert Credentials.read(again.creds["east"]).password == creds.password
    assert Credentials.read(again.creds["east"]).url == "nats://127.0.0.1:4444"
    assert Coalition.load(files.coalition) == RESTRICTED
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a commonsky-nats-creds/1 file"):
        Credentials.read(tmp_path / "bad.json")


@pytest.mark.skipif(find_nats_server() is None, reason="nats-server binary not installed")
def test_generated_config_is_valid_for_nats_server(tmp_path: Path) -> None:
    files = write_server_files(tmp_path, RESTRICTED, port=4333)
    binary = find_nats_server()
    assert binary is not None
    result = subprocess.run([str(binary), "-c", str(files.config), "-t"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
