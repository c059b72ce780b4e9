"""Download counts from a real origin, fetched with curl as real apps fetch, by ``castedge stats``.

Two episodes made with ffmpeg, each behind an ID3v2 tag with artwork: ep1, 3 minutes
at 128 kbps, and ep2, 4.5 minutes at 320 kbps (so Spotify's 10 MB ranges take two
requests). A listener needs one minute of audio after the tag: ``bitrate × 60 / 8``
bytes (960 000 for ep1, 2 400 000 for ep2). Each scenario comes from its own address
(sent in X-Forwarded-For by curl, which the node trusts from 127.0.0.1), and its
expected count is worked out below from the bytes its client received.
"""

from __future__ import annotations

import datetime
import gzip
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from analytics import Row
from castedge.locals3 import LocalS3
from tests.conftest import Bucket
from tests.support.episodes import MadeEpisode, make_episode
from tests.support.process import CASTEDGE, CastedgeProcess

pytestmark = pytest.mark.e2e

TOKEN = "stats-admin-token-0123456789"
EP1, EP2 = "podcast/ep1.mp3", "podcast/ep2.mp3"
#: More downloads of one episode from one address in a day are flagged.
LIMIT = 3
GEOIP = Path(__file__).parents[1] / "data" / "maxmind" / "GeoIP2-City-Test.mmdb"

APPLE = "Podcasts/1650.20 CFNetwork/1408.0.4 Darwin/22.5.0"
SPOTIFY = "Spotify/8.9.10 Android/34 (Pixel 8)"
ANTENNAPOD = "AntennaPod/3.4.0"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
OVERCAST = "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)"
POCKET_CASTS = "Pocket Casts"
CASTRO = "Castro 2024.11/1234"
PODCAST_ADDICT = "PodcastAddict/v5 (+https://podcastaddict.com/; Android podcast app)"
WATCH = "atc/1.0 watchOS/10.5 model/Watch6,1 hwp/t8301 build/21T576 (6; dt:228)"


def utc_day(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).date().isoformat()


@dataclass
class Listener:
    """One scenario's client: what it asked for, and the bytes of the file it received."""

    name: str
    episode: str
    address: str
    agent: str
    app: str | None
    country: str
    spans: list[tuple[int, int]] = field(default_factory=list)
    requests: int = 0


def union(spans: list[tuple[int, int]], low: int, high: int) -> int:
    """Bytes of [low, high) in at least one span: the test's own reckoning."""
    covered = set()
    for start, stop in spans:
        covered.update(range(max(start, low), min(stop, high)))
    return len(covered)


def downloads_by_the_rules(listener: Listener, episode: MadeEpisode) -> int:
    """One minute of audio after the tag, at the episode's bitrate, is a download."""
    return 1 if union(listener.spans, episode.tag, episode.size) >= episode.minute else 0


class Node:
    def __init__(self, proc: CastedgeProcess, workdir: Path, bucket: Bucket) -> None:
        self.proc = proc
        self.workdir = workdir
        self.bucket = bucket
        self.log = workdir / "downloads.log"
        self.runs = 0

    def url(self, key: str) -> str:
        return self.proc.url(key)

    def curl(
        self, listener: Listener, *args: str, range_: str | None = None, head: bool = False
    ) -> int:
        """Fetch the listener's episode with curl as its app would; the body bytes received."""
        forwarded = f"X-Forwarded-For: {listener.address}"
        command = ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}",
                   "-A", listener.agent, "-H", forwarded, *args]  # fmt: skip
        if head:
            command.append("-I")
        if range_ is not None:
            command += ["-r", range_]
        done = subprocess.run(
            [*command, self.url(listener.episode)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        listener.requests += 1
        received = int(done.stdout)
        if not head and received:
            start = int(range_.split("-")[0]) if range_ else 0
            listener.spans.append((start, start + received))
        return received

    def cut(self, listener: Listener, count: int, *args: str) -> None:
        """GET the whole episode, read ``count`` bytes, and kill curl: a broken connection."""
        proc = subprocess.Popen(
            ["curl", "-sS", "-A", listener.agent, "-H", f"X-Forwarded-For: {listener.address}",
             *args, self.url(listener.episode)],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        got = 0
        while got < count:
            chunk = proc.stdout.read1(count - got)
            assert chunk, "the origin ended the body first"
            got += len(chunk)
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        listener.requests += 1
        listener.spans.append((0, got))

    def rows(self, count: int) -> list[Row]:
        deadline = time.monotonic() + 15
        while True:
            lines = self.log.read_text().splitlines() if self.log.exists() else []
            if len(lines) >= count:
                return [Row.from_line(line) for line in lines]
            assert time.monotonic() < deadline, f"{len(lines)} rows in the log, not {count}"
            time.sleep(0.05)

    def stats(self, *args: str, config: Path | None = None, check: bool = True) -> str:
        """``castedge stats ARGS --config …``, each run on a store of its own unless told."""
        self.runs += 1
        db = [] if "--db" in args else ["--db", str(self.workdir / f"run{self.runs}.db")]
        command = [CASTEDGE, "stats", *args, *db, "--config", str(config or self.proc.config_path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if check:
            assert done.returncode == 0, done.stderr
            return done.stdout
        return done.stdout + done.stderr

    def stats_json(self, *args: str, **kw: Any) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.stats(*args, "--json", **kw))
        return result


@pytest.fixture(scope="module")
def episodes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MadeEpisode]:
    made = tmp_path_factory.mktemp("episodes")
    return {
        EP1: make_episode(made / "ep1.mp3", seconds=180, kbps=128, artwork=700),
        EP2: make_episode(made / "ep2.mp3", seconds=270, kbps=320, artwork=400),
    }


@pytest.fixture(scope="module")
def node(
    s3: LocalS3, episodes: dict[str, MadeEpisode], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    workdir = tmp_path_factory.mktemp("node")
    bucket = Bucket(s3)
    for key, episode in episodes.items():
        bucket.put(key, episode.read(), ContentType="audio/mpeg")
    config = {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": s3.url}},
        "cache": {"dir": str(workdir / "cache"), "max_size": "1GB"},
        "origin": {
            "listen": "127.0.0.1:0",
            "access_log": None,
            "trusted_proxies": ["127.0.0.1"],
        },
        "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
        "analytics": {"log": str(workdir / "downloads.log"), "address_limit": LIMIT},
    }
    proc = CastedgeProcess("origin", config, workdir).start()
    try:
        yield Node(proc, workdir, bucket)
    finally:
        proc.stop()


@dataclass
class Played:
    listeners: list[Listener]
    rows: list[Row]
    day: str
    cut_read: int


@pytest.fixture(scope="module")
def played(node: Node, episodes: dict[str, MadeEpisode]) -> Played:
    """Every app's request pattern, once, against the running node."""
    began = time.time()
    ep1, ep2 = episodes[EP1], episodes[EP2]
    # Warm the cache as an operator does before a release (no media request, no row), so
    # the counter reads each episode's bitrate from the cached copy.
    prefetch = urllib.request.Request(
        f"{node.proc.urls['admin']}/admin/prefetch?wait=1",
        data=json.dumps({"keys": [EP1, EP2]}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(prefetch, timeout=60) as resp:
        assert resp.status == 200

    apple = Listener("apple", EP1, "175.16.199.10", APPLE, "Apple Podcasts", "CN")
    node.curl(apple, range_="0-1")  # the probe, filtered
    node.curl(apple, range_="0-2097151")  # then large ranges, never If-Range
    node.curl(apple, range_=f"2097152-{ep1.size - 1}")

    spotify = Listener("spotify", EP2, "67.43.156.11", SPOTIFY, "Spotify", "BT")
    node.curl(spotify, range_="0-10485759")
    node.curl(spotify, range_=f"10485760-{ep2.size - 1}")

    antennapod = Listener("antennapod", EP1, "192.0.2.12", ANTENNAPOD, "AntennaPod", "unknown")
    node.curl(antennapod, head=True)  # the size first
    cut_read = 1_000_000
    node.cut(antennapod, cut_read)  # the connection breaks
    node.curl(antennapod, range_=f"{cut_read}-")  # it resumes with what it kept

    # An <audio preload> element: a few hundred KB, then it stops.
    browser = Listener("browser", EP2, "192.0.2.13", CHROME, "Google Chrome", "unknown")
    node.cut(browser, 300_000, "--limit-rate", "1M", "-r", "0-")

    bot = Listener("bot", EP1, "192.0.2.14", GOOGLEBOT, None, "unknown")
    node.curl(bot)

    overcast = Listener("overcast twice", EP1, "192.0.2.15", OVERCAST, "Overcast", "unknown")
    node.curl(overcast)
    node.curl(overcast)

    # Two listeners behind one address, each with its own app.
    pocket = Listener("pocket casts", EP1, "175.16.199.16", POCKET_CASTS, "Pocket Casts", "CN")
    castro = Listener("castro", EP1, "175.16.199.16", CASTRO, "Castro", "CN")
    node.curl(pocket)
    node.curl(castro)

    # One phone on two addresses of one IPv6 /64, halves of the file; and another /64.
    half = ep1.size // 2
    phone = Listener("ipv6 /64", EP1, "2001:218:a:b::1", PODCAST_ADDICT, "Podcast Addict", "JP")
    node.curl(phone, range_=f"0-{half - 1}")
    phone.address = "2001:218:a:b:ffff:ffff:ffff:2"
    node.curl(phone, range_=f"{half}-")
    other = Listener("other /64", EP1, "2001:218:a:c::1", PODCAST_ADDICT, "Podcast Addict", "JP")
    node.curl(other)

    # One address with more downloads of ep1 than a listener makes: flagged.
    crowd = [
        Listener(f"crowd {n}", EP1, "192.0.2.99", f"Player{n}/1.0", None, "unknown")
        for n in range(LIMIT + 1)
    ]
    for member in crowd:
        node.curl(member)

    watch = Listener("apple watch", EP1, "192.0.2.17", WATCH, None, "unknown")
    node.curl(watch)

    everyone = [apple, spotify, antennapod, browser, bot, overcast, pocket, castro, phone, other]
    everyone += [*crowd, watch]
    rows = node.rows(sum(listener.requests for listener in everyone))
    if utc_day(began) != utc_day(time.time()):
        pytest.skip("the scenarios ran across midnight UTC, into two counting windows")
    return Played(everyone, rows, utc_day(began), cut_read)


def listener(played: Played, name: str) -> Listener:
    return next(found for found in played.listeners if found.name == name)


def test_each_apps_downloads_are_what_the_rules_say(
    node: Node, played: Played, episodes: dict[str, MadeEpisode]
) -> None:
    expected = {
        "apple": 1,  # the probe is filtered; the two ranges hold the whole file
        "spotify": 1,  # two 10 MB ranges: the whole file
        "antennapod": 1,  # cut, then resumed: bytes 0-999 999 and 1 000 000 on
        "browser": 0,  # 300 KB: the tag and far less than a minute of 320 kbps
        "overcast twice": 1,  # the same listener twice in one UTC day
        "pocket casts": 1,
        "castro": 1,  # another app behind the same address: another listener
        "ipv6 /64": 1,  # two addresses, one /64: one listener, both halves
        "other /64": 1,
    }
    for name, downloads in expected.items():
        found = listener(played, name)
        assert downloads_by_the_rules(found, episodes[found.episode]) == downloads, name
    # The browser's server-side count (bytes the kernel took, not only those curl read)
    # must still be short of a minute, or this scenario would not be the one it means.
    ep2 = episodes[EP2]
    browser = [r for r in played.rows if r.agent == CHROME]
    assert sum(r.sent for r in browser) < ep2.tag + ep2.minute

    report = node.stats_json("--since", played.day)
    assert report["episodes"][EP1]["downloads"] == 7
    assert report["episodes"][EP1]["listeners"] == 7
    assert report["episodes"][EP2]["downloads"] == 1
    assert report["episodes"][EP2]["listeners"] == 1
    assert report["filtered"] == {
        "probe": 1,
        "method": 1,
        "short": 1,
        "bot": 1,
        "apple_watch": 1,
        "anomalous_address": LIMIT + 1,
    }
    (flag,) = report["flagged"]
    assert (flag["episode"], flag["downloads"], flag["requests"]) == (EP1, LIMIT + 1, LIMIT + 1)
    assert flag["address"].startswith("h:"), "addresses are hashed by default"


def test_bytes_are_those_the_counted_downloads_were_sent(
    node: Node, played: Played, episodes: dict[str, MadeEpisode]
) -> None:
    ep1, ep2 = episodes[EP1], episodes[EP2]
    cut_row = next(r for r in played.rows if r.agent == ANTENNAPOD and r.method == "GET")
    assert played.cut_read <= cut_row.sent <= ep1.size
    # Whole files: apple, overcast ×2, pocket casts, castro, the /64 halves, the other
    # /64 (7); antennapod: what the cut request was sent, then the rest.
    ep1_bytes = 7 * ep1.size + cut_row.sent + (ep1.size - played.cut_read)
    report = node.stats_json("--since", played.day)
    assert report["episodes"][EP1]["bytes"] == ep1_bytes
    assert report["episodes"][EP2]["bytes"] == ep2.size


def test_thresholds_come_from_the_cached_episodes_real_bitrate(
    node: Node, played: Played, episodes: dict[str, MadeEpisode]
) -> None:
    report = node.stats_json("--since", played.day)
    for key, episode in episodes.items():
        assert report["thresholds"][key] == {
            "rule": "one minute",
            "kbps": episode.bitrate / 1000,
            "audio_start": episode.tag,
            "needed_bytes": episode.minute,
            "source": "cache",
        }


def test_the_table_names_each_episode_and_every_reason(node: Node, played: Played) -> None:
    text = node.stats("--since", played.day)
    lines = text.splitlines()
    ep1 = next(line.split() for line in lines if line.startswith(EP1))
    ep2 = next(line.split() for line in lines if line.startswith(EP2))
    assert ep1[1:3] == ["7", "7"] and ep2[1:3] == ["1", "1"]
    assert "128 kbps (cache)" in text and "320 kbps (cache)" in text
    for reason in ("probe", "method", "short", "bot", "apple_watch", "anomalous_address"):
        assert f"  {reason}: " in text, reason
    assert "Flagged addresses" in text


def test_by_app_uses_the_user_agent_lists_names(
    node: Node, played: Played, episodes: dict[str, MadeEpisode]
) -> None:
    report = node.stats_json("--since", played.day, "--by", "app")
    ep1 = {app: t["downloads"] for app, t in report["episodes"][EP1]["by_app"].items()}
    assert ep1 == {
        "Apple Podcasts": 1,
        "AntennaPod": 1,
        "Overcast": 1,
        "Pocket Casts": 1,
        "Castro": 1,
        "Podcast Addict": 2,
    }
    assert report["episodes"][EP2]["by_app"] == {
        "Spotify": {"downloads": 1, "listeners": 1, "bytes": episodes[EP2].size}
    }


def test_by_country_locates_the_hashed_listeners_by_their_network(
    node: Node, played: Played
) -> None:
    report = node.stats_json(
        "--since", played.day, "--by", "country", "--geoip", str(GEOIP),
    )  # fmt: skip
    ep1 = {code: t["downloads"] for code, t in report["episodes"][EP1]["by_country"].items()}
    # apple and the pair behind one address in China, the phones in Japan; antennapod and
    # overcast come from documentation addresses no database places.
    assert ep1 == {"CN": 3, "JP": 2, "unknown": 2}
    assert report["episodes"][EP2]["by_country"]["BT"]["downloads"] == 1


def test_by_day_and_csv(node: Node, played: Played) -> None:
    text = node.stats("--since", played.day, "--by", "day", "--csv")
    lines = text.splitlines()
    assert lines[0] == "episode,day,downloads,listeners,bytes"
    assert lines[1].startswith(f"{EP1},{played.day},7,7,")
    assert lines[2].startswith(f"{EP2},{played.day},1,1,")


def test_one_episode(node: Node, played: Played) -> None:
    report = node.stats_json("--since", played.day, "--episode", EP2)
    assert list(report["episodes"]) == [EP2]


def test_the_admin_listener_serves_the_same_counts(node: Node, played: Played) -> None:
    url = f"{node.proc.urls['admin']}/admin/stats?since={played.day}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        served = json.loads(resp.read())
    printed = node.stats_json("--since", played.day)
    assert served == printed
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=30)
    refused.value.close()
    assert refused.value.code == 401


def test_the_store_reads_only_new_lines_across_rotations(
    node: Node, played: Played, tmp_path: Path
) -> None:
    lines = node.log.read_text().splitlines(keepends=True)
    log = tmp_path / "downloads.log"
    db = str(tmp_path / "analytics.db")

    def run() -> tuple[str, dict[str, Any]]:
        done = subprocess.run(
            [CASTEDGE, "stats", "--since", played.day, "--json", "--db", db,
             "--config", str(node.proc.config_path), str(log),
             *(str(p) for p in sorted(tmp_path.glob("downloads.log.*")))],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return done.stderr, json.loads(done.stdout)

    third = len(lines) // 3
    log.write_text("".join(lines[:third]) + '{"half a line')  # still being written
    said, _ = run()
    assert f"{third} new row(s)" in said
    said, _ = run()
    assert "0 new row(s)" in said
    log.write_text("".join(lines[: 2 * third]))
    said, _ = run()
    assert f"{third} new row(s)" in said
    # logrotate: the file moves, is compressed, and a new one begins.
    with log.open("rb") as src, gzip.open(tmp_path / "downloads.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    log.write_text("".join(lines[2 * third :]))
    said, counted = run()
    assert f"{len(lines) - 2 * third} new row(s)" in said
    everything = node.stats_json("--since", played.day, "--db", str(tmp_path / "whole.db"))
    assert counted["episodes"] == everything["episodes"]
    assert counted["filtered"] == everything["filtered"]


def test_emitted_rows_load_into_the_clickhouse_table(node: Node, played: Played) -> None:
    table = node.stats("--emit", "clickhouse-table")
    assert "CREATE TABLE IF NOT EXISTS castedge_requests" in table
    columns = [line.split()[0] for line in table.split("(\n", 1)[1].split("\n)")[0].splitlines()]
    text = node.stats("--since", played.day, "--emit", "jsonl")
    emitted = [json.loads(line) for line in text.splitlines()]
    assert len(emitted) == len(node.log.read_text().splitlines())
    assert all(list(row) == columns for row in emitted)
    assert {row["filtered"] for row in emitted} >= {"", "probe", "bot", "method", "apple_watch"}
    assert len({row["id"] for row in emitted}) == len(emitted)


def test_output_into_a_closed_pipe_ends_quietly(node: Node, played: Played) -> None:
    # ``castedge stats … | head`` once head has what it wants: the pipe has no reader.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [CASTEDGE, "stats", "--since", played.day, "--emit", "jsonl",
             "--db", str(node.workdir / "closed-pipe.db"), "--config", str(node.proc.config_path)],
            stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(writer)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_without_the_cache_the_bitrate_comes_from_a_ranged_get_on_storage(
    node: Node, played: Played, episodes: dict[str, MadeEpisode], tmp_path: Path
) -> None:
    elsewhere = {
        "storage": {"s3": {"bucket": node.bucket.name, "endpoint_url": node.bucket.server.url}},
        "analytics": {"log": str(node.log), "address_limit": LIMIT},
    }
    config = tmp_path / "elsewhere.yaml"
    config.write_text(json.dumps(elsewhere))
    before = {key: len(node.bucket.server.gets(f"/{node.bucket.name}/{key}")) for key in episodes}
    report = node.stats_json("--since", played.day, "--db", str(tmp_path / "s.db"), config=config)
    for key, episode in episodes.items():
        assert report["thresholds"][key]["source"] == "storage"
        assert report["thresholds"][key]["audio_start"] == episode.tag
        seen = node.bucket.server.gets(f"/{node.bucket.name}/{key}")[before[key] :]
        assert seen and all(r.range is not None and r.range.startswith("bytes=") for r in seen)
    assert report["episodes"][EP1]["downloads"] == 7


def test_a_given_bitrate_for_episodes_castedge_cannot_read(
    node: Node, played: Played, tmp_path: Path
) -> None:
    # A machine with only the logs: no storage, no cache, just the counting settings.
    config = tmp_path / "logs-only.yaml"
    config.write_text(json.dumps({"analytics": {"address_limit": LIMIT}}))
    done = subprocess.run(
        [CASTEDGE, "stats", "--since", played.day, "--json", "--db", str(tmp_path / "g.db"),
         "--config", str(config), "--bitrate", f"{EP2}=320", str(node.log)],
        capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert report["thresholds"][EP2]["source"] == "given"
    assert report["thresholds"][EP1] == {
        "rule": "complete file",
        "kbps": None,
        "audio_start": 0,
        "needed_bytes": report["thresholds"][EP1]["needed_bytes"],
        "source": "unknown",
    }
    # ep1 by the complete-file rule: the same listeners received all of it.
    assert report["episodes"][EP1]["downloads"] == 7
    assert report["episodes"][EP2]["downloads"] == 1


def test_refreshing_the_user_agent_list(node: Node, played: Played, tmp_path: Path) -> None:
    agents = tmp_path / "user-agents.json"
    config = tmp_path / "node.yaml"
    settings = yaml.safe_load(node.proc.config_path.read_text())
    settings["analytics"]["agents"] = str(agents)
    config.write_text(json.dumps(settings))
    downloaded = tmp_path / "opawg.json"
    downloaded.write_text(
        json.dumps(
            [
                {"user_agents": ["^Castro "], "bot": True},
                {"user_agents": ["^Overcast/"], "app": "Overcast"},
            ]
        )
    )
    out = node.stats("--refresh-agents", str(downloaded), config=config)
    assert f"{agents}: 2 entries" in out
    report = node.stats_json(
        "--since", played.day, "--by", "app", "--db", str(tmp_path / "r.db"), config=config
    )  # fmt: skip
    # By this list Castro is a bot, and Googlebot an unknown app that got the whole file.
    assert report["filtered"]["bot"] == 1
    apps = report["episodes"][EP1]["by_app"]
    assert "Castro" not in apps and apps["Overcast"]["downloads"] == 1
    assert apps["unknown"]["downloads"] == 1 + 5, "Googlebot, and the apps this list lacks"
    downloaded.write_text(json.dumps([{"user_agents": ["(unclosed"]}]))
    said = node.stats("--refresh-agents", str(downloaded), config=config, check=False)
    assert "entry 0: user_agents pattern '(unclosed' does not compile" in said


def test_a_download_log_that_cannot_be_opened_stops_the_node_naming_the_key(
    tmp_path: Path,
) -> None:
    (tmp_path / "media").mkdir()
    config = tmp_path / "node.yaml"
    config.write_text(
        json.dumps(
            {
                "storage": {"dir": str(tmp_path / "media")},
                "cache": {"dir": str(tmp_path / "cache"), "max_size": "10MB"},
                "origin": {"listen": "127.0.0.1:0", "access_log": None},
                "admin": {"listen": "127.0.0.1:0"},
                "analytics": {"log": str(tmp_path / "no-such-dir" / "downloads.log")},
            }
        )
    )
    done = subprocess.run(
        [CASTEDGE, "origin", "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert (
        f"castedge origin: cannot start: analytics.log {tmp_path}/no-such-dir/downloads.log: "
        "No such file or directory"
    ) in done.stderr.splitlines()
