"""Deciding how to answer a GET or HEAD from its preconditions and its Range.

``decide`` weighs If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since,
If-Range and Range against the object's validators and returns a ``Decision``; a
separate step in the handler turns that value into status, headers and body.  Nothing
here reads the clock or touches a socket.
https://www.rfc-editor.org/rfc/rfc9110#section-13
"""

from __future__ import annotations

import calendar
import enum
import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from .byte_range import ByteRange, parse_range
from .errors import MalformedRange, RangeNotSatisfiable

__all__ = [
    "Decision",
    "Serve",
    "Validators",
    "decide",
    "format_http_date",
    "parse_http_date",
]


class Serve(enum.Enum):
    """What to send back; the value is the status code."""

    FULL = 200  # the whole representation (or just its headers, for HEAD)
    PARTIAL = 206  # Decision.byte_range of it, with Content-Range
    NOT_MODIFIED = 304  # the client's copy is current
    PRECONDITION_FAILED = 412  # If-Match / If-Unmodified-Since / If-None-Match failed
    UNSATISFIABLE = 416  # with "Content-Range: bytes */size"

    @property
    def status(self) -> int:
        """The HTTP status code of the response."""
        return self.value


@dataclass(frozen=True, slots=True)
class Validators:
    """The validators of the stored representation that preconditions are checked against.

    ``etag`` is a strong entity-tag with its quotes, as S3 returns it
    (``'"9bb58f26192e4ba00f01e2e7b136bbd8"'``); ``last_modified`` is in unix seconds.
    """

    etag: str
    last_modified: int

    def __post_init__(self) -> None:
        tag = _parse_entity_tag(self.etag)
        if tag is None or tag.weak:
            raise ValueError(f"ETag {self.etag!r} is not a strong entity-tag")


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of ``decide``: what to serve, and for PARTIAL which bytes."""

    serve: Serve
    byte_range: ByteRange | None = None


_FULL = Decision(Serve.FULL)
_NOT_MODIFIED = Decision(Serve.NOT_MODIFIED)
_PRECONDITION_FAILED = Decision(Serve.PRECONDITION_FAILED)
_UNSATISFIABLE = Decision(Serve.UNSATISFIABLE)

# Methods whose failed If-None-Match is a 304 rather than a 412, and the only ones
# If-Modified-Since applies to.
# https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2
_SAFE_READS = frozenset({"GET", "HEAD"})


def decide(
    method: str,
    *,
    size: int,
    validators: Validators,
    range: str | None = None,
    if_range: str | None = None,
    if_match: str | None = None,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
    if_unmodified_since: str | None = None,
) -> Decision:
    """Work out how to answer a request for a representation of ``size`` bytes.

    Header arguments are the raw field values, None when the field is absent.  The
    preconditions are evaluated in the order the RFC fixes; a field that does not
    parse never raises.
    """
    # https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
    # Step 1: If-Match, strong comparison.
    if if_match is not None:
        if not _if_match_holds(if_match, validators.etag):
            return _PRECONDITION_FAILED
    # Step 2: If-Unmodified-Since, only without If-Match; an invalid date is ignored.
    # https://www.rfc-editor.org/rfc/rfc9110#section-13.1.4
    elif if_unmodified_since is not None:
        date = parse_http_date(if_unmodified_since)
        if date is not None and validators.last_modified > date:
            return _PRECONDITION_FAILED

    # Step 3: If-None-Match, weak comparison.
    # https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2
    if if_none_match is not None:
        if _if_none_match_matches(if_none_match, validators.etag):
            return _NOT_MODIFIED if method in _SAFE_READS else _PRECONDITION_FAILED
    # Step 4: If-Modified-Since, only without If-None-Match and only for GET/HEAD.
    # https://www.rfc-editor.org/rfc/rfc9110#section-13.1.3
    elif if_modified_since is not None and method in _SAFE_READS:
        date = parse_http_date(if_modified_since)
        if date is not None and validators.last_modified <= date:
            return _NOT_MODIFIED

    # Step 5: Range, for GET only; HEAD and every other method ignore it.
    # https://www.rfc-editor.org/rfc/rfc9110#section-14.2
    if method != "GET" or range is None:
        return _FULL
    # https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5
    if if_range is not None and not _if_range_holds(if_range, validators):
        return _FULL
    try:
        byte_range = parse_range(range, size)
    except MalformedRange:
        return _FULL
    except RangeNotSatisfiable:
        return _UNSATISFIABLE
    if byte_range is None:
        return _FULL
    return Decision(Serve.PARTIAL, byte_range)


class _EntityTag(NamedTuple):
    weak: bool
    opaque: str  # with its quotes


# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text, so a
# tag holds no space, control or quote but may hold a comma.
# https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
_ENTITY_TAG = re.compile(r'(W/)?("[^\x00-\x20"\x7f]*")')
# OWS, commas and the empty list elements between them.
# https://www.rfc-editor.org/rfc/rfc9110#section-5.6.1.2
_LIST_GAP = re.compile(r"[ \t]*(?:,[ \t]*)*")
_OWS = " \t"


def _parse_entity_tag(text: str) -> _EntityTag | None:
    match = _ENTITY_TAG.fullmatch(text.strip(_OWS))
    if match is None:
        return None
    return _EntityTag(weak=match[1] is not None, opaque=match[2])


def _parse_entity_tags(value: str) -> list[_EntityTag] | None:
    """Parse a #entity-tag list field value; None if any of it does not parse."""
    tags: list[_EntityTag] = []
    pos = _skip_gap(value, 0)
    while pos < len(value):
        match = _ENTITY_TAG.match(value, pos)
        if match is None:
            return None
        tags.append(_EntityTag(weak=match[1] is not None, opaque=match[2]))
        gap_end = _skip_gap(value, match.end())
        if gap_end < len(value) and "," not in value[match.end() : gap_end]:
            return None  # two tags with no comma between them
        pos = gap_end
    return tags


def _skip_gap(value: str, pos: int) -> int:
    gap = _LIST_GAP.match(value, pos)
    return pos if gap is None else gap.end()


def _if_match_holds(value: str, etag: str) -> bool:
    # "*" holds because the object exists; otherwise some listed tag must match
    # strongly.  A field that does not parse lists no tag, so it fails: If-Match
    # guards against acting on a changed object, and garbage must not pass as a match.
    # https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1
    if value.strip(_OWS) == "*":
        return True
    current = _parse_entity_tag(etag)
    tags = _parse_entity_tags(value)
    if current is None or tags is None:
        return False
    return any(_strong_match(tag, current) for tag in tags)


def _if_none_match_matches(value: str, etag: str) -> bool:
    # A field that does not parse is taken as matching nothing: the client then gets
    # the object itself, which is never wrong.
    # https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2
    if value.strip(_OWS) == "*":
        return True
    current = _parse_entity_tag(etag)
    tags = _parse_entity_tags(value)
    if current is None or tags is None:
        return False
    return any(tag.opaque == current.opaque for tag in tags)


def _if_range_holds(value: str, validators: Validators) -> bool:
    # If-Range = entity-tag / HTTP-date.  A tag must match strongly, so a weak tag
    # never holds; a date must equal Last-Modified exactly.  Anything else, garbage
    # included, means "send me the whole thing": a stale partial must never be
    # spliced onto the client's copy.
    # https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5
    text = value.strip(_OWS)
    if text.startswith(('"', "W/")):
        tag = _parse_entity_tag(text)
        current = _parse_entity_tag(validators.etag)
        return tag is not None and current is not None and _strong_match(tag, current)
    return parse_http_date(text) == validators.last_modified


def _strong_match(a: _EntityTag, b: _EntityTag) -> bool:
    # https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2
    return not a.weak and not b.weak and a.opaque == b.opaque


# HTTP-date: senders use IMF-fixdate; recipients also accept the obsolete rfc850-date
# and asctime-date forms.  Names and "GMT" are case-sensitive.
# https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_NAMES_LONG = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY = "|".join(_DAY_NAMES)
_DAY_LONG = "|".join(_DAY_NAMES_LONG)
_MONTH = "(?P<month>" + "|".join(_MONTHS) + ")"
_TIME = "(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
_IMF_FIXDATE = re.compile(
    rf"(?:{_DAY}), (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_TIME} GMT"
)
_RFC850_DATE = re.compile(
    rf"(?:{_DAY_LONG}), (?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) {_TIME} GMT"
)
_ASCTIME_DATE = re.compile(
    rf"(?:{_DAY}) {_MONTH} (?P<day>[0-9]{{2}}| [0-9]) {_TIME} (?P<year>[0-9]{{4}})"
)
# Two-digit rfc850 years: the RFC asks for "the most recent year in the past that had
# the same last two digits" when a date looks more than 50 years ahead, which needs
# the clock.  A fixed pivot gives the same answer for every date of this century's
# files: 70-99 are 19xx (the epoch onwards), 00-69 are 20xx.
_RFC850_PIVOT = 70

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=4096)
def format_http_date(ts: int) -> str:
    """Format unix seconds as an IMF-fixdate, e.g. ``Sun, 06 Nov 1994 08:49:37 GMT``.

    Cached: every hit of an object sends the same Last-Modified.
    """
    # Built by hand: strftime("%a") follows the locale.
    moment = _EPOCH + timedelta(seconds=ts)
    return (
        f"{_DAY_NAMES[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
        f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT"
    )


def parse_http_date(text: str) -> int | None:
    """Parse an HTTP-date (IMF-fixdate, rfc850-date or asctime-date) into unix seconds.

    Returns None for anything that is not a valid date, including impossible ones
    such as 31 Feb; the day name is not checked against the date.
    """
    text = text.strip(_OWS)
    match = (
        _IMF_FIXDATE.fullmatch(text)
        or _RFC850_DATE.fullmatch(text)
        or _ASCTIME_DATE.fullmatch(text)
    )
    if match is None:
        return None
    year = int(match["year"])
    if len(match["year"]) == 2:
        year += 1900 if year >= _RFC850_PIVOT else 2000
    month = _MONTHS.index(match["month"]) + 1
    day = int(match["day"])
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    if year < 1 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    # second = 2DIGIT allows 60 for a leap second.
    # https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
    if hour > 23 or minute > 59 or second > 60:
        return None
    return calendar.timegm((year, month, day, hour, minute, second))
