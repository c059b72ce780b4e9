"""What the locator needs from the settings: its sections, and the regions as geo wants them."""

from __future__ import annotations

from dataclasses import dataclass

from config import ConfigError, GeoSettings, LocatorSettings, Settings
from geo.region import Region, check_catalogue
from signer import KeyConfigError, Purpose, Signer

__all__ = ["Catalogue", "catalogue_from", "locator_settings"]


@dataclass(frozen=True)
class Catalogue:
    """The regions from the settings, as the geo core wants them, and their health URLs."""

    regions: tuple[Region, ...]
    default: Region
    health_urls: dict[str, str]


def catalogue_from(settings: Settings) -> Catalogue:
    """The configured regions; ConfigError when the settings name none."""
    if not settings.regions:
        raise ConfigError(
            settings.source,
            "regions",
            "missing; the locator needs a list of regions (name, latitude, longitude, base_url)",
        )
    regions = check_catalogue(
        Region(r.name, r.latitude, r.longitude, r.base_url, r.weight) for r in settings.regions
    )
    default_name = settings.geo.default_region if settings.geo is not None else None
    default = next((r for r in regions if r.name == default_name), regions[0])
    health_urls = {r.name: r.health_url or f"{r.base_url}/healthz" for r in settings.regions}
    return Catalogue(regions, default, health_urls)


def locator_settings(settings: Settings) -> tuple[LocatorSettings, GeoSettings, Catalogue]:
    """The sections the locator needs; ConfigError naming the first one missing."""
    if settings.locator is None:
        raise ConfigError(settings.source, "locator", "missing; castedge locator needs it")
    if settings.geo is None:
        raise ConfigError(
            settings.source, "geo", "missing; the locator needs geo.database (a City database)"
        )
    if settings.signing is None:
        raise ConfigError(
            settings.source,
            "signing",
            "missing; the locator needs the keys to check grants and sign edge URLs with",
        )
    try:
        Signer.from_settings(settings, purpose=Purpose.GRANT)
    except KeyConfigError as exc:
        raise ConfigError(settings.source, "signing", str(exc)) from None
    return settings.locator, settings.geo, catalogue_from(settings)
