"""state.in-memory beyond the conformance suite: the sweep that frees expired entries."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mecha.blocks.state.models import SetRequest
from mecha.components.base import ComponentContext
from mecha.components.state.in_memory import InMemoryStateStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[InMemoryStateStore]:
    store = InMemoryStateStore()
    await store.init(ComponentContext("s", "state.in-memory", "v1", {}, "", tmp_path))
    yield store
    await store.close()


async def test_sweep_frees_expired_entries_only(store: InMemoryStateStore) -> None:
    await store.set(SetRequest("app||expires", b"1", ttl_seconds=1))
    await store.set(SetRequest("app||ttl-removed", b"1", ttl_seconds=1))
    await store.set(SetRequest("app||ttl-removed", b"2"))
    await store.set(SetRequest("app||ttl-extended", b"1", ttl_seconds=1))
    await store.set(SetRequest("app||ttl-extended", b"2", ttl_seconds=100))
    await store.set(SetRequest("app||plain", b"1"))

    store._sweep(time.time() + 2)

    assert sorted(store._items) == ["app||plain", "app||ttl-extended", "app||ttl-removed"]
    store._sweep(time.time() + 200)
    assert sorted(store._items) == ["app||plain", "app||ttl-removed"]
    assert store._expiries == []


async def test_close_stops_the_sweeper_and_forgets_everything(tmp_path: Path) -> None:
    store = InMemoryStateStore()
    await store.init(ComponentContext("s", "state.in-memory", "v1", {}, "", tmp_path))
    await store.set(SetRequest("app||k", b"1", ttl_seconds=10))
    sweeper = store._sweeper
    assert sweeper is not None

    await store.close()

    assert sweeper.cancelled()
    assert store._items == {}
