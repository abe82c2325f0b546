"""Fixtures: a fresh, initialised store of each type in STORES, isolated per test.

A test (or module, via `pytestmark`) marked `requires("ETAG", ...)` runs only against the stores
that declare all of those features; the others never declare what it exercises.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mecha import registry
from mecha.blocks.state.protocols import StateStore
from mecha.components.base import ComponentContext
from tests.conformance.state.stores import STORES, StoreUnderTest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(*features): run only against stores that declare these features"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_under_test" not in metafunc.fixturenames:
        return
    needed: set[str] = set()
    for marker in metafunc.definition.iter_markers("requires"):
        needed.update(marker.args)
    stores = [s for s in STORES if needed <= s.features]
    metafunc.parametrize("store_under_test", stores, ids=[s.id for s in stores], indirect=True)


@pytest.fixture
def store_under_test(request: pytest.FixtureRequest) -> StoreUnderTest:
    param: StoreUnderTest = request.param
    return param


@pytest.fixture
async def store(store_under_test: StoreUnderTest, tmp_path: Path) -> AsyncIterator[StateStore]:
    cls = registry.load_class(store_under_test.type, store_under_test.version)
    instance: StateStore = cls()
    await instance.init(
        ComponentContext(
            name="conformance",
            type=store_under_test.type,
            version=store_under_test.version,
            metadata=dict(store_under_test.metadata),
            namespace="",
            data_dir=tmp_path,
        )
    )
    try:
        yield instance
    finally:
        await instance.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses, so tests on a shared server never see each other's keys."""
    return f"conf-{uuid.uuid4().hex[:12]}||"
