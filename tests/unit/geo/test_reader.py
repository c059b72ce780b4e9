"""Reloading a replaced database file while lookups carry on."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import geoip2.database
import pytest

from geo import DatabaseUnreadable, InvalidSetting
from geo.reader import ReloadingReader
from tests.unit.geo import mmdb

CLIENT = "192.0.2.1"


@pytest.fixture(scope="module")
def db_a(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A database placing CLIENT in São Paulo."""
    return mmdb.build(tmp_path_factory.mktemp("a") / "a.mmdb", [("192.0.2.0/24", mmdb.SAO_PAULO)])


@pytest.fixture(scope="module")
def db_b(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A database placing CLIENT in Sydney, plus enough else to differ in size."""
    return mmdb.build(
        tmp_path_factory.mktemp("b") / "b.mmdb",
        [("192.0.2.0/24", mmdb.SYDNEY), ("198.51.100.0/24", mmdb.MUMBAI)],
    )


@pytest.fixture(scope="module")
def db_country(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A well-formed database of a type that cannot answer City lookups."""
    return mmdb.build(
        tmp_path_factory.mktemp("c") / "c.mmdb",
        [("192.0.2.0/24", {"country": {"iso_code": "AU"}})],
        database_type="castedge-Country-Test",
    )


def install(path: Path, data: bytes) -> None:
    """Put a new version in place the way geoipupdate does: write beside, then rename."""
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    os.replace(partial, path)


def city_of(reader: ReloadingReader) -> str | None:
    return reader.city(CLIENT).city.name


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


def test_answers_from_the_file(tmp_path: Path, db_a: bytes) -> None:
    path = tmp_path / "city.mmdb"
    install(path, db_a)
    with ReloadingReader(path) as reader:
        assert city_of(reader) == "São Paulo"
        assert reader.metadata().database_type == "castedge-City-Test"


def test_the_first_database_must_be_usable(tmp_path: Path, db_a: bytes, db_country: bytes) -> None:
    path = tmp_path / "city.mmdb"
    with pytest.raises(DatabaseUnreadable, match="no such file"):
        ReloadingReader(path)
    for data, message in [
        (b"", "cannot be opened"),
        (b"not a database\n", "cannot be opened"),
        (db_a[: len(db_a) // 2], "cannot be opened"),
        (db_country, "castedge-Country-Test database, not a City database"),
    ]:
        install(path, data)
        with pytest.raises(DatabaseUnreadable, match=message) as caught:
            ReloadingReader(path)
        assert caught.value.path == str(path)


def test_check_interval_must_not_be_negative(tmp_path: Path, db_a: bytes) -> None:
    path = tmp_path / "city.mmdb"
    install(path, db_a)
    with pytest.raises(InvalidSetting, match="check_interval"):
        ReloadingReader(path, check_interval=-1.0)


def test_a_replaced_file_is_picked_up(tmp_path: Path, db_a: bytes, db_b: bytes) -> None:
    path = tmp_path / "city.mmdb"
    install(path, db_a)
    reader = ReloadingReader(path, check_interval=0.0)
    assert not reader.maybe_reload()
    install(path, db_b)
    assert reader.maybe_reload()
    assert city_of(reader) == "Sydney"
    assert not reader.maybe_reload()
    assert (reader.reloads, reader.failed_reloads, reader.last_error) == (1, 0, None)


def test_the_file_is_checked_at_most_once_per_interval(
    tmp_path: Path, db_a: bytes, db_b: bytes
) -> None:
    now = [1000.0]
    path = tmp_path / "city.mmdb"
    install(path, db_a)
    reader = ReloadingReader(path, clock=lambda: now[0], check_interval=60.0)
    install(path, db_b)
    now[0] += 59.0
    assert not reader.maybe_reload()
    assert city_of(reader) == "São Paulo"
    now[0] += 1.0
    assert reader.maybe_reload()
    assert city_of(reader) == "Sydney"
    install(path, db_a)
    now[0] += 1.0
    assert not reader.maybe_reload()
    assert reader.maybe_reload(force=True)
    assert city_of(reader) == "São Paulo"


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda b, c: b[: len(b) // 2], id="half-written"),
        pytest.param(lambda b, c: b"", id="empty"),
        pytest.param(lambda b, c: b"<html>502 Bad Gateway</html>\n", id="not-a-database"),
        pytest.param(lambda b, c: c, id="country-database"),
    ],
)
def test_a_broken_replacement_keeps_the_old_database_serving(
    tmp_path: Path,
    db_a: bytes,
    db_b: bytes,
    db_country: bytes,
    broken: Callable[[bytes, bytes], bytes],
) -> None:
    path = tmp_path / "city.mmdb"
    install(path, db_a)
    reader = ReloadingReader(path, check_interval=0.0)
    install(path, broken(db_b, db_country))
    assert not reader.maybe_reload()
    assert city_of(reader) == "São Paulo"
    assert reader.failed_reloads == 1
    assert isinstance(reader.last_error, DatabaseUnreadable)
    assert reader.last_error.path == str(path)
    # The same broken file is reported once, not at every check.
    assert not reader.maybe_reload()
    assert reader.failed_reloads == 1
    install(path, db_b)
    assert reader.maybe_reload()
    assert city_of(reader) == "Sydney"
    assert reader.last_error is None


def test_a_deleted_file_keeps_the_old_database_serving(tmp_path: Path, db_a: bytes) -> None:
    path = tmp_path / "city.mmdb"
    install(path, db_a)
    reader = ReloadingReader(path, check_interval=0.0)
    path.unlink()
    assert not reader.maybe_reload()
    assert not reader.maybe_reload()
    assert city_of(reader) == "São Paulo"
    assert reader.failed_reloads == 1
    assert reader.last_error is not None
    assert "no such file" in str(reader.last_error)


MODES = [
    pytest.param(geoip2.database.MODE_AUTO, id="auto"),
    pytest.param(geoip2.database.MODE_MMAP, id="python-mmap"),
]


@pytest.mark.parametrize("mode", MODES)
def test_lookups_never_fail_while_the_file_is_swapped(
    tmp_path: Path, db_a: bytes, db_b: bytes, mode: int
) -> None:
    path = tmp_path / "city.mmdb"
    install(path, db_a)
    reader = ReloadingReader(path, check_interval=0.0, mode=mode)
    errors: list[BaseException] = []
    done = 0
    last: str | None = None
    stop = threading.Event()
    deadline = time.monotonic() + 10.0

    def look_up_in_a_tight_loop() -> None:
        nonlocal done, last
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                last = city_of(reader)
                done += 1
        except BaseException as exc:
            errors.append(exc)

    def caught_up(seen: int, serving: str) -> Callable[[], bool]:
        return lambda: bool(errors) or (done > seen + 1000 and last == serving)

    versions = [
        (db_b, "Sydney"),
        (db_a, "São Paulo"),
        (db_b[: len(db_b) // 2], None),
        (db_b, "Sydney"),
        (b"garbage", None),
        (db_a, "São Paulo"),
        (db_b, "Sydney"),
    ]
    worker = threading.Thread(target=look_up_in_a_tight_loop)
    worker.start()
    try:
        serving = "São Paulo"
        for data, city in versions:
            install(path, data)
            assert reader.maybe_reload() is (city is not None)
            serving = city or serving
            # Let the worker do lookups against this version before the next swap.
            wait_until(caught_up(done, serving))
            assert errors == []
    finally:
        stop.set()
        worker.join(timeout=10.0)
    assert not worker.is_alive()
    assert errors == []
    assert last == "Sydney"
    assert city_of(reader) == "Sydney"
    assert (reader.reloads, reader.failed_reloads) == (5, 2)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs Linux /proc")
@pytest.mark.parametrize("mode", MODES)
def test_replaced_versions_are_unmapped(
    tmp_path: Path, db_a: bytes, db_b: bytes, mode: int
) -> None:
    path = tmp_path / "city.mmdb"
    install(path, db_a)
    reader = ReloadingReader(path, check_interval=0.0, mode=mode)
    for data in [db_b, db_a, db_b, db_a, db_b]:
        install(path, data)
        assert reader.maybe_reload()
        city_of(reader)
    gc.collect()
    maps = Path("/proc/self/maps").read_text().splitlines()
    inodes = {line.split()[4] for line in maps if str(tmp_path) in line}
    assert len(inodes) == 1
    assert city_of(reader) == "Sydney"
