"""Dapr's state query language (JSON) → QueryRequest, with a clear error for each bad part."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mecha.blocks.state.models import And, Eq, Filter, In, Or, QueryRequest, Sort
from mecha.errors import ErrorCode, MechaError


def _bad(message: str) -> MechaError:
    return MechaError(ErrorCode.MALFORMED_REQUEST, f"invalid query: {message}")


def parse(query: Any, metadata: Mapping[str, str]) -> QueryRequest:
    """Parse a query object: `{"filter": {...}, "sort": [...], "page": {"limit", "token"}}`."""
    if not isinstance(query, dict):
        raise _bad("the query must be a JSON object")
    unknown = set(query) - {"filter", "sort", "page"}
    if unknown:
        raise _bad(f"unknown field(s) {', '.join(sorted(unknown))}")
    raw_filter = query.get("filter")
    filter_ = _filter(raw_filter) if raw_filter else None
    sort = tuple(_sort(s) for s in _list(query.get("sort") or [], "sort"))
    page = query.get("page") or {}
    if not isinstance(page, dict):
        raise _bad("page must be an object")
    limit = page.get("limit", 0)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise _bad("page.limit must be a whole number of 0 or more")
    token = page.get("token")
    if token is not None and not isinstance(token, str):
        raise _bad("page.token must be a string")
    return QueryRequest(
        key_prefix="",
        filter=filter_,
        sort=sort,
        limit=limit,
        token=token or None,
        metadata=metadata,
    )


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(f"{what} must be an array")
    return value


def _filter(raw: Any) -> Filter:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise _bad("a filter must be an object with exactly one operator (EQ, IN, AND, OR)")
    ((operator, operand),) = raw.items()
    if operator == "EQ":
        key, value = _single_field(operand, "EQ")
        return Eq(key, value)
    if operator == "IN":
        key, values = _single_field(operand, "IN")
        if not isinstance(values, list) or not values:
            raise _bad("IN needs a non-empty array of values")
        return In(key, tuple(values))
    if operator in ("AND", "OR"):
        parts = _list(operand, operator)
        if len(parts) < 2:
            raise _bad(f"{operator} needs at least two filters")
        filters = tuple(_filter(part) for part in parts)
        return And(filters) if operator == "AND" else Or(filters)
    raise _bad(f"unsupported operator {operator!r} (use EQ, IN, AND, OR)")


def _single_field(operand: Any, operator: str) -> tuple[str, Any]:
    if not isinstance(operand, dict) or len(operand) != 1:
        raise _bad(f"{operator} takes an object with exactly one field")
    ((key, value),) = operand.items()
    if not key:
        raise _bad(f"{operator} needs a field name")
    return key, value


def _sort(raw: Any) -> Sort:
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not raw["key"]:
        raise _bad("each sort entry needs a key")
    order = (raw.get("order") or "ASC").upper()
    if order not in ("ASC", "DESC"):
        raise _bad(f"sort order must be ASC or DESC, not {raw.get('order')!r}")
    return Sort(raw["key"], descending=order == "DESC")
