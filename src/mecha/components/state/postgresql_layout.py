"""The two table layouts of Dapr's PostgreSQL state store, as SQL and row decoding.

v1: `value jsonb` (non-JSON values as a base64 JSON string with `isbinary`), ETag = `xmin`.
v2: `value bytea`, ETag = a random UUID in column `etag`.
Both: `expiredate`/`expires_at` for TTL, `row_id` identity (Dapr's key listing), and a metadata
table holding the migration level and the last cleanup time, all as daprd writes them.

Mecha adds nullable columns daprd never reads: the content type, and for v1 the value's original
text when JSONB would not give it back byte for byte (JSONB reorders keys and respaces). Each is
tagged with the row version that wrote it (`xmin` for v1, the ETag for v2), so after a daprd
write, which leaves them untouched, they no longer apply and read as absent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from mecha.blocks.state.errors import ETagInvalid
from mecha.blocks.state.models import Concurrency, DeleteRequest, Item, SetRequest
from mecha.components.state import sql_common

Statement = tuple[str, tuple[Any, ...]]
_XID_LIMIT = 1 << 32


@dataclass(frozen=True, slots=True)
class Migration:
    """DDL that brings the table from `level - 1` to `level` (idempotent, as daprd's are)."""

    level: int
    statements: tuple[str, ...]


def _bare_name(table: str) -> str:
    return table.rsplit(".", 1)[-1]


def _unique_row_id_index(table: str) -> str:
    return (
        f'CREATE UNIQUE INDEX IF NOT EXISTS "{_bare_name(table)}_row_id_uidx" ON {table} (row_id)'
    )


def _expires(ttl_param: str) -> str:
    return (
        f"CASE WHEN {ttl_param}::int > 0 THEN now() + make_interval(secs => {ttl_param}::int) END"
    )


class V1Layout:
    """Dapr's `state.postgresql` v1 table: `key text, value jsonb, isbinary, xmin as ETag`."""

    version = "v1"
    mecha_columns: ClassVar[dict[str, str]] = {
        "mecha_xid": "xid",
        "mecha_raw": "text",
        "mecha_content_type": "text",
    }
    migrations_key = "migrations"
    cleanup_key = "last-cleanup"
    queryable = True

    def __init__(self, table: str) -> None:
        self.table = table
        live = "(expiredate IS NULL OR expiredate > now())"
        self.live = live
        # Row columns every read selects: key, body text, isbinary, etag, expiry, content type.
        self.columns = (
            "key, COALESCE(CASE WHEN mecha_xid = xmin AND NOT isbinary THEN mecha_raw END,"
            " value::text), isbinary, xmin, expiredate,"
            " CASE WHEN mecha_xid = xmin THEN mecha_content_type END"
        )
        self.get_sql = f"SELECT {self.columns} FROM {table} WHERE key = $1 AND {live}"
        self.bulk_get_sql = (
            f"SELECT {self.columns} FROM {table} WHERE key = ANY($1::text[]) AND {live}"
        )
        self.query_rows = f"NOT isbinary AND {live}"
        self.cleanup_sql = (
            f"DELETE FROM {table} WHERE expiredate IS NOT NULL AND expiredate < now()"
        )
        raw = "CASE WHEN $3 OR $2::text::jsonb::text = $2::text THEN NULL ELSE $2::text END"
        written = (
            "value = $2::text::jsonb, isbinary = $3, updatedate = now(),"
            f" expiredate = {_expires('$4')}, mecha_xid = pg_current_xact_id()::xid,"
            f" mecha_raw = {raw}, mecha_content_type = $5"
        )
        self._update_sql = (
            f"UPDATE {table} SET {written} WHERE key = $1 AND xmin = $6::xid AND {live}"
        )
        upsert = (
            f"INSERT INTO {table} AS t (key, value, isbinary, expiredate, mecha_xid, mecha_raw,"
            f" mecha_content_type) VALUES ($1, $2::text::jsonb, $3, {_expires('$4')},"
            f" pg_current_xact_id()::xid, {raw}, $5) ON CONFLICT (key) DO UPDATE SET"
            " value = excluded.value, isbinary = excluded.isbinary, updatedate = now(),"
            " expiredate = excluded.expiredate, mecha_xid = excluded.mecha_xid,"
            " mecha_raw = excluded.mecha_raw, mecha_content_type = excluded.mecha_content_type"
        )
        self._upsert_sql = upsert
        # First-write may replace a row only if it expired and was not yet cleaned up.
        self._insert_sql = upsert + " WHERE t.expiredate IS NOT NULL AND t.expiredate <= now()"
        self._delete_sql = f"DELETE FROM {table} WHERE key = $1"
        self._delete_etag_sql = f"DELETE FROM {table} WHERE key = $1 AND xmin = $2::xid AND {live}"

    def migrations(self) -> tuple[Migration, ...]:
        t = self.table
        return (
            Migration(
                1,
                (
                    f"CREATE TABLE IF NOT EXISTS {t} (key text NOT NULL PRIMARY KEY,"
                    " value jsonb NOT NULL, isbinary boolean NOT NULL,"
                    " insertdate timestamp with time zone NOT NULL DEFAULT now(),"
                    " updatedate timestamp with time zone NULL)",
                ),
            ),
            Migration(
                2,
                (f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS expiredate timestamp with time zone",),
            ),
            Migration(
                3,
                (
                    f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS row_id bigint"
                    " GENERATED BY DEFAULT AS IDENTITY",
                    _unique_row_id_index(t),
                ),
            ),
        )

    def etag(self, given: str) -> int:
        if not given.isascii() or not given.isdigit() or int(given) >= _XID_LIMIT:
            raise ETagInvalid(f"invalid etag {given!r}: PostgreSQL v1 ETags are 32-bit numbers")
        return int(given)

    def set_statement(self, request: SetRequest) -> Statement:
        body, is_binary = sql_common.encode_json_column(request.value)
        params = (
            request.key,
            body,
            is_binary,
            sql_common.ttl_seconds(request.ttl_seconds),
            request.content_type,
        )
        if request.etag:
            return self._update_sql, (*params, self.etag(request.etag))
        if request.concurrency is Concurrency.FIRST_WRITE:
            return self._insert_sql, params
        return self._upsert_sql, params

    def delete_statement(self, request: DeleteRequest) -> Statement:
        if request.etag:
            return self._delete_etag_sql, (request.key, self.etag(request.etag))
        return self._delete_sql, (request.key,)

    def item(self, row: Any) -> Item:
        """The item in a row that starts with `columns` (an asyncpg Record or a tuple)."""
        body, is_binary, xmin, expires, content_type = row[1], row[2], row[3], row[4], row[5]
        data = sql_common.decode_json_column(body, is_binary)
        return Item(data, str(xmin), content_type, sql_common.ttl_metadata(expires))


class V2Layout:
    """Dapr's `state.postgresql` v2 table: `key text, value bytea, etag uuid, expires_at`."""

    version = "v2"
    mecha_columns: ClassVar[dict[str, str]] = {"mecha_etag": "uuid", "mecha_content_type": "text"}
    queryable = False

    def __init__(self, table_prefix: str) -> None:
        table = table_prefix + "state"
        self.table = table
        self.migrations_key = "migrations-state-v2-" + table_prefix
        self.cleanup_key = "last-cleanup-state-v2-" + table_prefix
        live = "(expires_at IS NULL OR expires_at > now())"
        self.live = live
        self.columns = (
            "key, value, etag, expires_at, CASE WHEN mecha_etag = etag THEN mecha_content_type END"
        )
        self.get_sql = f"SELECT {self.columns} FROM {table} WHERE key = $1 AND {live}"
        self.bulk_get_sql = (
            f"SELECT {self.columns} FROM {table} WHERE key = ANY($1::text[]) AND {live}"
        )
        self.query_rows = live
        self.cleanup_sql = (
            f"DELETE FROM {table} WHERE expires_at IS NOT NULL AND expires_at < now()"
        )
        written = (
            f"value = $2, updated_at = now(), etag = $3::uuid, expires_at = {_expires('$4')},"
            " mecha_etag = $3::uuid, mecha_content_type = $5"
        )
        self._update_sql = (
            f"UPDATE {table} SET {written} WHERE key = $1 AND etag = $6::uuid AND {live}"
        )
        upsert = (
            f"INSERT INTO {table} AS t (key, value, etag, expires_at, mecha_etag,"
            f" mecha_content_type) VALUES ($1, $2, $3::uuid, {_expires('$4')}, $3::uuid, $5)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now(),"
            " etag = excluded.etag,"
            " expires_at = excluded.expires_at, mecha_etag = excluded.mecha_etag,"
            " mecha_content_type = excluded.mecha_content_type"
        )
        self._upsert_sql = upsert
        self._insert_sql = upsert + " WHERE t.expires_at IS NOT NULL AND t.expires_at <= now()"
        self._delete_sql = f"DELETE FROM {table} WHERE key = $1"
        self._delete_etag_sql = f"DELETE FROM {table} WHERE key = $1 AND etag = $2::uuid AND {live}"

    def migrations(self) -> tuple[Migration, ...]:
        t = self.table
        return (
            Migration(
                1,
                (
                    f"CREATE TABLE IF NOT EXISTS {t} (key text NOT NULL PRIMARY KEY,"
                    " value bytea NOT NULL, etag uuid NOT NULL DEFAULT gen_random_uuid(),"
                    " created_at timestamp with time zone NOT NULL DEFAULT now(),"
                    " updated_at timestamp with time zone, expires_at timestamp with time zone)",
                    f'CREATE INDEX IF NOT EXISTS "{_bare_name(t)}_expires_at_idx"'
                    f" ON {t} (expires_at)",
                ),
            ),
            Migration(
                2,
                (
                    f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS row_id bigint"
                    " GENERATED BY DEFAULT AS IDENTITY",
                    _unique_row_id_index(t),
                ),
            ),
        )

    def etag(self, given: str) -> str:
        try:
            return str(uuid.UUID(given))
        except ValueError:
            raise ETagInvalid(f"invalid etag {given!r}: PostgreSQL v2 ETags are UUIDs") from None

    def set_statement(self, request: SetRequest) -> Statement:
        params = (
            request.key,
            request.value,
            str(uuid.uuid4()),
            sql_common.ttl_seconds(request.ttl_seconds),
            request.content_type,
        )
        if request.etag:
            return self._update_sql, (*params, self.etag(request.etag))
        if request.concurrency is Concurrency.FIRST_WRITE:
            return self._insert_sql, params
        return self._upsert_sql, params

    def delete_statement(self, request: DeleteRequest) -> Statement:
        if request.etag:
            return self._delete_etag_sql, (request.key, self.etag(request.etag))
        return self._delete_sql, (request.key,)

    def item(self, row: Any) -> Item:
        """The item in a row that starts with `columns` (an asyncpg Record or a tuple)."""
        value, etag, expires, content_type = row[1], row[2], row[3], row[4]
        return Item(bytes(value), str(etag), content_type, sql_common.ttl_metadata(expires))


Layout = V1Layout | V2Layout
