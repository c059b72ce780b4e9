"""The edge as an operator runs it (``castedge edge``, ``sign``, ``revoke``), with real clients.

ffprobe and ffmpeg read a signed mp4 and a whole HLS rendition through it, curl is
refused with bad tokens, and a headless Chromium plays and seeks a signed video from
another origin (a course page), through CORS and range requests.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import re
import socket
import struct
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from castedge.locals3 import LocalS3
from signer import Signer
from tests.conftest import Bucket
from tests.support.chromium import chromium_or_none, launch
from tests.support.edge import metric
from tests.support.process import CASTEDGE, CastedgeProcess
from tests.support.tokens import tamper

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "e2e-edge-admin-token-abcdef"
KEYS = {"k1": "e2e-edge-signing-secret-0123456789"}
REGION = "eu-e2e"
LESSON = "courses/py/ch01/lesson.mp4"
HLS_DIR = "courses/py/ch02/"
LESSON_SECONDS = 10
HLS_SECONDS = 6


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


# -- media, made once per session ----------------------------------------------------


def top_level_boxes(path: Path) -> list[str]:
    """The names of an MP4 file's top-level boxes, in file order."""
    data = path.read_bytes()
    names, offset = [], 0
    while offset + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[offset : offset + 8])
        names.append(name.decode("latin-1"))
        offset += size if size >= 8 else len(data)
    return names


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10 s H.264 mp4 (moov at the end, ffmpeg's default) and a 6 s HLS rendition."""
    root = tmp_path_factory.mktemp("media")
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25"]
    mp4 = root / "lesson.mp4"
    done = run(
        "ffmpeg", "-v", "error", "-f", "lavfi",
        "-i", f"testsrc=duration={LESSON_SECONDS}:size=640x360:rate=25",
        *x264, "-b:v", "4M", str(mp4),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    boxes = top_level_boxes(mp4)
    assert boxes.index("moov") > boxes.index("mdat"), f"moov is not at the end: {boxes}"

    hls = root / "hls"
    hls.mkdir()
    done = run(
        "ffmpeg", "-v", "error", "-f", "lavfi",
        "-i", f"testsrc=duration={HLS_SECONDS}:size=320x240:rate=25",
        *x264, "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
        "-hls_segment_filename", str(hls / "seg-%05d.ts"), str(hls / "index.m3u8"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root


def segments(media: Path) -> list[str]:
    return sorted(p.name for p in (media / "hls").glob("seg-*.ts"))


# -- the course page's web server (another origin than the edge) ----------------------


@pytest.fixture(scope="module")
def page_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A plain web server on its own port, standing in for the course site."""
    root = tmp_path_factory.mktemp("site")
    (root / "player.html").write_text(
        "<!doctype html><meta charset=utf-8><title>lesson</title><body></body>"
    )
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


# -- the edge -----------------------------------------------------------------------


def edge_config(bucket: Bucket, workdir: Path, **edge: Any) -> dict[str, Any]:
    return {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        "cache": {"dir": str(workdir / "cache"), "max_size": "1GB"},
        "edge": {
            "listen": "127.0.0.1:0",
            "region": REGION,
            "access_log": str(workdir / "access.log"),
            **edge,
        },
        "admin": {"listen": "127.0.0.1:0", "token": ADMIN_TOKEN},
        "upstream": {"retries": 2, "backoff": "50ms"},
        "signing": {
            "keys": KEYS,
            "active": "k1",
            "revocation_file": str(workdir / "revoked.json"),
            "revocation_interval": "200ms",
        },
    }


@pytest.fixture(scope="module")
def bucket(s3: LocalS3, media: Path) -> Bucket:
    bucket = Bucket(s3)
    bucket.put(LESSON, (media / "lesson.mp4").read_bytes())
    for path in (media / "hls").iterdir():
        bucket.put(HLS_DIR + path.name, path.read_bytes())
    return bucket


@pytest.fixture(scope="module")
def edge(
    bucket: Bucket, page_origin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CastedgeProcess]:
    workdir = tmp_path_factory.mktemp("edge")
    config = edge_config(bucket, workdir, cors_origins=[page_origin])
    proc = CastedgeProcess("edge", config, workdir).start()
    yield proc
    assert proc.stop() == 0, proc.stderr()


def sign(edge: CastedgeProcess, path: str, *args: str) -> str:
    """``castedge sign`` against the running edge's configuration."""
    done = run(
        CASTEDGE, "sign", path, "--config", str(edge.config_path),
        "--base", edge.urls["edge"], *args,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith(edge.urls["edge"] + "/s/"), url
    return url


def edge_metrics(edge: CastedgeProcess) -> str:
    with urllib.request.urlopen(edge.urls["admin"] + "/metrics", timeout=5) as resp:
        text: str = resp.read().decode()
    return text


def answered(edge: CastedgeProcess, status: int) -> float:
    return metric(edge_metrics(edge), "castedge_edge_requests_total", region=REGION, status=status)


def curl(url: str) -> tuple[int, bytes]:
    done = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", url],
        capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    body, _, code = done.stdout.rpartition(b"\n")
    return int(code), body


def duration_of(target: str) -> float:
    done = run(
        "ffprobe", "-v", "error", "-show_entries", "format=duration",
        "-of", "default=noprint_wrappers=1:nokey=1", target,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return float(done.stdout.strip())


# -- tests ---------------------------------------------------------------------------


def test_ffprobe_reads_a_signed_mp4_whose_moov_is_at_the_end(edge) -> None:
    url = sign(edge, LESSON, "--ttl", "10m")
    ranged_before = answered(edge, 206)
    assert duration_of(url) == pytest.approx(LESSON_SECONDS, abs=0.1)
    # Reaching the moov box at the end of the file takes a range request.
    assert answered(edge, 206) > ranged_before


def test_ffmpeg_copies_a_whole_hls_rendition_with_one_directory_token(
    edge, media, tmp_path
) -> None:
    url = sign(edge, HLS_DIR + "index.m3u8", "--scope", HLS_DIR, "--subject", "student-hls")
    refused_before = answered(edge, 403)
    served_before = answered(edge, 200) + answered(edge, 206)
    out = tmp_path / "rendition.ts"
    done = run("ffmpeg", "-v", "error", "-i", url, "-c", "copy", "-y", str(out), timeout=120)
    assert done.returncode == 0, done.stderr
    assert duration_of(str(out)) == pytest.approx(HLS_SECONDS, abs=0.5)
    # The playlist and every segment came through the edge, by relative URL, with the token
    # (ffmpeg asks for "bytes=0-" of each, so they are 206s).
    served = answered(edge, 200) + answered(edge, 206) - served_before
    assert served >= len(segments(media)) + 1
    assert answered(edge, 403) == refused_before


def tampered(url: str) -> str:
    head, _, rest = url.partition("/s/")
    token, _, path = rest.partition("/")
    return f"{head}/s/{tamper(token)}/{path}"


def expired(edge: CastedgeProcess) -> str:
    signer = Signer(KEYS, "k1")
    return signer.url(LESSON, now=time.time() - 7200, ttl=3600, base=edge.urls["edge"])


@pytest.mark.parametrize("case", ["tampered", "expired", "other lesson", "other chapter"])
def test_curl_gets_403_for_bad_tokens(edge, case) -> None:
    if case == "tampered":
        url = tampered(sign(edge, LESSON))
    elif case == "expired":
        url = expired(edge)
    elif case == "other lesson":
        url = sign(edge, LESSON).replace(LESSON, "courses/py/ch01/other.mp4")
    else:
        url = sign(edge, HLS_DIR + "index.m3u8", "--scope", HLS_DIR).replace(
            HLS_DIR, "courses/py/ch01/"
        )
    assert curl(url) == (403, b"forbidden\n")


def wait_for_status(url: str, status: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := curl(url)[0]) != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"{url}: still {got} after {timeout} s, not {status}")
        time.sleep(0.1)


def test_castedge_revoke_stops_a_student_while_the_edge_runs(edge) -> None:
    theirs = sign(edge, LESSON, "--subject", "student-42")
    others = sign(edge, LESSON, "--subject", "student-43")
    assert curl(theirs)[0] == 200

    done = run(CASTEDGE, "revoke", "--subject", "student-42", "--config", str(edge.config_path))
    assert done.returncode == 0, done.stderr
    assert "revoked subject 'student-42'" in done.stdout

    wait_for_status(theirs, 403)
    assert curl(theirs) == (403, b"forbidden\n")
    assert curl(others)[0] == 200


def test_castedge_revoke_by_token_stops_one_url(edge) -> None:
    leaked = sign(edge, LESSON, "--subject", "student-50")
    kept = sign(edge, LESSON, "--subject", "student-50", "--ttl", "15m")
    assert leaked != kept
    done = run(CASTEDGE, "revoke", "--token", leaked, "--config", str(edge.config_path))
    assert done.returncode == 0, done.stderr
    wait_for_status(leaked, 403)
    assert curl(kept)[0] == 200


def test_the_access_log_names_tokens_by_fingerprint_only(edge) -> None:
    url = sign(edge, LESSON, "--subject", "student-log")
    assert curl(url)[0] == 200
    token = url.split("/s/")[1].split("/")[0]
    log = Path(edge.workdir / "access.log")
    deadline = time.monotonic() + 5
    while f'/{LESSON} HTTP/1.1" 200' not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = log.read_text()
    assert re.search(rf'"GET /s/fp:[0-9a-f]{{32}}/{re.escape(LESSON)} HTTP/1\.1" 200 ', text)
    assert token not in text

    # A request line aiohttp cannot parse gets one access line without it, and nothing
    # else anywhere: not the token, not a traceback quoting it.
    host, port = edge.urls["edge"].removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET /s/{token}/".encode() + b"\xff HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = sock.recv(1000)
    assert answer.startswith(b"HTTP/1.0 400")
    assert token.encode() not in answer
    deadline = time.monotonic() + 5
    while '"-" 400 ' not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert re.search(r'\] "-" 400 \d+ "-" "-"$', log.read_text(), re.MULTILINE)
    assert token not in log.read_text()
    assert token not in edge.stderr()
    assert "Traceback" not in edge.stderr()


def test_castedge_sign_uses_the_configured_base_and_refuses_bad_requests(edge, tmp_path):
    config = yaml.safe_load(edge.config_path.read_text())
    config["edge"]["public_url"] = edge.urls["edge"]
    path = tmp_path / "sign.yaml"
    path.write_text(yaml.safe_dump(config))
    done = run(CASTEDGE, "sign", LESSON, "--config", str(path), "--region", REGION)
    assert done.returncode == 0, done.stderr
    assert curl(done.stdout.strip())[0] == 200

    for args, message in [
        ((LESSON, "--scope", "courses/js/"), "lies outside scope"),
        ((LESSON, "--region", "ap-south"), "region 'ap-south' has no base URL"),
        ((LESSON, "--ttl", "soon"), "expected a duration"),
        (("courses/../etc/passwd",), "has a '..' segment"),
    ]:
        done = run(CASTEDGE, "sign", *args, "--config", str(path))
        assert done.returncode == 2, (args, done.stdout)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_chromium_plays_a_signed_video_and_seeks_to_the_middle(edge, page_origin) -> None:
    binary = chromium_or_none()
    if binary is None:
        pytest.skip(
            "Chromium is not installed (Debian package 'chromium'; "
            "`scripts/install-sysdeps.sh test` installs it)"
        )
    url = sign(edge, LESSON, "--subject", "student-browser")
    result, requests = _play_in_chromium(binary, page_origin + "/player.html", url)
    assert result["canPlay"], "this Chromium cannot decode H.264 in mp4"
    assert result["error"] is None
    assert result["duration"] == pytest.approx(LESSON_SECONDS, abs=0.1)
    assert result["seekedTo"] == pytest.approx(LESSON_SECONDS / 2, abs=0.5)
    assert result["later"] > result["seekedTo"] + 0.5, result
    # What the browser itself saw: range requests for the signed URL, answered 206 with
    # the CORS grant for the course site.
    assert requests, "Chromium never asked the edge for the video"
    assert all(r["range"] and r["range"].startswith("bytes=") for r in requests), requests
    assert {r["status"] for r in requests} == {206}, requests
    assert {r["allow_origin"] for r in requests} == {page_origin}, requests
    # The moov box at the end, or the middle after the seek, is fetched by its own range.
    assert any(r["range"] != "bytes=0-" for r in requests), requests


PLAY = """
(async () => {
  const url = %s;
  const video = document.createElement('video');
  const canPlay = video.canPlayType('video/mp4; codecs="avc1.42E01E"') !== '';
  video.crossOrigin = 'anonymous';  // the edge must grant CORS to the course site
  video.muted = true;
  video.preload = 'metadata';
  document.body.appendChild(video);
  const event = (name) => new Promise((ok, fail) => {
    video.addEventListener(name, ok, {once: true});
    video.addEventListener('error', () => fail(new Error(
      'media error ' + (video.error && video.error.code))), {once: true});
  });
  const loaded = event('loadedmetadata');
  video.src = url;
  await loaded;
  const seeked = event('seeked');
  video.currentTime = video.duration / 2;
  await seeked;
  const seekedTo = video.currentTime;
  await video.play();
  await new Promise(ok => setTimeout(ok, 1500));
  return {canPlay, duration: video.duration, seekedTo, later: video.currentTime,
          error: video.error && video.error.code};
})()
"""


def _play_in_chromium(
    binary: str, page: str, video_url: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Play the video in a page of ``page``'s origin; the result and the video's requests."""

    async def drive() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with launch(binary) as browser, browser.page() as tab:
            await tab.goto(page)
            await tab.call("Network.enable")
            result: dict[str, Any] = await tab.evaluate(PLAY % json.dumps(video_url), timeout=30)
            return result, _video_requests(tab.events, video_url)

    return asyncio.run(drive())


def _video_requests(events: list[dict[str, Any]], url: str) -> list[dict[str, Any]]:
    """Each request for ``url`` the page's network log shows that got an answer."""
    sent = {
        e["params"]["requestId"]: e["params"]["request"]
        for e in events
        if e["method"] == "Network.requestWillBeSent" and e["params"]["request"]["url"] == url
    }
    answers = []
    for e in events:
        if e["method"] == "Network.responseReceived" and e["params"]["requestId"] in sent:
            request = sent[e["params"]["requestId"]]
            response = e["params"]["response"]
            headers = {k.lower(): v for k, v in response["headers"].items()}
            answers.append(
                {
                    "range": {k.lower(): v for k, v in request["headers"].items()}.get("range"),
                    "status": response["status"],
                    "allow_origin": headers.get("access-control-allow-origin"),
                }
            )
    return answers


def test_an_edge_without_signing_keys_does_not_start(bucket, tmp_path) -> None:
    config = edge_config(bucket, tmp_path)
    del config["signing"]
    path = tmp_path / "edge.yaml"
    path.write_text(json.dumps(config))
    done = run(CASTEDGE, "edge", "--config", str(path), timeout=30)
    assert done.returncode == 2
    assert "edge.yaml: signing: missing, and the edge section needs it" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_edge_does_not_start_on_a_broken_revocation_file(bucket, tmp_path) -> None:
    config = edge_config(bucket, tmp_path)
    (tmp_path / "revoked.json").write_text('{"version": 1, "subjects": [')
    path = tmp_path / "edge.yaml"
    path.write_text(json.dumps(config))
    done = run(CASTEDGE, "edge", "--config", str(path), timeout=30)
    assert done.returncode == 2, done.stderr
    assert "revoked.json: revocation list is not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("switch", ["fallback", "maintenance"])
def test_a_switch_asked_of_a_node_without_an_origin_says_where_it_is(edge, switch) -> None:
    done = run(
        CASTEDGE, switch, "status", "--node", edge.urls["admin"], "--config", str(edge.config_path)
    )
    assert done.returncode == 1
    row = done.stdout.splitlines()[1]
    assert row.startswith(edge.urls["admin"]), done.stdout
    assert "no such switch here (only a node running the origin has one" in row
    assert "Traceback" not in done.stderr
