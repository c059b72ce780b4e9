"""``castedge demo`` (what ``make demo`` runs): the fleet it starts serves the story it tells.

The demo runs as an operator runs it, ``castedge demo --manifest FILE``, and the tests
walk its story with real clients: curl as a pod catcher and as a player's first
request to the locator, ffmpeg as the player, the ``castedge`` command as the
operator. Then SIGTERM must leave no process and no listening port behind. The TLS
run pastes every command the demo printed into bash, as a reader would; its second
run is killed with SIGKILL, and its fleet must still stop by itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from castedge.locals3 import ACCESS_KEY, SECRET_KEY
from geo import DEFAULT_REGIONS
from tests.support.process import CASTEDGE

pytestmark = pytest.mark.e2e

#: Eleven interpreters start at once on two shared cores, after the samples are made.
START = 180.0
#: Every other wait: a frozen region is seen after two failed 1 s checks.
PATIENCE = 30.0
SYDNEY = "ap-southeast"


def wait_until(what: str, done: Callable[[], bool], timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)


@dataclass
class Demo:
    """A running ``castedge demo``: its process, what it printed, its manifest."""

    proc: subprocess.Popen[str]
    manifest_path: Path
    lines: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    @property
    def env(self) -> dict[str, str]:
        """An operator's shell: the token exported as the demo says, no settings file."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CASTEDGE_", "AWS_"))}
        return env | self.manifest["admin_token_env"]

    def castedge(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CASTEDGE, *args], capture_output=True, text=True, timeout=60,
            env=self.env | env, check=False,
        )  # fmt: skip

    def bucket(self) -> Any:
        return boto3.client(
            "s3", endpoint_url=self.manifest["s3"]["url"], region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            verify=self.manifest["ca"],
        )  # fmt: skip

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@contextlib.contextmanager
def running_demo(tmp: Path, *args: str) -> Iterator[Demo]:
    """Start ``castedge demo --manifest F ARGS``, yield once F is written, stop it after."""
    manifest = tmp / "demo.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASTEDGE_", "AWS_"))}
    proc = subprocess.Popen(
        [CASTEDGE, "demo", "--manifest", str(manifest), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    demo = Demo(proc, manifest)
    reader = threading.Thread(target=lambda: demo.lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        wait_until(
            "the demo's manifest", lambda: manifest.exists() or proc.poll() is not None, START
        )
        assert proc.poll() is None, demo.text
        demo.manifest = json.loads(manifest.read_text())
        # The manifest is written just after the table and commands are printed.
        wait_until("the printed tour", lambda: "Ctrl-C stops every service" in demo.text)
        yield demo
    finally:
        demo.stop()
        reader.join(10)
        if proc.stdout is not None:
            proc.stdout.close()


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "20", *args], capture_output=True, timeout=30, check=False
    )


def descendants(pid: int) -> set[int]:
    """``pid``'s children, theirs, and so on (the supervisors' workers)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        listing = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(todo.pop())], capture_output=True, text=True
        )
        children = {int(p) for p in listing.stdout.split()}
        todo += children - found
        found |= children
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie that whoever adopted it has yet to reap."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def listening(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((parts.hostname or "", parts.port or 0)) == 0


def every_url(manifest: dict[str, Any]) -> list[str]:
    urls = [manifest["s3"]["url"], manifest["sync"]["admin_url"]]
    for part in [manifest["origin"], manifest["locator"], *manifest["edges"].values()]:
        urls += [part["url"], part["admin_url"]]
    if "player" in manifest:
        urls.append(manifest["player"]["url"])
    return urls


def redirect(demo: Demo, city: str) -> tuple[str, str]:
    """(region, Location) of the locator's answer to a player in ``city``."""
    signed = demo.manifest["signed"]
    done = curl(
        "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
        "-H", f"X-Forwarded-For: {demo.manifest['cities'][city]}", signed["play"],
    )  # fmt: skip
    code, _, location = done.stdout.decode().partition(" ")
    assert code == "302", done
    for region, edge in demo.manifest["edges"].items():
        if location.startswith(edge["url"] + "/s/"):
            return region, location
    return "elsewhere", location


def test_the_demo_fleet_walks_its_story_and_leaves_nothing_behind(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        manifest = demo.manifest
        assert sorted(manifest["edges"]) == sorted(r.name for r in DEFAULT_REGIONS)
        table = demo.text
        for region, edge in manifest["edges"].items():
            row = f"edge-{region} "
            assert any(
                line.startswith(row) and edge["url"] in line and str(edge["pid"]) in line
                for line in table.splitlines()
            ), table
        supervisors = [part["pid"] for part in manifest["edges"].values()]
        supervisors += [manifest[name]["pid"] for name in ("origin", "locator", "sync")]
        processes = descendants(demo.proc.pid)
        assert set(supervisors) <= processes
        assert len(processes) >= 2 * len(supervisors), "a supervisor and a worker each"

        _pod_catcher(demo)
        _player(demo)
        _fallback(demo, tmp_path)
        _publish(demo, tmp_path)
        _frozen_region(demo)

        data = Path(manifest["data_dir"])
        urls = every_url(manifest)
        assert all(listening(url) for url in urls)
        assert demo.stop(signal.SIGTERM) == 0, demo.text
    gone = [pid for pid in processes if Path(f"/proc/{pid}").exists()]
    assert not gone, f"left running: {gone}"
    assert not [url for url in urls if listening(url)]
    assert not data.exists(), "the temporary data directory is removed"
    assert not demo.manifest_path.exists(), "no manifest of a fleet that is gone"


def _pod_catcher(demo: Demo) -> None:
    """HEAD, the two-byte probe, then the whole episode, checked against S3's object."""
    origin = demo.manifest["origin"]["url"]
    key = demo.manifest["samples"]["episodes"][0]
    stored = demo.bucket().get_object(Bucket=demo.manifest["s3"]["bucket"], Key=key)
    body = stored["Body"].read()
    head = curl("-I", f"{origin}/{key}").stdout.decode()
    assert head.startswith("HTTP/1.1 200"), head
    assert f"content-length: {len(body)}" in head.lower()
    probe = curl("-r", "0-1", "-D", "-", f"{origin}/{key}").stdout
    assert probe.startswith(b"HTTP/1.1 206"), probe
    assert probe.endswith(b"\r\n\r\n" + body[:2])
    whole = curl(f"{origin}/{key}").stdout
    assert hashlib.sha256(whole).hexdigest() == hashlib.sha256(body).hexdigest()
    assert demo.manifest["samples"]["sha256"][key] == hashlib.sha256(body).hexdigest()


def _player(demo: Demo) -> None:
    """Sydney's player goes to Sydney's edge, and ffmpeg reads the signed HLS there."""
    assert demo.manifest["signed"]["play_region"] == SYDNEY
    # Every region is healthy by now, unless a check was late on a busy machine.
    wait_until("Sydney's player goes to Sydney", lambda: redirect(demo, "Sydney")[0] == SYDNEY)
    location = redirect(demo, "Sydney")[1]
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", location, "-c", "copy", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", location],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert float(probe.stdout) > 1


def _fallback(demo: Demo, tmp: Path) -> None:
    """The operator flips the origin to S3 with the CLI; curl follows it there, then not."""
    origin, admin = demo.manifest["origin"]["url"], demo.manifest["origin"]["admin_url"]
    s3 = demo.manifest["s3"]["url"]
    key = demo.manifest["samples"]["episodes"][1]
    digest = demo.manifest["samples"]["sha256"][key]
    done = demo.castedge("fallback", "on", "--node", admin)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(rf"^{re.escape(admin)}\s+on\b", done.stdout, re.M), done.stdout
    try:
        saved = tmp / "from-s3.mp3"
        followed = curl("-L", "-o", str(saved), "-w", "%{url_effective}", f"{origin}/{key}")
        assert followed.stdout.decode().startswith(f"{s3}/"), followed
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == digest
    finally:
        done = demo.castedge("fallback", "off", "--node", admin)
    assert done.returncode == 0, done.stdout + done.stderr
    direct = curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", f"{origin}/{key}")
    assert direct.stdout == b"200 ", direct


def _publish(demo: Demo, tmp: Path) -> None:
    """A new file published with the CLI reaches all eight regions."""
    new = tmp / "new-lesson.mp4"
    new.write_bytes(hashlib.shake_256(str(tmp).encode()).digest(200_000))
    key = "courses/e2e/new-lesson.mp4"
    config = demo.manifest["config"]
    aws = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    done = demo.castedge(
        "publish", str(new), "--prefix", "courses/e2e/", "--wait", "--timeout", "30s",
        CASTEDGE_CONFIG=config, **aws,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    status = demo.castedge("sync", "status", CASTEDGE_CONFIG=config)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("REGION")) + 1 :]
    rows = {line.split()[0]: line.split() for line in table if line.strip()}
    assert sorted(rows) == sorted(demo.manifest["edges"]), status.stdout
    token = next(iter(demo.manifest["admin_token_env"].values()))
    etag = demo.bucket().head_object(Bucket=demo.manifest["s3"]["bucket"], Key=key)["ETag"]

    def held(edge: dict[str, Any]) -> bool:
        request = urllib.request.Request(
            f"{edge['admin_url']}/admin/cache/{key}", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return bool(json.loads(response.read())["etag"] == etag)
        except urllib.error.HTTPError:
            return False

    # --wait waits for the regions healthy at the time; a region a busy machine made
    # late gets it on the daemon's next attempt.
    for region, edge in demo.manifest["edges"].items():
        wait_until(f"{region} holds {key}", lambda edge=edge: held(edge))


def _frozen_region(demo: Demo) -> None:
    """Sydney's edge frozen (SIGSTOP): its players go to the next nearest; then back."""
    signed = demo.manifest["signed"]
    sydney = demo.manifest["cities"]["Sydney"]
    locate = curl(
        "-H", f"X-Forwarded-For: {sydney}",
        f"{demo.manifest['locator']['url']}/api/v1/locate?path="
        f"{demo.manifest['samples']['lesson']['playlist']}&grant={signed['grant']}",
    )  # fmt: skip
    answer = json.loads(locate.stdout)
    assert answer["region"] == SYDNEY, answer
    next_nearest = answer["alternates"][0]["region"]
    group = demo.manifest["edges"][SYDNEY]["pid"]
    os.killpg(group, signal.SIGSTOP)
    try:
        wait_until(
            f"Sydney's players move to {next_nearest}",
            lambda: redirect(demo, "Sydney")[0] == next_nearest,
        )
    finally:
        os.killpg(group, signal.SIGCONT)
    wait_until("Sydney's players come back", lambda: redirect(demo, "Sydney")[0] == SYDNEY)


def _tour(demo: Demo) -> list[str]:
    """Every command line the demo printed, in order, as a reader pastes them."""
    text = demo.text
    tour = text[text.index("Try (") : text.index("Ctrl-C stops every service")]
    return [line for line in tour.splitlines()[1:] if line.strip() and not line.startswith("#")]


def test_the_tls_demo_prints_a_tour_that_works_pasted_and_keeps_its_data(tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    home.mkdir()
    with running_demo(tmp_path, "--tls", "--data", str(data)) as demo:
        manifest = demo.manifest
        ca = manifest["ca"]
        assert ca is not None and Path(ca).is_file()
        lines = _tour(demo)
        assert not [line for line in lines if "http://" in line], lines
        assert all(line.count("curl ") == line.count(f"curl --cacert {ca} ") for line in lines), (
            lines
        )
        # A reader's shell: nothing of ours exported yet, no curlrc, castedge on PATH.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CASTEDGE_", "AWS_", "CURL_", "SSL_CERT_"))
        }
        env |= {"HOME": str(home), "PATH": f"{Path(CASTEDGE).parent}:{env['PATH']}"}
        pasted = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", "\n".join(lines)],
            capture_output=True, text=True, timeout=120, env=env, check=False, cwd=home,
        )  # fmt: skip
        out = pasted.stdout
        assert pasted.returncode == 0, (lines, out, pasted.stderr)
        episode = manifest["samples"]["episodes"][0]
        sydney_edge = manifest["edges"][SYDNEY]["url"]
        for shown in (
            "HTTP/1.1 200 OK",
            "HTTP/1.1 206 Partial Content",
            f"{manifest['samples']['sha256'][episode]}  -",
            f"302 {sydney_edge}/s/",
            "duration=",
            "chosen: ap-southeast",
            "every healthy region holds the published file",
            f"200 from {manifest['s3']['url']}/",
            '"removed": 1',
        ):
            assert shown in out, (shown, out)
        # Each node's status says where it really listens; the locator's, every region.
        assert re.search(rf"^origin\s+{re.escape(manifest['origin']['url'])}\s", out, re.M), out
        assert re.search(rf"^locator\s+{re.escape(manifest['locator']['url'])}\s", out, re.M), out
        assert re.search(r"^ap-southeast\s+up\b", out, re.M), out
        # The whole download, by a pod catcher's User-Agent, is one download.
        assert re.search(rf"^{re.escape(episode)}\s+1\s+1\b", out, re.M), out
        # Without the demo's CA the certificate is not trusted (curl's exit 60).
        plain = curl("-o", "/dev/null", f"{manifest['origin']['url']}/{episode}")
        assert plain.returncode == 60, plain.stderr
        kept = manifest["samples"]["episodes"][1]
        cached = curl("--cacert", ca, "-o", "/dev/null", f"{manifest['origin']['url']}/{kept}")
        assert cached.returncode == 0, cached.stderr
        token = manifest["admin_token_env"]
        assert demo.stop(signal.SIGINT) == 0, demo.text
    assert (data / "castedge.yaml").is_file()

    with running_demo(tmp_path, "--tls", "--data", str(data)) as again:
        manifest = again.manifest
        assert manifest["admin_token_env"] == token, "the kept token"
        assert manifest["ca"] == ca
        published = manifest["publish"]["prefix"] + Path(manifest["publish"]["file"]).name
        head = again.bucket().head_object(Bucket=manifest["s3"]["bucket"], Key=published)
        assert head["ContentLength"] > 0, "what was published in the last run is in the bucket"
        status = curl("--cacert", ca, "-I", f"{manifest['origin']['url']}/{kept}").stdout
        assert b"Cache-Status: castedge; hit" in status, status
        # Killed outright, the demo cannot stop its fleet: the fleet stops by itself.
        processes = descendants(again.proc.pid)
        urls = every_url(manifest)
        assert len(processes) >= 2 * (len(manifest["edges"]) + 3), processes
        assert again.stop(signal.SIGKILL) == -signal.SIGKILL
        wait_until("every service gone", lambda: not [p for p in processes if alive(p)])
    assert not [url for url in urls if listening(url)]
