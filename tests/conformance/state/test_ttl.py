"""Time to live: keys that expire, keys that never do, and the expiry time reads report.

Everything that needs a key to actually expire shares one short wait: the keys are written
together with a 1 s TTL and checked again once the expiring one is gone.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from mecha.blocks.state.models import Concurrency, GetRequest, Item, SetRequest
from mecha.blocks.state.protocols import StateStore

pytestmark = pytest.mark.requires("TTL")

TTL_EXPIRE_TIME = "ttlExpireTime"
EXPIRY_DEADLINE_SECONDS = 10.0
POLL_SECONDS = 0.05


async def wait_until_missing(store: StateStore, key: str) -> float:
    """Poll until `key` reads as missing; the seconds it took. Fails after the deadline."""
    start = time.monotonic()
    while await store.get(GetRequest(key)) is not None:
        if time.monotonic() - start > EXPIRY_DEADLINE_SECONDS:
            raise AssertionError(f"{key} did not expire within {EXPIRY_DEADLINE_SECONDS} s")
        await asyncio.sleep(POLL_SECONDS)
    return time.monotonic() - start


def expire_time(item: Item) -> datetime:
    text = item.metadata[TTL_EXPIRE_TIME]
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert moment.utcoffset() == timedelta(0), f"{text} is not UTC"
    return moment


async def test_keys_expire_or_stay_as_their_ttl_says(store: StateStore, prefix: str) -> None:
    expiring, forever, cleared, redone = (prefix + n for n in ("exp", "forever", "clear", "redo"))
    await store.set(SetRequest(expiring, b"short-lived", ttl_seconds=1))
    await store.set(SetRequest(forever, b"stays", ttl_seconds=-1))
    await store.set(SetRequest(cleared, b"had a ttl", ttl_seconds=1))
    await store.set(SetRequest(cleared, b"no ttl now"))
    await store.set(SetRequest(redone, b"expires", ttl_seconds=1))

    item = await store.get(GetRequest(expiring))
    assert item is not None, "a key with a 1 s TTL vanished at once"
    assert item.data == b"short-lived"
    assert TTL_EXPIRE_TIME in item.metadata
    for key in (forever, cleared):
        item = await store.get(GetRequest(key))
        assert item is not None
        assert TTL_EXPIRE_TIME not in item.metadata

    await wait_until_missing(store, expiring)
    await wait_until_missing(store, redone)

    for key, data in ((forever, b"stays"), (cleared, b"no ttl now")):
        item = await store.get(GetRequest(key))
        assert item is not None, f"{key} expired though its TTL was removed"
        assert item.data == data
    gone, kept = await store.bulk_get([GetRequest(expiring), GetRequest(forever)])
    assert gone is None
    assert kept is not None
    assert kept.data == b"stays"
    # An expired key counts as missing, even before any cleanup removed it.
    await store.set(SetRequest(redone, b"created again", concurrency=Concurrency.FIRST_WRITE))
    item = await store.get(GetRequest(redone))
    assert item is not None
    assert item.data == b"created again"
    assert TTL_EXPIRE_TIME not in item.metadata


async def test_reads_report_the_expiry_time_in_rfc3339_utc(store: StateStore, prefix: str) -> None:
    key = prefix + "k"
    before = datetime.now(UTC)
    await store.set(SetRequest(key, b"v", ttl_seconds=3600))
    after = datetime.now(UTC)

    item = await store.get(GetRequest(key))
    (bulk_item,) = await store.bulk_get([GetRequest(key)])

    assert item is not None
    assert bulk_item is not None
    expires = expire_time(item)
    slack = timedelta(seconds=2)  # servers round to whole seconds; clocks differ a little
    assert before + timedelta(seconds=3600) - slack <= expires <= after + timedelta(hours=1) + slack
    assert expire_time(bulk_item) == expires
