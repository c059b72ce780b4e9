"""Grants never reach a log line: their fingerprints do."""

from __future__ import annotations

import logging
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from delivery.accesslog import CombinedLogFormat
from locator.logs import GrantRedactor, LocatorLogFormat, redact_grants
from signer import Purpose, Signer, fingerprint

GRANT = Signer({"k1": "grant-test-secret-0123456789abcdef"}, "k1", purpose=Purpose.GRANT).mint(
    "courses/", now=1_767_225_600
)


def test_a_grant_in_the_query_becomes_its_fingerprint() -> None:
    target = f"/v/courses/a.mp4?x=1&grant={GRANT}&y=2"
    assert redact_grants(target) == f"/v/courses/a.mp4?x=1&grant=fp:{fingerprint(GRANT)}&y=2"
    assert redact_grants(f"/v/a.mp4?grant={GRANT}") == f"/v/a.mp4?grant=fp:{fingerprint(GRANT)}"


def test_anything_else_is_left_alone() -> None:
    for text in ("/v/a.mp4", "/v/a.mp4?grant=", "/v/a.mp4?nograntx=1", "/v/grant=x/a.mp4"):
        assert redact_grants(text) == text


def test_a_token_anywhere_in_a_message_is_redacted() -> None:
    record = logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        __file__,
        1,
        "bad request line %r",
        (f"GET /x/{GRANT}",),
        None,
    )
    assert GrantRedactor().filter(record)
    assert GRANT not in record.getMessage()
    assert fingerprint(GRANT) in record.getMessage()


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"User-Agent": "AppleCoreMedia/1.0.0 (iPhone; U; CPU OS 17_1)", "Referer": "https://x/"},
        {"User-Agent": 'quote " and backslash \\ in it'},
        {"User-Agent": "tab\tand \x7f and é and \u2028"},
    ],
)
@pytest.mark.parametrize("target", ["/v/courses/a.mp4", "/v/caf%C3%A9?x=%22", "/healthz"])
def test_lines_are_the_combined_format_the_origin_writes(
    headers: dict[str, str], target: str
) -> None:
    logger = logging.getLogger("test.locator.access")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    sink = Lines()
    logger.addHandler(sink)
    request = make_mocked_request("GET", target, headers=headers)
    response = web.Response(status=302, headers={"Location": "https://e/s/t/a"})
    try:
        for format_class in (CombinedLogFormat, LocatorLogFormat):
            format_class(logger, "").log(request, response, 0.001)
    finally:
        logger.removeHandler(sink)
    ours, theirs = (re.sub(r"\[[^]]+\]", "[stamp]", line, count=1) for line in sink.lines)
    assert ours == theirs
