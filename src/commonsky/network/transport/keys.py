"""Key material for the coalition: partners' NKeys and the TLS certificates of servers and partners.

Who makes what, and where it stays (see the README's "Trust model"):

    partner   NKey user seed (Ed25519, `nkeys`)      never leaves the partner's machine
              TLS client key + CSR (`cryptography`)   key never leaves; the CSR goes to the CA
    CA        signs the partners' CSRs and the coalition servers' certificates; the coalition's
              own CA by default (`make_ca`), or any CA an organisation already runs
    hub       holds partners' *public* NKeys and certificates only, its own server keys

Every file holding a secret (seed, private key) is written 0600 with `write_secret`. Written by
hand only in the sense of glue: the signatures are `nkeys`/PyNaCl's, the X.509 work `cryptography`'s.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import nkeys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from nacl.signing import SigningKey

CERT_DAYS = 825
"""Validity of the certificates made here (the CA/Browser Forum's former maximum); rotate before."""
CA_DAYS = 3650


def write_secret(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path`, readable by its owner only (0600), replacing any older file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    p.chmod(0o600)
    return p


def new_user_seed() -> str:
    """A new NKey user seed ("SU..."): the partner's private identity on the coalition servers."""
    return nkeys.encode_seed(bytes(SigningKey.generate()), nkeys.PREFIX_BYTE_USER).decode()


def user_public_key(seed: str) -> str:
    """The public NKey ("U...") of a user seed: what the servers' configuration holds."""
    try:
        key: str = nkeys.from_seed(bytearray(seed.strip().encode())).public_key.decode()
    except (nkeys.NkeysError, ValueError) as exc:
        raise ValueError(f"not an NKey user seed: {exc}") from None
    if not key.startswith("U"):
        raise ValueError("not an NKey *user* seed (public key must start with U)")
    return key


def is_user_public_key(text: str) -> bool:
    """Whether `text` is a well-formed public NKey of a user (and not a seed)."""
    try:
        raw = nkeys.base64.b32decode(text.encode())
        return text.startswith("U") and len(raw) == 35 and nkeys.valid_public_prefix_byte(raw[0])
    except (ValueError, TypeError, nkeys.binascii.Error):
        return False


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, organisation: str = "commonsky coalition") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA's certificate and key, loaded from (or written to) `ca.pem` / `ca.key`."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate in PEM: what every server and partner trusts."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def _issue(
        self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, usage: list[x509.ObjectIdentifier]
    ) -> x509.CertificateBuilder:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        )

    def issue_server(self, name: str, hosts: list[str]) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) of a coalition server reachable as `hosts` (names or IPs).

        Servers also present it to each other (cluster routes) and to partners' leaf servers, so it
        is valid for both server and client authentication.
        """
        key = _new_key()
        alt: list[x509.GeneralName] = []
        for host in hosts:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                alt.append(x509.DNSName(host))
        usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        cert = (
            self._issue(_name(name), key.public_key(), usage)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    def sign_request(self, csr_pem: bytes, expected_cn: str) -> bytes:
        """Sign a partner's CSR as a client certificate; refuses a CSR for another name or badly signed."""
        csr = x509.load_pem_x509_csr(csr_pem)
        if not csr.is_signature_valid:
            raise ValueError("certificate request: signature does not verify")
        cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if len(cns) != 1 or cns[0].value != expected_cn:
            raise ValueError(f"certificate request is for {cns[0].value if cns else None!r}, expected {expected_cn!r}")
        public = csr.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("certificate request: only EC keys are accepted")
        cert = self._issue(_name(expected_cn), public, [ExtendedKeyUsageOID.CLIENT_AUTH]).sign(
            self.key, hashes.SHA256()
        )
        return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(name: str = "commonsky coalition CA") -> CertificateAuthority:
    """A new self-signed CA (EC P-256)."""
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(cert, key)


def load_or_make_ca(directory: str | Path) -> CertificateAuthority:
    """The CA kept in `directory` (`ca.pem`, `ca.key`), made there on first use."""
    d = Path(directory)
    cert_path, key_path = d / "ca.pem", d / "ca.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: expected an EC private key")
        return CertificateAuthority(cert, key)
    ca = make_ca()
    d.mkdir(parents=True, exist_ok=True)
    write_secret(key_path, _key_pem(ca.key))
    cert_path.write_bytes(ca.cert_pem)
    return ca


def client_key_and_request(common_name: str) -> tuple[bytes, bytes]:
    """(private key PEM, CSR PEM) of a partner's TLS client identity; only the CSR leaves the partner."""
    key = _new_key()
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name(common_name)).sign(key, hashes.SHA256())
    return _key_pem(key), csr.public_bytes(serialization.Encoding.PEM)
