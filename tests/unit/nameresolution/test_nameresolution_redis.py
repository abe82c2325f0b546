"""nameresolution.redis: its layout in Redis, leases, caching, and Redis going away.

Most tests use the shared Redis (127.0.0.1:6379) under a fresh key prefix; the ones that stop
Redis run a server of their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from mecha.blocks.nameresolution.errors import ResolverUnavailable
from mecha.blocks.nameresolution.models import Address, Instance
from mecha.components.nameresolution._settings import ResolverSettingsError
from mecha.components.nameresolution.redis import RedisNameResolver
from mecha.components.redis.client import ConnectionOptions, RedisClient

from .contexts import context
from .private_redis import PrivateRedis, free_port

SHARED_REDIS = "127.0.0.1:6379"
OpenRedis = Callable[..., Awaitable[RedisNameResolver]]
POLL_SECONDS = 0.05
DEADLINE_SECONDS = 10.0


@pytest.fixture
async def redis() -> AsyncIterator[RedisClient]:
    client = RedisClient(ConnectionOptions("127.0.0.1", 6379))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def prefix(redis: RedisClient) -> AsyncIterator[str]:
    prefix = f"unit-nr-{uuid.uuid4().hex[:12]}:"
    yield prefix
    reply = await redis.execute(b"KEYS", prefix + "*")
    assert isinstance(reply, list)
    if reply:
        await redis.execute(b"DEL", *[key for key in reply if isinstance(key, bytes)])


@pytest.fixture
async def open_redis(prefix: str, tmp_path: Path) -> AsyncIterator[OpenRedis]:
    opened: list[RedisNameResolver] = []

    async def open_one(**configuration: object) -> RedisNameResolver:
        values = {"redisHost": SHARED_REDIS, "keyPrefix": prefix, **configuration}
        resolver = RedisNameResolver()
        await resolver.init(context("nameresolution.redis", values, tmp_path))
        opened.append(resolver)
        return resolver

    yield open_one
    for resolver in opened:
        await resolver.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.close()


def instance(app_id: str = "orders", port: int = 41000, namespace: str = "") -> Instance:
    return Instance(app_id, namespace, "127.0.0.1", port, port + 1, port + 2, os.getpid())


def address(of: Instance) -> Address:
    return Address(of.host, of.internal_port, of.grpc_port)


MEMBER = b'{"host":"127.0.0.1","internalPort":41000,"grpcPort":41001}'


async def server_ms(redis: RedisClient) -> int:
    reply = await redis.execute(b"TIME")
    assert isinstance(reply, list)
    seconds, micros = (int(part) for part in reply if isinstance(part, bytes))
    return seconds * 1000 + micros // 1000


async def score(redis: RedisClient, key: str, member: bytes = MEMBER) -> float | None:
    reply = await redis.execute(b"ZSCORE", key, member)
    if reply is None:
        return None
    assert isinstance(reply, bytes)
    return float(reply)


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(POLL_SECONDS)


async def test_an_instance_is_a_member_scored_by_the_end_of_its_lease(
    open_redis: OpenRedis, redis: RedisClient, prefix: str
) -> None:
    resolver = await open_redis(leaseSeconds=30)
    before = await server_ms(redis)

    await resolver.register(instance(namespace="team:a"))

    key = prefix + "team%3Aa:orders"
    members = await redis.execute(b"ZRANGE", key, 0, -1)
    assert members == [MEMBER]
    assert json.loads(MEMBER) == {"host": "127.0.0.1", "internalPort": 41000, "grpcPort": 41001}
    expires = await score(redis, key)
    assert expires is not None
    assert before + 30_000 <= expires <= await server_ms(redis) + 30_000
    pttl = await redis.execute(b"PTTL", key)
    assert isinstance(pttl, int)
    assert 25_000 < pttl <= 30_000


async def test_members_whose_lease_ended_do_not_resolve(
    open_redis: OpenRedis, redis: RedisClient, prefix: str
) -> None:
    resolver = await open_redis(cacheSeconds=0)
    live = instance(port=41010)
    await resolver.register(live)
    # An owner that stopped renewing: its lease ended a second ago.
    await redis.execute(b"ZADD", prefix + ":orders", await server_ms(redis) - 1000, MEMBER)

    assert await resolver.resolve("orders", "") == [address(live)]


async def test_renewing_drops_ended_leases_and_keeps_the_key_for_the_longest(
    open_redis: OpenRedis, redis: RedisClient, prefix: str
) -> None:
    key = prefix + ":orders"
    await redis.execute(b"ZADD", key, await server_ms(redis) - 1000, b"ended")
    await redis.execute(b"ZADD", key, await server_ms(redis) + 60_000, b"long")

    await (await open_redis(leaseSeconds=5)).register(instance())

    assert await redis.execute(b"ZRANGE", key, 0, -1) == [MEMBER, b"long"]
    pttl = await redis.execute(b"PTTL", key)
    assert isinstance(pttl, int)
    assert 55_000 < pttl <= 60_000


async def test_the_heartbeat_renews_the_lease(
    open_redis: OpenRedis, redis: RedisClient, prefix: str
) -> None:
    resolver = await open_redis(leaseSeconds=0.3)
    await resolver.register(instance())
    first = await score(redis, prefix + ":orders")
    assert first is not None

    async def renewed() -> bool:
        current = await score(redis, prefix + ":orders")
        return current is not None and current > first

    await eventually(renewed)


async def test_a_resolver_sees_its_own_changes_at_once_and_others_after_its_cache(
    open_redis: OpenRedis,
) -> None:
    caching, other = await open_redis(cacheSeconds=3600), await open_redis()
    assert await caching.resolve("orders", "") == []

    await other.register(instance(port=41010))
    assert await caching.resolve("orders", "") == []  # cached, as documented
    assert await (await open_redis(cacheSeconds=0)).resolve("orders", "") == [
        address(instance(port=41010))
    ]

    await caching.register(instance())
    assert await caching.resolve("orders", "") == [
        address(instance()),
        address(instance(port=41010)),
    ]
    await caching.unregister(instance())
    assert await caching.resolve("orders", "") == [address(instance(port=41010))]


async def test_the_redis_database_is_chosen_by_redis_db(
    open_redis: OpenRedis, prefix: str, redis: RedisClient
) -> None:
    resolver = await open_redis(redisDB=3)
    await resolver.register(instance())

    assert await redis.execute(b"EXISTS", prefix + ":orders") == 0
    db3 = RedisClient(ConnectionOptions("127.0.0.1", 6379, db=3))
    try:
        assert await db3.execute(b"ZRANGE", prefix + ":orders", 0, -1) == [MEMBER]
    finally:
        await resolver.close()
        await db3.close()


async def test_no_redis_at_init_is_unavailable(tmp_path: Path) -> None:
    configuration = {"redisHost": f"127.0.0.1:{free_port()}"}
    with pytest.raises(ResolverUnavailable, match="cannot connect"):
        await RedisNameResolver().init(context("nameresolution.redis", configuration, tmp_path))


async def test_redis_going_away_makes_it_unavailable_and_registrations_return_with_it(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    configuration = {"redisHost": private_redis.address, "leaseSeconds": 0.3, "cacheSeconds": 0}
    owner, observer = RedisNameResolver(), RedisNameResolver()
    await owner.init(context("nameresolution.redis", configuration, tmp_path))
    await observer.init(context("nameresolution.redis", configuration, tmp_path))
    try:
        await owner.register(instance())
        assert await observer.resolve("orders", "") == [address(instance())]

        private_redis.stop()
        with pytest.raises(ResolverUnavailable):
            await observer.resolve("orders", "")
        with pytest.raises(ResolverUnavailable, match="retrying"):
            await owner.register(instance(port=41010))

        private_redis.start()  # empty: it kept nothing
        expected = [address(instance()), address(instance(port=41010))]

        async def announced_again() -> bool:
            return await observer.resolve("orders", "") == expected

        await eventually(announced_again)
    finally:
        await owner.close()
        await observer.close()


async def test_close_with_redis_gone_returns(private_redis: PrivateRedis, tmp_path: Path) -> None:
    owner = RedisNameResolver()
    configuration = {"redisHost": private_redis.address}
    await owner.init(context("nameresolution.redis", configuration, tmp_path))
    await owner.register(instance())
    private_redis.stop()

    await owner.close()
    with pytest.raises(ResolverUnavailable):
        await owner.resolve("orders", "")


@pytest.mark.parametrize(
    ("configuration", "message"),
    [
        ({}, "redisHost is required"),
        ({"redisHost": SHARED_REDIS, "leaseSeconds": 0.01}, "leaseSeconds must be at least"),
        ({"redisHost": SHARED_REDIS, "cacheSeconds": "later"}, "cacheSeconds"),
        ({"redisHost": SHARED_REDIS, "redisDB": -1}, "redisDB"),
    ],
)
async def test_configuration_errors_are_reported(
    configuration: dict[str, object], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ResolverSettingsError, match=message):
        await RedisNameResolver().init(context("nameresolution.redis", configuration, tmp_path))
