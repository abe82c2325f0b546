"""The state Query API evaluated in Python, for stores without a query engine of their own.

A store hands `run_query` the items it holds under the request's key prefix (more is fine: the
prefix is checked again here) and gets back the page the request asks for: the items whose JSON
value matches the filter, in the requested order, at most `limit` of them.

The order is total — the sort keys, then the stored key — so pages are stable. The continuation
token names the last item returned (its sort values and its key) rather than an offset, so items
written or deleted between two pages do not shift the others: every item that stays matched from
the first page to the last is returned exactly once.

Comparisons follow JSON, not Python: `1` equals `1.0` but not `true`, and `"1"` is not `1`.
Sorting ranks values by kind first — missing < null < false < true < numbers < strings < arrays
< objects — then by value within a kind.
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any, Final

import orjson

from mecha.blocks.state.models import (
    And,
    Eq,
    Filter,
    In,
    Or,
    QueryItem,
    QueryRequest,
    QueryResponse,
    Sort,
)

__all__ = [
    "MISSING",
    "QueryError",
    "compile_filter",
    "field_path",
    "json_equal",
    "lookup",
    "run_query",
]


class QueryError(ValueError):
    """The query cannot be run as given: a bad field path, an empty IN, a bad token or limit."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""What `lookup` returns for a path that is not in the value (distinct from JSON null)."""

Predicate = Callable[[Any], bool]
_TOKEN_FORMAT = 1


def field_path(key: str) -> tuple[str, ...]:
    """A filter or sort key as a path into the value: `person.org` -> ("person", "org").

    A leading `value.` is dropped, as Dapr does.
    """
    path = key.removeprefix("value.")
    parts = tuple(path.split("."))
    if "" in parts:
        raise QueryError(f"invalid field path {key!r}")
    return parts


def lookup(value: Any, path: Sequence[str]) -> Any:
    """The value at `path` inside a JSON value, or MISSING."""
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def json_equal(left: Any, right: Any) -> bool:
    """Equality of two JSON values: numbers by value, booleans only with booleans."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(v, right[k]) for k, v in left.items())
    return type(left) is type(right) and left == right


def compile_filter(query_filter: Filter | None) -> Predicate:
    """A predicate over JSON values; raises QueryError for a filter that cannot be evaluated."""
    if query_filter is None:
        return lambda _value: True
    if isinstance(query_filter, Eq):
        path = field_path(query_filter.key)
        expected = query_filter.value
        return lambda value: json_equal(lookup(value, path), expected)
    if isinstance(query_filter, In):
        if not query_filter.values:
            raise QueryError(f"empty IN filter for key {query_filter.key!r}")
        path = field_path(query_filter.key)
        choices = query_filter.values
        return lambda value: _is_one_of(lookup(value, path), choices)
    if isinstance(query_filter, And | Or):
        if not query_filter.filters:
            kind = "AND" if isinstance(query_filter, And) else "OR"
            raise QueryError(f"empty {kind} filter")
        parts = tuple(compile_filter(f) for f in query_filter.filters)
        if isinstance(query_filter, And):
            return lambda value: all(part(value) for part in parts)
        return lambda value: any(part(value) for part in parts)
    raise QueryError(f"unsupported filter {query_filter!r}")


def _is_one_of(found: Any, choices: tuple[Any, ...]) -> bool:
    return found is not MISSING and any(json_equal(found, choice) for choice in choices)


# ---- ordering --------------------------------------------------------------------------------

Rank = tuple[Any, ...]


def _rank(value: Any) -> Rank:
    """A tuple that sorts JSON values by kind, then by value within the kind."""
    if value is MISSING:
        return (0,)
    if value is None:
        return (1,)
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (3, value)
    if isinstance(value, str):
        return (4, value)
    kind = 5 if isinstance(value, list) else 6
    return (kind, orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())


def _is_rank(candidate: list[Any]) -> bool:
    """Whether a decoded list is something `_rank` returns, so comparing it cannot fail."""
    match candidate:
        case [0 | 1]:
            return True
        case [2, bool()]:
            return True
        case [3, int() | float() as number]:
            return not isinstance(number, bool)
        case [4 | 5 | 6, str()]:
            return True
    return False


class _Descending:
    """A rank that sorts in reverse."""

    __slots__ = ("rank",)

    def __init__(self, rank: Rank) -> None:
        self.rank = rank

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.rank == other.rank

    def __lt__(self, other: _Descending) -> bool:
        return other.rank < self.rank

    __hash__ = None  # type: ignore[assignment]


class _Order:
    """The sort of one query: turns a value and its key into a comparable position."""

    def __init__(self, sort: Sequence[Sort]) -> None:
        self._fields = tuple((field_path(s.key), s.descending) for s in sort)

    def position(self, value: Any, key: str) -> tuple[Any, ...]:
        ranks = (_rank(lookup(value, path)) for path, _ in self._fields)
        return self._wrap(tuple(ranks), key)

    def _wrap(self, ranks: Sequence[Rank], key: str) -> tuple[Any, ...]:
        wrapped = [
            _Descending(rank) if descending else rank
            for rank, (_, descending) in zip(ranks, self._fields, strict=True)
        ]
        return (*wrapped, key)

    def token(self, position: tuple[Any, ...]) -> str:
        ranks = [r.rank if isinstance(r, _Descending) else r for r in position[:-1]]
        payload = orjson.dumps([_TOKEN_FORMAT, ranks, position[-1]])
        return base64.urlsafe_b64encode(payload).decode().rstrip("=")

    def after(self, token: str) -> tuple[Any, ...]:
        """The position a token names; QueryError if it is not a token of this query's shape."""
        try:
            padded = token + "=" * (-len(token) % 4)
            version, ranks, key = orjson.loads(base64.urlsafe_b64decode(padded))
        except (ValueError, TypeError, binascii.Error) as error:
            raise QueryError(f"invalid continuation token {token!r}") from error
        well_formed = (
            version == _TOKEN_FORMAT
            and isinstance(key, str)
            and isinstance(ranks, list)
            and len(ranks) == len(self._fields)
            and all(isinstance(r, list) and _is_rank(r) for r in ranks)
        )
        if not well_formed:
            raise QueryError(f"invalid continuation token {token!r}")
        return self._wrap([tuple(r) for r in ranks], key)


def run_query(request: QueryRequest, items: Iterable[QueryItem]) -> QueryResponse:
    """The page of `items` that `request` selects; items whose data is not JSON never match."""
    if request.limit < 0:
        raise QueryError(f"invalid limit {request.limit}: must be 0 (no limit) or more")
    predicate = compile_filter(request.filter)
    order = _Order(request.sort)
    after = order.after(request.token) if request.token else None

    matched: list[tuple[tuple[Any, ...], QueryItem]] = []
    for item in items:
        if not item.key.startswith(request.key_prefix):
            continue
        try:
            value = orjson.loads(item.data)
        except orjson.JSONDecodeError:
            continue
        if predicate(value):
            matched.append((order.position(value, item.key), item))
    matched.sort(key=itemgetter(0))

    start = 0 if after is None else bisect.bisect_right(matched, after, key=itemgetter(0))
    end = len(matched) if request.limit == 0 else min(start + request.limit, len(matched))
    page = matched[start:end]
    token = order.token(page[-1][0]) if page and end < len(matched) else None
    return QueryResponse(results=tuple(item for _, item in page), token=token)
