"""The demo's HTTPS: a certificate authority made for one run, and the files it signs.

``castedge demo --tls`` serves every listener (the S3 server's, the origin's, the
edges', the locator's, the admin ones) with a certificate for ``localhost`` and
``127.0.0.1`` from this CA: what an operator gets from a real CA, without one.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEMO_NAMES",
    "DemoCertificates",
    "DemoFiles",
    "certificates_in",
    "demo_certificates",
    "write_certificates",
]


@dataclass(frozen=True)
class DemoCertificates:
    """A throwaway CA's certificate, and a server certificate and key it signed (PEM)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


#: The names the demo's server certificate is good for: what its URLs and a browser use.
DEMO_NAMES = ("localhost", "127.0.0.1")

#: Long enough that ``check-config``'s 14-day expiry warning never fires on a demo
#: left running; a kept one (``--data``) is replaced before it comes within 15 days.
DEMO_VALIDITY = datetime.timedelta(days=30)


def demo_certificates(now: datetime.datetime) -> DemoCertificates:
    """A new CA and a certificate it signed for ``DEMO_NAMES``, valid from ``now``.

    The CA's key signs once and is dropped, never written: nothing else can ever be
    signed by the CA the demo asks you to trust. ECDSA P-256 keys are quick to make
    and every TLS client of the last decade accepts them.
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "castedge demo CA")])
    # A minute's slack: OpenSSL refuses a certificate whose notBefore is in the future.
    since, until = now - datetime.timedelta(minutes=1), now + DEMO_VALIDITY
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(since)
        .not_valid_after(until)
        # path_length=0: it can sign server certificates, not other CAs.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    names = [_alt_name(name) for name in DEMO_NAMES]
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEMO_NAMES[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(since)
        .not_valid_after(until)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return DemoCertificates(
        ca_pem=ca.public_bytes(pem),
        cert_pem=server.public_bytes(pem),
        key_pem=server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def _alt_name(name: str) -> x509.GeneralName:
    # A URL naming an address is matched against an iPAddress entry, never a DNS name:
    # https://www.rfc-editor.org/rfc/rfc2818#section-3.1
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    # A CA signs certificates; an ECDSA server key signs handshakes.
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


class DemoFiles(NamedTuple):
    """Where the demo's CA certificate, server certificate and key were written."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context serving the certificate (the local S3 server's)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def write_certificates(workdir: Path, certs: DemoCertificates) -> DemoFiles:
    """Write the CA certificate, the server certificate and its key (0600) into ``workdir``."""
    files = DemoFiles(workdir / "ca.pem", workdir / "cert.pem", workdir / "key.pem")
    files.ca.write_bytes(certs.ca_pem)
    files.cert.write_bytes(certs.cert_pem)
    # Created 0600, never widened: a key briefly readable by all is a leaked key.
    fd = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(certs.key_pem)
    return files


def certificates_in(workdir: Path, now: datetime.datetime) -> DemoFiles:
    """The CA and certificate a kept data directory already holds, else new ones written there.

    Kept, so a browser or a system store told to trust the CA once goes on trusting it.
    """
    files = DemoFiles(workdir / "ca.pem", workdir / "cert.pem", workdir / "key.pem")
    if all(path.is_file() for path in files):
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        if cert.not_valid_after_utc - now > datetime.timedelta(days=15):
            return files
        for path in files:
            path.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    return write_certificates(workdir, demo_certificates(now))
