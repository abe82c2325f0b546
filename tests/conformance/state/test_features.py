"""A store declares exactly the features STORES lists, and no optional API it does not declare."""

from __future__ import annotations

import pytest

from mecha.blocks.state.models import Feature
from mecha.blocks.state.protocols import QueryableStore, StateStore, TransactionalStore
from tests.conformance.state.stores import StoreUnderTest

# Features a store declares itself (ACTOR is reported by the runtime, not declared).
DECLARABLE = sorted(f.value for f in Feature if f is not Feature.ACTOR)
OPTIONAL_APIS: dict[str, type] = {
    Feature.TRANSACTIONAL.value: TransactionalStore,
    Feature.QUERY_API.value: QueryableStore,
}


@pytest.mark.parametrize("feature", DECLARABLE)
async def test_declares_exactly_the_expected_features(
    store: StateStore, store_under_test: StoreUnderTest, feature: str
) -> None:
    declared = feature in store.features()
    expected = feature in store_under_test.features

    assert declared == expected, f"{feature}: declared {declared}, expected {expected}"
    if feature in OPTIONAL_APIS:
        has_api = isinstance(store, OPTIONAL_APIS[feature])
        assert has_api == expected, f"{feature}: implements the API {has_api}, expected {expected}"


async def test_features_are_a_tuple_of_distinct_names(store: StateStore) -> None:
    features = store.features()
    assert isinstance(features, tuple)
    assert all(isinstance(f, str) for f in features)
    assert len(set(features)) == len(features)
