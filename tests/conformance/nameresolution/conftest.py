"""Fixtures: resolvers of each type in RESOLVERS, created the way the runtime creates them.

Modules marked `registration` run only against resolvers that register instances, modules marked
`lookup` only against the others; unmarked tests run against all. Within one test, every
resolver `open_resolver` creates shares one data folder and one isolated key prefix, as runtimes
sharing a host or a Redis do.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from mecha import registry
from mecha.blocks.nameresolution.protocols import NameResolver
from mecha.components.redis.client import ConnectionOptions, RedisClient
from tests.conformance.nameresolution.resolvers import (
    REDIS_HOST,
    RESOLVERS,
    ResolverUnderTest,
    resolver_context,
)

OpenResolver = Callable[[], Awaitable[NameResolver]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "registration: only resolvers that register instances")
    config.addinivalue_line("markers", "lookup: only resolvers that do not register instances")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "under_test" not in metafunc.fixturenames:
        return
    resolvers = list(RESOLVERS)
    if metafunc.definition.get_closest_marker("registration"):
        resolvers = [r for r in resolvers if r.registers]
    if metafunc.definition.get_closest_marker("lookup"):
        resolvers = [r for r in resolvers if not r.registers]
    metafunc.parametrize("under_test", resolvers, ids=[r.id for r in resolvers], indirect=True)


@pytest.fixture
def under_test(request: pytest.FixtureRequest) -> ResolverUnderTest:
    param: ResolverUnderTest = request.param
    return param


@pytest.fixture
async def configuration(under_test: ResolverUnderTest) -> AsyncIterator[dict[str, object]]:
    """The resolver's configuration for this test; data it leaves on a server is removed after."""
    values = dict(under_test.configuration)
    if under_test.isolating_field is None:
        yield values
        return
    prefix = f"conformance-nr-{uuid.uuid4().hex[:12]}:"
    values[under_test.isolating_field] = prefix
    yield values
    await _delete_redis_keys(prefix)


@pytest.fixture
async def open_resolver(
    under_test: ResolverUnderTest, configuration: dict[str, object], tmp_path: Path
) -> AsyncIterator[OpenResolver]:
    """Create and initialise resolvers (one per simulated runtime); all are closed after."""
    opened: list[NameResolver] = []

    async def open_one() -> NameResolver:
        cls = registry.name_resolvers.load_class(under_test.type, under_test.version)
        resolver: NameResolver = cls()
        await resolver.init(resolver_context(under_test, configuration, tmp_path))
        opened.append(resolver)
        return resolver

    yield open_one
    for resolver in opened:
        await resolver.close()


@pytest.fixture
async def resolver(open_resolver: OpenResolver) -> NameResolver:
    return await open_resolver()


async def _delete_redis_keys(prefix: str) -> None:
    host, _, port = REDIS_HOST.partition(":")
    client = RedisClient(ConnectionOptions(host, int(port)))
    try:
        cursor = b"0"
        while True:
            reply = await client.execute(b"SCAN", cursor, b"MATCH", prefix + "*", b"COUNT", 1000)
            assert isinstance(reply, list)
            next_cursor, keys = reply
            assert isinstance(next_cursor, bytes)
            assert isinstance(keys, list)
            if keys:
                await client.execute(b"DEL", *[k for k in keys if isinstance(k, bytes)])
            cursor = next_cursor
            if cursor == b"0":
                return
    finally:
        await client.close()
