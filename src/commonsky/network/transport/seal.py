"""End-to-end sealing of partner messages: only the addressed receiver can read a batch, and it knows who sealed it.

TLS protects each link, but it ends at the coalition servers, whose operator would otherwise read
every batch and could inject messages in a partner's name (by adding a key of its own to that
partner's account). So each message is sealed by its sender for its one receiver with NaCl's
`Box` (PyNaCl: X25519 key agreement, XSalsa20-Poly1305 authenticated encryption, a random 24-byte
nonce per message): the servers carry and store only ciphertext, and opening it with the
sender's public seal key proves the sender sealed it. A replayed message is dropped by the
receiver's sequence-number check; a dropped or delayed one the servers can still cause.

Wire form on NATS: header `Commonsky-Seal: box1`, payload = nonce (24 bytes) + ciphertext (the
msgpack message of `messages` + a 16-byte tag). Keys: each partner makes its own X25519 pair
(`seal.key`, 0600, next to its NKey seed); the public halves travel in the join request and the
hub's grants. A partner should compare its peers' key fingerprints (`fingerprint`) with them out
of band once, since the hub hands them out.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from pathlib import Path

from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey, PublicKey

from commonsky.network.transport.keys import write_secret

SEAL_HEADER = "Commonsky-Seal"
SEAL_SCHEME = "box1"
OVERHEAD_BYTES = Box.NONCE_SIZE + 16
"""What sealing adds to a message (nonce and tag)."""


class SealError(ValueError):
    """A message that is not sealed, sealed for someone else, by someone else, or altered on the way."""


def new_seal_key(path: str | Path) -> str:
    """Make a partner's private seal key at `path` (0600); returns its public half (base64)."""
    key = PrivateKey.generate()
    write_secret(path, base64.b64encode(bytes(key)) + b"\n")
    return public_seal_key(path)


def public_seal_key(path: str | Path) -> str:
    """The public half (base64) of the private seal key at `path`."""
    return base64.b64encode(bytes(_private(path).public_key)).decode()


def fingerprint(public_key: str) -> str:
    """A short, comparable form of a public seal key (SHA-256, first 16 bytes, hex in groups of four)."""
    digest = hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:32]
    return ":".join(digest[i : i + 4] for i in range(0, 32, 4))


def check_public_key(text: str) -> str:
    """`text` if it is a base64 X25519 public key, else ValueError."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != PublicKey.SIZE:
        raise ValueError(f"{text[:12]!r}... is not a public seal key (32 bytes, base64)")
    return text


def _private(path: str | Path) -> PrivateKey:
    return PrivateKey(base64.b64decode(Path(path).read_text(encoding="utf-8").strip()))


class Sealer:
    """A partner's sealing: its own private key and its peers' public keys."""

    def __init__(self, private_key_file: str | Path, peers: Mapping[str, str]) -> None:
        own = _private(private_key_file)
        self._boxes = {p: Box(own, PublicKey(base64.b64decode(check_public_key(k)))) for p, k in peers.items()}

    def seal(self, receiver: str, payload: bytes) -> bytes:
        """`payload` sealed for `receiver` only."""
        box = self._boxes.get(receiver)
        if box is None:
            raise SealError(f"no public seal key for {receiver!r}")
        return bytes(box.encrypt(payload))

    def open(self, sender: str, sealed: bytes) -> bytes:
        """The payload `sender` sealed for us; SealError if it was not, or was altered."""
        box = self._boxes.get(sender)
        if box is None:
            raise SealError(f"no public seal key for {sender!r}")
        try:
            return bytes(box.decrypt(sealed))
        except CryptoError:
            raise SealError(f"not sealed by {sender} for us (or altered on the way)") from None
