"""Small valid configuration documents for the config tests, and a way to vary them."""

from __future__ import annotations

import copy
from typing import Any

from config import Settings, settings_from_mapping

SOURCE = "castedge.yaml"

REMOVE = object()
"""Pass as a value to ``varied`` to take a key out."""

SIGNING_KEY = "k" * 32


def minimal() -> dict[str, Any]:
    """The smallest document of a node that runs a role: an origin with its required keys."""
    return {
        "storage": {"s3": {"bucket": "media"}},
        "cache": {"dir": "/var/cache/castedge", "max_size": "200GB"},
        "origin": {},
    }


def full() -> dict[str, Any]:
    """A document with every section present, signing included."""
    document = minimal()
    document["admin"] = {"token": "admin-token"}
    document["signing"] = {"keys": {"k1": SIGNING_KEY}, "active": "k1"}
    document["edge"] = {"region": "eu-central"}
    document["geo"] = {"database": "/var/lib/GeoIP/GeoLite2-City.mmdb"}
    document["regions"] = [
        {"name": "eu-central", "latitude": 50.1, "longitude": 8.7, "base_url": "https://e.example"}
    ]
    document["locator"] = {}
    for listener in ("origin", "edge", "locator", "admin"):
        document[listener]["tls"] = {"cert": "/etc/castedge/tls/cert.pem", "key": "/k.pem"}
    return document


def varied(changes: dict[str, object], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of ``base`` (the minimal document) with dotted keys set or removed."""
    document = copy.deepcopy(minimal() if base is None else base)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = document
        for part in parents:
            node = node.setdefault(part, {})
        if value is REMOVE:
            del node[last]
        else:
            node[last] = value
    return document


def settings(document: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    """Validate a document as the file castedge.yaml, with an empty environment by default."""
    return settings_from_mapping(document, source=SOURCE, environ=environ or {})
