"""nameresolution.static: the address forms it reads, namespaces, and configuration errors."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from mecha.blocks.nameresolution.models import Address
from mecha.components.nameresolution._settings import ResolverSettingsError
from mecha.components.nameresolution.static import StaticNameResolver

from .contexts import context


async def static(
    tmp_path: Path, namespace: str = "", **configuration: object
) -> StaticNameResolver:
    resolver = StaticNameResolver()
    await resolver.init(context("nameresolution.static", configuration, tmp_path, namespace))
    return resolver


async def test_short_and_spelled_out_addresses_in_order(tmp_path: Path) -> None:
    resolver = await static(
        tmp_path,
        apps={
            "orders": [
                "10.0.0.5:50002:50001",
                {"host": "10.0.0.6", "internalPort": "50012", "grpcPort": 50011},
                " [fd00::7]:50022:50021 ",
            ],
            "single": "db.internal:7000:7001",
        },
    )

    assert await resolver.resolve("orders", "") == [
        Address("10.0.0.5", 50002, 50001),
        Address("10.0.0.6", 50012, 50011),
        Address("fd00::7", 50022, 50021),
    ]
    assert await resolver.resolve("single", "") == [Address("db.internal", 7000, 7001)]


async def test_apps_belong_to_the_runtimes_namespace_and_others_are_listed_by_namespace(
    tmp_path: Path,
) -> None:
    resolver = await static(
        tmp_path,
        namespace="shop",
        apps={"orders": ["10.0.0.5:1:2"]},
        namespaces={"payments": {"ledger": ["10.0.1.9:3:4"]}, "shop": {"cart": ["10.0.0.7:5:6"]}},
    )

    assert await resolver.resolve("orders", "shop") == [Address("10.0.0.5", 1, 2)]
    assert await resolver.resolve("cart", "shop") == [Address("10.0.0.7", 5, 6)]
    assert await resolver.resolve("ledger", "payments") == [Address("10.0.1.9", 3, 4)]
    assert await resolver.resolve("orders", "") == []
    assert await resolver.resolve("ledger", "shop") == []


async def test_frozen_yaml_and_text_configurations_read_the_same(tmp_path: Path) -> None:
    frozen = MappingProxyType({"orders": ("10.0.0.5:1:2",)})
    as_json = '{"orders": ["10.0.0.5:1:2"]}'
    as_yaml = "orders:\n  - host: 10.0.0.5\n    internalPort: 1\n    grpcPort: 2\n"
    for apps in (frozen, as_json, as_yaml):
        resolver = await static(tmp_path, apps=apps)
        assert await resolver.resolve("orders", "") == [Address("10.0.0.5", 1, 2)]


async def test_no_configuration_resolves_nothing(tmp_path: Path) -> None:
    resolver = await static(tmp_path)
    assert await resolver.resolve("orders", "") == []


@pytest.mark.parametrize(
    ("apps", "message"),
    [
        (["10.0.0.5:1:2"], "apps must be a mapping"),
        ({"orders": ["10.0.0.5:1"]}, r"apps\.orders\[0\] must be \"host:internalPort:grpcPort\""),
        ({"orders": ["::1:1:2"]}, "IPv6 host in brackets"),
        ({"orders": ["[::1:1:2"]}, "IPv6 host in brackets"),
        ({"orders": ["10.0.0.5:1:70000"]}, "grpcPort must be a port number"),
        ({"orders": ["10.0.0.5:x:2"]}, "internalPort must be a port number"),
        ({"orders": [{"host": "h", "internalPort": 1}]}, r"orders\[0\]: grpcPort is required"),
        ({"orders": [{"internalPort": 1, "grpcPort": 2}]}, "needs a host"),
        ({"orders": [42]}, "or a mapping"),
        ({"": ["10.0.0.5:1:2"]}, "empty app id"),
    ],
)
async def test_mistakes_are_reported_at_init(tmp_path: Path, apps: object, message: str) -> None:
    with pytest.raises(ResolverSettingsError, match=message):
        await static(tmp_path, apps=apps)


async def test_a_namespace_must_list_apps(tmp_path: Path) -> None:
    with pytest.raises(ResolverSettingsError, match=r"namespaces\.payments must be a mapping"):
        await static(tmp_path, namespaces={"payments": ["10.0.0.5:1:2"]})
