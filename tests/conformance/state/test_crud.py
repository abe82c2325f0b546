"""What every state store does: get, set, delete and bulk get, byte-exact, for any key."""

from __future__ import annotations

import os

import pytest

from mecha.blocks.state.models import DeleteRequest, GetRequest, SetRequest
from mecha.blocks.state.protocols import StateStore
from tests.conformance.state.stores import StoreUnderTest

VALUES = {
    "binary": b"\x00\x01\xff\xfe\x80 binary \xc3\x28 \x00",  # NULs and invalid UTF-8
    "json": b'{"b":1, "a":[1,2.50,"\xc3\xa9"],\n "c":{"d":null}}',  # not in any canonical form
    "json-string": b'"hello"',
    "text": "plain text, not JSON: é ✓".encode(),
    "empty": b"",
    "one-mib": os.urandom(1 << 20),
}

KEYS = {
    "emoji": "🦄🚀 key",
    "cjk": "状态键/데이터",
    "spaces": "  key with   spaces  ",
    "slashes": "a/b\\c//d/",
    "sql-and-glob": "it's 100%_done*?[x]\"; --",
    "long": "k" * 200,
}


async def test_get_missing_key_returns_none(store: StateStore, prefix: str) -> None:
    assert await store.get(GetRequest(prefix + "missing")) is None


@pytest.mark.parametrize("name", VALUES)
async def test_set_then_get_round_trips_bytes_exactly(
    store: StateStore, prefix: str, name: str
) -> None:
    value = VALUES[name]
    await store.set(SetRequest(prefix + name, value))

    item = await store.get(GetRequest(prefix + name))

    assert item is not None
    assert type(item.data) is bytes
    assert item.data == value


@pytest.mark.parametrize("name", KEYS)
async def test_unicode_and_special_keys_are_stored_as_given(
    store: StateStore, prefix: str, name: str
) -> None:
    key = prefix + KEYS[name]
    # A near twin (trimmed, or one character longer) must stay a different key.
    twin = prefix + KEYS[name].strip() if KEYS[name] != KEYS[name].strip() else key + "~"
    await store.set(SetRequest(key, name.encode()))
    await store.set(SetRequest(twin, b"twin"))

    item = await store.get(GetRequest(key))
    assert item is not None
    assert item.data == name.encode()

    await store.delete(DeleteRequest(key))
    assert await store.get(GetRequest(key)) is None
    twin_item = await store.get(GetRequest(twin))
    assert twin_item is not None
    assert twin_item.data == b"twin"


async def test_content_type_is_kept_and_replaced_by_a_later_set(
    store: StateStore, prefix: str
) -> None:
    key = prefix + "typed"
    await store.set(SetRequest(key, b"<a/>", content_type="application/xml"))
    item = await store.get(GetRequest(key))
    assert item is not None
    assert item.content_type == "application/xml"

    await store.set(SetRequest(key, b"{}", content_type="application/json"))
    item = await store.get(GetRequest(key))
    assert item is not None
    assert item.content_type == "application/json"

    await store.set(SetRequest(key, b"plain"))
    item = await store.get(GetRequest(key))
    assert item is not None
    assert item.content_type is None


async def test_set_overwrites(store: StateStore, prefix: str) -> None:
    await store.set(SetRequest(prefix + "k", b"first"))
    await store.set(SetRequest(prefix + "k", b"second"))

    item = await store.get(GetRequest(prefix + "k"))

    assert item is not None
    assert item.data == b"second"


async def test_delete_removes_only_that_key(store: StateStore, prefix: str) -> None:
    await store.set(SetRequest(prefix + "a", b"1"))
    await store.set(SetRequest(prefix + "b", b"2"))

    await store.delete(DeleteRequest(prefix + "a"))

    assert await store.get(GetRequest(prefix + "a")) is None
    remaining = await store.get(GetRequest(prefix + "b"))
    assert remaining is not None
    assert remaining.data == b"2"


async def test_delete_missing_key_succeeds(store: StateStore, prefix: str) -> None:
    await store.delete(DeleteRequest(prefix + "never-set"))
    assert await store.get(GetRequest(prefix + "never-set")) is None


async def test_set_after_delete_creates_the_key_again(store: StateStore, prefix: str) -> None:
    await store.set(SetRequest(prefix + "k", b"1"))
    await store.delete(DeleteRequest(prefix + "k"))
    await store.set(SetRequest(prefix + "k", b"2"))

    item = await store.get(GetRequest(prefix + "k"))

    assert item is not None
    assert item.data == b"2"


async def test_bulk_get_answers_in_request_order_with_none_for_missing(
    store: StateStore, store_under_test: StoreUnderTest, prefix: str
) -> None:
    for name in ("a", "b", "c"):
        await store.set(SetRequest(prefix + name, name.encode() * 3))
    names = ["c", "missing", "a", "b", "a", "also-missing"]

    items = await store.bulk_get([GetRequest(prefix + name) for name in names])

    assert [None if item is None else item.data for item in items] == [
        b"ccc",
        None,
        b"aaa",
        b"bbb",
        b"aaa",
        None,
    ]
    if "ETAG" in store_under_test.features:
        single = await store.get(GetRequest(prefix + "b"))
        assert single is not None
        assert items[3] is not None
        assert items[3].etag == single.etag


async def test_bulk_get_of_nothing_is_empty(store: StateStore) -> None:
    assert await store.bulk_get([]) == []
