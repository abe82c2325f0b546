"""The shared Query API evaluator: filters, JSON comparison, ordering and keyset pagination."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mecha.blocks.state.models import And, Eq, In, Or, QueryItem, QueryRequest, Sort
from mecha.blocks.state.query import (
    MISSING,
    QueryError,
    compile_filter,
    field_path,
    json_equal,
    lookup,
    run_query,
)

PREFIX = "app||"


def items(docs: dict[str, Any], prefix: str = PREFIX) -> list[QueryItem]:
    return [
        QueryItem(prefix + name, orjson.dumps(doc), etag=f"e-{name}") for name, doc in docs.items()
    ]


def keys(request: QueryRequest, docs: dict[str, Any]) -> list[str]:
    response = run_query(request, items(docs))
    return [item.key.removeprefix(PREFIX) for item in response.results]


def all_pages(request: QueryRequest, source: list[QueryItem], limit: int) -> list[str]:
    found: list[str] = []
    token = request.token
    for _ in range(len(source) + 2):
        page = run_query(dataclasses.replace(request, limit=limit, token=token), source)
        assert len(page.results) <= limit
        found += [item.key for item in page.results]
        token = page.token
        if token is None:
            return found
    raise AssertionError("pagination did not end")


# ---- paths and equality ------------------------------------------------------------------------


def test_field_path_splits_on_dots_and_drops_a_leading_value() -> None:
    assert field_path("person.org") == ("person", "org")
    assert field_path("value.person.org") == ("person", "org")
    assert field_path("state") == ("state",)
    assert field_path("values.x") == ("values", "x")


@pytest.mark.parametrize("key", ["", "a..b", ".a", "a.", "value."])
def test_field_path_refuses_empty_segments(key: str) -> None:
    with pytest.raises(QueryError):
        field_path(key)


def test_lookup_walks_objects_only() -> None:
    doc = {"a": {"b": {"c": 1}, "list": [{"x": 1}]}, "n": None}
    assert lookup(doc, ("a", "b", "c")) == 1
    assert lookup(doc, ("n",)) is None
    assert lookup(doc, ("a", "missing")) is MISSING
    assert lookup(doc, ("a", "b", "c", "d")) is MISSING
    assert lookup(doc, ("a", "list", "x")) is MISSING
    assert lookup("not an object", ("a",)) is MISSING


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (1, 1.0, True),
        (1, True, False),
        (0, False, False),
        (True, True, True),
        ("1", 1, False),
        (None, None, True),
        (None, 0, False),
        ([1, {"a": 2}], [1.0, {"a": 2.0}], True),
        ([1, 2], [2, 1], False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": [True]}, {"a": [1]}, False),
    ],
)
def test_json_equal_follows_json_not_python(left: Any, right: Any, equal: bool) -> None:
    assert json_equal(left, right) is equal
    assert json_equal(right, left) is equal


# ---- filters -----------------------------------------------------------------------------------


def test_filters_combine() -> None:
    doc = {"person": {"org": "A", "id": 3}, "state": "WA"}
    assert compile_filter(None)(doc)
    assert compile_filter(Eq("person.org", "A"))(doc)
    assert not compile_filter(Eq("person.org", "B"))(doc)
    assert compile_filter(Eq("person.id", 3.0))(doc)
    assert compile_filter(In("state", ("CA", "WA")))(doc)
    assert not compile_filter(In("state", ("CA",)))(doc)
    assert compile_filter(And((Eq("state", "WA"), In("person.id", (1, 3)))))(doc)
    assert not compile_filter(And((Eq("state", "WA"), Eq("person.id", 1))))(doc)
    assert compile_filter(Or((Eq("state", "CA"), Eq("person.org", "A"))))(doc)
    assert not compile_filter(Or((Eq("state", "CA"), Eq("person.org", "B"))))(doc)


def test_a_missing_field_matches_nothing_not_even_null() -> None:
    doc = {"a": None}
    assert compile_filter(Eq("a", None))(doc)
    assert not compile_filter(Eq("b", None))(doc)
    assert not compile_filter(In("b", (None, 1)))(doc)


@pytest.mark.parametrize(
    "query_filter",
    [In("a", ()), And(()), Or(()), Eq("a..b", 1), And((Eq("a", 1), In("b", ())))],
)
def test_filters_that_cannot_be_evaluated_are_refused(query_filter: Any) -> None:
    with pytest.raises(QueryError):
        compile_filter(query_filter)


# ---- run_query ---------------------------------------------------------------------------------


def test_only_json_items_under_the_prefix_are_searched() -> None:
    source = [
        *items({"a": {"x": 1}}),
        *items({"a": {"x": 1}}, prefix="app||sub||"),
        *items({"b": {"x": 1}}, prefix="app|"),
        *items({"c": {"x": 1}}, prefix="other||"),
        QueryItem(PREFIX + "binary", b"\xff\x00"),
        QueryItem(PREFIX + "text", b"not json"),
    ]

    response = run_query(QueryRequest(PREFIX), source)

    assert sorted(item.key for item in response.results) == ["app||a", "app||sub||a"]
    assert response.token is None


def test_results_are_the_items_given() -> None:
    source = items({"a": {"x": 1}})
    (result,) = run_query(QueryRequest(PREFIX), source).results
    assert result is source[0]


def test_sort_ranks_kinds_then_values() -> None:
    docs = {
        "obj": {"v": {"a": 1}},
        "arr": {"v": [1]},
        "str-b": {"v": "b"},
        "str-a": {"v": "a"},
        "num-10": {"v": 10},
        "num-9.5": {"v": 9.5},
        "true": {"v": True},
        "false": {"v": False},
        "null": {"v": None},
        "missing": {},
    }
    ascending = keys(QueryRequest(PREFIX, sort=(Sort("v"),)), docs)
    descending = keys(QueryRequest(PREFIX, sort=(Sort("v", descending=True),)), docs)

    expected = ["missing", "null", "false", "true", "num-9.5", "num-10", "str-a", "str-b"]
    assert ascending == [*expected, "arr", "obj"]
    assert descending == list(reversed(ascending))


def test_sort_on_several_keys_then_the_stored_key() -> None:
    docs = {
        "d": {"g": "x", "n": 1},
        "c": {"g": "y", "n": 2},
        "b": {"g": "x", "n": 2},
        "a": {"g": "x", "n": 2},
    }
    request = QueryRequest(PREFIX, sort=(Sort("g"), Sort("value.n", descending=True)))
    assert keys(request, docs) == ["a", "b", "d", "c"]


def test_without_a_sort_results_come_in_key_order() -> None:
    docs = {name: {"i": i} for i, name in enumerate(["m", "a", "z", "b"])}
    assert keys(QueryRequest(PREFIX), docs) == ["a", "b", "m", "z"]


def test_limit_pages_and_the_token_continues_after_the_last_item() -> None:
    docs = {f"k{i}": {"n": i % 3} for i in range(7)}
    request = QueryRequest(PREFIX, sort=(Sort("n"),), limit=3)

    first = run_query(request, items(docs))
    second = run_query(dataclasses.replace(request, token=first.token), items(docs))
    third = run_query(dataclasses.replace(request, token=second.token), items(docs))

    pages = [[i.key.removeprefix(PREFIX) for i in p.results] for p in (first, second, third)]
    assert pages == [["k0", "k3", "k6"], ["k1", "k4", "k2"], ["k5"]]
    assert first.token
    assert second.token
    assert third.token is None


def test_no_token_when_everything_fits() -> None:
    docs: dict[str, Any] = {"a": {}, "b": {}}
    assert run_query(QueryRequest(PREFIX, limit=2), items(docs)).token is None
    assert run_query(QueryRequest(PREFIX, limit=5), items(docs)).token is None
    assert run_query(QueryRequest(PREFIX, limit=1), items({})).token is None


def test_pages_stay_put_when_items_change_between_them() -> None:
    docs = {f"k{i}": {"n": i} for i in range(6)}
    request = QueryRequest(PREFIX, sort=(Sort("n"),), limit=2)
    first = run_query(request, items(docs))

    del docs["k0"]  # already returned
    del docs["k3"]  # not yet returned: it is simply gone
    docs["k-new"] = {"n": -1}  # sorts before the token: not returned
    rest = all_pages(dataclasses.replace(request, token=first.token), items(docs), limit=2)

    assert [i.key for i in first.results] == ["app||k0", "app||k1"]
    assert rest == ["app||k2", "app||k4", "app||k5"]


@pytest.mark.parametrize(
    "token",
    ["not base64 !", "bm90IGpzb24", "WzEsW10sImsiXQ", "WzIsW1szLDFdXSwiayJd", "WzEsW1s5XV0sImsiXQ"],
)
def test_tokens_that_this_query_did_not_make_are_refused(token: str) -> None:
    # In order: not base64; not JSON; no sort values; unknown format; an impossible rank.
    request = QueryRequest(PREFIX, sort=(Sort("n"),), token=token)
    with pytest.raises(QueryError):
        run_query(request, items({"a": {"n": 1}}))


def test_a_token_from_a_query_with_other_sort_keys_is_refused() -> None:
    docs = {"a": {"n": 1}, "b": {"n": 2}}
    token = run_query(QueryRequest(PREFIX, limit=1), items(docs)).token
    with pytest.raises(QueryError):
        run_query(QueryRequest(PREFIX, sort=(Sort("n"),), token=token), items(docs))


def test_negative_limit_is_refused() -> None:
    with pytest.raises(QueryError):
        run_query(QueryRequest(PREFIX, limit=-1), [])


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
)
DOCS = st.dictionaries(
    st.text(min_size=1, max_size=6),
    st.fixed_dictionaries({}, optional={"a": JSON_SCALARS, "b": JSON_SCALARS}),
    max_size=25,
)
SORTS = st.lists(
    st.builds(Sort, st.sampled_from(["a", "b", "value.a"]), st.booleans()), max_size=2
).map(tuple)


@settings(max_examples=200, deadline=None)
@given(docs=DOCS, sort=SORTS, limit=st.integers(1, 7))
def test_paging_returns_the_full_ordered_result_exactly_once(
    docs: dict[str, Any], sort: tuple[Sort, ...], limit: int
) -> None:
    request = QueryRequest(PREFIX, sort=sort)
    source = items(docs)
    everything = [item.key for item in run_query(request, source).results]

    assert sorted(everything) == sorted(PREFIX + name for name in docs)
    assert all_pages(request, source, limit) == everything
