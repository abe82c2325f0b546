"""`state.in-memory`: the reference state store, a dict in the runtime's process.

It has every optional feature (ETags, transactions, TTL, the Query API) so that it can stand in
for any real store in tests. ETags are random UUIDs, as Dapr's in-memory store makes them.
Nothing in an operation awaits, so each one is atomic on the event loop without a lock.
"""

from __future__ import annotations

import asyncio
import heapq
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from mecha.blocks.state.errors import ETagInvalid, ETagMismatch
from mecha.blocks.state.models import (
    Concurrency,
    DeleteRequest,
    Feature,
    GetRequest,
    Item,
    QueryItem,
    QueryRequest,
    QueryResponse,
    SetRequest,
    TransactionRequest,
)
from mecha.blocks.state.query import run_query
from mecha.components.base import ComponentContext

_FEATURES = tuple(
    f.value for f in (Feature.ETAG, Feature.TRANSACTIONAL, Feature.TTL, Feature.QUERY_API)
)
_SWEEP_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class _Entry:
    data: bytes
    etag: str
    content_type: str | None
    expires_at: float | None  # seconds since the epoch

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def item(self) -> Item:
        if self.expires_at is None:
            return Item(self.data, self.etag, self.content_type)
        return Item(self.data, self.etag, self.content_type, ttl_metadata(self.expires_at))


def ttl_metadata(expires_at: float) -> Mapping[str, str]:
    moment = datetime.fromtimestamp(expires_at, UTC)
    return {"ttlExpireTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _given_etag(etag: str | None) -> str | None:
    """The caller's ETag, or None when none was given; ETagInvalid when it is not one of ours."""
    if not etag:
        return None
    try:
        uuid.UUID(etag)
    except ValueError:
        raise ETagInvalid(f"invalid etag {etag!r}: not a UUID") from None
    return etag


def _check_write(
    key: str, current: _Entry | None, etag: str | None, concurrency: Concurrency
) -> None:
    """Raise ETagMismatch when a write with this ETag and concurrency may not replace `current`."""
    if etag is not None:
        if current is None:
            raise ETagMismatch(f"etag mismatch for key {key!r}: the key does not exist")
        if current.etag != etag:
            raise ETagMismatch(f"etag mismatch for key {key!r}")
    elif concurrency is Concurrency.FIRST_WRITE and current is not None:
        raise ETagMismatch(f"key {key!r} already exists (first-write)")


def _new_entry(request: SetRequest, now: float) -> _Entry:
    ttl = request.ttl_seconds
    expires_at = now + ttl if ttl is not None and ttl > 0 else None
    return _Entry(request.value, str(uuid.uuid4()), request.content_type, expires_at)


class InMemoryStateStore:
    def __init__(self) -> None:
        self._items: dict[str, _Entry] = {}
        # (expiry, key) of every entry written with a TTL; stale pairs are skipped when popped.
        self._expiries: list[tuple[float, str]] = []
        self._sweeper: asyncio.Task[None] | None = None

    async def init(self, context: ComponentContext) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        self._items.clear()
        self._expiries.clear()

    def features(self) -> tuple[str, ...]:
        return _FEATURES

    async def get(self, request: GetRequest) -> Item | None:
        entry = self._live(request.key, time.time())
        return None if entry is None else entry.item()

    async def bulk_get(self, requests: Sequence[GetRequest]) -> list[Item | None]:
        now = time.time()
        entries = (self._live(request.key, now) for request in requests)
        return [None if entry is None else entry.item() for entry in entries]

    async def set(self, request: SetRequest) -> None:
        now = time.time()
        etag = _given_etag(request.etag)
        _check_write(request.key, self._live(request.key, now), etag, request.concurrency)
        self._store(request.key, _new_entry(request, now))

    async def delete(self, request: DeleteRequest) -> None:
        etag = _given_etag(request.etag)
        if etag is not None:
            _check_write(
                request.key, self._live(request.key, time.time()), etag, request.concurrency
            )
        self._items.pop(request.key, None)

    async def transact(self, request: TransactionRequest) -> None:
        """Apply the operations in order to a staged view, then publish it all at once."""
        now = time.time()
        staged: dict[str, _Entry | None] = {}
        for operation in request.operations:
            key = operation.key
            current = staged[key] if key in staged else self._live(key, now)
            etag = _given_etag(operation.etag)
            if isinstance(operation, SetRequest):
                _check_write(key, current, etag, operation.concurrency)
                staged[key] = _new_entry(operation, now)
            else:
                if etag is not None:
                    _check_write(key, current, etag, operation.concurrency)
                staged[key] = None
        for key, entry in staged.items():
            if entry is None:
                self._items.pop(key, None)
            else:
                self._store(key, entry)

    async def query(self, request: QueryRequest) -> QueryResponse:
        return run_query(request, self._query_items(request.key_prefix, time.time()))

    def _query_items(self, prefix: str, now: float) -> Iterator[QueryItem]:
        for key, entry in self._items.items():
            if key.startswith(prefix) and not entry.expired(now):
                yield QueryItem(key, entry.data, entry.etag, entry.content_type)

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._items.get(key)
        if entry is not None and entry.expired(now):
            del self._items[key]
            return None
        return entry

    def _store(self, key: str, entry: _Entry) -> None:
        self._items[key] = entry
        if entry.expires_at is not None:
            heapq.heappush(self._expiries, (entry.expires_at, key))

    def _sweep(self, now: float) -> None:
        """Drop entries whose TTL has passed (reads already hide them; this frees the memory)."""
        while self._expiries and self._expiries[0][0] <= now:
            expires_at, key = heapq.heappop(self._expiries)
            entry = self._items.get(key)
            if entry is not None and entry.expires_at == expires_at:
                del self._items[key]

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_INTERVAL_SECONDS)
            self._sweep(time.time())
