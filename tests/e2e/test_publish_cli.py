"""``castedge publish`` as an operator runs it, against moto's S3 server over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Bucket, payload
from tests.support.process import CASTEDGE
from tests.support.syncdaemon import FakeSyncDaemon, Region

pytestmark = pytest.mark.e2e

MiB = 1024**2


def node_file(tmp_path: Path, bucket: Bucket, **extra: Any) -> Path:
    config: dict[str, Any] = {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        **extra,
    }
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def publish(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CASTEDGE, "publish", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def publish_async(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``castedge publish`` while this test's event loop serves the stand-in daemon."""
    environ = {k: v for k, v in os.environ.items() if k != "CASTEDGE_ADMIN_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        CASTEDGE, "publish", "--config", str(config), *args,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ | (env or {}),
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


def held(bucket: Bucket) -> dict[str, dict[str, Any]]:
    """Every object in the bucket: its ETag, Content-Type and the sha256 of its body."""
    listing = bucket.client.list_objects_v2(Bucket=bucket.name).get("Contents", [])
    objects = {}
    for entry in listing:
        got = bucket.client.get_object(Bucket=bucket.name, Key=entry["Key"])
        objects[entry["Key"]] = {
            "etag": got["ETag"],
            "type": got["ContentType"],
            "sha256": hashlib.sha256(got["Body"].read()).hexdigest(),
        }
    return objects


def test_a_small_file_and_a_multipart_one_are_published_and_checked(tmp_path, bucket) -> None:
    episode = tmp_path / "ep-042.mp3"
    episode.write_bytes(payload(300_000, "ep-042"))
    lesson = tmp_path / "lesson.mp4"
    lesson.write_bytes(payload(11 * MiB, "lesson"))

    done = publish(
        node_file(tmp_path, bucket), str(episode), str(lesson),
        "--prefix", "courses/x/", "--part-size", "5MiB",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    objects = held(bucket)
    assert objects["courses/x/ep-042.mp3"]["type"] == "audio/mpeg"
    assert objects["courses/x/lesson.mp4"]["type"] == "video/mp4"
    for path in (episode, lesson):
        key = f"courses/x/{path.name}"
        assert objects[key]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"published {key} (" in done.stdout
        assert f"ETag {objects[key]['etag']} checked" in done.stdout
        # stderr is no terminal here: one plain line per file.
        assert f"{key}: " in done.stderr
    # The lesson went up in three 5 MiB parts; the episode in one PUT.
    assert objects["courses/x/lesson.mp4"]["etag"].endswith('-3"')
    assert not objects["courses/x/ep-042.mp3"]["etag"].endswith('-1"')
    assert "published 2 of 2 files (12 MB) to s3://" in done.stdout


def test_a_directory_is_published_with_its_paths_below_the_prefix(tmp_path, bucket) -> None:
    course = tmp_path / "py-course"
    (course / "ch03" / "seg").mkdir(parents=True)
    (course / "ch03" / "index.m3u8").write_text("#EXTM3U\n")
    (course / "ch03" / "seg" / "000.ts").write_bytes(payload(2000, "seg0"))
    (course / "ch03" / "seg" / "001.ts").write_bytes(payload(2000, "seg1"))
    (course / "poster.jpg").write_bytes(payload(500, "poster"))
    (course / ".DS_Store").write_bytes(b"finder")
    (course / ".git").mkdir()
    (course / ".git" / "HEAD").write_text("ref: refs/heads/main\n")

    done = publish(node_file(tmp_path, bucket), str(course), "--prefix", "courses/py/")

    assert done.returncode == 0, done.stderr
    objects = held(bucket)
    assert {key: o["type"] for key, o in objects.items()} == {
        "courses/py/ch03/index.m3u8": "application/vnd.apple.mpegurl",
        "courses/py/ch03/seg/000.ts": "video/mp2t",
        "courses/py/ch03/seg/001.ts": "video/mp2t",
        "courses/py/poster.jpg": "image/jpeg",
    }


def test_a_name_the_delivery_would_refuse_uploads_nothing(tmp_path, bucket) -> None:
    course = tmp_path / "course"
    course.mkdir()
    (course / "intro.mp4").write_bytes(b"fine")
    (course / "back\\slash.mp4").write_bytes(b"no edge would serve this key")

    done = publish(node_file(tmp_path, bucket), str(course), "--prefix", "courses/x/")

    assert done.returncode == 2
    assert "cannot be published as 'courses/x/back\\\\slash.mp4': backslash" in done.stderr
    assert held(bucket) == {}


def test_a_link_to_a_directory_is_refused_not_skipped(tmp_path, bucket) -> None:
    course = tmp_path / "course"
    (course / "ch01").mkdir(parents=True)
    (course / "ch01" / "index.m3u8").write_text("#EXTM3U\n")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "poster.jpg").write_bytes(b"jpeg")
    (course / "shared").symlink_to(tmp_path / "shared")

    done = publish(node_file(tmp_path, bucket), str(course), "--prefix", "courses/x/")

    assert done.returncode == 2
    assert f"{course / 'shared'}: is a link to a directory: publish it by itself" in done.stderr
    assert held(bucket) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prefix", "courses/x"], "must name a folder and end in '/'"),
        (["--prefix", "x/", "--part-size", "1MB"], "expected 5MiB to 5GiB (S3's limits"),
    ],
)
def test_a_mistyped_option_is_refused_before_any_upload(tmp_path, bucket, args, message) -> None:
    episode = tmp_path / "ep.mp3"
    episode.write_bytes(b"mp3")
    done = publish(node_file(tmp_path, bucket), str(episode), *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert held(bucket) == {}


def test_a_node_without_a_bucket_says_so(tmp_path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text(yaml.safe_dump({"storage": {"dir": str(tmp_path)}}))
    (tmp_path / "ep.mp3").write_bytes(b"mp3")
    done = publish(config, str(tmp_path / "ep.mp3"), "--prefix", "podcast/")
    assert done.returncode == 2
    assert f"{config} has no storage.s3" in done.stderr


def test_a_bucket_that_is_not_there_stops_at_the_first_file(tmp_path, bucket) -> None:
    (tmp_path / "a.mp3").write_bytes(b"a")
    (tmp_path / "b.mp3").write_bytes(b"b")
    config = node_file(tmp_path, bucket)
    config.write_text(config.read_text().replace(bucket.name, bucket.name + "-missing"))

    done = publish(config, str(tmp_path / "a.mp3"), str(tmp_path / "b.mp3"), "--prefix", "p/")

    assert done.returncode == 1
    assert "p/a.mp3: upload failed: NoSuchBucket" in done.stderr
    assert "stopped; 0 of 2 files published" in done.stderr
    assert "Traceback" not in done.stderr


TOKEN = "sync-admin-token-0123456789"


def regions(**healthy: bool) -> dict[str, Region]:
    return {
        name.replace("_", "-"): Region(ok, None if ok else "connect timeout")
        for name, ok in healthy.items()
    }


@pytest.fixture
def lesson(tmp_path: Path) -> Path:
    path = tmp_path / "a.mp4"
    path.write_bytes(payload(100_000, "a.mp4"))
    return path


async def test_publish_nudges_the_daemon_and_waits_for_every_healthy_region(
    aiohttp_server, tmp_path, bucket, lesson
) -> None:
    daemon = FakeSyncDaemon(
        bucket, TOKEN, regions(eu_central=True, us_east=True, ap_south=False),
        order=["eu-central", "us-east", "ap-south"],
    )  # fmt: skip
    server = await aiohttp_server(daemon.app())
    config = node_file(tmp_path, bucket, admin={"token": TOKEN})

    done = await publish_async(
        config, str(lesson), "--prefix", "courses/x/", "--sync", str(server.make_url("")),
        "--wait", "--timeout", "30s",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert daemon.nudges == 1
    assert f"nudged the sync daemon at {server.make_url('')}: listing pass 1" in out
    assert "ap-south is unhealthy (connect timeout): not waiting for it" in out
    assert out.index("eu-central holds courses/x/a.mp4 (") < out.index(
        "us-east holds courses/x/a.mp4 ("
    )
    assert "ap-south holds" not in out
    assert "every healthy region holds the published file: eu-central, us-east" in out
    assert set(daemon.tokens_seen) == {TOKEN}


async def test_waiting_gives_up_at_the_timeout_naming_what_is_missing(
    aiohttp_server, tmp_path, bucket, lesson
) -> None:
    daemon = FakeSyncDaemon(
        bucket, TOKEN, regions(eu_central=True, us_east=True),
        order=["eu-central", "us-east"], stuck={"us-east"},
    )  # fmt: skip
    server = await aiohttp_server(daemon.app())
    config = node_file(tmp_path, bucket, admin={"token": TOKEN})

    done = await publish_async(
        config, str(lesson), "--prefix", "courses/x/", "--sync", str(server.make_url("")),
        "--wait", "--timeout", "1s",
    )  # fmt: skip

    assert done.returncode == 1
    assert "eu-central holds courses/x/a.mp4" in done.stdout
    assert "gave up after 1.0 s; still missing: us-east (courses/x/a.mp4)" in done.stderr
    # The upload itself stands: the daemon's next pass will carry it.
    assert "courses/x/a.mp4" in held(bucket)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_daemon_is_a_warning_not_a_failure(tmp_path, bucket, lesson) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    done = await publish_async(
        node_file(tmp_path, bucket), str(lesson), "--prefix", "courses/x/", "--sync", url
    )
    assert done.returncode == 0, done.stderr
    assert f"warning: the sync daemon was not nudged: {url}/admin/sync/nudge: unreachable" in (
        done.stderr
    )
    assert "its next listing of the bucket will find the new objects" in done.stderr
    assert "courses/x/a.mp4" in held(bucket)


async def test_wait_without_a_daemon_to_ask_is_refused_before_uploading(
    tmp_path, bucket, lesson
) -> None:
    done = await publish_async(node_file(tmp_path, bucket), str(lesson), "--prefix", "x/", "--wait")
    assert done.returncode == 2
    assert "--wait needs a sync daemon: give --sync URL" in done.stderr
    assert held(bucket) == {}


@pytest.mark.parametrize(
    ("from_file", "from_env", "in_settings", "accepted"),
    [
        (TOKEN, "wrong-env-token", "wrong-settings-token", True),
        (None, TOKEN, "wrong-settings-token", True),
        (None, None, TOKEN, True),
        (None, "wrong-env-token", TOKEN, False),
    ],
    ids=["token-file-first", "then-the-environment", "then-admin-token", "env-over-settings"],
)
async def test_the_admin_token_comes_from_the_file_the_environment_or_the_settings(
    aiohttp_server, tmp_path, bucket, lesson, from_file, from_env, in_settings, accepted
) -> None:
    daemon = FakeSyncDaemon(bucket, TOKEN, regions(eu_central=True), order=["eu-central"])
    server = await aiohttp_server(daemon.app())
    args = ["--prefix", "x/", "--sync", str(server.make_url("")), "--wait", "--timeout", "20s"]
    if from_file is not None:
        token_file = tmp_path / "token"
        token_file.write_text(from_file + "\n")
        args += ["--token-file", str(token_file)]
    env = {"CASTEDGE_ADMIN_TOKEN": from_env} if from_env is not None else {}
    config = node_file(tmp_path, bucket, admin={"token": in_settings})

    done = await publish_async(config, str(lesson), *args, env=env)

    if accepted:
        assert done.returncode == 0, done.stderr
        assert daemon.nudges == 1
    else:
        assert done.returncode == 1
        assert "/admin/sync/status: refused: missing or wrong admin token" in done.stderr
        assert "the admin token was read from $CASTEDGE_ADMIN_TOKEN" in done.stderr
        assert daemon.nudges == 0
    for secret in {TOKEN, from_env, in_settings} - {None}:
        assert secret not in done.stdout + done.stderr
