"""A certificate chain and its key as read from disk once: one consistent snapshot.

An ACME client replaces the two files one after the other, so a reader can catch the
new certificate beside the old key. Everything castedge serves comes from a ``Pair``
read here and checked whole (the key is the certificate's, both parse), never from
the paths directly, so a half-written renewal is refused rather than served.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .errors import PairMismatch, PairUnreadable

__all__ = ["EXPIRY_WARNING_DAYS", "Pair", "Signature", "expiry_note", "signature"]

#: Warn when a certificate has less than this left: certbot renews at 30 days, so a
#: certificate this close to its end means renewal has been failing for two weeks.
EXPIRY_WARNING_DAYS = 14

#: What identifies a file's current content cheaply: device, inode, size, mtime.
#: ``stat`` follows symbolic links, so certbot's ``live/`` links moving to a new
#: ``archive/`` file change it.
Signature = tuple[int, int, int, int]


def signature(path: Path) -> Signature | None:
    """The file's identity now, or None when it cannot be seen."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _read(path: Path, what: str, field: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(1024 * 1024)
    except FileNotFoundError:
        raise PairUnreadable(f"{what} {path} does not exist", path, field) from None
    except PermissionError:
        raise PairUnreadable(
            f"{what} {path} cannot be read by this user (uid {os.getuid()}); "
            "give the castedge user read access (certbot: a deploy hook that copies it, "
            "see docs/tls.md)",
            path,
            field,
        ) from None
    except IsADirectoryError:
        raise PairUnreadable(f"{what} {path} is a directory, not a file", path, field) from None
    except OSError as exc:
        raise PairUnreadable(f"{what} {path} cannot be read: {exc.strerror}", path, field) from None


@dataclass(frozen=True)
class Pair:
    """A PEM certificate chain (the server's certificate first) and its private key."""

    cert_pem: bytes
    key_pem: bytes
    cert_path: Path
    key_path: Path
    #: The server certificate's serial number, subject and validity.
    serial: int
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime

    @classmethod
    def read(cls, cert_path: Path, key_path: Path) -> Pair:
        """Read and check both files; raises PairUnreadable or PairMismatch."""
        cert_pem = _read(cert_path, "certificate", "cert")
        key_pem = _read(key_path, "key", "key")
        return cls.parse(cert_pem, key_pem, cert_path, key_path)

    @classmethod
    def parse(cls, cert_pem: bytes, key_pem: bytes, cert_path: Path, key_path: Path) -> Pair:
        """Check PEM bytes read from the two paths (which only name them in errors)."""
        try:
            chain = x509.load_pem_x509_certificates(cert_pem)
        except ValueError:
            raise PairUnreadable(
                f"certificate {cert_path} holds no PEM certificate "
                "(expected '-----BEGIN CERTIFICATE-----', the server's certificate first)",
                cert_path,
                "cert",
            ) from None
        cert = chain[0]
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except TypeError:
            raise PairUnreadable(
                f"key {key_path} is protected by a passphrase, which a server restarting "
                "unattended cannot give; store it unencrypted, readable only by castedge",
                key_path,
                "key",
            ) from None
        except (ValueError, x509.UnsupportedGeneralNameType) as exc:
            raise PairUnreadable(
                f"key {key_path} holds no PEM private key ({exc})", key_path, "key"
            ) from None
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
            raise PairMismatch(
                f"key {key_path} does not belong to the certificate in {cert_path} "
                f"(serial {cert.serial_number:x}); give the key that was issued with it",
                key_path,
                "key",
            )
        return cls(
            cert_pem,
            key_pem,
            cert_path,
            key_path,
            serial=cert.serial_number,
            subject=cert.subject.rfc4514_string(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
        )

    def describe(self) -> str:
        """One line for logs: which certificate, until when."""
        until = f"{self.not_after:%Y-%m-%d %H:%M} UTC"
        return f"serial {self.serial:x} ({self.subject}), valid until {until}"


def expiry_note(pair: Pair, now: dt.datetime) -> str | None:
    """A warning when the certificate has expired or expires soon, else None.

    Soon is within 14 days, or within a third of its lifetime if that is shorter.
    """
    left = pair.not_after - now
    if left <= dt.timedelta(0):
        ago = -left
        return (
            f"certificate {pair.cert_path} (serial {pair.serial:x}) expired "
            f"{ago.days} days ago, on {pair.not_after:%Y-%m-%d}: clients refuse it; renew it"
        )
    # A short-lived certificate (a private CA's, a week long) is renewed at about a
    # third of its life left, as certbot does at 30 of 90 days: warn past that only.
    lifetime = pair.not_after - pair.not_before
    if left < min(dt.timedelta(days=EXPIRY_WARNING_DAYS), lifetime / 3):
        return (
            f"certificate {pair.cert_path} (serial {pair.serial:x}) expires in "
            f"{left.days} days, on {pair.not_after:%Y-%m-%d}: is renewal running?"
        )
    if now < pair.not_before:
        return (
            f"certificate {pair.cert_path} (serial {pair.serial:x}) is not valid before "
            f"{pair.not_before:%Y-%m-%d %H:%M} UTC; is this machine's clock right?"
        )
    return None
