"""``castedge demo``: an origin against a local S3 server holding sample episodes.

With ``--tls`` every listener it starts (the origin's, the admin one, the local S3
server's) speaks HTTPS, with a certificate for ``localhost`` and ``127.0.0.1`` from a
certificate authority made for this one run (``demo_certificates``): what an operator
gets from a real CA, without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import ipaddress
import os
import secrets
import shlex
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from castedge.locals3 import ACCESS_KEY, SECRET_KEY, LocalS3
from config import Settings, settings_from_mapping

__all__ = ["DemoCertificates", "demo_certificates", "run_demo", "sample_bytes", "sample_episode"]

BUCKET = "media"

# An MPEG-1 Layer III frame header: 128 kbit/s, 44.1 kHz, stereo, no CRC. A frame is
# 144 × 128000 / 44100 = 417 bytes; its 32 bytes of side information, all zero, say
# "no audio data", so players play the frame as silence whatever follows.
_FRAME_HEADER = bytes((0xFF, 0xFB, 0x90, 0x00))
_FRAME = 417
_SIDE_INFO = 32


def sample_bytes(seed: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes standing in for an episode (incompressible)."""
    # SHAKE gives any length from one seed, quickly.
    return hashlib.shake_256(seed.encode()).digest(size)


def sample_episode(seed: str, size: int) -> bytes:
    """A valid MP3 of ``size`` bytes: an ID3v2 tag, then silent 128 kbit/s frames.

    Real frame headers let ``castedge stats`` read the bitrate, so the demo's
    downloads are counted by the one-minute rule; the frames' filler is random, so
    the file stays as incompressible as a real episode.
    """
    title = f"castedge demo: {seed}".encode()
    frame = b"TIT2" + (len(title) + 1).to_bytes(4, "big") + b"\0\0" + b"\3" + title
    # The tag's padding makes the frames end exactly at the end of the file.
    frames = (size - 10 - len(frame)) // _FRAME
    tag_size = size - 10 - frames * _FRAME
    # ID3v2.4: the tag's size is "syncsafe", 7 bits a byte.
    syncsafe = bytes((tag_size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    tag = b"ID3\4\0\0" + syncsafe + frame + bytes(tag_size - len(frame))
    body = bytearray(sample_bytes(seed, size))
    body[: len(tag)] = tag
    blank = _FRAME_HEADER + bytes(_SIDE_INFO)
    for at in range(len(tag), size, _FRAME):
        body[at : at + len(blank)] = blank
    return bytes(body)


@dataclass(frozen=True)
class DemoCertificates:
    """A throwaway CA's certificate, and a server certificate and key it signed (PEM)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


#: The names the demo's server certificate is good for: what its URLs and a browser use.
DEMO_NAMES = ("localhost", "127.0.0.1")

#: Long enough that ``check-config``'s 14-day expiry warning never fires on a demo
#: left running; the files are deleted when it stops anyway.
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


def _write_certificates(workdir: Path, certs: DemoCertificates) -> DemoFiles:
    """Write the CA certificate, the server certificate and its key (0600) into ``workdir``."""
    files = DemoFiles(workdir / "ca.pem", workdir / "cert.pem", workdir / "key.pem")
    files.ca.write_bytes(certs.ca_pem)
    files.cert.write_bytes(certs.cert_pem)
    # Created 0600, never widened: a key briefly readable by all is a leaked key.
    fd = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(certs.key_pem)
    return files


def _upload_samples(s3: LocalS3, episodes: int, size: int) -> list[tuple[str, str]]:
    client = s3.client()
    client.create_bucket(Bucket=BUCKET)
    keys = []
    for n in range(1, episodes + 1):
        key = f"podcast/episode-{n:03d}.mp3"
        body = sample_episode(key, size)
        client.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="audio/mpeg")
        keys.append((key, hashlib.sha256(body).hexdigest()))
    return keys


async def run_demo(
    *, episodes: int = 3, size_mb: int = 30, port: int = 8080, tls: bool = False
) -> None:
    """Start everything, print what to try, run until Ctrl-C, then remove it all.

    ``tls``: every listener it starts (the origin's, the admin one, the local S3
    server's) speaks HTTPS, with a certificate from a CA made for the run, written
    into the working directory beside the cache; the origin trusts that CA for S3.
    """
    from runtime.worker import run_worker

    # boto3 needs some credentials; the local server accepts any.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    workdir = Path(tempfile.mkdtemp(prefix="castedge-demo-"))
    s3: LocalS3 | None = None
    try:
        now = datetime.datetime.now(datetime.UTC)
        files = _write_certificates(workdir, demo_certificates(now)) if tls else None
        s3 = LocalS3(
            ssl_context=files.server_context() if files else None,
            ca_bundle=str(files.ca) if files else None,
        ).start()
        loop = asyncio.get_running_loop()
        keys = await loop.run_in_executor(None, _upload_samples, s3, episodes, size_mb * 10**6)
        token = secrets.token_urlsafe(24)
        admin_port = port + 10
        s3_section: dict[str, object] = {"bucket": BUCKET, "endpoint_url": s3.url}
        origin: dict[str, object] = {"listen": f"127.0.0.1:{port}"}
        admin: dict[str, object] = {"listen": f"127.0.0.1:{admin_port}", "token": token}
        scheme, curl, ca_line = "http", "curl", ""
        if files is not None:
            s3_section["ca_bundle"] = str(files.ca)
            origin["tls"] = admin["tls"] = {"cert": str(files.cert), "key": str(files.key)}
            scheme, curl = "https", f"curl --cacert {shlex.quote(str(files.ca))}"
            ca_line = (
                f"HTTPS with a certificate for {' and '.join(DEMO_NAMES)} from a CA made for"
                f" this run: trust {files.ca} (curl --cacert) to check it.\n"
            )
        settings = settings_from_mapping(
            {
                "storage": {"s3": s3_section},
                "cache": {"dir": str(workdir / "cache"), "max_size": "2GB"},
                "origin": origin,
                "admin": admin,
                "analytics": {"log": str(workdir / "downloads.log")},
            },
            source="<demo>",
        )
        today = now.date().isoformat()
        base = f"{scheme}://127.0.0.1:{port}"
        admin_url = f"{scheme}://127.0.0.1:{admin_port}"
        first = keys[0][0]
        print(
            f"\ncastedge demo: S3-compatible server at {s3.url} (bucket {BUCKET!r}),"
            f" cache in {workdir}\n"
            + ca_line
            + "\nEpisodes (sha256 of each, to check what you download):\n"
            + "".join(f"  {base}/{key}  {digest}\n" for key, digest in keys)
            + "\nTry:\n"
            f"  {curl} -o /dev/null -w '%{{http_code}} %{{size_download}} bytes\\n' {base}/{first}"
            "     # a miss, then a hit\n"
            f"  {curl} -s -r 0-1 -D - -o /dev/null {base}/{first}     # Apple Podcasts' probe\n"
            f"  {curl} -sI {base}/{first}                             # what AntennaPod asks\n"
            f"  {curl} -s {admin_url}/healthz; {curl} -s {admin_url}/metrics | grep castedge_\n"
            f"  {curl} -X DELETE -H 'Authorization: Bearer {token}'"
            f" {admin_url}/admin/cache/{first}\n"
            f"  castedge stats --since {today} {workdir / 'downloads.log'}"
            "   # downloads, IAB v2.2\n"
            f"  {curl} -s -H 'Authorization: Bearer {token}'"
            f" '{admin_url}/admin/stats?since={today}'\n"
            "\nCtrl-C stops everything, prints today's downloads per episode, and removes "
            "the temporary files.\n",
            flush=True,
        )
        await run_worker(settings, ("origin",), admin=True)
        print(_downloads(settings, workdir, today), flush=True)
    finally:
        if s3 is not None:
            s3.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)


def _downloads(settings: Settings, workdir: Path, today: str) -> str:
    """Today's downloads per episode, as ``castedge stats`` prints them."""
    from analytics import AnalyticsError, Period, to_table
    from analytics.stats import Query, Stats, default_logs

    try:
        with Stats(settings, workdir / "analytics.db") as stats:
            stats.ingest(default_logs(settings))
            period = Period.parse(today, today, now=0)
            return "\n" + to_table(stats.report(Query(period)))
    except AnalyticsError as exc:
        return f"castedge demo: cannot count the downloads: {exc}"
