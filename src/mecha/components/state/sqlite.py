"""`state.sqlite`: state in a SQLite database, in the table layout daprd uses.

The table is daprd's — `key` (primary key), `value` (JSON text, or base64 when `is_binary`),
`etag` (a UUID), `expiration_time`, `update_time` — plus a nullable `content_type` column, so a
database written by daprd reads back here. Times are UTC text (`YYYY-MM-DD HH:MM:SS.fff`),
compared as text as daprd does. Expired rows read as missing; `cleanupInterval` deletes them.

One thread owns the only connection (see `_sqlite_worker`), so the event loop never blocks on
the database and every write is serialised without locks of our own.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from types import MappingProxyType
from typing import Any, Final

import orjson

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
from mecha.components.state._sqlite_schema import Statements, migrate, table_columns
from mecha.components.state._sqlite_settings import SQLiteSettings, parse_settings
from mecha.components.state._sqlite_worker import SQLiteWorker

log = logging.getLogger("mecha.components.state.sqlite")

_FEATURES: Final = tuple(
    f.value for f in (Feature.ETAG, Feature.TRANSACTIONAL, Feature.TTL, Feature.QUERY_API)
)
_BULK_CHUNK = 500  # keys per `IN (...)`, well under SQLite's bound-parameter limit


_second_text: tuple[int, str] = (0, "1970-01-01 00:00:00")  # the last whole second formatted


def _sql_time(epoch: float) -> str:
    """The text daprd's `CURRENT_TIMESTAMP` writes (UTC), with milliseconds added."""
    global _second_text
    second = int(epoch)
    cached_second, text = _second_text
    if second != cached_second:
        text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        _second_text = (second, text)
    return f"{text}.{int((epoch - second) * 1000):03d}"


def _sql_now() -> str:
    return _sql_time(time.time())


_NO_METADATA: Mapping[str, str] = MappingProxyType({})


def _ttl_metadata(expiration: str | None) -> Mapping[str, str]:
    if expiration is None:
        return _NO_METADATA
    moment = datetime.fromisoformat(expiration)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return {"ttlExpireTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _encode(value: bytes) -> tuple[str, bool]:
    """The `value` column and `is_binary` flag: JSON is kept as text, anything else in base64."""
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        return base64.b64encode(value).decode("ascii"), True
    return value.decode("utf-8"), False


def _decode(value: str | bytes, is_binary: int) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64decode(raw) if is_binary else raw


def _item(row: tuple[Any, ...]) -> Item:
    value, is_binary, etag, expiration, content_type = row
    return Item(_decode(value, is_binary), etag, content_type, _ttl_metadata(expiration))


def _given_etag(etag: str | None) -> str | None:
    if not etag:
        return None
    try:
        uuid.UUID(etag)
    except ValueError:
        raise ETagInvalid(f"invalid etag {etag!r}: not a UUID") from None
    return etag


def _glob_prefix(prefix: str) -> str:
    """A GLOB pattern for keys starting with `prefix` (GLOB, unlike LIKE, can use the index)."""
    escaped = "".join(f"[{c}]" if c in "*?[" else c for c in prefix)
    return escaped + "*"


class SQLiteStateStore:
    def __init__(self) -> None:
        self._settings: SQLiteSettings | None = None
        self._sql: Statements | None = None
        self._worker: SQLiteWorker | None = None
        self._cleanup: asyncio.Task[None] | None = None

    async def init(self, context: ComponentContext) -> None:
        settings = parse_settings(context.metadata, context.data_dir)
        self._settings = settings
        self._worker = SQLiteWorker(settings)
        await self._worker.open()
        try:
            if settings.read_only:
                columns = await self._worker.run(partial(table_columns, table=settings.table))
            else:
                prepare = partial(migrate, table=settings.table, meta=settings.metadata_table)
                columns = await self._worker.run(prepare, writes=True)
        except BaseException:
            await self._worker.close()
            raise
        self._sql = Statements(settings.table, settings.metadata_table, columns)
        if settings.cleanup_interval > 0 and not settings.read_only:
            self._cleanup = asyncio.get_running_loop().create_task(self._clean_forever())

    async def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup.cancel()
            await asyncio.gather(self._cleanup, return_exceptions=True)
            self._cleanup = None
        if self._worker is not None:
            await self._worker.close()

    def features(self) -> tuple[str, ...]:
        return _FEATURES

    # ---- operations: each builds a function that runs on the database thread ----------------

    async def get(self, request: GetRequest) -> Item | None:
        sql, key = self._statements.get, request.key

        def get(db: sqlite3.Connection) -> Item | None:
            row = db.execute(sql, (key, _sql_now())).fetchone()
            return None if row is None else _item(row)

        return await self._db.run(get)

    async def bulk_get(self, requests: Sequence[GetRequest]) -> list[Item | None]:
        keys = [request.key for request in requests]
        if not keys:
            return []
        sql = self._statements.bulk_get

        def bulk_get(db: sqlite3.Connection) -> list[Item | None]:
            now = _sql_now()
            found: dict[str, Item] = {}
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), _BULK_CHUNK):
                chunk = unique[start : start + _BULK_CHUNK]
                marks = ", ".join("?" * len(chunk))
                for key, *row in db.execute(sql.format(marks), (*chunk, now)):
                    found[key] = _item(tuple(row))
            return [found.get(key) for key in keys]

        return await self._db.run(bulk_get)

    async def set(self, request: SetRequest) -> None:
        etag = _given_etag(request.etag)
        await self._db.run(self._set_function(request, etag), writes=True, savepoint=False)

    async def delete(self, request: DeleteRequest) -> None:
        etag = _given_etag(request.etag)
        delete_row = self._delete_function(request, etag)
        await self._db.run(delete_row, writes=True, savepoint=False)

    async def transact(self, request: TransactionRequest) -> None:
        steps: list[Callable[[sqlite3.Connection], None]] = []
        for operation in request.operations:
            etag = _given_etag(operation.etag)
            if isinstance(operation, SetRequest):
                steps.append(self._set_function(operation, etag))
            else:
                steps.append(self._delete_function(operation, etag))
        if not steps:
            return

        def transact(db: sqlite3.Connection) -> None:
            # The worker runs this in a savepoint: an exception undoes every step.
            for step in steps:
                step(db)

        await self._db.run(transact, writes=True)

    async def query(self, request: QueryRequest) -> QueryResponse:
        sql, pattern = self._statements.query, _glob_prefix(request.key_prefix)

        def query(db: sqlite3.Connection) -> QueryResponse:
            rows = db.execute(sql, (pattern, _sql_now()))
            items: Iterator[QueryItem] = (
                QueryItem(key, value.encode("utf-8"), etag, content_type)
                for key, value, etag, content_type in rows
            )
            return run_query(request, items)

        return await self._db.run(query)

    def _set_function(
        self, request: SetRequest, etag: str | None
    ) -> Callable[[sqlite3.Connection], None]:
        self._refuse_if_read_only()
        sql = self._statements
        key, value, ttl, content_type = (
            request.key,
            request.value,
            request.ttl_seconds,
            request.content_type,
        )
        first_write = request.concurrency is Concurrency.FIRST_WRITE

        def set_row(db: sqlite3.Connection) -> None:
            epoch = time.time()
            now = _sql_time(epoch)
            stored, is_binary = _encode(value)
            expires = _sql_time(epoch + ttl) if ttl and ttl > 0 else None
            fields = (stored, is_binary, str(uuid.uuid4()), expires, now, content_type)
            if etag is not None:
                if not db.execute(sql.update, (*fields, key, etag, now)).rowcount:
                    raise ETagMismatch(f"etag mismatch for key {key!r}")
            elif first_write:
                if not db.execute(sql.insert, (key, *fields, now)).rowcount:
                    raise ETagMismatch(f"key {key!r} already exists (first-write)")
            else:
                db.execute(sql.upsert, (key, *fields))

        return set_row

    def _delete_function(
        self, request: DeleteRequest, etag: str | None
    ) -> Callable[[sqlite3.Connection], None]:
        self._refuse_if_read_only()
        sql, key = self._statements, request.key

        def delete_row(db: sqlite3.Connection) -> None:
            if etag is None:
                db.execute(sql.delete, (key,))
            elif not db.execute(sql.delete_checked, (key, etag, _sql_now())).rowcount:
                raise ETagMismatch(f"etag mismatch for key {key!r}")

        return delete_row

    # ---- schema and cleanup ------------------------------------------------------------------

    async def _clean_forever(self) -> None:
        interval = self._config.cleanup_interval
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await self._db.run(self._clean_expired, writes=True)
            except Exception:
                log.exception("%s: removing expired rows failed", self._config.described)
            else:
                if removed:
                    log.info("%s: removed %d expired rows", self._config.described, removed)

    def _clean_expired(self, db: sqlite3.Connection) -> int:
        """Delete expired rows, unless another process sharing the file did so just now."""
        now = _sql_now()
        window_ms = self._config.cleanup_interval * 1000 - 100
        if not db.execute(self._statements.claim_cleanup, (now, window_ms)).rowcount:
            return 0
        removed: int = db.execute(self._statements.delete_expired, (now,)).rowcount
        return removed

    def _refuse_if_read_only(self) -> None:
        if self._config.read_only:
            raise PermissionError(f"{self._config.described} is opened read-only")

    # ---- state set by init -------------------------------------------------------------------

    @property
    def _db(self) -> SQLiteWorker:
        if self._worker is None:
            raise RuntimeError("state.sqlite: used before init")
        return self._worker

    @property
    def _statements(self) -> Statements:
        if self._sql is None:
            raise RuntimeError("state.sqlite: used before init")
        return self._sql

    @property
    def _config(self) -> SQLiteSettings:
        if self._settings is None:
            raise RuntimeError("state.sqlite: used before init")
        return self._settings
