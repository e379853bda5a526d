"""Sign-in for the web display: users and roles from TOML, argon2 password hashes, server-side sessions.

Users file (`[[users]]` tables): `name`, `role` ("viewer" reads the picture; "operator" may also
acknowledge alerts and override identities) and `password_hash` (argon2, from
`python -m commonsky.web.auth hash`). A session is a random token held by the server and sent to
the browser as an HttpOnly, SameSite=Strict cookie; it lapses after `SESSION_TTL_S` or at sign-out.

`DEMO_USERS` ships two demo-only accounts: viewer / "viewer-demo" and operator / "operator-demo".
Their passwords are public, so `commonsky.web.app.serve` refuses them (and no-auth mode) on any
address but the loopback.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from commonsky.core.errors import ConfigError

Role = Literal["viewer", "operator"]
ROLES: tuple[Role, ...] = ("viewer", "operator")
DEMO_USERS = Path(__file__).resolve().parent / "demo_users.toml"
"""Demo accounts, loopback only: viewer / viewer-demo, operator / operator-demo."""
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


def load_users(path: str | Path) -> dict[str, User]:
    """Users by name from a TOML file of `[[users]]` tables; ConfigError names the bad entry."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(source, "users", str(exc)) from None
    entries = data.get("users")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(source, "users", "expected one or more [[users]] tables")
    users: dict[str, User] = {}
    for i, entry in enumerate(entries):
        name, role, hashed = entry.get("name"), entry.get("role"), entry.get("password_hash")
        where = f"users[{i}]"
        if not isinstance(name, str) or not name:
            raise ConfigError(source, f"{where}.name", "must be a non-empty string")
        if role not in ROLES:
            raise ConfigError(source, f"{where}.role", f"{role!r} is not one of {', '.join(ROLES)}")
        if not isinstance(hashed, str) or not hashed.startswith("$argon2"):
            raise ConfigError(source, f"{where}.password_hash", "must be an argon2 hash (commonsky hash-password)")
        if name in users:
            raise ConfigError(source, f"{where}.name", f"user {name!r} is listed twice")
        users[name] = User(name, role, hashed)
    return users


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    """The user if the password matches its hash, else None."""
    user = users.get(name)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


class Sessions:
    """Server-side sessions: random token -> (user, expiry). Thread-safe."""

    def __init__(self, ttl_s: float = SESSION_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._by_token: dict[str, tuple[User, float]] = {}

    def create(self, user: User) -> str:
        """A new session for `user`; returns its token."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._by_token = {t: v for t, v in self._by_token.items() if v[1] > now}
            self._by_token[token] = (user, now + self.ttl_s)
        return token

    def user(self, token: str | None) -> User | None:
        """The user of a live session, None for a missing, unknown or lapsed token."""
        if not token:
            return None
        with self._lock:
            entry = self._by_token.get(token)
            if entry is None or entry[1] <= time.monotonic():
                self._by_token.pop(token, None)
                return None
            return entry[0]

    def drop(self, token: str | None) -> None:
        """End a session (sign-out)."""
        with self._lock:
            self._by_token.pop(token or "", None)


def main(argv: list[str] | None = None) -> int:
    """`python -m commonsky.web.auth hash [--stdin]`: print an argon2 hash for a users file."""
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
