"""Requests and responses between the state service and state store components.

Keys here are the keys as stored: the service has already applied the key prefix
(`appId||key` by default). Values are bytes, exactly as they will be returned.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Feature(enum.StrEnum):
    ETAG = "ETAG"
    TRANSACTIONAL = "TRANSACTIONAL"
    TTL = "TTL"
    QUERY_API = "QUERY_API"
    # Reported, not declared: marks the store actors use (`actorStateStore: "true"`).
    ACTOR = "ACTOR"


class Concurrency(enum.StrEnum):
    FIRST_WRITE = "first-write"
    LAST_WRITE = "last-write"


class Consistency(enum.StrEnum):
    EVENTUAL = "eventual"
    STRONG = "strong"


_NO_METADATA: Mapping[str, str] = {}


@dataclass(frozen=True, slots=True)
class GetRequest:
    key: str
    consistency: Consistency = Consistency.EVENTUAL
    metadata: Mapping[str, str] = field(default_factory=lambda: _NO_METADATA)


@dataclass(frozen=True, slots=True)
class Item:
    """A stored value as read back. `etag` is None only for stores without the ETAG feature."""

    data: bytes
    etag: str | None = None
    content_type: str | None = None
    # e.g. `ttlExpireTime` (RFC 3339) for keys with a TTL.
    metadata: Mapping[str, str] = field(default_factory=lambda: _NO_METADATA)


@dataclass(frozen=True, slots=True)
class SetRequest:
    key: str
    value: bytes
    # The ETag the caller last read; None (or "") means "no ETag given".
    etag: str | None = None
    concurrency: Concurrency = Concurrency.LAST_WRITE
    consistency: Consistency = Consistency.EVENTUAL
    # Seconds until the key expires; None for no expiry. -1 is "never expire" as Dapr defines it.
    ttl_seconds: int | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: _NO_METADATA)


@dataclass(frozen=True, slots=True)
class DeleteRequest:
    key: str
    etag: str | None = None
    concurrency: Concurrency = Concurrency.LAST_WRITE
    consistency: Consistency = Consistency.EVENTUAL
    metadata: Mapping[str, str] = field(default_factory=lambda: _NO_METADATA)


Operation = SetRequest | DeleteRequest


@dataclass(frozen=True, slots=True)
class TransactionRequest:
    operations: tuple[Operation, ...]
    metadata: Mapping[str, str] = field(default_factory=lambda: _NO_METADATA)


# ---- Query API ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Eq:
    key: str
    value: Any


@dataclass(frozen=True, slots=True)
class In:
    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class And:
    filters: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    filters: tuple[Filter, ...]


Filter = Eq | In | And | Or


@dataclass(frozen=True, slots=True)
class Sort:
    key: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class QueryRequest:
    """A query over the JSON values whose stored keys start with `key_prefix`.

    Filter and sort keys are dotted paths into the value (`person.org`); a leading `value.` is
    accepted and ignored, as Dapr does.
    """

    key_prefix: str
    filter: Filter | None = None
    sort: tuple[Sort, ...] = ()
    limit: int = 0
    token: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: _NO_METADATA)


@dataclass(frozen=True, slots=True)
class QueryItem:
    key: str  # as stored, prefix included; the service strips it
    data: bytes
    etag: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class QueryResponse:
    results: tuple[QueryItem, ...]
    token: str | None = None
