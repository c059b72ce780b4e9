"""The locator as an operator runs it (``castedge locator``, ``castedge locate``), with curl.

A real edge process serves the lesson; curl asks the real locator process for it with
a grant, follows the redirect and gets the bytes, so the token the locator minted is
one the edge accepts.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from geo import great_circle_km
from signer import fingerprint
from tests.support.locator import (
    KEY_ID,
    SECRET,
    build_world,
    grant,
    locator_document,
)
from tests.support.process import CASTEDGE, CastedgeProcess

pytestmark = pytest.mark.e2e

LESSON = "courses/py/ch01/intro.mp4"
BODY = hashlib.shake_256(b"lesson").digest(300_000)


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("locator-e2e")
    media = root / "media"
    (media / LESSON).parent.mkdir(parents=True)
    (media / LESSON).write_bytes(BODY)
    edge_dir = root / "edge"
    edge_dir.mkdir()
    edge = CastedgeProcess(
        "edge",
        {
            "storage": {"dir": str(media)},
            "cache": {"dir": str(edge_dir / "cache"), "max_size": "100MB"},
            "edge": {"listen": "127.0.0.1:0", "region": "sa-east", "access_log": None},
            "admin": {"listen": "127.0.0.1:0"},
            "signing": {"keys": {KEY_ID: SECRET}, "active": KEY_ID},
        },
        edge_dir,
    ).start()
    database = build_world(root / "city.mmdb")
    regions = [
        {"name": "sa-east", "latitude": -23.55, "longitude": -46.63, "base_url": edge.urls["edge"]},
        {
            "name": "eu-west",
            "latitude": 51.51,
            "longitude": -0.13,
            "base_url": f"http://127.0.0.1:{closed_port()}",
        },
    ]
    locator_dir = root / "locator"
    locator_dir.mkdir()
    doc = locator_document(database=database, regions=regions, workdir=locator_dir)
    doc["geo"]["default_region"] = "sa-east"
    doc["geo"]["health"] = {"interval": "200ms", "timeout": "200ms", "rise": 1, "fall": 1}
    doc["locator"]["access_log"] = str(locator_dir / "access.log")
    locator = CastedgeProcess("locator", doc, locator_dir).start()
    try:
        yield {"edge": edge, "locator": locator, "dir": locator_dir, "doc": doc}
    finally:
        code = locator.stop()
        edge.stop()
        assert code == 0, locator.stderr()


def test_curl_follows_the_redirect_to_the_lesson(world: dict[str, Any], tmp_path: Path) -> None:
    locator: CastedgeProcess = world["locator"]
    token = grant("courses/py/", subject="student-1842")
    out = tmp_path / "lesson.mp4"
    result = run(
        "curl", "-sS", "-L", "--max-redirs", "1", "-o", str(out),
        "-H", "X-Forwarded-For: 192.0.2.10",
        "-w", "%{http_code} %{num_redirects} %{url_effective}",
        f"{locator.urls['locator']}/v/{LESSON}?grant={token}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    status, redirects, final = result.stdout.split()
    assert (status, redirects) == ("200", "1")
    assert final.startswith(world["edge"].urls["edge"] + "/s/")
    assert out.read_bytes() == BODY

    refused = run(
        "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
        f"{locator.urls['locator']}/v/courses/rust/a.mp4?grant={token}",
    )  # fmt: skip
    assert refused.stdout == "403 "

    log = (world["dir"] / "access.log").read_text()
    assert token not in log and token not in locator.stderr()
    assert f"grant=fp:{fingerprint(token)}" in log


def test_locate_explains_the_choice(world: dict[str, Any]) -> None:
    locator: CastedgeProcess = world["locator"]
    config = str(locator.config_path)
    result = run(
        CASTEDGE, "locate", "203.0.113.10", LESSON, "--config", config,
        "--locator", locator.urls["admin"],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "203.0.113.10: city: Sydney, AU, OC at -33.8678, 151.2073"
    assert lines[2] == f"health: the running locator at {locator.urls['admin']}/healthz"
    table = [line.split() for line in lines[4:7]]
    assert table[0] == ["#", "region", "distance", "km", "effective", "km", "weight", "health"]
    # São Paulo is about 13,360 km from Sydney, London 16,990 km; London's edge is down.
    sydney = (-33.8678, 151.2073)
    sao_paulo = f"{great_circle_km(sydney, (-23.55, -46.63)):,.0f}"
    london = f"{great_circle_km(sydney, (51.51, -0.13)):,.0f}"
    assert table[1] == ["→", "1", "sa-east", sao_paulo, sao_paulo, "1", "up"]
    assert table[2][:6] == ["2", "eu-west", london, london, "1", "DOWN"]
    assert "chosen: sa-east" in lines
    assert f"redirect: {world['edge'].urls['edge']}/s/<token>/{LESSON}" in lines

    probed = run(CASTEDGE, "locate", "2001:db8:4::1", "--config", config, "--probe")
    assert probed.returncode == 0, probed.stderr
    assert probed.stdout.splitlines()[0] == (
        "2001:db8:4::1: not placed (no place); ranked from the default region sa-east"
    )
    assert "health: one check of each region just now" in probed.stdout
    assert "connect_error" in probed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["locate", "not-an-ip"], "castedge locate: not an IP address: 'not-an-ip'"),
        (["locate", "192.0.2.1", "../etc/passwd"], "castedge locate: the path has a '..' segment"),
    ],
)
def test_locate_refuses_what_it_cannot_use(
    world: dict[str, Any], args: list[str], message: str
) -> None:
    result = run(CASTEDGE, *args, "--config", str(world["locator"].config_path))
    assert result.returncode == 2
    assert result.stderr.strip() == message


def test_the_locator_will_not_start_without_a_database(tmp_path: Path, world) -> None:
    doc = dict(world["doc"])
    doc["geo"] = {**doc["geo"], "database": str(tmp_path / "missing.mmdb")}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(doc))
    result = run(CASTEDGE, "locator", "--config", str(config), timeout=30)
    assert result.returncode == 2
    assert f"{tmp_path / 'missing.mmdb'}: no such file" in result.stderr
    assert "Traceback" not in result.stderr

    del doc["regions"]
    del doc["geo"]["default_region"]
    config.write_text(yaml.safe_dump(doc))
    result = run(CASTEDGE, "locator", "--config", str(config), timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"castedge: {config}: regions: missing, and the locator section needs it: "
        "the locator sends players to one of them"
    )
