from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from mecha import registry
from mecha.blocks.nameresolution.models import Address
from mecha.blocks.nameresolution.protocols import NameResolver
from mecha.components.nameresolution.dns import DNSNameResolver
from mecha.components.nameresolution.local import LocalNameResolver
from mecha.components.nameresolution.redis import RedisNameResolver
from mecha.components.nameresolution.static import StaticNameResolver

from .contexts import context

# Typed as the protocol: mypy checks that every class implements it.
RESOLVERS: dict[str, type[NameResolver]] = {
    "nameresolution.dns": DNSNameResolver,
    "nameresolution.local": LocalNameResolver,
    "nameresolution.redis": RedisNameResolver,
    "nameresolution.static": StaticNameResolver,
}


def test_the_registry_knows_every_resolver() -> None:
    for type_, cls in RESOLVERS.items():
        assert registry.name_resolvers.load_class(type_, "v1") is cls
        assert registry.name_resolvers.load_class(type_, "") is cls


def test_only_the_redis_resolver_needs_an_extra() -> None:
    assert registry.EXTRAS["nameresolution.redis"] == "redis"
    assert {"nameresolution.dns", "nameresolution.local", "nameresolution.static"}.isdisjoint(
        registry.EXTRAS
    )


def as_text(configuration: dict[str, object]) -> dict[str, str]:
    """Configuration handed over as component metadata: text kept, anything else as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in configuration.items()}


@pytest.mark.parametrize(
    ("type_", "configuration", "app_id", "expected"),
    [
        (
            "nameresolution.static",
            {"apps": {"orders": ["10.0.0.5:1:2", {"host": "h", "internalPort": 3, "grpcPort": 4}]}},
            "orders",
            [Address("10.0.0.5", 1, 2), Address("h", 3, 4)],
        ),
        (
            "nameresolution.dns",
            {"template": "{app_id}", "internalPort": 7000, "grpcPort": 7001, "timeoutSeconds": 2.5},
            "localhost",
            [Address("127.0.0.1", 7000, 7001)],
        ),
        ("nameresolution.local", {"leaseSeconds": 0.5, "cacheSeconds": 0}, "orders", []),
        (
            "nameresolution.redis",
            {"redisHost": "127.0.0.1:6379", "redisDB": 0, "leaseSeconds": 1, "enableTLS": False},
            f"orders-{uuid.uuid4().hex[:8]}",
            [],
        ),
    ],
)
async def test_configuration_given_as_text_reads_as_given_natively(
    tmp_path: Path, type_: str, configuration: dict[str, object], app_id: str, expected: object
) -> None:
    for form in (configuration, as_text(configuration)):
        resolver = RESOLVERS[type_]()
        await resolver.init(context(type_, form, tmp_path))
        try:
            found = await resolver.resolve(app_id, "")
            assert [a for a in found if a.host != "::1"] == expected
        finally:
            await resolver.close()


def test_resolvers_are_not_component_resources() -> None:
    # A `kind: Component` of a resolver type is refused: the Configuration chooses the resolver.
    assert not registry.is_known("nameresolution.local", "v1")
    assert all(not t.startswith("nameresolution.") for t in registry.known_types())
