"""The published vectors: minting reproduces each token, verification gives each result.

``reference_token`` re-derives every token from the algorithm in docs/signed-urls.md
with hmac, hashlib and base64 alone, as a PHP or C# minter would, so the vectors pin the
document as well as the code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import math
from pathlib import Path
from typing import Any

import pytest

from signer import Purpose, RevocationList, Signer, TokenRejected

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "vectors.json").read_text(encoding="utf-8")
)["vectors"]

CASES = [
    pytest.param(vector, case, id=f"{vector['name']} / {index}")
    for vector in VECTORS
    for index, case in enumerate(vector["verify"])
]


def _json_string(value: str | None) -> str:
    if value is None:
        return "null"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _canonical_ip(ip: str | None) -> str | None:
    if ip is None:
        return None
    network = ipaddress.ip_network(ip, strict=False)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()[:32]


def reference_token(vector: dict[str, Any]) -> str:
    mint = vector["mint"]
    expires_at = math.ceil(mint["now"] + mint["ttl"])
    issued_at = math.floor(mint.get("issued_at", mint["now"]))
    parent = mint.get("parent")
    fields = (
        f"{_json_string(mint['scope'])},{expires_at},{issued_at},"
        f"{_json_string(_canonical_ip(mint['ip']))},{_json_string(mint['subject'])}"
    )
    if parent is None:
        payload = f"[1,{fields}]".encode()
    else:
        payload = f"[2,{fields},{_json_string(parent)}]".encode()
    signed = f"{vector['key_id']}.{_b64(payload)}"
    salt = vector["purpose"].encode("utf-8")
    key = hashlib.sha256(salt + b"signer" + vector["secret"].encode("utf-8")).digest()
    signature = hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest()
    return f"{signed}.{_b64(signature)}"


def _signer(vector: dict[str, Any], case: dict[str, Any] | None = None) -> Signer:
    case = case or {}
    keys = case.get("keys", {vector["key_id"]: vector["secret"]})
    active = vector["key_id"] if vector["key_id"] in keys else next(iter(keys))
    purpose = Purpose(case.get("purpose", vector["purpose"]))
    return Signer(keys, active, purpose=purpose)


def test_there_are_enough_vectors() -> None:
    assert len(VECTORS) >= 9
    children = [vector for vector in VECTORS if "parent" in vector["mint"]]
    assert children
    assert any(v["mint"]["issued_at"] != math.floor(v["mint"]["now"]) for v in children)
    assert any(
        case["expect"] == "revoked"
        and [t["fingerprint"] for t in case["revoked"]["tokens"]] == [v["mint"]["parent"]]
        for v in children
        for case in v["verify"]
        if "revoked" in case
    )
    assert {case["expect"] for vector in VECTORS for case in vector["verify"]} >= {
        "ok",
        "bad_signature",
        "unknown_key",
        "expired",
        "out_of_scope",
        "ip_mismatch",
        "malformed",
        "revoked",
    }


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_mint_reproduces_the_token(vector: dict[str, Any]) -> None:
    mint = vector["mint"]
    token = _signer(vector).mint(
        mint["scope"],
        now=mint["now"],
        ttl=mint["ttl"],
        ip=mint["ip"],
        subject=mint["subject"],
        issued_at=mint.get("issued_at"),
        parent=mint.get("parent"),
    )
    assert token == vector["token"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_documented_algorithm_reproduces_the_token(vector: dict[str, Any]) -> None:
    assert reference_token(vector) == vector["token"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_intermediate_values_match(vector: dict[str, Any]) -> None:
    _, payload, _ = vector["token"].split(".")
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
    assert decoded == vector["payload_json"]
    salt_and_secret = f"{vector['purpose']}signer{vector['secret']}".encode()
    assert hashlib.sha256(salt_and_secret).hexdigest() == vector["signing_key_hex"]


def test_parents_name_published_grants() -> None:
    grants = {
        _fingerprint(vector["token"]): vector
        for vector in VECTORS
        if vector["purpose"] == Purpose.GRANT.value
    }
    for vector in VECTORS:
        if "parent" in vector["mint"]:
            grant = grants[vector["mint"]["parent"]]
            assert grant["mint"]["subject"] == vector["mint"]["subject"]
            assert vector["mint"]["issued_at"] == math.floor(grant["mint"]["now"])


@pytest.mark.parametrize(("vector", "case"), CASES)
def test_verify_gives_the_expected_result(vector: dict[str, Any], case: dict[str, Any]) -> None:
    signer = _signer(vector, case)
    token = case.get("token", vector["token"])
    revoked = RevocationList.from_json(json.dumps(case["revoked"])) if "revoked" in case else None
    verify = {"now": case["now"], "client_ip": case["client_ip"], "revoked": revoked}
    if case["expect"] == "ok":
        claims = signer.verify(token, case["path"], **verify)
        mint = vector["mint"]
        assert claims.scope == mint["scope"]
        assert claims.subject == mint["subject"]
        assert claims.parent == mint.get("parent")
        assert claims.issued_at == math.floor(mint.get("issued_at", mint["now"]))
    else:
        with pytest.raises(TokenRejected) as caught:
            signer.verify(token, case["path"], **verify)
        assert caught.value.reason.value == case["expect"], caught.value.detail
