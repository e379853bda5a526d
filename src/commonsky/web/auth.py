"""Sign-in for the web display: users and roles from TOML, argon2 password hashes, sessions, sign-in throttling.

Users file (`[[users]]` tables): `name`, `role` ("viewer" reads the picture; "operator" may also
acknowledge alerts and override identities) and `password_hash` (argon2, from
`commonsky hash-password`). A session is a random token held by the server and sent to the
browser as an HttpOnly, SameSite=Strict cookie (Secure over HTTPS), with its own CSRF token that
every write must echo; it lapses after `SESSION_TTL_S` or at sign-out, and whoever watches it
(an open WebSocket) is told at once.

Guessing is bounded twice: `LoginThrottle` backs off per client address and per account name
(HTTP 429 with Retry-After, before any hashing), and `HashGate` runs argon2 (64 MiB a hash) on a
small pool of its own with a bounded queue, so sign-in can never take the threads the API runs on.

`DEMO_USERS` ships two demo-only accounts: viewer / "viewer-demo" and operator / "operator-demo".
Their passwords are public: only `commonsky demo` and `commonsky serve --demo` use them, on the
loopback only, and `uses_demo_accounts` finds a demo password under any name or hash.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import getpass
import math
import os
import secrets
import sys
import threading
import time
import tomllib
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from commonsky.core.errors import ConfigError

Role = Literal["viewer", "operator"]
ROLES: tuple[Role, ...] = ("viewer", "operator")
DEMO_USERS = Path(__file__).resolve().parent / "demo_users.toml"
"""Demo accounts, loopback only: viewer / viewer-demo, operator / operator-demo."""
DEMO_PASSWORDS = ("viewer-demo", "operator-demo")
"""The demo accounts' public passwords: no account served off the loopback may have one."""
SESSION_COOKIE = "commonsky_session"
SESSION_TTL_S = 12 * 3600.0

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("no such user")
"""Verified against when the user is unknown, so a wrong name costs as long as a wrong password."""


@dataclass(frozen=True)
class User:
    """A signed-in or configured user."""

    name: str
    role: Role
    password_hash: str = ""

    @property
    def is_operator(self) -> bool:
        """True when the user may act on the picture (acknowledge, override)."""
        return self.role == "operator"


def hash_password(password: str) -> str:
    """An argon2id hash for a users file."""
    return _hasher.hash(password)


def load_users(path: str | Path, required: bool = True) -> dict[str, User]:
    """Users by name from a TOML file of `[[users]]` tables; ConfigError names the bad entry, or says how to
    make one when there is none and `required`."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(source, "users", str(exc)) from None
    entries = data.get("users")
    if entries is None and not required:
        return {}
    if not isinstance(entries, list) or not entries:
        raise ConfigError(
            source,
            "users",
            "expected one or more [[users]] tables (name, role, password_hash from `commonsky hash-password`)",
        )
    users: dict[str, User] = {}
    for i, entry in enumerate(entries):
        name, role, hashed = entry.get("name"), entry.get("role"), entry.get("password_hash")
        where = f"users[{i}]"
        if not isinstance(name, str) or not name or ":" in name:
            raise ConfigError(source, f"{where}.name", "must be a non-empty string without ':' (kept for sso: names)")
        if role not in ROLES:
            raise ConfigError(source, f"{where}.role", f"{role!r} is not one of {', '.join(ROLES)}")
        if not isinstance(hashed, str) or not hashed.startswith("$argon2"):
            raise ConfigError(source, f"{where}.password_hash", "must be an argon2 hash (commonsky hash-password)")
        if name in users:
            raise ConfigError(source, f"{where}.name", f"user {name!r} is listed twice")
        users[name] = User(name, role, hashed)
    return users


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    """The user if the password matches its hash, else None (an unknown name costs as long as a wrong password)."""
    user = users.get(name)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def uses_demo_accounts(users: dict[str, User] | None) -> bool:
    """True for no-auth mode or when any account's password is a demo password (checked with argon2's verify,
    so a demo password re-hashed, under any name, is still found)."""
    return users is None or _any_demo_password(frozenset(u.password_hash for u in users.values()))


@functools.lru_cache(maxsize=16)
def _any_demo_password(hashes: frozenset[str]) -> bool:
    """Whether a hash verifies a demo password; remembered, since a deployment is checked where it is asked
    for and again where the app is built (argon2: tens of ms a verify)."""
    for password_hash in hashes:
        for password in DEMO_PASSWORDS:
            try:
                if _hasher.verify(password_hash, password):
                    return True
            except (VerificationError, InvalidHashError):
                continue
    return False


@dataclass
class Session:
    """One signed-in browser: its user, the CSRF token its writes must echo, when it lapses, who watches it."""

    token: str
    user: User
    csrf: str
    expires_s: float
    """time.monotonic() at which the session lapses."""
    watchers: list[Callable[[], object]] = field(default_factory=list)


class Sessions:
    """Server-side sessions: random token -> `Session`. Thread-safe; ending a session tells its watchers."""

    def __init__(self, ttl_s: float = SESSION_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._by_token: dict[str, Session] = {}

    def create(self, user: User) -> Session:
        """A new session for `user` (lapsed ones are swept first)."""
        now = time.monotonic()
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now + self.ttl_s)
        with self._lock:
            lapsed = [s for s in self._by_token.values() if s.expires_s <= now]
            for old in lapsed:
                del self._by_token[old.token]
            self._by_token[session.token] = session
        for old in lapsed:
            _tell(old)
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of `token`; None for a missing, unknown or lapsed one (a lapsed one is ended)."""
        if not token:
            return None
        with self._lock:
            session = self._by_token.get(token)
            if session is None or session.expires_s > time.monotonic():
                return session
            del self._by_token[token]
        _tell(session)
        return None

    def user(self, token: str | None) -> User | None:
        """The user of a live session, None otherwise."""
        session = self.get(token)
        return None if session is None else session.user

    def watch(self, token: str, ended: Callable[[], object]) -> Callable[[], None]:
        """Call `ended` when the session ends (sign-out); returns the function that stops watching."""
        with self._lock:
            session = self._by_token.get(token)
            if session is not None:
                session.watchers.append(ended)
        if session is None:
            ended()
            return lambda: None

        def unwatch() -> None:
            with self._lock:
                if ended in session.watchers:
                    session.watchers.remove(ended)

        return unwatch

    def drop(self, token: str | None) -> User | None:
        """End a session (sign-out) and tell its watchers; returns whose it was."""
        with self._lock:
            session = self._by_token.pop(token or "", None)
        if session is None:
            return None
        _tell(session)
        return session.user


def _tell(session: Session) -> None:
    """Tell a session's watchers that it ended."""
    for ended in list(session.watchers):
        ended()


@dataclass
class _Failures:
    count: int = 0
    locked_until_s: float = 0.0
    last_s: float = 0.0
    reported_until_s: float = 0.0
    """The lock last reported as throttling (so each lock is logged once, not each refused try)."""


@dataclass(frozen=True)
class Backoff:
    """How one kind of key backs off: `free` failures cost nothing, each further one locks `base_s` x 2^k, at most
    `max_s`."""

    free: int
    max_s: float
    base_s: float = 1.0


class LoginThrottle:
    """Back-off on failed sign-ins, keyed three ways (before any hashing, so a locked try costs nothing):

    - per client address and account name (`pair`): one address guessing one account is stopped early;
    - per client address (`client`): one address spraying many names is stopped too;
    - per account name across all addresses (`name`): many addresses guessing one account are slowed, but
      with a short cap, so that nobody can lock a real user out for long from addresses of their own.
    Unknown names count like known ones, so the answers tell nothing. A key forgets after `forget_s`
    without failure; success clears the pair and the address. At most `max_keys` keys are remembered
    (oldest forgotten first), so a flood of names or addresses cannot grow memory. Thread-safe.
    """

    def __init__(
        self,
        pair: Backoff = Backoff(free=5, max_s=900.0),
        client: Backoff = Backoff(free=20, max_s=900.0),
        name: Backoff = Backoff(free=50, max_s=60.0),
        forget_s: float = 3600.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backoff = {"pair": pair, "client": client, "name": name}
        self.forget_s, self.max_keys, self.clock = forget_s, max_keys, clock
        self._lock = threading.Lock()
        self._keys: OrderedDict[tuple[str, str], _Failures] = OrderedDict()

    @staticmethod
    def _keys_of(client: str, name: str) -> tuple[tuple[str, str], ...]:
        name = name[:256]
        return ("pair", f"{client}\n{name}"), ("client", client), ("name", name)

    def retry_after_s(self, client: str, name: str) -> tuple[float, bool]:
        """Seconds until this client may try this name again (0: now), and whether this lock is new to the log."""
        now = self.clock()
        wait, new = 0.0, False
        with self._lock:
            for key in self._keys_of(client, name):
                entry = self._keys.get(key)
                if entry is None or entry.locked_until_s <= now:
                    continue
                wait = max(wait, entry.locked_until_s - now)
                if entry.reported_until_s != entry.locked_until_s:
                    entry.reported_until_s, new = entry.locked_until_s, True
        return wait, new

    def failed(self, client: str, name: str) -> float:
        """Count a failure; returns the new wait in seconds (0 while failures are still free)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in self._keys_of(client, name):
                entry = self._keys.pop(key, None)
                if entry is None or now - entry.last_s > self.forget_s:
                    entry = _Failures()
                entry.count += 1
                entry.last_s = now
                backoff = self.backoff[key[0]]
                beyond = entry.count - backoff.free
                if beyond > 0:
                    lock_s = min(backoff.max_s, backoff.base_s * 2.0 ** min(beyond - 1, 60))
                    entry.locked_until_s = max(entry.locked_until_s, now + lock_s)
                    wait = max(wait, entry.locked_until_s - now)
                self._keys[key] = entry
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
        return wait

    def succeeded(self, client: str, name: str) -> None:
        """Forget the failures of this address, and of this address on this name."""
        with self._lock:
            for key in self._keys_of(client, name)[:2]:
                self._keys.pop(key, None)


class SignInBusyError(Exception):
    """Too many sign-ins are being checked right now; try again in `retry_after_s`."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__("too many sign-ins at once")
        self.retry_after_s = retry_after_s


class HashGate:
    """Runs password checks on a pool of its own (`workers` threads) and refuses past `max_waiting` queued ones,
    so argon2 (64 MiB, tens of ms a check) never takes the threads or memory the API needs."""

    def __init__(self, workers: int | None = None, max_waiting: int = 64) -> None:
        self.workers = workers or max(1, (os.cpu_count() or 2) // 2)
        self.max_waiting = max_waiting
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="argon2")
        self._lock = threading.Lock()
        self._pending = 0

    async def check(self, users: dict[str, User], name: str, password: str) -> User | None:
        """`authenticate` on the gate's pool; SignInBusyError when `workers + max_waiting` are pending."""
        with self._lock:
            if self._pending >= self.workers + self.max_waiting:
                raise SignInBusyError(1.0)
            self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, authenticate, users, name, password)
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        """Stop the pool's threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def retry_after_header(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


def main(argv: list[str] | None = None) -> int:
    """`python -m commonsky.web.auth hash [--stdin]`: print an argon2 hash for a users file (as `commonsky
    hash-password` does), e.g. from a provisioning script."""
    parser = argparse.ArgumentParser(prog="python -m commonsky.web.auth", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("hash", help="hash a password (asked twice; or one line from stdin with --stdin)")
    cmd.add_argument("--stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("passwords differ", file=sys.stderr)
            return 2
    if not password:
        print("empty password", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
