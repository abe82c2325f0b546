"""What every resolver does: unknown apps resolve to nothing, resolved lists are the caller's
to keep, features are declared as names. Resolvers that do not register resolve what they were
configured with, and registering changes nothing for them."""

from __future__ import annotations

import os

import pytest

from mecha.blocks.nameresolution.models import Instance
from mecha.blocks.nameresolution.protocols import NameResolver
from tests.conformance.nameresolution.resolvers import ResolverUnderTest


async def test_an_unknown_app_resolves_to_nothing(
    resolver: NameResolver, under_test: ResolverUnderTest
) -> None:
    assert await resolver.resolve(under_test.unknown_app_id, "") == []
    assert await resolver.resolve(under_test.unknown_app_id, "elsewhere") == []
    assert await resolver.resolve("", "") == []


async def test_features_are_a_tuple_of_names(resolver: NameResolver) -> None:
    features = resolver.features()
    assert isinstance(features, tuple)
    assert all(isinstance(feature, str) for feature in features)


@pytest.mark.lookup
async def test_configured_names_resolve(
    resolver: NameResolver, under_test: ResolverUnderTest
) -> None:
    for lookup in under_test.lookups:
        found = await resolver.resolve(lookup.app_id, lookup.namespace)
        assert found == list(lookup.addresses), lookup


@pytest.mark.lookup
async def test_a_resolved_list_is_the_callers_own(
    resolver: NameResolver, under_test: ResolverUnderTest
) -> None:
    lookup = under_test.lookups[0]
    first = await resolver.resolve(lookup.app_id, lookup.namespace)
    first.clear()
    assert await resolver.resolve(lookup.app_id, lookup.namespace) == list(lookup.addresses)


@pytest.mark.lookup
async def test_registering_changes_nothing(
    resolver: NameResolver, under_test: ResolverUnderTest
) -> None:
    lookup = under_test.lookups[0]
    announced = Instance(
        under_test.unknown_app_id, "", "127.0.0.1", 41000, 41001, 41002, os.getpid()
    )
    known = Instance(lookup.app_id, lookup.namespace, "127.0.0.9", 41000, 41001, 41002)

    await resolver.register(announced)
    await resolver.register(known)

    assert await resolver.resolve(under_test.unknown_app_id, "") == []
    assert await resolver.resolve(lookup.app_id, lookup.namespace) == list(lookup.addresses)
    await resolver.unregister(known)
    assert await resolver.resolve(lookup.app_id, lookup.namespace) == list(lookup.addresses)
