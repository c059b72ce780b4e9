"""The video edge over HTTPS (``castedge edge``), read by ffprobe and ffmpeg, found by the locator.

ffmpeg (GnuTLS here) verifies the edge's certificate against the test CA with
``-ca_file`` and ``-tls_verify 1``; the locator's 302 to an ``https://`` region is
followed by curl with ``--cacert``, and the locator's own health checks reach the
edge over HTTPS too.
"""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Bucket
from tests.support.certs import Authority
from tests.support.edge import metric
from tests.support.https import poll_until
from tests.support.locator import KEY_ID, SECRET, build_world, grant, locator_document
from tests.support.process import CASTEDGE, CastedgeProcess

pytestmark = pytest.mark.e2e

REGION = "sa-east"
LESSON = "courses/tls/ch01/lesson.mp4"
HLS_DIR = "courses/tls/ch02/"
SECONDS = 3
#: Bound on every wait: a busy two-core machine, several interpreters starting.
PATIENCE = 15.0


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short H.264 mp4 and an HLS rendition of it in one-second segments."""
    root = tmp_path_factory.mktemp("tls-media")
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25"]
    source = ["-f", "lavfi", "-i", f"testsrc=duration={SECONDS}:size=320x240:rate=25"]
    done = run("ffmpeg", "-v", "error", *source, *x264, str(root / "lesson.mp4"))
    assert done.returncode == 0, done.stderr
    (root / "hls").mkdir()
    done = run(
        "ffmpeg", "-v", "error", *source, *x264, "-f", "hls", "-hls_time", "1",
        "-hls_list_size", "0", "-hls_segment_filename", str(root / "hls" / "seg-%05d.ts"),
        str(root / "hls" / "index.m3u8"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority.create(tmp_path_factory.mktemp("edge-ca"))


@pytest.fixture(scope="module")
def cacert(ca: Authority) -> str:
    assert ca.path is not None
    return str(ca.path)


@pytest.fixture(scope="module")
def edge(
    s3: Any, media: Path, ca: Authority, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CastedgeProcess]:
    bucket = Bucket(s3)
    bucket.put(LESSON, (media / "lesson.mp4").read_bytes())
    for path in (media / "hls").iterdir():
        bucket.put(HLS_DIR + path.name, path.read_bytes())
    workdir = tmp_path_factory.mktemp("tls-edge")
    cert, key = ca.issue().write(workdir / "tls")
    config = {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        "cache": {"dir": str(workdir / "cache"), "max_size": "1GB"},
        "edge": {
            "listen": "127.0.0.1:0",
            "region": REGION,
            "access_log": None,
            "tls": {"cert": str(cert), "key": str(key)},
        },
        "admin": {"listen": "127.0.0.1:0"},
        "upstream": {"retries": 2, "backoff": "50ms"},
        "signing": {"keys": {KEY_ID: SECRET}, "active": KEY_ID},
    }
    proc = CastedgeProcess("edge", config, workdir).start()
    assert proc.urls["edge"].startswith("https://127.0.0.1:")
    yield proc
    assert proc.stop() == 0, proc.stderr()


def sign(edge: CastedgeProcess, path: str, *args: str) -> str:
    done = run(
        CASTEDGE, "sign", path, "--config", str(edge.config_path),
        "--base", edge.urls["edge"], *args,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith(edge.urls["edge"] + "/s/"), url
    return url


def served(edge: CastedgeProcess) -> float:
    with urllib.request.urlopen(edge.urls["admin"] + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    name = "castedge_edge_requests_total"
    return sum(metric(text, name, region=REGION, status=str(s)) for s in (200, 206))


def duration_of(target: str, *tls: str) -> subprocess.CompletedProcess[str]:
    return run(
        "ffprobe", "-v", "error", *tls, "-show_entries", "format=duration",
        "-of", "default=noprint_wrappers=1:nokey=1", target,
    )  # fmt: skip


def test_ffprobe_reads_a_signed_mp4_over_https(edge: CastedgeProcess, cacert: str) -> None:
    url = sign(edge, LESSON, "--ttl", "10m")
    done = duration_of(url, "-ca_file", cacert, "-tls_verify", "1")
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == pytest.approx(SECONDS, abs=0.1)
    # Without the CA the same probe is refused: ffprobe really verified the edge.
    refused = duration_of(url, "-tls_verify", "1")
    assert refused.returncode != 0
    assert "Peer certificate failed verification" in refused.stderr or "verif" in refused.stderr


def test_ffmpeg_copies_a_signed_hls_rendition_over_https(
    edge: CastedgeProcess, media: Path, cacert: str, tmp_path: Path
) -> None:
    url = sign(edge, HLS_DIR + "index.m3u8", "--scope", HLS_DIR)
    before = served(edge)
    out = tmp_path / "rendition.ts"
    done = run(
        "ffmpeg", "-v", "error", "-ca_file", cacert, "-tls_verify", "1", "-i", url,
        "-c", "copy", "-y", str(out), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    probed = duration_of(str(out))
    assert float(probed.stdout) == pytest.approx(SECONDS, abs=0.5)
    # The playlist and every segment came through the edge, over HTTPS. (ffmpeg 5.1's
    # HLS demuxer does not hand -ca_file and -tls_verify on to its segment requests:
    # the playlist's fetch is the one verified against the CA.)
    segments = len(list((media / "hls").glob("seg-*.ts")))
    assert served(edge) - before >= segments + 1


def test_the_locator_redirects_to_an_https_region_and_curl_follows(
    edge: CastedgeProcess, cacert: str, tmp_path: Path, media: Path
) -> None:
    regions = [
        {"name": REGION, "latitude": -23.55, "longitude": -46.63, "base_url": edge.urls["edge"]}
    ]
    doc = locator_document(
        database=build_world(tmp_path / "city.mmdb"), regions=regions, workdir=tmp_path
    )
    doc["geo"]["health"] = {"interval": "500ms", "timeout": "500ms", "rise": 1, "fall": 1}
    # Trust for the locator's health checks of the edge, through OpenSSL's own variable
    # (the system's CAs are replaced by the test CA for this process only).
    locator = CastedgeProcess("locator", doc, tmp_path, env={"SSL_CERT_FILE": cacert}).start()
    try:

        def probes(result: str) -> float:
            with urllib.request.urlopen(locator.urls["admin"] + "/metrics", timeout=5) as resp:
                text = resp.read().decode()
            return metric(text, "castedge_locator_probes_total", region=REGION, result=result)

        poll_until(lambda: probes("ok"), lambda ok: ok >= 1, timeout=PATIENCE, what="good checks")
        assert probes("error") == probes("connect_error") == 0

        token = grant("courses/tls/", subject="student-tls")
        target = f"{locator.urls['locator']}/v/{LESSON}?grant={token}"
        first = run(
            "curl", "-sS", "-o", "/dev/null", "-H", "X-Forwarded-For: 192.0.2.10",
            "-w", "%{http_code} %{redirect_url}", target,
        )  # fmt: skip
        status, _, location = first.stdout.partition(" ")
        assert status == "302", first.stdout + first.stderr
        assert location.startswith(edge.urls["edge"] + "/s/"), location

        out = tmp_path / "lesson.mp4"
        followed = run(
            "curl", "-sS", "-L", "--max-redirs", "1", "--cacert", cacert, "-o", str(out),
            "-H", "X-Forwarded-For: 192.0.2.10",
            "-w", "%{http_code} %{num_redirects} %{url_effective}", target,
        )  # fmt: skip
        assert followed.returncode == 0, followed.stderr
        code, redirects, final = followed.stdout.split()
        assert (code, redirects) == ("200", "1")
        assert final.startswith("https://") and final.startswith(edge.urls["edge"] + "/s/")
        assert out.read_bytes() == (media / "lesson.mp4").read_bytes()
    finally:
        assert locator.stop() == 0, locator.stderr()
