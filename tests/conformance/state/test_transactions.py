"""Transactions: all operations or none, applied in order."""

from __future__ import annotations

import pytest

from mecha.blocks.state.errors import ETagMismatch
from mecha.blocks.state.models import (
    Concurrency,
    DeleteRequest,
    GetRequest,
    SetRequest,
    TransactionRequest,
)
from mecha.blocks.state.protocols import StateStore, TransactionalStore

pytestmark = pytest.mark.requires("TRANSACTIONAL")


def transactional(store: StateStore) -> TransactionalStore:
    assert isinstance(store, TransactionalStore)
    return store


async def snapshot(store: StateStore, keys: list[str]) -> list[tuple[bytes, str | None] | None]:
    items = await store.bulk_get([GetRequest(key) for key in keys])
    return [None if item is None else (item.data, item.etag) for item in items]


async def test_upserts_and_deletes_apply_together(store: StateStore, prefix: str) -> None:
    a, b, c, d = (prefix + name for name in "abcd")
    await store.set(SetRequest(a, b"old a"))
    await store.set(SetRequest(b, b"old b"))

    await transactional(store).transact(
        TransactionRequest(
            (
                SetRequest(a, b"new a"),
                DeleteRequest(b),
                SetRequest(c, b"new c", content_type="text/plain"),
                SetRequest(d, b"\x00binary d\xff"),
                DeleteRequest(prefix + "never-existed"),
            )
        )
    )

    items = await store.bulk_get([GetRequest(k) for k in (a, b, c, d)])
    assert [None if i is None else i.data for i in items] == [
        b"new a",
        None,
        b"new c",
        b"\x00binary d\xff",
    ]
    assert items[2] is not None
    assert items[2].content_type == "text/plain"


async def test_operations_apply_in_order(store: StateStore, prefix: str) -> None:
    deleted_last, set_last = prefix + "deleted-last", prefix + "set-last"

    await transactional(store).transact(
        TransactionRequest(
            (
                SetRequest(deleted_last, b"1"),
                DeleteRequest(deleted_last),
                DeleteRequest(set_last),
                SetRequest(set_last, b"1"),
                SetRequest(set_last, b"2"),
            )
        )
    )

    assert await store.get(GetRequest(deleted_last)) is None
    item = await store.get(GetRequest(set_last))
    assert item is not None
    assert item.data == b"2"


async def test_empty_transaction_is_a_no_op(store: StateStore) -> None:
    await transactional(store).transact(TransactionRequest(()))


@pytest.mark.requires("ETAG")
async def test_stale_etag_in_the_last_operation_changes_nothing(
    store: StateStore, prefix: str
) -> None:
    a, b, c, d = (prefix + name for name in "abcd")
    await store.set(SetRequest(a, b"a"))
    await store.set(SetRequest(b, b"b1"))
    stale = await store.get(GetRequest(b))
    assert stale is not None
    await store.set(SetRequest(b, b"b2"))
    await store.set(SetRequest(c, b"c"))
    before = await snapshot(store, [a, b, c, d])

    with pytest.raises(ETagMismatch):
        await transactional(store).transact(
            TransactionRequest(
                (
                    SetRequest(a, b"changed"),
                    DeleteRequest(c),
                    SetRequest(d, b"created"),
                    SetRequest(b, b"b3", etag=stale.etag),
                )
            )
        )

    assert await snapshot(store, [a, b, c, d]) == before


@pytest.mark.requires("ETAG")
async def test_first_write_conflict_in_a_transaction_changes_nothing(
    store: StateStore, prefix: str
) -> None:
    a, b = prefix + "a", prefix + "b"
    await store.set(SetRequest(b, b"exists"))
    before = await snapshot(store, [a, b])

    with pytest.raises(ETagMismatch):
        await transactional(store).transact(
            TransactionRequest(
                (
                    SetRequest(a, b"created"),
                    SetRequest(b, b"again", concurrency=Concurrency.FIRST_WRITE),
                )
            )
        )

    assert await snapshot(store, [a, b]) == before


@pytest.mark.requires("ETAG")
async def test_current_etags_in_a_transaction_succeed(store: StateStore, prefix: str) -> None:
    a, b = prefix + "a", prefix + "b"
    await store.set(SetRequest(a, b"a1"))
    await store.set(SetRequest(b, b"b1"))
    item_a, item_b = await store.bulk_get([GetRequest(a), GetRequest(b)])
    assert item_a is not None
    assert item_b is not None

    await transactional(store).transact(
        TransactionRequest(
            (SetRequest(a, b"a2", etag=item_a.etag), DeleteRequest(b, etag=item_b.etag))
        )
    )

    after = await store.get(GetRequest(a))
    assert after is not None
    assert after.data == b"a2"
    assert after.etag != item_a.etag
    assert await store.get(GetRequest(b)) is None


@pytest.mark.requires("TTL")
async def test_set_in_a_transaction_keeps_its_ttl(store: StateStore, prefix: str) -> None:
    key = prefix + "k"
    await transactional(store).transact(
        TransactionRequest((SetRequest(key, b"v", ttl_seconds=3600),))
    )

    item = await store.get(GetRequest(key))
    assert item is not None
    assert "ttlExpireTime" in item.metadata
