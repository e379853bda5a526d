"""The display's browser-facing defences and its security log, as one ASGI middleware and one logger.

`BrowserGuard` wraps the whole app (HTTP and WebSocket alike) and refuses, before any route runs:
- a Host header not on the allow-list (400): a DNS-rebinding page reaches the display under its own
  name, so it is refused even though the browser thinks it is same-origin;
- a state-changing request (any method but GET/HEAD/OPTIONS) or a WebSocket handshake whose Origin is
  not the display's own origin (or listed in `allowed_origins`), or that the browser marks
  cross-site (403): a page elsewhere, even on the same host, cannot act with the operator's cookie;
- a body larger than `max_body_bytes` (413).
It adds the security headers to every response (CSP with `frame-ancestors 'none'`, nosniff,
Referrer-Policy, no caching of API answers, HSTS over HTTPS). A request without Origin is not from
a browser page (browsers always send it on writes and WebSockets), so it cannot ride an operator's
cookie; writes still need the session's CSRF token (`commonsky.web.app`).

`SecurityLog` is the audit trail of sign-ins, sign-outs and refusals: JSON lines (file optional),
the `commonsky.web.security` logger, and the last events in memory for the operators' API.
"""

from __future__ import annotations

import collections
import ipaddress
import json
import logging
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from commonsky.core.errors import ConfigError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
"""Host names allowed by default: the display serves the loopback unless told otherwise."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = (
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""The page's policy: own scripts only (MapLibre's workers are blobs), never framed."""
HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000")
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

ROUTINE_EVENTS = frozenset({"login", "logout"})
"""Logged at INFO; everything else (failures, refusals) at WARNING."""

log = logging.getLogger("commonsky.web.security")


@dataclass(frozen=True)
class Browsers:
    """What the display accepts from browsers: the names it answers to, extra origins, the body limit."""

    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    """Host header names (no port); "*.example.org" allows its subdomains."""
    allowed_origins: tuple[str, ...] = ()
    """Origins allowed besides the display's own (scheme://host[:port]), e.g. behind an unusual proxy."""
    max_body_bytes: int = 64 * 1024


class SecurityLog:
    """Sign-ins, sign-outs and refusals: JSON lines to `path` (0600), the logger, the last `keep` in memory."""

    def __init__(self, path: str | Path | None = None, keep: int = 1000) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.Lock()
        self._recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self._seq = 0
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch(mode=0o600, exist_ok=True)

    def record(self, event: str, **details: Any) -> dict[str, Any]:
        """Log one event (e.g. "login_failed", client="10.0.0.7", name="alice") and return it."""
        with self._lock:
            self._seq += 1
            entry = {"seq": self._seq, "wall_utc": datetime.now(UTC).isoformat(timespec="milliseconds")}
            entry |= {"event": event, **details}
            self._recent.append(entry)
            if self.path is not None:
                with self.path.open("a") as out:
                    out.write(json.dumps(entry, default=str) + "\n")
        level = logging.INFO if event in ROUTINE_EVENTS else logging.WARNING
        log.log(level, "%s %s", event, json.dumps(details, default=str))
        return entry

    def recent(self) -> list[dict[str, Any]]:
        """The events kept in memory, oldest first."""
        with self._lock:
            return list(self._recent)


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """True when a Host name (port stripped) is on the allow-list (exact, or under a "*." entry)."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower()
        if entry == host or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def split_host(value: str) -> tuple[str, int | None]:
    """A Host header's name and port ("[::1]:8080" -> ("::1", 8080)); port None when absent or malformed."""
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
    else:
        name, port = value, ""
    return name, int(port) if port.isdigit() else None


def origin_of(scheme: str, host_header: str) -> str:
    """The origin a page served under this scheme and Host has, default port left out as browsers do."""
    web = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    name, port = split_host(host_header)
    shown = f"[{name}]" if ":" in name else name
    return f"{web}://{shown}" if port in (None, DEFAULT_PORTS[web]) else f"{web}://{shown}:{port}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def client_of(scope: Scope) -> str:
    """The client's address as the server sees it (after a trusted proxy's forwarding headers)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class BrowserGuard:
    """ASGI middleware: Host allow-list, Origin check on writes and WebSockets, body limit, security headers."""

    def __init__(self, app: ASGIApp, browsers: Browsers, security_log: SecurityLog) -> None:
        self.app = app
        self.browsers = browsers
        self.log = security_log

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        """Why this request is refused (status, reason), or None."""
        host = _header(scope, b"host") or ""
        if not host_allowed(split_host(host)[0], self.browsers.allowed_hosts):
            return 400, f"host {host!r} is not served here"
        writes = scope["type"] == "websocket" or scope.get("method", "GET") not in SAFE_METHODS
        if not writes:
            return None
        origin = _header(scope, b"origin")
        listed = origin in self.browsers.allowed_origins
        if origin is not None and origin != origin_of(scope.get("scheme", "http"), host) and not listed:
            return 403, f"origin {origin!r} may not act here"
        if _header(scope, b"sec-fetch-site") == "cross-site" and not listed:
            return 403, "a cross-site request may not act here"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            status, reason = refusal
            event = "refused_host" if status == 400 else "refused_origin"
            self.log.record(event, client=client_of(scope), path=scope.get("path"), reason=reason)
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
            else:
                await _plain(send, status, reason, self._headers(scope, csp=True))
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, send)

    def _headers(self, scope: Scope, csp: bool) -> list[tuple[bytes, bytes]]:
        """The headers every response gets (CSP only where the response set none of its own)."""
        headers = list(HEADERS)
        if csp:
            headers.append((b"content-security-policy", CSP.encode()))
        if scope.get("scheme") == "https":
            headers.append(HSTS)
        path = str(scope.get("path", ""))
        if path.startswith(("/api/", "/data/", "/auth/")):
            headers.append((b"cache-control", b"no-store"))
        return headers

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.browsers.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            self.log.record("refused_body", client=client_of(scope), path=scope.get("path"), bytes=declared)
            await _plain(send, 413, f"request body over {limit} bytes", self._headers(scope, csp=True))
            return
        received = 0
        started = refused = False

        async def counted_receive() -> Message:
            """The body as it streams; past the limit the client gets 413 and the app a disconnect."""
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    self.log.record("refused_body", client=client_of(scope), path=scope.get("path"), bytes=received)
                    if not started:
                        await _plain(send, 413, f"request body over {limit} bytes", self._headers(scope, csp=True))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 was the answer
            if message["type"] == "http.response.start":
                started = True
                own = {bytes(k).lower() for k, _ in message.get("headers", ())}
                extra = [(k, v) for k, v in self._headers(scope, b"content-security-policy" not in own) if k not in own]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, counted_receive, guarded_send)


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]]) -> None:
    """A short plain-text answer."""
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Deployment:
    """Where and how the display is served: address, TLS, the names it answers to, a trusted reverse proxy.

    Off the loopback the display needs TLS (`tls_cert`/`tls_key`) unless `allow_plain_http` says
    otherwise; behind a reverse proxy it binds the loopback and `proxies` names the proxy's address,
    whose X-Forwarded-For/-Proto it then believes (nobody else's). The cookie is Secure and HSTS is sent
    whenever the request arrived over HTTPS, directly or through the proxy.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allowed_hosts: tuple[str, ...] = ()
    """Names the display answers to besides the loopback names and `host` itself."""
    allowed_origins: tuple[str, ...] = ()
    proxies: tuple[str, ...] = ()
    allow_plain_http: bool = False
    security_log: Path | None = None

    @property
    def tls(self) -> bool:
        """True when the display serves HTTPS itself."""
        return self.tls_cert is not None

    def check(self, demo_or_no_auth: bool) -> None:
        """ConfigError when this deployment is unsafe: half a TLS pair, plain HTTP or public accounts off loopback."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("command line", "--tls-cert/--tls-key", "give both the certificate and its key")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not path.is_file():
                raise ConfigError(str(path), "tls", "no such file")
        if is_loopback(self.host):
            return
        if demo_or_no_auth:
            raise ConfigError(
                "command line",
                "--host",
                f"refusing to serve on {self.host}: demo accounts and no-auth mode are for the loopback only",
            )
        if not self.tls and not self.allow_plain_http:
            raise ConfigError(
                "command line",
                "--host",
                f"refusing to serve plain HTTP on {self.host}: give --tls-cert/--tls-key, or bind 127.0.0.1 behind "
                "a TLS reverse proxy (--proxy), or force it with --allow-plain-http",
            )

    def browsers(self) -> Browsers:
        """The browser rules: loopback names, the bound name (unless a wildcard address), the listed names."""
        bound = () if self.host in ("0.0.0.0", "::", "") else (self.host,)
        hosts = tuple(dict.fromkeys((*LOOPBACK_HOSTS, *bound, *self.allowed_hosts)))
        return Browsers(allowed_hosts=hosts, allowed_origins=self.allowed_origins)

    def uvicorn_options(self) -> dict[str, Any]:
        """uvicorn.Config keywords: address, TLS files, and forwarding headers believed from `proxies` only."""
        options: dict[str, Any] = {"host": self.host, "port": self.port, "proxy_headers": bool(self.proxies)}
        if self.proxies:
            options["forwarded_allow_ips"] = list(self.proxies)
        if self.tls:
            options |= {"ssl_certfile": str(self.tls_cert), "ssl_keyfile": str(self.tls_key)}
        return options
