"""castedge's configuration: one YAML file, checked once at start, as one frozen Settings.

Every role reads a Settings object; nobody else parses YAML. Errors are ConfigError
and name the file, the key path and what was expected. The keys are documented in
docs/configuration.md and shown working in config/example.yaml.
"""

from __future__ import annotations

from .errors import ConfigError
from .listen import Listen
from .load import DEFAULT_CONFIG_PATH, config_path_from, load_settings, settings_from_mapping
from .roles import (
    CACHING_ROLES,
    ROLES,
    exposure_warnings,
    role_cache,
    role_http,
    role_prefixes,
    roles_in,
    serves,
)
from .secret import Secret
from .settings import (
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
from .units import parse_duration, parse_size

__all__ = [
    "CACHING_ROLES",
    "DEFAULT_CONFIG_PATH",
    "ROLES",
    "AdminSettings",
    "AnalyticsSettings",
    "CacheSettings",
    "ConfigError",
    "EdgeSettings",
    "GeoSettings",
    "HealthCheckSettings",
    "HttpSettings",
    "Listen",
    "LocatorSettings",
    "OriginSettings",
    "RegionSettings",
    "S3Settings",
    "Secret",
    "Settings",
    "SigningSettings",
    "StorageSettings",
    "SyncSettings",
    "TlsSettings",
    "UpstreamSettings",
    "config_path_from",
    "exposure_warnings",
    "load_settings",
    "parse_duration",
    "parse_size",
    "role_cache",
    "role_http",
    "role_prefixes",
    "roles_in",
    "serves",
    "settings_from_mapping",
]
