"""Fixtures for the Redis driver tests. The real Redis is 127.0.0.1:6379; tests use unique key
prefixes and delete what they wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from mecha.components.redis.client import ConnectionOptions, RedisClient

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379


@pytest.fixture
async def redis() -> AsyncIterator[RedisClient]:
    """A client of the real Redis."""
    client = RedisClient(ConnectionOptions(REDIS_HOST, REDIS_PORT))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def key_prefix(redis: RedisClient) -> AsyncIterator[str]:
    """A prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"unit-redis-{uuid.uuid4().hex[:12]}:"
    yield prefix
    cursor = b"0"
    while True:
        reply = await redis.execute(b"SCAN", cursor, b"MATCH", prefix + "*", b"COUNT", 1000)
        assert isinstance(reply, list)
        next_cursor, keys = reply
        assert isinstance(next_cursor, bytes)
        assert isinstance(keys, list)
        cursor = next_cursor
        if keys:
            await redis.execute(b"DEL", *[key for key in keys if isinstance(key, bytes)])
        if cursor == b"0":
            return
