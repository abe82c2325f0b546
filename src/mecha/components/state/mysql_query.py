"""The state Query API as one parameterised MySQL/MariaDB statement over the JSON `value` column.

The same semantics as the shared evaluator (`mecha.blocks.state.query`) and the PostgreSQL
store: object-only paths, JSON equality (`1` equals `1.0`, `"1"` does not), kind-ranked sorting
with strings by code point (compared as UTF-8 bytes, so no collation folds case or pads spaces),
the stored key as the last tie-breaker, and keyset pagination with the same token format.

The sort fields are extracted once in an inner query; the outer one ranks, filters by the
token's position and orders. Every user value, JSON paths included, is a bind parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from mecha.blocks.state.models import And, Eq, Filter, In, Or, QueryRequest
from mecha.blocks.state.query import QueryError, field_path
from mecha.components.state.postgresql_query import NUMBER_RANK, TEXT_RANKS, decode_token

_NUMBER_TYPES = "('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL')"
_KEY = "CAST(id AS BINARY)"


@dataclass(frozen=True, slots=True)
class MySQLQuery:
    sql: str
    params: tuple[Any, ...]
    sort_count: int  # the sort keys' columns end each row, three per key
    limit: int  # 0: all rows; else the statement fetches one row more to tell if there is more


def _json_path(key: str) -> str:
    """`$."a"."b"`: each step quoted, so any character can be in a field name."""
    steps = (part.replace("\\", "\\\\").replace('"', '\\"') for part in field_path(key))
    return "$" + "".join(f'."{step}"' for step in steps)


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError as error:
        raise QueryError(f"value {value!r} is not JSON") from error


class _Filter:
    """A WHERE condition and its parameters, in the order they appear in the text."""

    def __init__(self, mariadb: bool) -> None:
        self.mariadb = mariadb
        self.params: list[Any] = []

    def condition(self, query_filter: Filter) -> str:
        if isinstance(query_filter, Eq):
            return self.equals(query_filter.key, query_filter.value)
        if isinstance(query_filter, In):
            if not query_filter.values:
                raise QueryError(f"empty IN filter for key {query_filter.key!r}")
            choices = [self.equals(query_filter.key, value) for value in query_filter.values]
            return "(" + " OR ".join(choices) + ")"
        if isinstance(query_filter, And | Or):
            kind = "AND" if isinstance(query_filter, And) else "OR"
            if not query_filter.filters:
                raise QueryError(f"empty {kind} filter")
            parts = [self.condition(part) for part in query_filter.filters]
            return "(" + f" {kind} ".join(parts) + ")"
        raise QueryError(f"unsupported filter {query_filter!r}")

    def equals(self, key: str, expected: Any) -> str:
        """JSON equality of the field at `key` with `expected`, by the kind of `expected`."""
        path = _json_path(key)
        found = "JSON_EXTRACT(value, %s)"
        if expected is None:
            self.params.append(path)
            return f"JSON_TYPE({found}) = 'NULL'"
        if isinstance(expected, bool):
            self.params += [path, path, "true" if expected else "false"]
            return f"(JSON_TYPE({found}) = 'BOOLEAN' AND CAST({found} AS CHAR) = %s)"
        if isinstance(expected, int | float):
            self.params += [path, path, float(expected)]
            return f"(JSON_TYPE({found}) IN {_NUMBER_TYPES} AND CAST({found} AS DOUBLE) = %s)"
        if isinstance(expected, str):
            self.params += [path, path, expected]
            return (
                f"(JSON_TYPE({found}) = 'STRING'"
                f" AND CAST(JSON_UNQUOTE({found}) AS BINARY) = CAST(%s AS BINARY))"
            )
        self.params += [path, _json(expected)]
        if self.mariadb:  # MariaDB 10.11 lets a NULL JSON_EQUALS pass a WHERE: spell out 1
            return f"COALESCE(JSON_EQUALS({found}, %s), 0) = 1"
        return f"{found} = CAST(%s AS JSON)"


def _sort_columns(field: str) -> tuple[str, str, str]:
    """Rank, number and text expressions over an extracted field (an inner query column)."""
    kind = f"JSON_TYPE({field})"
    rank = (
        f"(CASE WHEN {field} IS NULL THEN 0 WHEN {kind} = 'NULL' THEN 1"
        f" WHEN {kind} = 'BOOLEAN' THEN 2 WHEN {kind} IN {_NUMBER_TYPES} THEN 3"
        f" WHEN {kind} = 'STRING' THEN 4 WHEN {kind} = 'ARRAY' THEN 5 ELSE 6 END)"
    )
    number = f"(CASE WHEN {kind} IN {_NUMBER_TYPES} THEN CAST({field} AS DOUBLE) END)"
    text = (
        f"(CASE WHEN {kind} = 'STRING' THEN CAST(JSON_UNQUOTE({field}) AS BINARY)"
        f" WHEN {kind} IN ('BOOLEAN', 'ARRAY', 'OBJECT') THEN CAST({field} AS BINARY) END)"
    )
    return rank, number, text


def build_query(
    request: QueryRequest, table: str, row_columns: str, live_rows: str, *, mariadb: bool
) -> MySQLQuery:
    """The statement for one page of `request` over `table`.

    `row_columns` is the select list the store reads items from; `live_rows` is its condition
    for rows that exist and hold JSON. Each result row is the row columns, the extracted sort
    fields (`q0`, `q1`, ...), then the sort keys' rank/number/text columns.
    """
    if request.limit < 0:
        raise QueryError(f"invalid limit {request.limit}: must be 0 (no limit) or more")
    params: list[Any] = []
    extracted = []
    for index, sort in enumerate(request.sort):
        extracted.append(f"JSON_EXTRACT(value, %s) AS q{index}")
        params.append(_json_path(sort.key))
    prefix = request.key_prefix.encode()
    where = [f"LEFT({_KEY}, %s) = CAST(%s AS BINARY)", live_rows]
    params += [len(prefix), request.key_prefix]
    if request.filter is not None:
        condition = _Filter(mariadb)
        where.append(condition.condition(request.filter))
        params += condition.params
    inner = (
        f"SELECT {', '.join([row_columns, *extracted])} FROM {table} WHERE {' AND '.join(where)}"
    )

    columns = [(*_sort_columns(f"q{i}"), sort.descending) for i, sort in enumerate(request.sort)]
    outer_where = ""
    if request.token:
        condition_text, bounds = _after(columns, request.token)
        outer_where = f" WHERE {condition_text}"
        params += bounds
    selected = [f"{rank}, {number}, {text}" for rank, number, text, _ in columns]
    order = [
        f"{expression}{' DESC' if descending else ''}"
        for rank, number, text, descending in columns
        for expression in (rank, number, text)
    ]
    sql = (
        f"SELECT q.*{''.join(', ' + s for s in selected)} FROM ({inner}) AS q{outer_where}"
        f" ORDER BY {', '.join([*order, _KEY])}"
    )
    if request.limit:
        sql += " LIMIT %s"
        params.append(request.limit + 1)
    return MySQLQuery(sql, tuple(params), len(columns), request.limit)


def _after(columns: list[tuple[str, str, str, bool]], token: str) -> tuple[str, list[Any]]:
    """Rows strictly after the token's position; the condition and its parameters."""
    ranks, key = decode_token(token, len(columns))
    chain: list[tuple[str, bool, Any]] = []
    for (rank_sql, number_sql, text_sql, descending), (rank, value) in zip(
        columns, ranks, strict=True
    ):
        chain.append((rank_sql, descending, rank))
        if rank == NUMBER_RANK and value is not None:
            chain.append((number_sql, descending, float(value)))
        elif rank in TEXT_RANKS and value is not None:
            chain.append((text_sql, descending, value.encode()))
    chain.append((_KEY, False, key.encode()))
    alternatives: list[str] = []
    params: list[Any] = []
    for index, (expression, descending, bound) in enumerate(chain):
        parts = []
        for equal_expression, _, equal_bound in chain[:index]:
            parts.append(f"{equal_expression} = %s")
            params.append(equal_bound)
        parts.append(f"{expression} {'<' if descending else '>'} %s")
        params.append(bound)
        alternatives.append("(" + " AND ".join(parts) + ")")
    return "(" + " OR ".join(alternatives) + ")", params
