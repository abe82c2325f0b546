"""nameresolution.dns: names built from the template, lookups through the system resolver.

Only names this machine answers without a DNS server are looked up: `localhost` (/etc/hosts),
and names the system resolver refuses as malformed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mecha.blocks.nameresolution.models import Address
from mecha.components.nameresolution._settings import ResolverSettingsError
from mecha.components.nameresolution.dns import DNSNameResolver

from .contexts import context


async def dns(tmp_path: Path, **configuration: object) -> DNSNameResolver:
    resolver = DNSNameResolver()
    await resolver.init(context("nameresolution.dns", configuration, tmp_path))
    return resolver


async def test_the_default_template_names_a_kubernetes_service(tmp_path: Path) -> None:
    resolver = await dns(tmp_path)
    assert resolver.host_name("orders", "shop") == "orders.shop.svc.cluster.local"
    assert resolver.host_name("orders", "") == "orders.default.svc.cluster.local"

    custom = await dns(tmp_path, clusterDomain="corp.example")
    assert custom.host_name("orders", "shop") == "orders.shop.svc.corp.example"


async def test_a_custom_template(tmp_path: Path) -> None:
    resolver = await dns(tmp_path, template="{app_id}-mecha.{namespace}.internal")
    assert resolver.host_name("orders", "shop") == "orders-mecha.shop.internal"

    daprs_spelling = await dns(tmp_path, template="service-{appid}.{namespace}.svc")
    assert daprs_spelling.host_name("orders", "shop") == "service-orders.shop.svc"


@pytest.mark.parametrize("app_id", ["", "a.b", "evil.example.com", "a b", "x" * 64, "ü"])
async def test_an_app_id_that_is_not_one_label_resolves_to_nothing(
    tmp_path: Path, app_id: str
) -> None:
    resolver = await dns(tmp_path, template="{app_id}")
    assert resolver.host_name(app_id, "") is None
    assert await resolver.resolve(app_id, "") == []
    assert resolver.host_name("orders", "a.b") is None


async def test_localhost_resolves_to_its_address_with_the_configured_ports(tmp_path: Path) -> None:
    resolver = await dns(
        tmp_path, template="{app_id}", internalPort=7000, grpcPort="7001", addressFamily="ipv4"
    )
    assert await resolver.resolve("localhost", "") == [Address("127.0.0.1", 7000, 7001)]

    either = await dns(tmp_path, template="{app_id}")
    found = await either.resolve("localhost", "")
    assert Address("127.0.0.1", 50002, 50001) in found
    assert len(found) == len(set(found))


async def test_a_name_the_system_resolver_refuses_resolves_to_nothing(tmp_path: Path) -> None:
    # "-orders" is not a valid host name: refused without asking a DNS server.
    resolver = await dns(tmp_path, template="-{app_id}")
    assert await resolver.resolve("orders", "") == []


async def test_uncached_lookups_answer_the_same(tmp_path: Path) -> None:
    resolver = await dns(tmp_path, template="{app_id}", addressFamily="ipv4", cacheSeconds=0)
    for _ in range(3):
        assert await resolver.resolve("localhost", "") == [Address("127.0.0.1", 50002, 50001)]
    await resolver.close()


@pytest.mark.parametrize(
    ("configuration", "message"),
    [
        ({"template": "{namespace}.svc"}, "must use {app_id}"),
        ({"template": "{app_id}.{region}"}, "only {app_id}"),
        ({"template": "{app_id}.{}"}, "only {app_id}"),
        ({"template": "{app_id"}, "malformed"),
        ({"addressFamily": "ipx"}, "addressFamily"),
        ({"internalPort": 0}, "internalPort must be a port number"),
        ({"grpcPort": "grpc"}, "grpcPort must be a port number"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
    ],
)
async def test_configuration_errors_are_reported(
    tmp_path: Path, configuration: dict[str, object], message: str
) -> None:
    with pytest.raises(
        ResolverSettingsError, match=message.replace("{", r"\{").replace("}", r"\}")
    ):
        await dns(tmp_path, **configuration)
