"""A throwaway certificate authority and server certificates, made fresh for each test run.

Certificates are issued for ``DNS:localhost`` and ``IP:127.0.0.1`` (where every test
server listens), signed by a CA whose certificate the clients are given (curl's
``--cacert``, aria2c's ``--ca-certificate``, ffmpeg's ``-ca_file``, Python's
``cafile``), so every client verifies the chain and the name as it would in production.
Keys are ECDSA P-256: quick to make, and one key type throughout, since a renewal that
changes the key type is refused by design.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Authority", "Leaf", "swap_live", "write_atomically"]

_PKCS8 = serialization.PrivateFormat.PKCS8
_PEM = serialization.Encoding.PEM


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password)
    )
    return key.private_bytes(_PEM, _PKCS8, encryption)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Leaf:
    """A server certificate and the key written beside it (not always its own: see mismatched)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def serial(self) -> int:
        return self.cert.serial_number

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(_PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self.key)

    def encrypted_key_pem(self, password: bytes = b"passphrase") -> bytes:
        return _key_pem(self.key, password)

    def mismatched(self) -> Leaf:
        """This certificate beside a key that is not its own."""
        return Leaf(self.cert, _key())

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write ``cert.pem`` and ``key.pem`` into ``directory``; return their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / "cert.pem", directory / "key.pem"
        write_atomically(cert, self.cert_pem)
        write_atomically(key, self.key_pem)
        return cert, key


@dataclass(frozen=True)
class Authority:
    """A self-signed CA that issues leaf certificates; ``path`` is its PEM certificate file."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    path: Path | None

    @classmethod
    def create(cls, directory: Path | None = None, name: str = "castedge test CA") -> Authority:
        """A new CA, its certificate written to ``directory/ca.pem`` when one is given."""
        key = _key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
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
            )  # fmt: skip
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        path = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / "ca.pem"
            path.write_bytes(cert.public_bytes(_PEM))
        return cls(cert, key, path)

    def issue(
        self,
        *,
        serial: int | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        common_name: str = "localhost",
    ) -> Leaf:
        """A server certificate for localhost and 127.0.0.1, by default valid for 90 days.

        Each call makes a new key and a new serial (random, as a CA's are) unless
        ``serial`` is given. Given only ``not_after``, the certificate is a 90-day one
        (as Let's Encrypt's are) ending then: in the past, an expired certificate; in
        5 days, one whose renewal is overdue.
        """
        key = _key()
        now = _now()
        if not_after is None:
            not_after = now + dt.timedelta(days=90)
        if not_before is None:
            not_before = min(now - dt.timedelta(hours=1), not_after - dt.timedelta(days=90))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial if serial is not None else x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
            .sign(self.key, hashes.SHA256())
        )
        return Leaf(cert, key)

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this CA only."""
        assert self.path is not None, "a CA made without a directory has no file to trust"
        return ssl.create_default_context(cafile=str(self.path))


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` as an ACME client does: write a file beside it, then rename."""
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_bytes(data)
    os.replace(partial, path)


def swap_live(live: Path, generation: Path) -> None:
    """Point the ``live`` symbolic link at ``generation`` in one rename.

    Certificate and key then change together, as certbot's ``live/`` links and
    Kubernetes' secret volumes (``..data``) change them: a reader never sees one new
    file beside the other's old one.
    """
    partial = live.with_name(f".{live.name}.tmp")
    partial.unlink(missing_ok=True)
    partial.symlink_to(generation.resolve(), target_is_directory=True)
    os.replace(partial, live)
