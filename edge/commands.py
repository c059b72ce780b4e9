"""What ``castedge sign`` and ``castedge revoke`` do, apart from parsing their arguments.

``signed_url`` mints a URL the way the web app does (``Signer.url``), on the base URL of
this node's edge or one given. ``revoke`` adds an entry to the revocation file the edges
watch, and drops the entries whose tokens have all expired.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from config import ConfigError, Settings
from geo.grant import MANIFEST_SUFFIXES, proxy_scope
from signer import Purpose, RevocationList, RevocationListError, Signer, fingerprint
from signer.revocation import FINGERPRINT_LENGTH

from .access import split_signed
from .errors import CommandError
from .revocations import RevocationFile

__all__ = ["Revoked", "grant", "playlist_scope", "revoke", "signed_url", "token_fingerprint"]

_FINGERPRINT = re.compile(rf"(?:fp:)?([0-9a-f]{{{FINGERPRINT_LENGTH}}})")
#: Used when the settings have no signing section: the signer's own defaults.
_DEFAULT_MAX_TTL = 86400.0
_DEFAULT_LEEWAY = 30.0


def _signer(settings: Settings, command: str, purpose: Purpose = Purpose.URL_TOKEN) -> Signer:
    if settings.signing is None:
        raise ConfigError(
            settings.source, "signing", f"missing; castedge {command} needs the signing keys"
        )
    return Signer.from_settings(settings, purpose=purpose)


def base_url(settings: Settings, *, region: str | None = None, base: str | None = None) -> str:
    """The edge base URL to sign for.

    ``base`` if given; else, for ``region``, that region's ``base_url`` in the locator's
    region catalogue (``regions``) or this node's own edge (``edge.region`` with
    ``edge.public_url``); else this node's ``edge.public_url``.
    """
    if base is not None:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise CommandError(f"--base {base!r} is not an http(s) base URL")
        return base.rstrip("/")
    edge = settings.edge
    if region is not None:
        # The catalogue is read by name, so this works on a file written for any role.
        catalogue = getattr(settings, "regions", None) or ()
        for entry in catalogue:
            if entry.name == region:
                return str(entry.base_url).rstrip("/")
        if edge is not None and edge.region == region and edge.public_url is not None:
            return edge.public_url
        known = [entry.name for entry in catalogue]
        if edge is not None and edge.public_url is not None and edge.region not in known:
            known.append(edge.region)
        raise CommandError(
            f"region {region!r} has no base URL in {settings.source} "
            f"(known: {', '.join(known) or 'none'}); give --base URL"
        )
    if edge is None or edge.public_url is None:
        raise ConfigError(
            settings.source,
            "edge.public_url",
            "missing; castedge sign needs it, --region NAME or --base URL",
        )
    return edge.public_url


def signed_url(
    settings: Settings,
    path: str,
    *,
    now: float,
    ttl: float | None = None,
    scope: str | None = None,
    ip: str | None = None,
    subject: str | None = None,
    region: str | None = None,
    base: str | None = None,
) -> str:
    """A ready URL for ``path`` (decoded, as files are named); raises ClaimError if unfit.

    A playlist's token grants its folder unless ``scope`` names a folder (see
    ``playlist_scope``).
    """
    signer = _signer(settings, "sign")
    path = path.lstrip("/")
    return signer.url(
        path,
        now=now,
        base=base_url(settings, region=region, base=base),
        ttl=ttl,
        scope=playlist_scope(path, scope, "--scope"),
        ip=ip,
        subject=subject,
    )


def playlist_scope(path: str, scope: str | None, given_as: str) -> str | None:
    """The scope a token for ``path`` needs: for a playlist, a folder, as the locator grants.

    A playlist names its segments and variant playlists by relative URLs, so a token for
    the file alone would play nothing; its folder is granted instead (what the locator
    does for a proxy-vouched playlist). A scope of one file for a playlist, or a
    playlist at the top of the bucket (whose folder is the whole site, which no token
    may grant), is refused with the reason. Any other path keeps ``scope``.
    """
    if not path.endswith(MANIFEST_SUFFIXES):
        return scope
    folder = proxy_scope(path)
    if folder == path:
        raise CommandError(
            f"{path} is a playlist at the top of the bucket: a token for its segments "
            "would have to grant the whole site, which no token may; put it in a folder"
        )
    if scope is None:
        return folder
    if not scope.endswith("/"):
        raise CommandError(
            f"{given_as} {scope} is one file, but {path} is a playlist: its segments and "
            f"variant playlists would be refused; grant a folder, such as {folder} "
            f"(what leaving {given_as} out gives)"
        )
    return scope


def grant(
    settings: Settings,
    path: str,
    *,
    now: float,
    subject: str,
    ttl: float,
    ip: str | None = None,
) -> str:
    """A grant for ``path`` (a folder ending in "/" or one file), as the web app mints it.

    Purpose ``castedge.grant``, signed with ``signing.active``; a playlist gets its
    folder. Raises ClaimError for a value no token may carry.
    """
    grants = _signer(settings, "grant", Purpose.GRANT)
    scope = path.lstrip("/")
    scope = playlist_scope(scope, None, "PATH") or scope
    return grants.mint(scope, now=now, ttl=ttl, ip=ip, subject=subject)


def token_fingerprint(text: str) -> str:
    """The fingerprint of a token given as itself, as a signed URL, or as its fingerprint.

    The access log shows ``/s/fp:<fingerprint>/…``; that form is accepted too.
    """
    text = text.strip()
    found = _FINGERPRINT.fullmatch(text)
    if found is not None:
        return found[1]
    if "://" in text or text.startswith("/s/"):
        signed = split_signed(urlsplit(text).path)
        if signed is None or not signed[0]:
            raise CommandError(f"{text!r} is not a signed URL (…/s/<token>/<path>)")
        text = signed[0]
    if not text or "/" in text:
        raise CommandError(f"{text!r} is not a token, a signed URL or a fingerprint")
    return fingerprint(text)


@dataclass(frozen=True)
class Revoked:
    """What ``revoke`` did: the entry's description, when it lapses, and the new list."""

    what: str
    until: int
    revoked: RevocationList
    file: RevocationFile
    #: Where the fleet's copy went (``s3://bucket/_castedge/revocations.json``), if anywhere.
    fleet: str | None = None


def revoke(
    settings: Settings, *, now: float, subject: str | None = None, token: str | None = None
) -> Revoked:
    """Adds a subject or a token to the revocation file ``signing.revocation_file``."""
    if (subject is None) == (token is None):
        raise CommandError("give exactly one of --subject or --token")
    path = settings.signing.revocation_file if settings.signing is not None else None
    if path is None:
        raise ConfigError(
            settings.source,
            "signing.revocation_file",
            "missing; castedge revoke writes the list the edges and the locator read there",
        )
    if settings.signing is not None:
        signer = Signer.from_settings(settings)
        max_ttl, leeway = signer.max_ttl, signer.leeway
    else:
        max_ttl, leeway = _DEFAULT_MAX_TTL, _DEFAULT_LEEWAY
    file = RevocationFile(path)
    if subject is not None:
        named = subject
        what = f"subject {subject!r} (tokens issued up to {_when(now)})"

        def change(current: RevocationList) -> RevocationList:
            return current.with_subject(named, now=now, max_ttl=max_ttl, leeway=leeway)

    else:
        named = token_fingerprint(token or "")
        what = f"token {named}"

        def change(current: RevocationList) -> RevocationList:
            return current.with_token(named, now=now, max_ttl=max_ttl, leeway=leeway)

    try:
        updated = file.update(change, now=now)
    except RevocationListError as exc:  # a subject no token can carry
        raise CommandError(str(exc)) from None
    # As RevocationList computes it: after this every covered token is expired anyway.
    until = math.ceil(now + max_ttl + leeway)
    fleet = _share_with_fleet(settings, updated, now)
    return Revoked(what, until, updated, file, fleet)


def _share_with_fleet(settings: Settings, local: RevocationList, now: float) -> str | None:
    """Merge the list into the main bucket's copy, which the sync daemon carries everywhere."""
    s3 = settings.storage.s3 if settings.storage is not None else None
    if s3 is None:
        return None
    from sync.bucket import REVOCATIONS_KEY, Bucket
    from sync.errors import ListingFailed

    bucket = Bucket(s3)
    try:
        found = bucket.revocations()
        shared = RevocationList.from_json(found[1]) if found is not None else RevocationList()
        merged = RevocationList([*shared, *local]).pruned(now)
        bucket.put_revocations(merged.to_json().encode())
    except (ListingFailed, RevocationListError) as exc:
        raise CommandError(
            f"revoked on this node, but not for the fleet: {exc}; run the command again"
        ) from None
    return f"s3://{s3.bucket}/{REVOCATIONS_KEY}"


def _when(unix: float) -> str:
    return datetime.datetime.fromtimestamp(unix, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
