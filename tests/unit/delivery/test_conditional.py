"""Conditional requests and If-Range: RFC 9110 sections 13 and 14, decided as values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.byte_range import ByteRange
from delivery.conditional import (
    Decision,
    Serve,
    Validators,
    decide,
    format_http_date,
    parse_http_date,
)

FAST = settings(max_examples=300, deadline=None)

SIZE = 1000
ETAG = '"9bb58f26192e4ba00f01e2e7b136bbd8"'
OTHER = '"0000000000000000000000000000ffff"'
LAST_MODIFIED = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
SAME = "Sun, 06 Nov 1994 08:49:37 GMT"
EARLIER = "Sun, 06 Nov 1994 08:49:36 GMT"
LATER = "Sun, 06 Nov 1994 08:49:38 GMT"
VALIDATORS = Validators(etag=ETAG, last_modified=LAST_MODIFIED)

FULL = Decision(Serve.FULL)
NOT_MODIFIED = Decision(Serve.NOT_MODIFIED)
FAILED = Decision(Serve.PRECONDITION_FAILED)
UNSATISFIABLE = Decision(Serve.UNSATISFIABLE)
FIRST_100 = Decision(Serve.PARTIAL, ByteRange(0, 99))


def _decide(method: str = "GET", **headers: Any) -> Decision:
    return decide(method, size=SIZE, validators=VALIDATORS, **headers)


# Each row: what the client sends, and what it must get.
# https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
PRECEDENCE = [
    pytest.param("GET", {}, FULL, id="no conditions"),
    # Step 1: If-Match, strong comparison.
    pytest.param("GET", {"if_match": ETAG}, FULL, id="if-match same tag"),
    pytest.param("GET", {"if_match": "*"}, FULL, id="if-match star"),
    pytest.param("GET", {"if_match": f" {OTHER} , {ETAG} "}, FULL, id="if-match in list"),
    pytest.param("GET", {"if_match": OTHER}, FAILED, id="if-match other tag"),
    pytest.param("GET", {"if_match": f"W/{ETAG}"}, FAILED, id="if-match weak never matches"),
    pytest.param("GET", {"if_match": ETAG.strip('"')}, FAILED, id="if-match unquoted"),
    pytest.param("GET", {"if_match": "garbage"}, FAILED, id="if-match garbage fails"),
    pytest.param("GET", {"if_match": ""}, FAILED, id="if-match empty list"),
    pytest.param("HEAD", {"if_match": OTHER}, FAILED, id="if-match other tag head"),
    pytest.param(
        "GET", {"if_match": OTHER, "if_none_match": ETAG}, FAILED, id="if-match before inm"
    ),
    # Step 2: If-Unmodified-Since, only without If-Match.
    pytest.param("GET", {"if_unmodified_since": EARLIER}, FAILED, id="ius modified since"),
    pytest.param("GET", {"if_unmodified_since": SAME}, FULL, id="ius same second"),
    pytest.param("GET", {"if_unmodified_since": LATER}, FULL, id="ius later"),
    pytest.param("GET", {"if_unmodified_since": "yesterday"}, FULL, id="ius invalid ignored"),
    pytest.param(
        "GET",
        {"if_match": ETAG, "if_unmodified_since": EARLIER},
        FULL,
        id="ius ignored with if-match",
    ),
    pytest.param(
        "GET",
        {"if_unmodified_since": EARLIER, "if_none_match": ETAG},
        FAILED,
        id="ius before inm",
    ),
    # Step 3: If-None-Match, weak comparison; 304 for GET/HEAD, 412 otherwise.
    pytest.param("GET", {"if_none_match": ETAG}, NOT_MODIFIED, id="inm same tag"),
    pytest.param("HEAD", {"if_none_match": ETAG}, NOT_MODIFIED, id="inm same tag head"),
    pytest.param("GET", {"if_none_match": f"W/{ETAG}"}, NOT_MODIFIED, id="inm weak matches"),
    pytest.param("GET", {"if_none_match": "*"}, NOT_MODIFIED, id="inm star"),
    pytest.param("GET", {"if_none_match": f'"a", W/"b",{ETAG}'}, NOT_MODIFIED, id="inm in list"),
    pytest.param("GET", {"if_none_match": OTHER}, FULL, id="inm other tag"),
    pytest.param("GET", {"if_none_match": "garbage"}, FULL, id="inm garbage no match"),
    pytest.param("GET", {"if_none_match": f"{ETAG} junk"}, FULL, id="inm trailing garbage"),
    pytest.param("GET", {"if_none_match": f"{ETAG}{ETAG}"}, FULL, id="inm missing comma"),
    pytest.param("GET", {"if_none_match": '"9bb5'}, FULL, id="inm unterminated"),
    pytest.param("GET", {"if_none_match": ""}, FULL, id="inm empty"),
    pytest.param("POST", {"if_none_match": ETAG}, FAILED, id="inm post"),
    pytest.param("PUT", {"if_none_match": "*"}, FAILED, id="inm put star"),
    pytest.param("DELETE", {"if_none_match": ETAG}, FAILED, id="inm delete"),
    pytest.param(
        "GET",
        {"if_none_match": ETAG, "range": "bytes=0-99"},
        NOT_MODIFIED,
        id="inm before range",
    ),
    # Step 4: If-Modified-Since, only without If-None-Match and only for GET/HEAD.
    pytest.param("GET", {"if_modified_since": SAME}, NOT_MODIFIED, id="ims same second"),
    pytest.param("GET", {"if_modified_since": LATER}, NOT_MODIFIED, id="ims later"),
    pytest.param("HEAD", {"if_modified_since": LATER}, NOT_MODIFIED, id="ims later head"),
    pytest.param("GET", {"if_modified_since": EARLIER}, FULL, id="ims modified since"),
    pytest.param("GET", {"if_modified_since": "not a date"}, FULL, id="ims invalid ignored"),
    pytest.param("GET", {"if_modified_since": f"{SAME}, {SAME}"}, FULL, id="ims two dates"),
    pytest.param("POST", {"if_modified_since": LATER}, FULL, id="ims ignored for post"),
    pytest.param(
        "GET",
        {"if_none_match": OTHER, "if_modified_since": LATER},
        FULL,
        id="ims ignored with inm",
    ),
    pytest.param(
        "GET",
        {"if_modified_since": LATER, "range": "bytes=0-99"},
        NOT_MODIFIED,
        id="ims before range",
    ),
    # Step 5: Range, GET only.
    pytest.param("GET", {"range": "bytes=0-99"}, FIRST_100, id="range"),
    pytest.param("HEAD", {"range": "bytes=0-99"}, FULL, id="head ignores range"),
    pytest.param("POST", {"range": "bytes=0-99"}, FULL, id="post ignores range"),
    pytest.param("GET", {"range": "bytes=0-99x"}, FULL, id="malformed range"),
    pytest.param("GET", {"range": "pages=1-2"}, FULL, id="unknown unit"),
    pytest.param("GET", {"range": "bytes=1000-"}, UNSATISFIABLE, id="unsatisfiable range"),
    pytest.param("GET", {"range": "bytes=0-9,500-509"}, FULL, id="disjoint ranges"),
    pytest.param(
        "GET",
        {"range": "bytes=0-99", "if_match": ETAG, "if_modified_since": EARLIER},
        FIRST_100,
        id="range after passing preconditions",
    ),
    # If-Range: the range applies only to the very representation the client holds.
    # https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5
    pytest.param("GET", {"range": "bytes=0-99", "if_range": ETAG}, FIRST_100, id="if-range tag"),
    pytest.param(
        "GET", {"range": "bytes=0-99", "if_range": f" {ETAG} "}, FIRST_100, id="if-range ows"
    ),
    pytest.param("GET", {"range": "bytes=0-99", "if_range": SAME}, FIRST_100, id="if-range date"),
    pytest.param(
        "GET", {"range": "bytes=0-99", "if_range": '"stale"'}, FULL, id="if-range stale tag"
    ),
    pytest.param(
        "GET", {"range": "bytes=0-99", "if_range": f"W/{ETAG}"}, FULL, id="if-range weak tag"
    ),
    pytest.param(
        "GET", {"range": "bytes=0-99", "if_range": f"{ETAG}, {ETAG}"}, FULL, id="if-range list"
    ),
    pytest.param("GET", {"range": "bytes=0-99", "if_range": LATER}, FULL, id="if-range later"),
    pytest.param("GET", {"range": "bytes=0-99", "if_range": EARLIER}, FULL, id="if-range earlier"),
    pytest.param(
        "GET", {"range": "bytes=0-99", "if_range": "garbage"}, FULL, id="if-range garbage"
    ),
    pytest.param("GET", {"range": "bytes=0-99", "if_range": ""}, FULL, id="if-range empty"),
    pytest.param(
        "GET",
        {"range": "bytes=1000-", "if_range": '"stale"'},
        FULL,
        id="if-range fails before the range is judged",
    ),
    pytest.param(
        "GET", {"range": "bytes=1000-", "if_range": ETAG}, UNSATISFIABLE, id="if-range 416"
    ),
    pytest.param("GET", {"if_range": '"stale"'}, FULL, id="if-range without range"),
]


@pytest.mark.parametrize(("method", "headers", "expected"), PRECEDENCE)
def test_precedence(method: str, headers: dict[str, str], expected: Decision) -> None:
    assert _decide(method, **headers) == expected


def test_entity_tags_may_contain_commas() -> None:
    # A naive split on "," would cut '"a,b"' into '"a' and 'b"'.
    validators = Validators(etag='"a,b"', last_modified=LAST_MODIFIED)
    assert decide("GET", size=SIZE, validators=validators, if_none_match='"a,b"') == NOT_MODIFIED
    assert (
        decide("GET", size=SIZE, validators=validators, if_none_match='"x", "a,b"') == NOT_MODIFIED
    )
    assert decide("GET", size=SIZE, validators=validators, if_match='"x" , "a,b"') == FULL
    assert decide("GET", size=SIZE, validators=validators, if_none_match='"a", "b"') == FULL


def test_unsatisfiable_and_partial_carry_what_the_handler_needs() -> None:
    decision = _decide(range="bytes=-10")
    assert decision.serve is Serve.PARTIAL
    assert decision.byte_range is not None
    assert decision.byte_range.content_range(SIZE) == "bytes 990-999/1000"
    assert _decide(range="bytes=-0").byte_range is None


def test_serve_values_are_status_codes() -> None:
    assert [s.status for s in Serve] == [200, 206, 304, 412, 416]


@pytest.mark.parametrize("etag", ['W/"abc"', "abc", '"a b"', '"abc', "", '"a"b"'])
def test_validators_require_a_strong_entity_tag(etag: str) -> None:
    with pytest.raises(ValueError):
        Validators(etag=etag, last_modified=0)


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850 format
        "Sun Nov  6 08:49:37 1994",  # ANSI C's asctime() format
        "Sun Nov 06 08:49:37 1994",
        " Sun, 06 Nov 1994 08:49:37 GMT\t",
    ],
)
def test_parse_http_date_reads_all_three_formats(text: str) -> None:
    assert parse_http_date(text) == LAST_MODIFIED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
        ("Thursday, 01-Jan-70 00:00:00 GMT", 0),
        ("Tuesday, 01-Jan-69 00:00:00 GMT", 3124224000),  # 2069, not 1969
        ("Wed, 29 Feb 2012 12:00:00 GMT", 1330516800),
        ("Wed, 31 Dec 2014 23:59:60 GMT", 1420070400),  # leap second
        ("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799),
        ("Mon, 01 Jan 0001 00:00:00 GMT", -62135596800),
    ],
)
def test_parse_http_date_values(text: str, expected: int) -> None:
    assert parse_http_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "now",
        "784111777",
        "Sun, 06 Nov 1994 08:49:37",  # no zone
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun,  06 Nov 1994 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 0000 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT junk",
        "Sun, ٠٦ Nov 1994 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",  # rfc850 needs the long day name
        "Sunday, 06 Nov 1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun, 06 Nov 1994 08:49:37 GMT\r\n",
    ],
)
def test_parse_http_date_rejects_anything_else(text: str) -> None:
    assert parse_http_date(text) is None


def test_format_http_date_is_an_imf_fixdate() -> None:
    assert format_http_date(LAST_MODIFIED) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert format_http_date(1330516800) == "Wed, 29 Feb 2012 12:00:00 GMT"


@FAST
@given(st.integers(-62135596800, 253402300799))
def test_format_then_parse_round_trips(ts: int) -> None:
    assert parse_http_date(format_http_date(ts)) == ts


_tag = st.from_regex(r'(W/)?"[!#-~]{0,8}"', fullmatch=True)
_header = st.one_of(
    st.none(),
    st.text(max_size=40),
    _tag,
    st.lists(_tag, max_size=4).map(", ".join),
    st.just(ETAG),
    st.just("*"),
    st.integers(-(10**11), 10**11).map(lambda ts: format_http_date(abs(ts) % 253402300800)),
    st.from_regex(r"bytes=[0-9, -]{0,20}", fullmatch=True),
)


@FAST
@given(
    method=st.one_of(st.sampled_from(["GET", "HEAD", "POST", "PUT"]), st.text(max_size=8)),
    size=st.integers(0, 10**12),
    last_modified=st.integers(0, 2**40),
    range_=_header,
    if_range=_header,
    if_match=_header,
    if_none_match=_header,
    if_modified_since=_header,
    if_unmodified_since=_header,
)
def test_decide_never_raises_and_only_partial_carries_a_range(
    method: str,
    size: int,
    last_modified: int,
    range_: str | None,
    if_range: str | None,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
) -> None:
    decision = decide(
        method,
        size=size,
        validators=Validators(etag=ETAG, last_modified=last_modified),
        range=range_,
        if_range=if_range,
        if_match=if_match,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
        if_unmodified_since=if_unmodified_since,
    )
    if decision.serve is Serve.PARTIAL:
        assert method == "GET"
        assert decision.byte_range is not None
        assert 0 <= decision.byte_range.start <= decision.byte_range.end < size
    else:
        assert decision.byte_range is None
