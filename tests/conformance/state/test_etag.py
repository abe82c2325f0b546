"""Optimistic concurrency: ETags and first-write, down to many writers racing on one key."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from mecha.blocks.state.errors import ETagInvalid, ETagMismatch
from mecha.blocks.state.models import Concurrency, DeleteRequest, GetRequest, Item, SetRequest
from mecha.blocks.state.protocols import StateStore

pytestmark = pytest.mark.requires("ETAG")

# Not an integer, not a UUID, not hex: outside every store's ETag format.
MALFORMED_ETAG = "not-an-etag"


async def read(store: StateStore, key: str) -> Item:
    item = await store.get(GetRequest(key))
    assert item is not None, f"{key} should exist"
    return item


async def current_etag(store: StateStore, key: str) -> str:
    etag = (await read(store, key)).etag
    assert isinstance(etag, str)
    assert etag
    return etag


async def etag_of_a_deleted_key(store: StateStore, key: str) -> str:
    """A well-formed ETag that no live key has: read one, then delete its key."""
    await store.set(SetRequest(key, b"soon gone"))
    etag = await current_etag(store, key)
    await store.delete(DeleteRequest(key))
    return etag


async def test_every_read_returns_an_etag_and_every_write_changes_it(
    store: StateStore, prefix: str
) -> None:
    key = prefix + "k"
    await store.set(SetRequest(key, b"same"))
    first = await current_etag(store, key)
    assert await current_etag(store, key) == first  # reading does not change it

    await store.set(SetRequest(key, b"same"))
    second = await current_etag(store, key)
    await store.set(SetRequest(key, b"same", etag=second))
    third = await current_etag(store, key)

    assert len({first, second, third}) == 3


async def test_write_with_the_current_etag_succeeds(store: StateStore, prefix: str) -> None:
    key = prefix + "k"
    await store.set(SetRequest(key, b"v1"))
    etag = await current_etag(store, key)

    await store.set(SetRequest(key, b"v2", etag=etag))

    item = await read(store, key)
    assert item.data == b"v2"
    assert item.etag != etag


async def test_write_with_a_stale_etag_is_refused_and_changes_nothing(
    store: StateStore, prefix: str
) -> None:
    key = prefix + "k"
    await store.set(SetRequest(key, b"v1"))
    stale = await current_etag(store, key)
    await store.set(SetRequest(key, b"v2"))
    latest = await current_etag(store, key)

    with pytest.raises(ETagMismatch):
        await store.set(SetRequest(key, b"v3", etag=stale))
    with pytest.raises(ETagMismatch):
        await store.set(SetRequest(key, b"v3", etag=stale, concurrency=Concurrency.FIRST_WRITE))

    item = await read(store, key)
    assert (item.data, item.etag) == (b"v2", latest)


async def test_etag_on_a_missing_key_is_a_mismatch(store: StateStore, prefix: str) -> None:
    etag = await etag_of_a_deleted_key(store, prefix + "gone")

    with pytest.raises(ETagMismatch):
        await store.set(SetRequest(prefix + "gone", b"v", etag=etag))
    with pytest.raises(ETagMismatch):
        await store.set(SetRequest(prefix + "never", b"v", etag=etag))
    with pytest.raises(ETagMismatch):
        await store.delete(DeleteRequest(prefix + "never", etag=etag))

    assert await store.get(GetRequest(prefix + "gone")) is None
    assert await store.get(GetRequest(prefix + "never")) is None


async def test_malformed_etag_is_invalid(store: StateStore, prefix: str) -> None:
    key = prefix + "k"
    await store.set(SetRequest(key, b"v1"))
    etag = await current_etag(store, key)

    with pytest.raises(ETagInvalid):
        await store.set(SetRequest(key, b"v2", etag=MALFORMED_ETAG))
    with pytest.raises(ETagInvalid):
        await store.delete(DeleteRequest(key, etag=MALFORMED_ETAG))

    item = await read(store, key)
    assert (item.data, item.etag) == (b"v1", etag)


async def test_empty_etag_means_no_etag(store: StateStore, prefix: str) -> None:
    key = prefix + "k"
    await store.set(SetRequest(key, b"v1", etag=""))
    await store.set(SetRequest(key, b"v2", etag=""))
    assert (await read(store, key)).data == b"v2"

    await store.delete(DeleteRequest(key, etag=""))
    assert await store.get(GetRequest(key)) is None


async def test_first_write_without_etag_only_creates(store: StateStore, prefix: str) -> None:
    key = prefix + "k"
    await store.set(SetRequest(key, b"first", concurrency=Concurrency.FIRST_WRITE))
    etag = await current_etag(store, key)

    with pytest.raises(ETagMismatch):
        await store.set(SetRequest(key, b"second", concurrency=Concurrency.FIRST_WRITE))
    assert (await read(store, key)).data == b"first"

    # With the current ETag, first-write is an ordinary checked update.
    await store.set(SetRequest(key, b"third", etag=etag, concurrency=Concurrency.FIRST_WRITE))
    assert (await read(store, key)).data == b"third"


async def test_last_write_without_etag_always_wins(store: StateStore, prefix: str) -> None:
    key = prefix + "k"
    await store.set(SetRequest(key, b"v1"))
    await store.set(SetRequest(key, b"v2", concurrency=Concurrency.LAST_WRITE))
    assert (await read(store, key)).data == b"v2"


async def test_delete_with_a_stale_etag_keeps_the_value(store: StateStore, prefix: str) -> None:
    key = prefix + "k"
    await store.set(SetRequest(key, b"v1"))
    stale = await current_etag(store, key)
    await store.set(SetRequest(key, b"v2"))

    with pytest.raises(ETagMismatch):
        await store.delete(DeleteRequest(key, etag=stale))

    assert (await read(store, key)).data == b"v2"


async def test_delete_without_etag_is_unconditional_whatever_the_concurrency(
    store: StateStore, prefix: str
) -> None:
    for concurrency in Concurrency:
        key = prefix + concurrency.value
        await store.set(SetRequest(key, b"v"))
        await store.delete(DeleteRequest(key, concurrency=concurrency))
        assert await store.get(GetRequest(key)) is None


async def test_delete_with_the_current_etag_deletes(store: StateStore, prefix: str) -> None:
    key = prefix + "k"
    await store.set(SetRequest(key, b"v1"))

    await store.delete(DeleteRequest(key, etag=await current_etag(store, key)))

    assert await store.get(GetRequest(key)) is None


async def test_concurrent_increments_with_etags_lose_no_update(
    store: StateStore, prefix: str
) -> None:
    """20 workers add 1 ten times each, read-ETag-then-write, retrying on conflict: 200."""
    key = prefix + "counter"
    workers, increments = 20, 10
    await store.set(SetRequest(key, b'{"count": 0}'))
    conflicts = 0

    async def increment_once() -> None:
        nonlocal conflicts
        for _attempt in range(10_000):
            item = await read(store, key)
            count = orjson.loads(item.data)["count"]
            await asyncio.sleep(0)  # let the other workers read the same version
            try:
                body = orjson.dumps({"count": count + 1})
                await store.set(SetRequest(key, body, etag=item.etag))
            except ETagMismatch:
                conflicts += 1
                continue
            return
        raise AssertionError("an increment never got through")

    async def worker() -> None:
        for _ in range(increments):
            await increment_once()

    async with asyncio.timeout(60):
        await asyncio.gather(*(worker() for _ in range(workers)))

    assert orjson.loads((await read(store, key)).data) == {"count": workers * increments}
    assert conflicts > 0, "the workers never overlapped, so the test proved nothing"
