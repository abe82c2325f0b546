"""nameresolution.local: its files, how it tells live entries from stale ones, and its cache."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from mecha.blocks.nameresolution.errors import ResolverUnavailable
from mecha.blocks.nameresolution.models import Address, Instance
from mecha.components.nameresolution._settings import ResolverSettingsError
from mecha.components.nameresolution.local import _RESTAT_SECONDS as RESTAT_SECONDS
from mecha.components.nameresolution.local import LocalNameResolver

from .contexts import context

OpenLocal = Callable[..., Awaitable[LocalNameResolver]]
POLL_SECONDS = 0.02
DEADLINE_SECONDS = 10.0


@pytest.fixture
async def open_local(tmp_path: Path) -> AsyncIterator[OpenLocal]:
    opened: list[LocalNameResolver] = []

    async def open_one(**configuration: object) -> LocalNameResolver:
        resolver = LocalNameResolver()
        await resolver.init(context("nameresolution.local", configuration, tmp_path))
        opened.append(resolver)
        return resolver

    yield open_one
    for resolver in opened:
        await resolver.close()


def instance(
    app_id: str = "orders", port: int = 41000, namespace: str = "", pid: int = 0
) -> Instance:
    return Instance(app_id, namespace, "127.0.0.1", port, port + 1, port + 2, pid or os.getpid())


def address(of: Instance) -> Address:
    return Address(of.host, of.internal_port, of.grpc_port)


def entry_file(tmp_path: Path, app_id: str = "orders", port: int = 41000) -> Path:
    return tmp_path / "registry" / "ns-" / app_id / f"127%2E0%2E0%2E1_{port}.json"


def dead_pid() -> int:
    """The pid of a process that ran and was reaped."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(POLL_SECONDS)


async def test_an_entry_is_one_json_file_written_whole(
    open_local: OpenLocal, tmp_path: Path
) -> None:
    resolver = await open_local(leaseSeconds=30)
    announced = instance()

    await resolver.register(announced)

    path = entry_file(tmp_path)
    assert json.loads(path.read_text()) == {
        "appId": "orders",
        "namespace": "",
        "host": "127.0.0.1",
        "internalPort": 41000,
        "grpcPort": 41001,
        "httpPort": 41002,
        "pid": os.getpid(),
        "pidStart": json.loads(path.read_text())["pidStart"],
        "leaseSeconds": 30.0,
    }
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind
    await resolver.unregister(announced)
    assert not path.exists()


async def test_any_namespace_and_app_id_stay_inside_the_registry(
    open_local: OpenLocal, tmp_path: Path
) -> None:
    resolver = await open_local()
    odd = [
        instance("../../escape", 41000, "a/b"),
        instance("..", 41010, ".."),
        instance(".", 41020),
    ]
    for announced in odd:
        await resolver.register(announced)

    for announced in odd:
        assert await resolver.resolve(announced.app_id, announced.namespace) == [address(announced)]
    assert_all_inside(tmp_path, tmp_path / "registry")


def assert_all_inside(data_dir: Path, registry: Path) -> None:
    for path in data_dir.rglob("*.json"):
        assert path.resolve().is_relative_to(registry)
    assert sorted(p.name for p in data_dir.iterdir()) == ["registry"]


async def test_an_entry_whose_process_is_gone_is_ignored_and_removed(
    open_local: OpenLocal, tmp_path: Path
) -> None:
    owner, observer = await open_local(), await open_local()
    await owner.register(instance(pid=dead_pid()))
    alive = instance(port=41010)
    await owner.register(alive)

    assert await observer.resolve("orders", "") == [address(alive)]
    assert not entry_file(tmp_path).exists()
    assert entry_file(tmp_path, port=41010).exists()


async def test_an_entry_not_refreshed_within_its_lease_is_ignored_and_removed(
    open_local: OpenLocal, tmp_path: Path
) -> None:
    owner, observer = await open_local(leaseSeconds=60), await open_local()
    await owner.register(instance())
    age(entry_file(tmp_path), 61)

    assert await observer.resolve("orders", "") == []
    assert not entry_file(tmp_path).exists()


async def test_the_heartbeat_refreshes_entries_and_restores_removed_ones(
    open_local: OpenLocal, tmp_path: Path
) -> None:
    owner = await open_local(leaseSeconds=0.3)
    await owner.register(instance())
    path = entry_file(tmp_path)
    age(path, 100)

    await eventually(async_check(lambda: time.time() - path.stat().st_mtime < 50))

    path.unlink()  # as a peer does when it takes the owner for dead
    await eventually(async_check(path.exists))
    assert await (await open_local()).resolve("orders", "") == [address(instance())]


def async_check(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run


async def test_liveness_is_checked_again_only_after_cache_seconds(
    open_local: OpenLocal, tmp_path: Path
) -> None:
    owner = await open_local()
    caching, uncached = await open_local(cacheSeconds=3600), await open_local(cacheSeconds=0)
    await owner.register(instance())
    age(entry_file(tmp_path).parent, 10)  # the folder has not changed for a while
    assert await caching.resolve("orders", "") == [address(instance())]

    age(entry_file(tmp_path), 3600)  # its lease ran out, and nothing in the folder changed

    assert await caching.resolve("orders", "") == [address(instance())]
    assert await uncached.resolve("orders", "") == []


async def test_a_new_registration_is_seen_within_the_restat_interval_despite_the_cache(
    open_local: OpenLocal, tmp_path: Path
) -> None:
    first, second = instance(), instance(port=41010)
    await (await open_local()).register(first)
    age(entry_file(tmp_path).parent, 10)
    caching = await open_local(cacheSeconds=3600)
    assert await caching.resolve("orders", "") == [address(first)]

    await (await open_local()).register(second)

    await asyncio.sleep(RESTAT_SECONDS)
    assert await caching.resolve("orders", "") == [address(first), address(second)]


async def test_an_app_not_found_is_looked_for_again_at_once(open_local: OpenLocal) -> None:
    looking = await open_local()
    assert await looking.resolve("orders", "") == []

    await (await open_local()).register(instance())

    assert await looking.resolve("orders", "") == [address(instance())]


async def test_files_that_are_not_entries_are_ignored(
    open_local: OpenLocal, tmp_path: Path
) -> None:
    resolver = await open_local()
    await resolver.register(instance())
    folder = entry_file(tmp_path).parent
    (folder / "broken.json").write_text("{not json")
    (folder / "partial.json").write_text('{"host": "10.0.0.1"}')
    (folder / "notes.txt").write_text("hello")
    (folder / ".in-progress.json.1.tmp").write_text("{}")  # pid 1 runs: kept
    orphaned = folder / f".x.json.{dead_pid()}.tmp"
    orphaned.write_text("{}")

    assert await (await open_local()).resolve("orders", "") == [address(instance())]
    assert not orphaned.exists()
    assert (folder / ".in-progress.json.1.tmp").exists()


async def test_an_entry_without_a_pid_lives_by_its_lease(
    open_local: OpenLocal, tmp_path: Path
) -> None:
    owner = await open_local()
    pidless = Instance("orders", "", "127.0.0.1", 41000, 41001, 41002, pid=0)
    await owner.register(pidless)

    assert await (await open_local()).resolve("orders", "") == [address(pidless)]
    age(entry_file(tmp_path), 3600)
    assert await (await open_local()).resolve("orders", "") == []


async def test_configuration_errors_are_reported(tmp_path: Path) -> None:
    for configuration in ({"leaseSeconds": "soon"}, {"leaseSeconds": 0}, {"cacheSeconds": -1}):
        with pytest.raises(ResolverSettingsError, match=r"nameresolution\.local"):
            await LocalNameResolver().init(context("nameresolution.local", configuration, tmp_path))


async def test_an_unusable_data_folder_makes_it_unavailable(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(ResolverUnavailable, match="registry folder"):
        await LocalNameResolver().init(context("nameresolution.local", {}, not_a_folder))


async def test_a_closed_resolver_is_unavailable(open_local: OpenLocal) -> None:
    resolver = await open_local()
    await resolver.close()
    with pytest.raises(ResolverUnavailable):
        await resolver.resolve("orders", "")
    with pytest.raises(ResolverUnavailable):
        await resolver.register(instance())
    await resolver.close()  # twice is harmless
