"""The state Query API as one parameterised PostgreSQL statement over the JSONB `value` column.

Semantics match the shared evaluator (`mecha.blocks.state.query`): paths walk objects only,
equality is JSON equality (`1` equals `1.0`, `"1"` does not), and sorting ranks values by kind
— missing < null < false < true < numbers < strings < arrays < objects — then by value, strings
by code point (`COLLATE "C"`), with the stored key as the last tie-breaker so the order is total.

Pagination is by keyset: the token carries the sort values and key of the last row returned and
the next page starts strictly after that position, so rows written or deleted between pages do
not shift the others. Every user value reaches the server as a bind parameter.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from mecha.blocks.state.models import And, Eq, Filter, In, Or, QueryRequest, Sort
from mecha.blocks.state.query import QueryError, field_path

_TOKEN_FORMAT = 1
# Ranks of JSON kinds in the sort order; the value column that orders within a kind.
NUMBER_RANK = 3
TEXT_RANKS = frozenset({2, 4, 5, 6})
_KEY = 'key COLLATE "C"'


@dataclass(frozen=True, slots=True)
class SortColumns:
    """The three expressions one sort key orders by: kind rank, number value, text value."""

    rank: str
    number: str
    text: str
    descending: bool


@dataclass(frozen=True, slots=True)
class PgQuery:
    sql: str
    params: tuple[Any, ...]
    sort_count: int  # the sort keys' columns come after the row columns, three per key
    limit: int  # 0: all rows; else the statement fetches one row more to tell if there is more


class _Builder:
    def __init__(self) -> None:
        self.params: list[Any] = []

    def param(self, value: Any, cast: str) -> str:
        self.params.append(value)
        return f"${len(self.params)}::{cast}"

    def path(self, key: str) -> str:
        """`value -> 'a' -> 'b'`: objects only, as the evaluator walks (never array indexes)."""
        steps = "".join(f" -> {self.param(part, 'text')}" for part in field_path(key))
        return f"(value{steps})"

    def json(self, value: Any) -> str:
        try:
            return orjson.dumps(value).decode()
        except TypeError as error:
            raise QueryError(f"value {value!r} is not JSON") from error

    def condition(self, query_filter: Filter) -> str:
        if isinstance(query_filter, Eq):
            expected = self.param(self.json(query_filter.value), "jsonb")
            return f"{self.path(query_filter.key)} = {expected}"
        if isinstance(query_filter, In):
            if not query_filter.values:
                raise QueryError(f"empty IN filter for key {query_filter.key!r}")
            choices = [self.json(v) for v in query_filter.values]
            return f"{self.path(query_filter.key)} = ANY({self.param(choices, 'text[]')}::jsonb[])"
        if isinstance(query_filter, And | Or):
            kind = "AND" if isinstance(query_filter, And) else "OR"
            if not query_filter.filters:
                raise QueryError(f"empty {kind} filter")
            parts = [self.condition(part) for part in query_filter.filters]
            return "(" + f" {kind} ".join(parts) + ")"
        raise QueryError(f"unsupported filter {query_filter!r}")

    def sort_columns(self, sort: Sort) -> SortColumns:
        path = self.path(sort.key)
        kind = f"jsonb_typeof({path})"
        rank = (
            f"(CASE WHEN {path} IS NULL THEN 0 ELSE CASE {kind} WHEN 'null' THEN 1"
            f" WHEN 'boolean' THEN 2 WHEN 'number' THEN 3 WHEN 'string' THEN 4"
            f" WHEN 'array' THEN 5 ELSE 6 END END)"
        )
        number = f"(CASE WHEN {kind} = 'number' THEN {path}::numeric END)"
        text = (
            f"(CASE WHEN {kind} = 'string' THEN {path} #>> '{{}}'"
            f" WHEN {kind} IN ('boolean', 'array', 'object') THEN {path}::text END)"
            ' COLLATE "C"'
        )
        return SortColumns(rank, number, text, sort.descending)

    def after(self, columns: Sequence[SortColumns], token: str) -> str:
        """Rows strictly after the token's position in the query's order."""
        ranks, key = decode_token(token, len(columns))
        # (expression, descending, bound) in order of significance; within one rank only the
        # value column of that kind differs, the other is NULL on both sides and is skipped.
        chain: list[tuple[str, bool, str]] = []
        for sort, (rank, value) in zip(columns, ranks, strict=True):
            chain.append((sort.rank, sort.descending, self.param(rank, "int")))
            if rank == NUMBER_RANK:
                chain.append(
                    (sort.number, sort.descending, self.param(value, "text") + "::numeric")
                )
            elif rank in TEXT_RANKS:
                chain.append((sort.text, sort.descending, self.param(value, "text")))
        chain.append((_KEY, False, self.param(key, "text")))
        alternatives = []
        for index, (expression, descending, bound) in enumerate(chain):
            equal = [f"{e} = {b}" for e, _, b in chain[:index]]
            beyond = f"{expression} {'<' if descending else '>'} {bound}"
            alternatives.append("(" + " AND ".join([*equal, beyond]) + ")")
        return "(" + " OR ".join(alternatives) + ")"


def build_query(request: QueryRequest, table: str, row_columns: str, live_rows: str) -> PgQuery:
    """The statement for one page of `request` over `table`.

    `row_columns` is the select list the store reads items from; `live_rows` is its condition
    for rows that exist and hold JSON. The sort keys' rank/number/text columns follow the row
    columns in each result row.
    """
    if request.limit < 0:
        raise QueryError(f"invalid limit {request.limit}: must be 0 (no limit) or more")
    builder = _Builder()
    where = [f"starts_with(key, {builder.param(request.key_prefix, 'text')})", live_rows]
    if request.filter is not None:
        where.append(builder.condition(request.filter))
    columns = [builder.sort_columns(sort) for sort in request.sort]
    if request.token:
        where.append(builder.after(columns, request.token))
    select = [row_columns] + [f"{c.rank}, {c.number}, {c.text}" for c in columns]
    order = [
        f"{expression}{' DESC' if c.descending else ''}"
        for c in columns
        for expression in (c.rank, c.number, c.text)
    ]
    sql = (
        f"SELECT {', '.join(select)} FROM {table} WHERE {' AND '.join(where)}"
        f" ORDER BY {', '.join([*order, _KEY])}"
    )
    if request.limit:
        sql += f" LIMIT {builder.param(request.limit + 1, 'int')}"
    return PgQuery(sql, tuple(builder.params), len(columns), request.limit)


def page_token(sort_values: Sequence[Any], key: str) -> str:
    """The token for the position of a row: its (rank, number, text) triples and its key.

    Shared with the MySQL store, whose text values come back as bytes.
    """
    ranks = []
    for index in range(0, len(sort_values), 3):
        rank, number, text = sort_values[index : index + 3]
        if isinstance(text, bytes):
            text = text.decode()
        value = str(number) if rank == NUMBER_RANK else text
        ranks.append([rank, value])
    payload = orjson.dumps([_TOKEN_FORMAT, ranks, key])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_token(token: str, sort_count: int) -> tuple[list[tuple[int, str | None]], str]:
    """The (rank, value) of each sort key and the key a token names; QueryError if malformed."""
    try:
        padded = token + "=" * (-len(token) % 4)
        version, ranks, key = orjson.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError, binascii.Error) as error:
        raise QueryError(f"invalid continuation token {token!r}") from error
    if version != _TOKEN_FORMAT or not isinstance(key, str) or not isinstance(ranks, list):
        raise QueryError(f"invalid continuation token {token!r}")
    if len(ranks) != sort_count or not all(_valid_rank(r) for r in ranks):
        raise QueryError(f"invalid continuation token {token!r}")
    return [(r[0], r[1]) for r in ranks], key


def _valid_rank(candidate: Any) -> bool:
    match candidate:
        case [0 | 1, None]:
            return True
        case [3, str() as number]:
            try:
                return Decimal(number).is_finite()
            except ArithmeticError:
                return False
        case [2 | 4 | 5 | 6, str()]:
            return True
    return False
