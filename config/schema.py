"""What castedge.yaml may contain: every section's keys, kinds and defaults, as data.

To add a section: write its frozen dataclass in ``settings.py``, its ``Section`` here
with any cross-field checks, hang it off ``SETTINGS``, and document its keys in
docs/configuration.md (a test fails until every key is there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import cast

from .kinds import (
    boolean,
    by_id,
    choice,
    count_or_auto,
    duration,
    fraction,
    header_name,
    header_value,
    integer,
    items,
    listen,
    network,
    number,
    optional,
    path,
    path_prefix,
    secret,
    section,
    size,
    switch,
    text,
    url,
    web_origin,
)
from .roles import caches_apart, roles_complete
from .settings import (
    INTERMEDIATE_CIPHERS,
    AdminSettings,
    AnalyticsSettings,
    CacheSettings,
    EdgeSettings,
    GeoSettings,
    HealthCheckSettings,
    HttpSettings,
    LocatorSettings,
    OriginSettings,
    RegionSettings,
    S3Settings,
    Settings,
    SigningSettings,
    StorageSettings,
    SyncSettings,
    TlsSettings,
    UpstreamSettings,
)
from .spec import EMPTY, Field, Invalid, Kind, Section

__all__ = [
    "ADMIN",
    "ANALYTICS",
    "CACHE",
    "EDGE",
    "GEO",
    "HEALTH_CHECK",
    "HTTP",
    "LOCATOR",
    "ORIGIN",
    "REGION",
    "S3",
    "SETTINGS",
    "SIGNING",
    "STORAGE",
    "SYNC",
    "TLS",
    "UPSTREAM",
]


def _one_location(storage: StorageSettings) -> None:
    given = [name for name in ("s3", "dir") if getattr(storage, name) is not None]
    if len(given) != 1:
        found = "both" if given else "neither"
        raise Invalid(f"expected exactly one of s3 or dir, got {found}")
    if storage.list_keys and storage.s3 is None:
        # A directory is read for each request anyway; a missing file costs nothing.
        raise Invalid("expected false: only an S3 bucket is listed", ("list_keys",))
    if storage.listing_file is not None:
        if storage.s3 is None:
            raise Invalid(
                "expected no listing_file: only an S3 bucket is listed", ("listing_file",)
            )
        if storage.list_keys:
            raise Invalid(
                "expected list_keys: false with listing_file: the node either lists the "
                "bucket itself or reads the sync daemon's listing, not both",
                ("list_keys",),
            )


def _deadline_outlasts_an_attempt(upstream: UpstreamSettings) -> None:
    # One attempt may take read_timeout before it fails; a deadline shorter than that
    # would cut the first attempt at a stall the read timeout was meant to judge.
    if upstream.fill_deadline < upstream.read_timeout:
        raise Invalid(
            f"expected at least read_timeout ({upstream.read_timeout:g} s), "
            f"got {upstream.fill_deadline:g} s",
            ("fill_deadline",),
        )


def _low_below_high(cache: CacheSettings) -> None:
    if not cache.low_watermark < cache.high_watermark:
        raise Invalid(
            f"expected a number below high_watermark ({cache.high_watermark}), "
            f"got {cache.low_watermark}",
            ("low_watermark",),
        )


def _edge_paths_apart(edge: EdgeSettings) -> None:
    # "/s/<token>/..." is the signed route; a public folder named "s" would shadow it.
    for index, prefix in enumerate(edge.public_prefixes):
        if prefix.split("/", 1)[0] == "s":
            raise Invalid(
                f"expected a folder other than 's/', which signed URLs use, got {prefix!r}",
                ("public_prefixes", f"[{index}]"),
            )
    if "*" in edge.cors_origins and len(edge.cors_origins) > 1:
        raise Invalid("expected either '*' alone or a list of origins, got both", ("cors_origins",))


def _region_name(edge: EdgeSettings) -> None:
    # It is a metric label and a word in logs and /healthz, as the locator's catalogue names it.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", edge.region):
        raise Invalid(
            "expected a region name of up to 64 letters, digits, '.', '_' or '-', "
            f"got {edge.region!r}",
            ("region",),
        )


def _active_key_known(signing: SigningSettings) -> None:
    if signing.active not in signing.keys:
        ids = ", ".join(repr(key_id) for key_id in signing.keys)
        raise Invalid(
            f"expected one of the key ids in signing.keys ({ids}), got {signing.active!r}",
            ("active",),
        )


#: The most regions a catalogue may hold. Each request ranks every region, and the locate API
#: lists every healthy one; 64 is far beyond the eight the business runs.
MAX_REGIONS = 64
_REGION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _region_parts(region: RegionSettings) -> None:
    # The same words the edge's region setting accepts: a metric label and a log word.
    if not _REGION_NAME.fullmatch(region.name):
        raise Invalid(
            "expected a region name of up to 64 letters, digits, '.', '_' or '-', "
            f"got {region.name!r}",
            ("name",),
        )
    for key, value in (("base_url", region.base_url), ("health_url", region.health_url)):
        if value is not None and ("?" in value or "#" in value):
            # Signed paths and /healthz are appended to it; a query would swallow them.
            raise Invalid(f"expected a URL without a query or fragment, got {value!r}", (key,))
    if region.members and region.admin_url is not None:
        raise Invalid(
            "expected either admin_url (a region of one edge) or members (the admin URLs of "
            "the edges behind the balancer at base_url), not both",
            ("members",),
        )
    for index, member in enumerate(region.members):
        if member in region.members[:index]:
            raise Invalid(
                f"expected each edge once, got {member!r} again", ("members", f"[{index}]")
            )


def _catalogue(region: Kind) -> Kind:
    each = items(region, expected="a list of regions, each a mapping with name and base_url")
    expected = f"a list of 1 to {MAX_REGIONS} regions"

    def convert(value: object) -> tuple[RegionSettings, ...]:
        regions = cast(tuple[RegionSettings, ...], each.convert(value))
        if not 1 <= len(regions) <= MAX_REGIONS:
            raise ValueError(f"expected {expected}, got {len(regions)}")
        seen: set[str] = set()
        for index, entry in enumerate(regions):
            name = entry.name
            if name in seen:
                raise Invalid(
                    f"expected each region name once, got {name!r} again", (f"[{index}]", "name")
                )
            seen.add(name)
        return regions

    return Kind(expected, convert)


def _timeout_within_interval(health: HealthCheckSettings) -> None:
    # Probes run on a fixed beat; one still waiting when the next is due would skew it.
    if health.timeout > health.interval:
        raise Invalid(
            f"expected at most interval ({health.interval:g} s), got {health.timeout:g} s",
            ("timeout",),
        )


def _headers_differ(locator: LocatorSettings) -> None:
    if locator.grant_header.lower() == locator.proxy_secret_header.lower():
        raise Invalid(
            f"expected a header other than grant_header, got {locator.proxy_secret_header!r}",
            ("proxy_secret_header",),
        )


def _default_region_listed(settings: Settings) -> None:
    if settings.geo is None or settings.geo.default_region is None:
        return
    names = [region.name for region in settings.regions or ()]
    if settings.geo.default_region not in names:
        listed = ", ".join(repr(name) for name in names) or "none are configured"
        raise Invalid(
            f"expected a region listed under regions ({listed}), "
            f"got {settings.geo.default_region!r}",
            ("geo", "default_region"),
        )


#: What the origin and the edge share: the folders they serve, and their part of the cache.
_CACHING_ROLE_FIELDS = (
    Field("prefixes", items(path_prefix(), expected="a list of folders"), default=[]),
    Field("cache_dir", optional(path()), default=None),
    Field("cache_max_size", optional(size(positive=True)), default=None),
)


#: Who the client is behind the operator's balancers (as the locator's geo section says).
_CLIENT_ADDRESS_FIELDS = (
    Field(
        "trusted_proxies",
        items(network(), expected="a list of addresses or networks"),
        default=[],
    ),
    Field("client_ip_header", choice("x-forwarded-for", "forwarded"), default="x-forwarded-for"),
)


def _log_apart_from_db(analytics: AnalyticsSettings) -> None:
    if analytics.log is not None and analytics.db == analytics.log:
        raise Invalid(f"expected a file other than analytics.log, got '{analytics.db}'", ("db",))


def _challenges_need_redirect(tls: TlsSettings) -> None:
    # Challenges are answered on the plain-HTTP listener: without one, nobody asks.
    if tls.acme_webroot is not None and tls.redirect_http is None:
        raise Invalid(
            "expected redirect_http too: ACME HTTP-01 challenges arrive on port 80, "
            "which redirect_http serves",
            ("acme_webroot",),
        )


def _tls_fields(*, redirect: bool) -> tuple[Field, ...]:
    fields: tuple[Field, ...] = (
        Field("cert", path("the path of a PEM certificate chain, the server's first")),
        Field("key", path("the path of the certificate's PEM private key")),
        # TLS 1.0 and 1.1 were deprecated by RFC 8996; no player castedge serves needs them.
        Field("min_version", choice("tlsv1.2", "tlsv1.3"), default="tlsv1.2"),
        Field("ciphers", text("an OpenSSL cipher list"), default=INTERMEDIATE_CIPHERS),
        Field("reload_interval", duration(positive=True, at_most="1h"), default="5s"),
    )
    if redirect:
        fields += (
            Field("redirect_http", optional(listen()), default=None),
            Field("acme_webroot", optional(path()), default=None),
            Field("ktls", switch("auto", "on", "off"), default="auto"),
        )
    return fields


#: HTTPS on a media listener, with its optional plain-HTTP redirect.
TLS = Section(TlsSettings, _tls_fields(redirect=True), checks=(_challenges_need_redirect,))
#: HTTPS on the admin listener: no redirect, nobody browses to it.
ADMIN_TLS = Section(TlsSettings, _tls_fields(redirect=False))

#: Deadlines and the connection limit of a listener. The defaults are nginx's:
#: client_header_timeout 60s, keepalive_timeout 75s, send_timeout 60s
#: (https://nginx.org/en/docs/http/ngx_http_core_module.html).
HTTP = Section(
    HttpSettings,
    (
        Field("header_timeout", duration(positive=True), default="60s"),
        Field("keepalive_timeout", duration(positive=True), default="75s"),
        Field("send_timeout", duration(positive=True), default="60s"),
        Field("response_timeout", optional(duration(positive=True)), default=None),
        # A connection costs a few kilobytes and two or three descriptors: a million is
        # beyond what any LimitNOFILE lets one worker open.
        Field("max_connections", integer(1, 1_000_000), default=10000),
        Field("fast_path", boolean(), default=True),
    ),
)

#: The roles whose listeners may have an ``http`` section of their own.
HTTP_ROLES = ("origin", "edge", "locator")


def _roles_inherit_http(raw: Mapping[str, object]) -> Mapping[str, object]:
    """A role's ``http`` section takes the keys it leaves out from the top-level one."""
    shared = raw.get("http")
    if not isinstance(shared, Mapping):
        # Absent, null, or wrong: the top-level key reports a wrong one itself.
        return raw
    merged = dict(raw)
    for role in HTTP_ROLES:
        section = raw.get(role)
        if isinstance(section, Mapping) and isinstance(section.get("http"), Mapping):
            own = cast(Mapping[str, object], section["http"])
            merged[role] = {**section, "http": {**shared, **own}}
    return merged


S3 = Section(
    S3Settings,
    (
        Field("bucket", text("a bucket name")),
        Field("endpoint_url", optional(url()), default=None),
        Field("region", text("a region name such as 'us-east-1'"), default="us-east-1"),
        Field("public_url", optional(url(strip_slash=True)), default=None),
        # SigV4 presigned URLs live at most 7 days (X-Amz-Expires <= 604800).
        # https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
        Field("presign_ttl", duration(positive=True, at_most="7d"), default="1h"),
        Field(
            "ca_bundle", optional(path("the path of a PEM file of CA certificates")), default=None
        ),
    ),
)

STORAGE = Section(
    StorageSettings,
    (
        Field("s3", optional(section(S3)), default=None),
        Field("dir", optional(path()), default=None),
        Field("list_keys", boolean(), default=False),
        # A LIST is 1,000 keys and costs what 12.5 GETs do; once a minute for a
        # 10,000-key bucket is 10 requests a minute.
        Field("list_interval", duration(positive=True), default="60s"),
        Field("listing_file", optional(path("a sync daemon's state_file")), default=None),
    ),
    checks=(_one_location,),
)

UPSTREAM = Section(
    UpstreamSettings,
    (
        Field("connect_timeout", duration(positive=True), default="5s"),
        Field("read_timeout", duration(positive=True), default="30s"),
        # 20 retries at a 200ms base is already minutes of backoff; more is a typo.
        Field("retries", integer(0, 20), default=4),
        Field("backoff", duration(), default="200ms"),
        Field("negative_ttl", duration(), default="10s"),
        Field("fill_deadline", duration(positive=True), default="60s"),
        # A podcast app or a player misses at most a few objects a second; a release's
        # stampede is one fill that the others join, which is never counted.
        Field("max_miss_rate", optional(number(0, 1_000_000, above_lowest=True)), default=20),
        Field("miss_burst", integer(1, 1_000_000), default=200),
    ),
    checks=(_deadline_outlasts_an_attempt,),
)

CACHE = Section(
    CacheSettings,
    (
        Field("dir", path()),
        Field("max_size", size(positive=True)),
        Field("high_watermark", fraction(), default=0.95),
        Field("low_watermark", fraction(), default=0.90),
    ),
    checks=(_low_below_high,),
)

ORIGIN = Section(
    OriginSettings,
    (
        Field("listen", listen(), default="0.0.0.0:8080"),
        Field("cache_control", header_value(), default="public, max-age=86400"),
        Field("access_log", optional(text("a file path, or '-' for stderr")), default="-"),
        # auto: redirect misses to S3 while the disk store fails; stream: fetch them
        # from S3 through this node without caching.
        Field("fallback", choice("auto", "stream"), default="auto"),
        Field("workers", count_or_auto(1, 64), default=1),
        Field("drain_timeout", duration(), default="30s"),
        *_CACHING_ROLE_FIELDS,
        *_CLIENT_ADDRESS_FIELDS,
        Field("tls", optional(section(TLS)), default=None),
        Field("http", optional(section(HTTP)), default=None),
    ),
)

EDGE = Section(
    EdgeSettings,
    (
        Field("listen", listen(), default="0.0.0.0:8081"),
        Field("region", text("a region name such as 'eu-central'")),
        Field("public_url", optional(url(strip_slash=True)), default=None),
        Field("public_prefixes", items(path_prefix(), expected="a list of folders"), default=[]),
        Field("cors_origins", items(web_origin(), expected="a list of origins"), default=[]),
        # Signed responses are one student's: no shared cache may keep them.
        # https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.7
        Field("cache_control", header_value(), default="private, max-age=3600"),
        Field("public_cache_control", header_value(), default="public, max-age=86400"),
        Field("access_log", optional(text("a file path, or '-' for stderr")), default="-"),
        Field("workers", count_or_auto(1, 64), default=1),
        Field("drain_timeout", duration(), default="30s"),
        *_CACHING_ROLE_FIELDS,
        *_CLIENT_ADDRESS_FIELDS,
        Field("tls", optional(section(TLS)), default=None),
        Field("http", optional(section(HTTP)), default=None),
    ),
    checks=(_region_name, _edge_paths_apart),
)

ADMIN = Section(
    AdminSettings,
    (
        Field("listen", listen(), default="127.0.0.1:9090"),
        # It travels in an Authorization header, so no spaces or control characters.
        Field(
            "token",
            optional(
                secret(header_safe=True, expected="a token without spaces or control characters")
            ),
            default=None,
        ),
        Field("tls", optional(section(ADMIN_TLS)), default=None),
    ),
)

SIGNING = Section(
    SigningSettings,
    (
        Field(
            "keys",
            by_id(
                expected="a mapping of at least one key id to its secret",
                id_pattern=r"[A-Za-z0-9_-]{1,16}",
                id_expected="a key id of 1 to 16 letters, digits, '_' or '-'",
                # RFC 2104 section 3: a key shorter than the hash output weakens HMAC.
                # 16 characters is a floor that catches placeholders such as
                # 'changeme'; generate 32 random bytes or more.
                value=secret(min_length=16),
            ),
        ),
        Field("active", text("a key id from signing.keys")),
        Field("leeway", duration(), default="30s"),
        Field("default_ttl", duration(positive=True), default="2h"),
        Field("revocation_file", optional(path("a file path")), default=None),
        Field("revocation_interval", duration(positive=True), default="5s"),
    ),
    checks=(_active_key_known,),
)

REGION = Section(
    RegionSettings,
    (
        Field("name", text("a region name such as 'eu-central'")),
        Field("latitude", number(-90, 90)),
        Field("longitude", number(-180, 180)),
        Field("base_url", url(strip_slash=True)),
        # Effective distance is distance / weight; beyond 1000 a weight is a typo.
        Field("weight", number(0, 1000, above_lowest=True), default=1),
        Field("health_url", optional(url()), default=None),
        Field("admin_url", optional(url(strip_slash=True)), default=None),
        # The edges behind base_url's balancer (docs/scaling.md): purges and revocation
        # lists go to each; media and prefetches go through the balancer.
        Field(
            "members",
            items(url(strip_slash=True), expected="a list of the admin URLs of its edges"),
            default=[],
        ),
        Field(
            "admin_token",
            optional(
                secret(header_safe=True, expected="a token without spaces or control characters")
            ),
            default=None,
        ),
    ),
    checks=(_region_parts,),
)

HEALTH_CHECK = Section(
    HealthCheckSettings,
    (
        Field("interval", duration(positive=True), default="5s"),
        Field("timeout", duration(positive=True), default="2s"),
        # HAProxy's defaults (https://docs.haproxy.org/2.8/configuration.html#5.2-rise).
        Field("rise", integer(1, 100), default=2),
        Field("fall", integer(1, 100), default=3),
    ),
    checks=(_timeout_within_interval,),
)

GEO = Section(
    GeoSettings,
    (
        Field("database", path("the path of a MaxMind-format City database")),
        Field("default_region", optional(text("a region name from regions")), default=None),
        Field(
            "trusted_proxies",
            items(network(), expected="a list of addresses or networks"),
            default=[],
        ),
        Field(
            "client_ip_header", choice("x-forwarded-for", "forwarded"), default="x-forwarded-for"
        ),
        Field("cache_size", integer(1, 10_000_000), default=16384),
        Field("reload_interval", duration(positive=True), default="60s"),
        Field("health", section(HEALTH_CHECK), default=EMPTY),
    ),
)

LOCATOR = Section(
    LocatorSettings,
    (
        Field("listen", listen(), default="0.0.0.0:8082"),
        Field("access_log", optional(text("a file path, or '-' for stderr")), default="-"),
        Field("grant_header", header_name(), default="X-Castedge-Grant"),
        Field("proxy_secret_header", header_name(), default="X-Castedge-Proxy-Secret"),
        Field(
            "proxy_secret",
            optional(
                secret(
                    min_length=16,
                    header_safe=True,
                    expected="a secret of at least 16 characters without spaces",
                )
            ),
            default=None,
        ),
        Field("workers", count_or_auto(1, 64), default=1),
        Field("drain_timeout", duration(), default="30s"),
        Field("holdings_url", optional(url(strip_slash=True)), default=None),
        Field("holdings_interval", duration(positive=True), default="5s"),
        Field("tls", optional(section(TLS)), default=None),
        Field("http", optional(section(HTTP)), default=None),
    ),
    checks=(_headers_differ,),
)

SYNC = Section(
    SyncSettings,
    (
        Field("prefixes", items(path_prefix(), expected="a list of folders"), default=[]),
        # S3 charges per LIST request (1,000 keys each); every 30 s is about 86k a month
        # for a bucket under 1,000 keys.
        Field("interval", duration(positive=True), default="30s"),
        Field("concurrency", integer(1, 256), default=8),
        Field("per_region", integer(1, 64), default=2),
        Field("state_file", path("a file path"), default="/var/lib/castedge/sync-state.json"),
        Field("max_deletes", integer(0, 10_000_000), default=1000),
        Field("transfer_timeout", duration(positive=True), default="1h"),
        Field("retry_backoff", duration(positive=True), default="1s"),
        Field("nodes", items(url(strip_slash=True), expected="a list of admin URLs"), default=[]),
    ),
)

ANALYTICS = Section(
    AnalyticsSettings,
    (
        Field("log", optional(path("a file path")), default=None),
        Field("db", optional(path("a file path")), default=None),
        Field("ip", choice("hash", "truncate", "keep"), default="hash"),
        # More downloads of one episode from one address in a day than a household
        # or an office makes; carrier-grade NAT with the same app mostly merges into
        # one listener already.
        Field("address_limit", integer(1, 1_000_000), default=50),
        Field("agents", optional(path("a file path")), default=None),
    ),
    checks=(_log_apart_from_db,),
)

SETTINGS = Section(
    Settings,
    (
        Field("storage", optional(section(STORAGE)), default=None),
        Field("upstream", section(UPSTREAM), default=EMPTY),
        # Before the roles: a wrong key here is reported here, not in a role's copy.
        Field("http", section(HTTP), default=EMPTY),
        Field("cache", optional(section(CACHE)), default=None),
        Field("origin", optional(section(ORIGIN)), default=None),
        Field("edge", optional(section(EDGE)), default=None),
        Field("admin", section(ADMIN), default=EMPTY),
        Field("signing", optional(section(SIGNING)), default=None),
        Field("log_level", choice("debug", "info", "warning", "error"), default="info"),
        Field("geo", optional(section(GEO)), default=None),
        Field("regions", optional(_catalogue(section(REGION))), default=None),
        Field("locator", optional(section(LOCATOR)), default=None),
        Field("sync", optional(section(SYNC)), default=None),
        Field("analytics", section(ANALYTICS), default=EMPTY),
        Field(
            "ca_bundle", optional(path("the path of a PEM file of CA certificates")), default=None
        ),
    ),
    checks=(_default_region_listed, roles_complete, caches_apart),
    prepare=_roles_inherit_http,
)
