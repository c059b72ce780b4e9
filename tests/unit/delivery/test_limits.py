"""What a refused request is answered: the status its fault deserves, never an echo of it."""

from __future__ import annotations

import pytest
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    LineTooLong,
)

from delivery.limits import PARSER_LIMITS, REASONS, Refusal, refusal_for

SECRET = "GET /s/secret-token/video.mp4"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        # aiohttp's C parser gives the limit as an int, its Python one as a str.
        (LineTooLong(SECRET, PARSER_LIMITS["max_line_size"]), 414),
        (LineTooLong(SECRET, str(PARSER_LIMITS["max_line_size"]), "70000"), 414),
        (LineTooLong(b"X-Big: " + SECRET.encode(), PARSER_LIMITS["max_field_size"]), 431),
        (LineTooLong(SECRET, str(PARSER_LIMITS["max_field_size"]), "50000"), 431),
        (BadHttpMessage("Too many headers received"), 431),
        (BadStatusLine(SECRET), 400),
        (BadHttpMethod(SECRET), 400),
        (InvalidHeader(SECRET.encode()), 400),
        (BadHttpMessage(f"Duplicate 'Host' header found. {SECRET}"), 400),
    ],
)
def test_a_parser_error_gets_its_status_and_a_fixed_text(
    error: HttpProcessingError, status: int
) -> None:
    refusal = refusal_for(error)
    assert refusal.status == status
    assert refusal.why == REASONS[status]
    assert refusal.text is not None
    assert "secret" not in refusal.text
    # Nothing of it could be read: the connection ends with the answer.
    assert not refusal.parsed
    assert refusal.keep_alive is False


def test_the_two_parser_limits_differ_so_their_errors_can_be_told_apart() -> None:
    assert PARSER_LIMITS["max_line_size"] != PARSER_LIMITS["max_field_size"]


@pytest.mark.parametrize("status", [414, 431])
def test_a_refusal_of_a_request_that_was_read_keeps_the_connection(status: int) -> None:
    refusal = Refusal(status)
    assert refusal.parsed
    assert refusal.keep_alive is None
    assert refusal.content_type == "text/plain"
