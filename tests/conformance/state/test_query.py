"""The Query API: filters on JSON fields, sorting, pagination, and only the prefix asked for.

The expected answers are computed here in plain Python from the documents, independently of
any store's (or the shared evaluator's) code.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from mecha.blocks.state.models import (
    And,
    Eq,
    GetRequest,
    In,
    Or,
    QueryItem,
    QueryRequest,
    SetRequest,
    Sort,
)
from mecha.blocks.state.protocols import QueryableStore, StateStore
from tests.conformance.state.stores import StoreUnderTest

pytestmark = pytest.mark.requires("QUERY_API")

Doc = dict[str, Any]


def person(org: str, ident: int, city: str, state: str) -> Doc:
    return {"person": {"org": org, "id": ident, "address": {"city": city}}, "state": state}


# Ids of different lengths, so that sorting them as text would give another order.
DOCS: dict[str, Doc] = {
    "p01": person("A", 1, "Seattle", "WA"),
    "p02": person("B", 2, "Portland", "OR"),
    "p03": person("A", 10, "San Diego", "CA"),
    "p04": person("C", 33, "Austin", "TX"),
    "p05": person("A", 100, "Spokane", "WA"),
    "p06": person("B", 7, "Fresno", "CA"),
    "p07": person("C", 42, "Dallas", "TX"),
    "p08": person("A", 9, "Oakland", "CA"),
    "p09": person("B", 250, "Tacoma", "WA"),
    "p10": person("C", 5, "Salem", "OR"),
}


def expect(predicate: Callable[[Doc], bool]) -> set[str]:
    return {name for name, doc in DOCS.items() if predicate(doc)}


@pytest.fixture
def app_prefix(prefix: str) -> str:
    # LIKE and GLOB wildcards in the prefix: they must match only themselves.
    return prefix.removesuffix("||") + "_%*||"


@pytest.fixture
async def queryable(store: StateStore, prefix: str, app_prefix: str) -> QueryableStore:
    """The store, holding DOCS under `app_prefix` and copies under look-alike prefixes."""
    assert isinstance(store, QueryableStore)
    base = prefix.removesuffix("||")
    look_alikes = (base + "Zq*||", base + "_%ZZ||", base + "||", base + "_%*|", "x" + app_prefix)
    await asyncio.gather(
        *(
            store.set(SetRequest(key_prefix + name, orjson.dumps(doc)))
            for key_prefix in (app_prefix, *look_alikes)
            for name, doc in DOCS.items()
        )
    )
    return store


def names(results: tuple[QueryItem, ...], app_prefix: str) -> list[str]:
    found = []
    for item in results:
        assert item.key.startswith(app_prefix), f"{item.key} is outside {app_prefix}"
        name = item.key.removeprefix(app_prefix)
        assert orjson.loads(item.data) == DOCS[name]
        found.append(name)
    return found


async def query_all(
    store: QueryableStore, request: QueryRequest, app_prefix: str, limit: int
) -> list[str]:
    """Every page of a query, `limit` at a time, concatenated."""
    found: list[str] = []
    token = None
    for _page in range(len(DOCS) + 2):
        page = await store.query(dataclasses.replace(request, limit=limit, token=token))
        assert len(page.results) <= limit
        found += names(page.results, app_prefix)
        token = page.token
        if not token or not page.results:
            return found
    raise AssertionError(f"pagination did not end: {found}")


@pytest.mark.parametrize(
    ("query_filter", "predicate"),
    [
        (None, lambda d: True),
        (Eq("person.org", "A"), lambda d: d["person"]["org"] == "A"),
        (Eq("value.person.org", "A"), lambda d: d["person"]["org"] == "A"),
        (Eq("state", "TX"), lambda d: d["state"] == "TX"),
        (Eq("person.id", 10), lambda d: d["person"]["id"] == 10),
        (Eq("person.address.city", "Dallas"), lambda d: d["person"]["address"]["city"] == "Dallas"),
        (Eq("person.org", "nobody"), lambda d: False),
        (In("state", ("CA", "WA")), lambda d: d["state"] in ("CA", "WA")),
        (In("person.id", (1, 2, 250, 999)), lambda d: d["person"]["id"] in (1, 2, 250)),
        (
            And((Eq("person.org", "A"), In("state", ("CA", "WA")))),
            lambda d: d["person"]["org"] == "A" and d["state"] in ("CA", "WA"),
        ),
        (
            Or((Eq("state", "TX"), Eq("person.id", 2))),
            lambda d: d["state"] == "TX" or d["person"]["id"] == 2,
        ),
        (
            Or(
                (
                    And((Eq("person.org", "B"), Eq("state", "CA"))),
                    Eq("person.address.city", "Salem"),
                )
            ),
            lambda d: (
                (d["person"]["org"], d["state"]) == ("B", "CA")
                or d["person"]["address"]["city"] == "Salem"
            ),
        ),
    ],
    ids=[
        "no-filter",
        "eq",
        "eq-value-prefix",
        "eq-other-field",
        "eq-number",
        "eq-nested-3-deep",
        "eq-no-match",
        "in",
        "in-numbers",
        "and",
        "or",
        "or-of-and",
    ],
)
async def test_filters_select_exactly_the_matching_documents(
    queryable: QueryableStore,
    app_prefix: str,
    query_filter: Any,
    predicate: Callable[[Doc], bool],
) -> None:
    response = await queryable.query(QueryRequest(app_prefix, filter=query_filter))

    found = names(response.results, app_prefix)
    assert sorted(found) == sorted(expect(predicate))
    assert not response.token


async def test_sort_on_two_keys_ascending_and_descending(
    queryable: QueryableStore, app_prefix: str
) -> None:
    sort = (Sort("state", descending=True), Sort("person.id"))
    response = await queryable.query(QueryRequest(app_prefix, sort=sort))

    by_id = sorted(DOCS, key=lambda name: DOCS[name]["person"]["id"])
    expected = sorted(by_id, key=lambda name: DOCS[name]["state"], reverse=True)
    assert names(response.results, app_prefix) == expected


async def test_sort_numbers_descending_with_a_filter(
    queryable: QueryableStore, app_prefix: str
) -> None:
    request = QueryRequest(
        app_prefix, filter=Eq("person.org", "A"), sort=(Sort("value.person.id", descending=True),)
    )
    response = await queryable.query(request)

    expected = sorted(
        expect(lambda d: d["person"]["org"] == "A"), key=lambda n: -DOCS[n]["person"]["id"]
    )
    assert names(response.results, app_prefix) == expected


@pytest.mark.parametrize("limit", [1, 3, 10, 11])
async def test_sorted_pages_concatenate_to_the_full_result(
    queryable: QueryableStore, app_prefix: str, limit: int
) -> None:
    request = QueryRequest(app_prefix, sort=(Sort("person.id"),))

    found = await query_all(queryable, request, app_prefix, limit)

    assert found == sorted(DOCS, key=lambda name: DOCS[name]["person"]["id"])


@pytest.mark.parametrize("limit", [1, 4])
@pytest.mark.parametrize(
    ("query_filter", "predicate"),
    [(None, lambda d: True), (In("state", ("WA", "CA")), lambda d: d["state"] in ("WA", "CA"))],
    ids=["all", "filtered"],
)
async def test_unsorted_pages_return_every_match_exactly_once(
    queryable: QueryableStore,
    app_prefix: str,
    limit: int,
    query_filter: Any,
    predicate: Callable[[Doc], bool],
) -> None:
    request = QueryRequest(app_prefix, filter=query_filter)

    found = await query_all(queryable, request, app_prefix, limit)

    assert sorted(found) == sorted(expect(predicate))


async def test_results_carry_the_stored_key_and_etag(
    queryable: QueryableStore,
    store: StateStore,
    store_under_test: StoreUnderTest,
    app_prefix: str,
) -> None:
    response = await queryable.query(QueryRequest(app_prefix, filter=Eq("person.id", 42)))

    (item,) = response.results
    assert item.key == app_prefix + "p07"
    if "ETAG" in store_under_test.features:
        stored = await store.get(GetRequest(item.key))
        assert stored is not None
        assert item.etag
        assert item.etag == stored.etag


async def test_a_prefix_without_documents_finds_nothing(
    queryable: QueryableStore, prefix: str
) -> None:
    response = await queryable.query(QueryRequest(prefix.removesuffix("||") + "-empty||"))
    assert response.results == ()
