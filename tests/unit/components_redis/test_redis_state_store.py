"""state.redis beyond the conformance suite: daprd's storage layout, metadata, losing Redis."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mecha.blocks.state.errors import ETagMismatch, StoreUnavailable
from mecha.blocks.state.models import (
    Concurrency,
    DeleteRequest,
    GetRequest,
    SetRequest,
    TransactionRequest,
)
from mecha.components.base import ComponentContext
from mecha.components.redis.client import RedisClient
from mecha.components.redis.settings import SettingsError
from mecha.components.state.redis import RedisStateStore

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379


async def open_store(**metadata: str) -> RedisStateStore:
    store = RedisStateStore()
    metadata = {"redisHost": f"{REDIS_HOST}:{REDIS_PORT}"} | metadata
    await store.init(ComponentContext("statestore", "state.redis", "v1", metadata, "", Path(".")))
    return store


@pytest.fixture
async def store() -> AsyncIterator[RedisStateStore]:
    store = await open_store()
    try:
        yield store
    finally:
        await store.close()


async def test_reads_what_daprd_wrote_and_writes_the_same_layout(
    store: RedisStateStore, redis: RedisClient, key_prefix: str
) -> None:
    key = key_prefix + "app||order"
    await redis.execute(b"HSET", key, b"data", b'{"id":1}', b"version", b"7")

    item = await store.get(GetRequest(key))
    assert item is not None
    assert (item.data, item.etag, item.content_type, dict(item.metadata)) == (
        b'{"id":1}',
        "7",
        None,
        {},
    )

    await store.set(SetRequest(key, b'{"id":2}', etag="7"))
    assert await redis.execute(b"HGETALL", key) == [b"data", b'{"id":2}', b"version", b"8"]


async def test_content_type_is_an_extra_field_removed_when_a_later_write_has_none(
    store: RedisStateStore, redis: RedisClient, key_prefix: str
) -> None:
    key = key_prefix + "k"
    await store.set(SetRequest(key, b"<a/>", content_type="application/xml"))
    assert await redis.execute(b"HGET", key, b"contentType") == b"application/xml"

    await store.set(SetRequest(key, b"plain"))
    assert await redis.execute(b"HGETALL", key) == [b"data", b"plain", b"version", b"2"]


async def test_a_plain_string_value_reads_back_and_a_write_replaces_it(
    store: RedisStateStore, redis: RedisClient, key_prefix: str
) -> None:
    plain, in_transaction = key_prefix + "plain", key_prefix + "plain-tx"
    for key in (plain, in_transaction):
        await redis.execute(b"SET", key, b"legacy")

    item = await store.get(GetRequest(plain))
    assert item is not None
    assert (item.data, item.etag) == (b"legacy", None)
    items = await store.bulk_get([GetRequest(plain), GetRequest(key_prefix + "missing")])
    assert [i.data if i else None for i in items] == [b"legacy", None]

    await store.set(SetRequest(plain, b"new"))
    await store.transact(TransactionRequest((SetRequest(in_transaction, b"new"),)))
    for key in (plain, in_transaction):
        assert await redis.execute(b"HGETALL", key) == [b"data", b"new", b"version", b"1"]


async def test_later_operations_in_a_transaction_see_the_versions_earlier_ones_leave(
    store: RedisStateStore, key_prefix: str
) -> None:
    key, other = key_prefix + "k", key_prefix + "other"
    await store.set(SetRequest(key, b"v1"))
    item = await store.get(GetRequest(key))
    assert item is not None
    assert item.etag is not None
    next_etag = str(int(item.etag) + 1)
    await store.set(SetRequest(other, b"exists"))

    await store.transact(
        TransactionRequest(
            (
                SetRequest(key, b"v2", etag=item.etag),
                SetRequest(key, b"v3", etag=next_etag),
                DeleteRequest(other),
                SetRequest(other, b"created", concurrency=Concurrency.FIRST_WRITE),
            )
        )
    )

    items = await store.bulk_get([GetRequest(key), GetRequest(other)])
    assert [(i.data, i.etag) if i else None for i in items] == [
        (b"v3", str(int(item.etag) + 2)),
        (b"created", "1"),
    ]

    with pytest.raises(ETagMismatch, match="transaction not applied"):
        await store.transact(
            TransactionRequest((DeleteRequest(key), SetRequest(key, b"v4", etag=next_etag)))
        )
    still = await store.get(GetRequest(key))
    assert still is not None
    assert still.data == b"v3"


async def test_ttl_in_seconds_metadata_is_the_default_ttl(
    redis: RedisClient, key_prefix: str
) -> None:
    store = await open_store(ttlInSeconds="600")
    try:
        await store.set(SetRequest(key_prefix + "default", b"v"))
        await store.set(SetRequest(key_prefix + "forever", b"v", ttl_seconds=-1))
        await store.set(SetRequest(key_prefix + "own", b"v", ttl_seconds=30))
        items = await store.bulk_get(
            [GetRequest(key_prefix + k) for k in ("default", "forever", "own")]
        )
    finally:
        await store.close()

    assert [("ttlExpireTime" in i.metadata) if i else None for i in items] == [True, False, True]
    default_ttl = await redis.execute(b"TTL", key_prefix + "default")
    own_ttl = await redis.execute(b"TTL", key_prefix + "own")
    assert isinstance(default_ttl, int)
    assert isinstance(own_ttl, int)
    assert 590 <= default_ttl <= 600
    assert 20 <= own_ttl <= 30


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"failover": "true"}, "Sentinel"),
        ({"redisType": "cluster"}, "cluster"),
        ({"queryIndexes": '[{"name": "idx"}]'}, "queryIndexes needs RediSearch"),
        ({"ttlInSeconds": "soon"}, "ttlInSeconds must be an integer"),
    ],
)
async def test_bad_metadata_is_refused_at_init(metadata: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        await open_store(**metadata)


async def test_init_fails_clearly_when_redis_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind((REDIS_HOST, 0))
        port = probe.getsockname()[1]

    with pytest.raises(StoreUnavailable, match=f"cannot connect to Redis at 127.0.0.1:{port}"):
        await open_store(redisHost=f"127.0.0.1:{port}")


async def test_losing_redis_makes_the_store_unavailable_until_it_is_back(key_prefix: str) -> None:
    proxy = TcpProxy()
    await proxy.start()
    store = await open_store(redisHost=f"127.0.0.1:{proxy.port}")
    key = key_prefix + "k"
    try:
        await store.set(SetRequest(key, b"kept"))
        await proxy.stop()

        address = f"127.0.0.1:{proxy.port}"
        with pytest.raises(StoreUnavailable, match=address):
            await store.get(GetRequest(key))
        with pytest.raises(StoreUnavailable, match=address):
            await store.set(SetRequest(key, b"lost"))
        with pytest.raises(StoreUnavailable, match=address):
            await store.transact(TransactionRequest((DeleteRequest(key),)))

        await proxy.start()
        item = await store.get(GetRequest(key))
        assert item is not None
        assert item.data == b"kept"
        await store.set(SetRequest(key, b"written again"))
    finally:
        await store.close()
        with contextlib.suppress(RuntimeError):
            await proxy.stop()


async def test_a_closed_store_is_unavailable() -> None:
    store = await open_store()
    await store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.get(GetRequest("anything"))


class TcpProxy:
    """Forwards a local port to the real Redis; `stop` cuts every connection and stops listening,
    `start` listens again on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, REDIS_HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            raise RuntimeError("not running")
        server, self._server = self._server, None
        server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream_reader, upstream_writer = await asyncio.open_connection(REDIS_HOST, REDIS_PORT)
        try:
            async with asyncio.TaskGroup() as pumps:
                pumps.create_task(_pump(reader, upstream_writer))
                pumps.create_task(_pump(upstream_reader, writer))
        finally:
            self._tasks.discard(task)
            writer.transport.abort()
            upstream_writer.transport.abort()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    # One side closed: close the other, which ends the other pump too.
    sink.transport.abort()
