"""Per-student revocation: a list of tokens the edges refuse before they expire.

Two kinds of entry:

* **by subject** — every token of subject S issued at or before ``revoked_at`` is void
  (a refund, a shared account). Tokens the web app mints for S afterwards are honoured,
  so the app must also stop minting for S. ``issued_at`` is whole seconds, so a token
  minted in the same second as the revocation is void too.
* **by token** — one token, named by its :func:`fingerprint` (the edge logs fingerprints,
  never whole tokens, so an operator can revoke one leaked URL from the log), and every
  token that names it as its ``parent``: revoking a grant voids the edge URLs the
  locator minted from it. Only the direct parent counts, not the parent's parent.

Every entry carries ``until``, the instant after which every token it covers is
rejected as EXPIRED anyway: ``revoked_at + max_ttl + leeway``. That holds because every
token it covers was issued before the entry was made, and ``Signer.mint`` keeps each
token's expiry within ``max_ttl`` of its issued-at, even one carrying an earlier
issued-at than its minting time. :meth:`pruned` drops entries past it, so the list stays
as short as the set of live tokens it shadows.

The list is a value: building, pruning and JSON (de)serialisation do no I/O; a CLI
writes :meth:`to_json` to a file and each edge loads it with :meth:`from_json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from signer.claims import Claims, subject_problem
from signer.errors import RevocationListError
from signer.fingerprints import FINGERPRINT_LENGTH, fingerprint, is_fingerprint

__all__ = [
    "FINGERPRINT_LENGTH",
    "Revocation",
    "RevocationList",
    "SubjectRevocation",
    "TokenRevocation",
    "fingerprint",
]

_LIST_VERSION = 1


def _check_time(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RevocationListError(f"{name} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class SubjectRevocation:
    """Voids every token of ``subject`` issued at or before ``revoked_at`` (unix seconds)."""

    subject: str
    revoked_at: int
    until: int

    def __post_init__(self) -> None:
        if not isinstance(self.subject, str):
            raise RevocationListError(f"subject must be a string, got {self.subject!r}")
        problem = subject_problem(self.subject)
        if problem is not None:
            raise RevocationListError(f"subject {self.subject!r} {problem}")
        _check_time("revoked_at", self.revoked_at)
        _check_time("until", self.until)
        if self.until < self.revoked_at:
            raise RevocationListError(
                f"until {self.until} is {self.revoked_at - self.until} s before revoked_at"
            )


@dataclass(frozen=True, slots=True)
class TokenRevocation:
    """Voids the token whose :func:`fingerprint` is ``fingerprint``, and its children."""

    fingerprint: str
    until: int

    def __post_init__(self) -> None:
        if not is_fingerprint(self.fingerprint):
            raise RevocationListError(
                f"fingerprint {self.fingerprint!r} is not {FINGERPRINT_LENGTH} lowercase hex"
                " digits (see signer.fingerprint)"
            )
        _check_time("until", self.until)


Revocation = SubjectRevocation | TokenRevocation


def _until(now: float, max_ttl: float, leeway: float) -> int:
    if not all(math.isfinite(x) for x in (now, max_ttl, leeway)) or min(now, max_ttl, leeway) < 0:
        raise RevocationListError(
            f"now {now!r}, max_ttl {max_ttl!r} and leeway {leeway!r} must be finite and >= 0"
        )
    return math.ceil(now + max_ttl + leeway)


class RevocationList:
    """Holds the revocations edges check each token against; immutable, prunes itself.

    Entries for the same subject merge into one with the latest ``revoked_at`` and
    ``until``; entries for the same fingerprint keep the latest ``until``.
    """

    __slots__ = ("_subjects", "_tokens")

    def __init__(self, entries: Iterable[Revocation] = ()) -> None:
        self._subjects: dict[str, SubjectRevocation] = {}
        self._tokens: dict[str, TokenRevocation] = {}
        for entry in entries:
            if isinstance(entry, SubjectRevocation):
                seen = self._subjects.get(entry.subject)
                if seen is not None:
                    entry = SubjectRevocation(
                        entry.subject,
                        max(seen.revoked_at, entry.revoked_at),
                        max(seen.until, entry.until),
                    )
                self._subjects[entry.subject] = entry
            else:
                held = self._tokens.get(entry.fingerprint)
                if held is None or held.until < entry.until:
                    self._tokens[entry.fingerprint] = entry

    @property
    def entries(self) -> tuple[Revocation, ...]:
        """Every entry: subjects by name, then tokens by fingerprint."""
        subjects = [self._subjects[name] for name in sorted(self._subjects)]
        tokens = [self._tokens[fp] for fp in sorted(self._tokens)]
        return (*subjects, *tokens)

    def __iter__(self) -> Iterator[Revocation]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self._subjects) + len(self._tokens)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RevocationList):
            return NotImplemented
        return self._subjects == other._subjects and self._tokens == other._tokens

    def __repr__(self) -> str:
        return f"RevocationList({len(self._subjects)} subjects, {len(self._tokens)} tokens)"

    def match(self, token: str, claims: Claims) -> Revocation | None:
        """The entry that voids ``token`` (whose verified claims are given), or None.

        A token entry matches the token it names, or failing that the token's parent.
        """
        if self._tokens:
            by_token = self._tokens.get(fingerprint(token))
            if by_token is None and claims.parent is not None:
                by_token = self._tokens.get(claims.parent)
            if by_token is not None:
                return by_token
        if claims.subject is not None:
            by_subject = self._subjects.get(claims.subject)
            if by_subject is not None and claims.issued_at <= by_subject.revoked_at:
                return by_subject
        return None

    def pruned(self, now: float) -> RevocationList:
        """A copy without the entries whose tokens have all expired by ``now``.

        An entry is dropped only once ``until < now``; a NaN ``now`` drops nothing.
        """
        return RevocationList(entry for entry in self if not entry.until < now)

    def with_subject(
        self, subject: str, *, now: float, max_ttl: float, leeway: float = 30.0
    ) -> RevocationList:
        """A copy that also voids every token of ``subject`` issued up to ``now``.

        ``max_ttl`` and ``leeway`` must be the largest the signers use, so that ``until``
        lies after every such token's last accepted instant.
        """
        until = _until(now, max_ttl, leeway)
        return RevocationList([*self, SubjectRevocation(subject, math.floor(now), until)])

    def with_token(
        self, token_fingerprint: str, *, now: float, max_ttl: float, leeway: float = 30.0
    ) -> RevocationList:
        """A copy that also voids the token with ``token_fingerprint`` (see fingerprint)."""
        until = _until(now, max_ttl, leeway)
        return RevocationList([*self, TokenRevocation(token_fingerprint, until)])

    def to_json(self) -> str:
        """Serialises the list as the JSON text edges load, sorted, one entry per line."""
        subjects = [
            {"subject": e.subject, "revoked_at": e.revoked_at, "until": e.until}
            for e in self
            if isinstance(e, SubjectRevocation)
        ]
        tokens = [
            {"fingerprint": e.fingerprint, "until": e.until}
            for e in self
            if isinstance(e, TokenRevocation)
        ]
        lines = [f'{{"version": {_LIST_VERSION},', ' "subjects": [']
        lines += _json_rows(subjects)
        lines += ["  ],", ' "tokens": [']
        lines += _json_rows(tokens)
        lines += ["  ]}", ""]
        return "\n".join(lines)

    @classmethod
    def from_json(cls, text: str | bytes) -> RevocationList:
        """Parses what :meth:`to_json` writes; RevocationListError names any bad field."""
        try:
            document = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse)
        except RevocationListError:
            raise
        except ValueError as exc:
            raise RevocationListError(f"revocation list is not valid JSON: {exc}") from None
        top = _object(document, "revocation list", {"version", "subjects", "tokens"})
        version = top["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version != _LIST_VERSION:
            raise RevocationListError(f"revocation list version {version!r} is not {_LIST_VERSION}")
        entries: list[Revocation] = []
        for where, item in _array(top["subjects"], "subjects"):
            fields = _object(item, where, {"subject", "revoked_at", "until"})
            subject, revoked_at, until = fields["subject"], fields["revoked_at"], fields["until"]
            entries.append(_built(where, SubjectRevocation, subject, revoked_at, until))
        for where, item in _array(top["tokens"], "tokens"):
            fields = _object(item, where, {"fingerprint", "until"})
            entries.append(_built(where, TokenRevocation, fields["fingerprint"], fields["until"]))
        return cls(entries)


def _json_rows(rows: list[dict[str, Any]]) -> list[str]:
    encoded = [f"  {json.dumps(row, ensure_ascii=False)}" for row in rows]
    return [line + "," for line in encoded[:-1]] + encoded[-1:]


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RevocationListError(f"revocation list repeats the key {key!r} in one object")
        result[key] = value
    return result


def _refuse(name: str) -> Any:
    raise RevocationListError(f"revocation list holds {name}, which is not a JSON number")


def _object(value: Any, where: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RevocationListError(f"{where}: expected an object, got {type(value).__name__}")
    missing = keys - value.keys()
    extra = value.keys() - keys
    if missing or extra:
        raise RevocationListError(
            f"{where}: expected exactly the keys {sorted(keys)}; "
            f"missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    return value


def _array(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    if not isinstance(value, list):
        raise RevocationListError(f"{where}: expected an array, got {type(value).__name__}")
    for index, item in enumerate(value):
        yield f"{where}[{index}]", item


def _built(where: str, kind: type[Revocation], *fields: Any) -> Revocation:
    try:
        return kind(*fields)
    except RevocationListError as exc:
        raise RevocationListError(f"{where}: {exc}") from None
