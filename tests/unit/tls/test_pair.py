"""A certificate and key checked as one pair, and the warning a certificate near its end gets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.support.certs import Authority, Leaf
from tls import PairMismatch, PairUnreadable, TlsError
from tls.pair import EXPIRY_WARNING_DAYS, Pair, expiry_note

CERT = Path("/etc/castedge/tls/fullchain.pem")
KEY = Path("/etc/castedge/tls/privkey.pem")
NOT_BEFORE = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2026, 4, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority.create()


@pytest.fixture(scope="module")
def leaf(ca: Authority) -> Leaf:
    return ca.issue(serial=0xC0FFEE, not_before=NOT_BEFORE, not_after=NOT_AFTER)


def parse(cert_pem: bytes, key_pem: bytes) -> Pair:
    return Pair.parse(cert_pem, key_pem, CERT, KEY)


def test_a_good_pair_says_which_certificate_it_is(leaf: Leaf) -> None:
    pair = parse(leaf.cert_pem, leaf.key_pem)
    assert (pair.serial, pair.subject) == (0xC0FFEE, "CN=localhost")
    assert (pair.not_before, pair.not_after) == (NOT_BEFORE, NOT_AFTER)
    assert (pair.cert_pem, pair.key_pem) == (leaf.cert_pem, leaf.key_pem)
    assert pair.describe() == "serial c0ffee (CN=localhost), valid until 2026-04-01 12:00 UTC"


def test_a_chain_is_read_from_the_server_certificate_first(ca: Authority, leaf: Leaf) -> None:
    chain = leaf.cert_pem + ca.issue(serial=7).cert_pem
    assert parse(chain, leaf.key_pem).serial == 0xC0FFEE


@pytest.mark.parametrize(
    "cert_pem",
    [
        b"",
        b"not a certificate\n",
        b"-----BEGIN CERTIFICATE-----\nbm90IGRlcg==\n-----END CERTIFICATE-----\n",
    ],
    ids=["empty", "text", "garbage in armour"],
)
def test_a_certificate_that_is_not_pem_is_refused_naming_the_file(
    leaf: Leaf, cert_pem: bytes
) -> None:
    with pytest.raises(PairUnreadable) as raised:
        parse(cert_pem, leaf.key_pem)
    assert (raised.value.path, raised.value.field) == (CERT, "cert")
    assert str(raised.value) == (
        f"certificate {CERT} holds no PEM certificate "
        "(expected '-----BEGIN CERTIFICATE-----', the server's certificate first)"
    )


def test_a_key_file_holding_the_certificate_is_refused_naming_the_key(leaf: Leaf) -> None:
    with pytest.raises(PairUnreadable) as raised:
        parse(leaf.cert_pem, leaf.cert_pem)
    assert (raised.value.path, raised.value.field) == (KEY, "key")
    assert str(raised.value).startswith(f"key {KEY} holds no PEM private key (")


def test_a_key_that_is_not_the_certificates_is_a_mismatch(leaf: Leaf) -> None:
    other = leaf.mismatched()
    with pytest.raises(PairMismatch) as raised:
        parse(other.cert_pem, other.key_pem)
    assert isinstance(raised.value, TlsError)
    assert (raised.value.path, raised.value.field) == (KEY, "key")
    assert str(raised.value) == (
        f"key {KEY} does not belong to the certificate in {CERT} (serial c0ffee); "
        "give the key that was issued with it"
    )


def test_another_certificates_key_from_the_same_ca_is_a_mismatch(ca: Authority, leaf: Leaf) -> None:
    with pytest.raises(PairMismatch):
        parse(leaf.cert_pem, ca.issue().key_pem)


def test_a_key_behind_a_passphrase_is_refused_saying_why(leaf: Leaf) -> None:
    with pytest.raises(PairUnreadable) as raised:
        parse(leaf.cert_pem, leaf.encrypted_key_pem())
    assert (raised.value.path, raised.value.field) == (KEY, "key")
    assert "is protected by a passphrase" in str(raised.value)
    assert "unattended" in str(raised.value)


DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOT_AFTER - 60 * DAY, None),
        (NOT_AFTER - EXPIRY_WARNING_DAYS * DAY, None),
        (
            NOT_AFTER - EXPIRY_WARNING_DAYS * DAY + dt.timedelta(seconds=1),
            f"certificate {CERT} (serial c0ffee) expires in 13 days, on 2026-04-01: "
            "is renewal running?",
        ),
        (
            NOT_AFTER - 5 * DAY - dt.timedelta(hours=3),
            f"certificate {CERT} (serial c0ffee) expires in 5 days, on 2026-04-01: "
            "is renewal running?",
        ),
        (
            NOT_AFTER - dt.timedelta(minutes=1),
            f"certificate {CERT} (serial c0ffee) expires in 0 days, on 2026-04-01: "
            "is renewal running?",
        ),
        (
            NOT_AFTER,
            f"certificate {CERT} (serial c0ffee) expired 0 days ago, on 2026-04-01: "
            "clients refuse it; renew it",
        ),
        (
            NOT_AFTER + 3 * DAY + dt.timedelta(hours=5),
            f"certificate {CERT} (serial c0ffee) expired 3 days ago, on 2026-04-01: "
            "clients refuse it; renew it",
        ),
        (
            NOT_BEFORE - dt.timedelta(hours=2),
            f"certificate {CERT} (serial c0ffee) is not valid before 2026-01-01 12:00 UTC; "
            "is this machine's clock right?",
        ),
        (NOT_BEFORE, None),
    ],
    ids=[
        "60 days left",
        "exactly 14 days left",
        "just under 14 days",
        "5 days",
        "a minute",
        "at its end",
        "3 days ago",
        "not yet valid",
        "just valid",
    ],
)
def test_expiry_note(leaf: Leaf, now: dt.datetime, expected: str | None) -> None:
    assert expiry_note(parse(leaf.cert_pem, leaf.key_pem), now) == expected


@pytest.mark.parametrize(
    ("left", "warned"),
    [
        (dt.timedelta(days=3), False),
        (dt.timedelta(days=7) / 3 + dt.timedelta(seconds=1), False),
        (dt.timedelta(days=7) / 3 - dt.timedelta(seconds=1), True),
        (dt.timedelta(days=1), True),
    ],
    ids=["3 of 7 days left", "just over a third", "just under a third", "1 day left"],
)
def test_a_short_lived_certificate_is_warned_of_in_the_last_third_of_its_life(
    ca: Authority, left: dt.timedelta, warned: bool
) -> None:
    # A private CA's week-long certificate is renewed with a third of its life left,
    # as certbot renews a 90-day one at 30: fewer than 14 days left is no alarm then.
    week = ca.issue(serial=0xBEEF, not_before=NOT_BEFORE, not_after=NOT_BEFORE + 7 * DAY)
    note = expiry_note(parse(week.cert_pem, week.key_pem), week.cert.not_valid_after_utc - left)
    if warned:
        assert note == (
            f"certificate {CERT} (serial beef) expires in {left.days} days, on 2026-01-08: "
            "is renewal running?"
        )
    else:
        assert note is None
