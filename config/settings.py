"""The typed settings every role reads: one frozen dataclass per section of the YAML file.

These are plain values. Reading and checking the file is ``load.py`` and
``schema.py``; a test may build these directly, or from a dict with
``settings_from_mapping``, which applies the same checks as the file does.
Mapping fields hold a ``FrozenMap`` so nothing reachable from a Settings object can be
changed after start, while it still copies, pickles and hashes like any value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

from .listen import Listen
from .secret import Secret

__all__ = [
    "AdminSettings",
    "AnalyticsSettings",
    "CacheSettings",
    "EdgeSettings",
    "GeoSettings",
    "HealthCheckSettings",
    "HttpSettings",
    "LocatorSettings",
    "OriginSettings",
    "RegionSettings",
    "S3Settings",
    "Settings",
    "SigningSettings",
    "StorageSettings",
    "SyncSettings",
    "TlsSettings",
    "UpstreamSettings",
]

#: Mozilla's "intermediate" configuration (https://ssl-config.mozilla.org/, guidelines
#: 5.7): the TLS 1.2 suites every browser and player of the last decade speaks, all with
#: forward secrecy and AEAD. TLS 1.3's own suites need no list.
INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)


@dataclass(frozen=True)
class TlsSettings:
    """HTTPS on one listener: the certificate chain and key (PEM), and how to speak TLS.

    The files are read again when they change (``reload_interval``), so a renewal
    reaches new connections without a restart. ``redirect_http`` is a plain-HTTP
    listener answering 301 to the HTTPS URL, serving ACME HTTP-01 challenges from
    ``acme_webroot`` (certbot's webroot mode).
    """

    cert: Path
    key: Path
    min_version: str = "tlsv1.2"
    ciphers: str = INTERMEDIATE_CIPHERS
    reload_interval: float = 5.0
    redirect_http: Listen | None = None
    acme_webroot: Path | None = None
    #: Kernel TLS (``tls.handoff``): "auto" where this machine has it, "on" always
    #: (connections it cannot take stay in user space), "off" never.
    ktls: str = "auto"


@dataclass(frozen=True)
class HttpSettings:
    """How long a client may take over its part of a connection, and how many connect at once.

    The defaults are nginx's (client_header_timeout, keepalive_timeout, send_timeout) and
    hold off a slowloris or a stalled reader without cutting off a slow phone.
    ``response_timeout`` None puts no cap on a whole response; ``max_connections`` is
    per worker and per listener.
    """

    header_timeout: float = 60.0
    keepalive_timeout: float = 75.0
    send_timeout: float = 60.0
    response_timeout: float | None = None
    max_connections: int = 10000
    #: Whether plain-HTTP hits are answered below aiohttp's web layer (``delivery.fastpath``).
    fast_path: bool = True


@dataclass(frozen=True)
class S3Settings:
    """Where the source of truth lives when it is an S3 (or S3-compatible) bucket."""

    bucket: str
    endpoint_url: str | None
    region: str
    public_url: str | None
    presign_ttl: float
    #: CA certificates (PEM) to verify an HTTPS endpoint_url with, for a private CA.
    ca_bundle: Path | None = None

    @property
    def verify(self) -> str | None:
        """boto3's ``verify``: the CA bundle's path, or None for the system's CAs."""
        return str(self.ca_bundle) if self.ca_bundle is not None else None


@dataclass(frozen=True)
class StorageSettings:
    """The main location of the media: exactly one of an S3 bucket or a local directory."""

    s3: S3Settings | None
    dir: Path | None
    #: Keep a listing of the bucket's keys, so a key outside it costs no S3 GET.
    list_keys: bool = False
    list_interval: float = 60.0
    #: A sync daemon's state file to take the bucket's keys from, instead of listing.
    listing_file: Path | None = None


@dataclass(frozen=True)
class UpstreamSettings:
    """How patiently a cache miss is fetched from storage: timeouts, retries, backoff."""

    connect_timeout: float
    read_timeout: float
    retries: int
    backoff: float
    negative_ttl: float
    fill_deadline: float
    #: Misses one client address may send to the upstream a second (None: no limit),
    #: and at once.
    max_miss_rate: float | None = 20.0
    miss_burst: int = 200


@dataclass(frozen=True)
class CacheSettings:
    """Where cached objects live on local disk and how much of the disk they may use."""

    dir: Path
    max_size: int
    high_watermark: float
    low_watermark: float


@dataclass(frozen=True)
class OriginSettings:
    """How the podcast origin listens, what it tells caches, and where it logs requests.

    ``prefixes`` are the folders of keys it serves and fetches (empty: every key);
    ``cache_dir`` and ``cache_max_size`` override its share of the ``cache`` section
    (see ``config.roles.role_cache``); behind ``trusted_proxies`` the client is who
    their ``client_ip_header`` says.
    """

    listen: Listen
    cache_control: str
    access_log: str | None
    fallback: str
    workers: int | None
    drain_timeout: float
    prefixes: tuple[str, ...] = ()
    cache_dir: Path | None = None
    cache_max_size: int | None = None
    #: The load balancers whose ``client_ip_header`` names the client (download counts).
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    client_ip_header: str = "x-forwarded-for"
    tls: TlsSettings | None = None
    #: This role's own ``http`` section; None: the top-level one.
    http: HttpSettings | None = None


@dataclass(frozen=True)
class EdgeSettings:
    """How a video edge listens, which region it serves, and what it tells browsers and caches.

    ``public_prefixes`` are directories (ending in "/") served without a token;
    ``cors_origins`` are the web origins whose players may read responses ("*" for any);
    ``prefixes``, ``cache_dir`` and ``cache_max_size`` as for the origin; behind
    ``trusted_proxies`` (a region's balancer) the client is who their
    ``client_ip_header`` says, for address-bound tokens and the miss rate.
    """

    listen: Listen
    region: str
    public_url: str | None
    public_prefixes: tuple[str, ...]
    cors_origins: tuple[str, ...]
    cache_control: str
    public_cache_control: str
    access_log: str | None
    workers: int | None = 1
    drain_timeout: float = 30.0
    prefixes: tuple[str, ...] = ()
    cache_dir: Path | None = None
    cache_max_size: int | None = None
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    client_ip_header: str = "x-forwarded-for"
    tls: TlsSettings | None = None
    http: HttpSettings | None = None


@dataclass(frozen=True)
class AdminSettings:
    """The admin listener (health, metrics, purge) and the token that guards changes.

    With no token, every admin endpoint that changes state answers 401; ``/healthz``
    and ``/metrics`` answer regardless.
    """

    listen: Listen
    token: Secret | None
    tls: TlsSettings | None = None


@dataclass(frozen=True)
class SigningSettings:
    """The HMAC keys signed URLs are minted and checked with, their lifetimes, and revocations.

    ``revocation_file`` is the list ``castedge revoke`` writes; every role that checks
    or mints tokens re-reads it every ``revocation_interval`` seconds.
    """

    keys: Mapping[str, Secret]
    active: str
    leeway: float
    default_ttl: float
    revocation_file: Path | None = None
    revocation_interval: float = 5.0


@dataclass(frozen=True)
class RegionSettings:
    """One region players may be sent to: where it is, its edge's URL, how strongly it attracts."""

    name: str
    latitude: float
    longitude: float
    base_url: str
    weight: float
    health_url: str | None
    #: The region's admin listener, as the sync daemon reaches it, and its token
    #: (None: ``admin.token``).
    admin_url: str | None = None
    admin_token: Secret | None = None
    #: A region of several edges behind a balancer at ``base_url``: each edge's admin
    #: listener (purges and revocation lists go to every one; docs/scaling.md).
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class HealthCheckSettings:
    """How the locator probes each region's edge: how often, how patiently, how many in a row."""

    interval: float
    timeout: float
    rise: int
    fall: int


@dataclass(frozen=True)
class GeoSettings:
    """Where clients are: the GeoIP2 City database, the proxies to see through, the fallback.

    ``default_region`` None means the first region listed.
    """

    database: Path
    default_region: str | None
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...]
    client_ip_header: str
    cache_size: int
    reload_interval: float
    health: HealthCheckSettings


@dataclass(frozen=True)
class LocatorSettings:
    """How the locator listens, and how the web app proves a player may watch."""

    listen: Listen
    access_log: str | None
    grant_header: str
    proxy_secret_header: str
    proxy_secret: Secret | None
    workers: int | None = 1
    drain_timeout: float = 30.0
    #: Where the sync daemon says which region holds which object (its admin
    #: ``/admin/sync/holdings``), and how often to ask; None routes by health alone.
    holdings_url: str | None = None
    holdings_interval: float = 5.0
    tls: TlsSettings | None = None
    http: HttpSettings | None = None


@dataclass(frozen=True)
class SyncSettings:
    """The replication daemon: what it watches in the main bucket, and how it gets it out.

    ``prefixes`` empty means every key; ``nodes`` are admin URLs beyond the regions'
    (a locator elsewhere) that receive revocation lists and nothing else.
    """

    prefixes: tuple[str, ...]
    interval: float
    concurrency: int
    per_region: int
    state_file: Path
    max_deletes: int
    transfer_timeout: float
    retry_backoff: float
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class AnalyticsSettings:
    """Where the origin records what it sent, for download counts, and how it keeps addresses.

    ``log`` None records nothing. ``db`` None is ``analytics.db`` beside the log;
    ``agents`` None is the user-agent list shipped with castedge.
    """

    log: Path | None = None
    db: Path | None = None
    ip: str = "hash"
    address_limit: int = 50
    agents: Path | None = None


@dataclass(frozen=True)
class Settings:
    """Everything a castedge node is configured with, checked once at start."""

    source: str
    storage: StorageSettings | None
    upstream: UpstreamSettings
    cache: CacheSettings | None
    origin: OriginSettings | None
    admin: AdminSettings
    signing: SigningSettings | None
    log_level: str
    # Last and defaulted, so code that builds Settings by hand need not name it.
    edge: EdgeSettings | None = None
    geo: GeoSettings | None = None
    regions: tuple[RegionSettings, ...] | None = None
    locator: LocatorSettings | None = None
    sync: SyncSettings | None = None
    analytics: AnalyticsSettings = field(default_factory=AnalyticsSettings)
    #: CA certificates (PEM) trusted beyond the system's when castedge calls its own
    #: listeners over HTTPS: health checks, holdings, prefetches, the CLI's admin calls.
    ca_bundle: Path | None = None
    #: The deadlines and connection limit of every listener, unless a role has its own.
    http: HttpSettings = field(default_factory=HttpSettings)
