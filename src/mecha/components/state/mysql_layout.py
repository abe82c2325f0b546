"""Dapr's `state.mysql` table layout, as SQL and row decoding.

`id VARCHAR(255)`, `value JSON` (non-JSON values as a base64 JSON string with `isbinary`),
`eTag VARCHAR(36)` holding a random UUID, `expiredate` for TTL, `row_id` (Dapr's key listing),
plus a metadata table for the last cleanup time: all as daprd creates and writes them. MariaDB
keeps JSON text as written, so values read back byte for byte (MySQL 8 normalises JSON).

Mecha adds `mecha_content_type`, tagged with the ETag that wrote it (`mecha_etag`): after a daprd
write, which leaves it untouched, the tag no longer matches and the content type reads as absent.
Tables Mecha creates compare keys by code point with no trailing-space padding (`*_nopad_bin`,
`utf8mb4_0900_bin`), so `"a "` and `"a"` stay two keys.
"""

from __future__ import annotations

import uuid
from typing import Any

from mecha.blocks.state.errors import ETagInvalid
from mecha.blocks.state.models import Concurrency, DeleteRequest, Item, SetRequest
from mecha.components.state import sql_common

Statement = tuple[str, tuple[Any, ...]]
LIVE = "(expiredate IS NULL OR expiredate > NOW(6))"
MECHA_COLUMNS = {"mecha_etag": "VARCHAR(36) NULL", "mecha_content_type": "TEXT NULL"}
_WRITTEN = ("value", "isbinary", "eTag", "expiredate", "mecha_etag", "mecha_content_type")
_EXPIRES = "IF(%s > 0, NOW(6) + INTERVAL %s SECOND, NULL)"


def etag(given: str) -> str:
    try:
        return str(uuid.UUID(given))
    except ValueError:
        raise ETagInvalid(f"invalid etag {given!r}: MySQL ETags are UUIDs") from None


class MySQLLayout:
    def __init__(self, table: str, metadata_table: str, *, mariadb: bool) -> None:
        self.table = table
        self.metadata_table = metadata_table
        self.mariadb = mariadb
        self.columns = (
            "id, value, isbinary, eTag, expiredate, IF(mecha_etag = eTag, mecha_content_type, NULL)"
        )
        self.get_sql = f"SELECT {self.columns} FROM {table} WHERE id = %s AND {LIVE}"
        self.query_rows = f"isbinary = 0 AND {LIVE}"
        insert = (
            f"INSERT INTO {table} (id, {', '.join(_WRITTEN)})"
            f" VALUES (%s, %s, %s, %s, {_EXPIRES}, %s, %s)"
        )
        self.insert_sql = insert
        if mariadb:
            updates = ", ".join(f"{c} = VALUES({c})" for c in _WRITTEN)
            self.upsert_sql = f"{insert} ON DUPLICATE KEY UPDATE {updates}"
        else:  # MySQL 8 deprecates VALUES() here (a warning per statement) for a row alias
            updates = ", ".join(f"{c} = new.{c}" for c in _WRITTEN)
            self.upsert_sql = f"{insert} AS new ON DUPLICATE KEY UPDATE {updates}"
        self.update_sql = (
            f"UPDATE {table} SET value = %s, isbinary = %s, eTag = %s, expiredate = {_EXPIRES},"
            f" mecha_etag = %s, mecha_content_type = %s WHERE id = %s AND eTag = %s AND {LIVE}"
        )
        # First-write may replace a row only if it expired; drop such a row before inserting.
        self.drop_expired_sql = (
            f"DELETE FROM {table} WHERE id = %s AND expiredate IS NOT NULL AND expiredate <= NOW(6)"
        )
        self.delete_sql = f"DELETE FROM {table} WHERE id = %s"
        self.delete_etag_sql = f"DELETE FROM {table} WHERE id = %s AND eTag = %s AND {LIVE}"
        self.cleanup_sql = (
            f"DELETE FROM {table} WHERE expiredate IS NOT NULL AND expiredate <= NOW(6)"
        )
        self.claim_cleanup_sql = (
            f"INSERT INTO {metadata_table} (id, value) VALUES ('last-cleanup', CURRENT_TIMESTAMP)"
            " ON DUPLICATE KEY UPDATE value = IF(CURRENT_TIMESTAMP > DATE_ADD(value,"
            " INTERVAL %s*1000 MICROSECOND), CURRENT_TIMESTAMP, value)"
        )

    def bulk_get_sql(self, count: int) -> str:
        keys = ", ".join(["%s"] * count)
        return f"SELECT {self.columns} FROM {self.table} WHERE id IN ({keys}) AND {LIVE}"

    def create_table_sql(self) -> str:
        collation = "utf8mb4_nopad_bin" if self.mariadb else "utf8mb4_0900_bin"
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " id VARCHAR(255) NOT NULL PRIMARY KEY,"
            " value JSON NOT NULL,"
            " isbinary BOOLEAN NOT NULL,"
            " insertDate TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,"
            " updateDate TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,"
            " eTag VARCHAR(36) NOT NULL,"
            " expiredate TIMESTAMP(6) NULL,"
            " row_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,"
            " mecha_etag VARCHAR(36) NULL,"
            " mecha_content_type TEXT NULL,"
            " INDEX expiredate_idx (expiredate),"
            " UNIQUE KEY row_id_uidx (row_id)"
            f") DEFAULT CHARSET = utf8mb4 COLLATE = {collation}"
        )

    def create_metadata_table_sql(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.metadata_table}"
            " (id VARCHAR(255) NOT NULL PRIMARY KEY, value TEXT NOT NULL)"
        )

    def add_columns_sql(self, missing: set[str]) -> str:
        """Columns an older (or daprd-created) table lacks; `expiredate` and `row_id` included."""
        wanted = {
            "expiredate": "TIMESTAMP(6) NULL, ADD INDEX expiredate_idx (expiredate)",
            "row_id": (
                "BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, ADD UNIQUE KEY row_id_uidx (row_id)"
            ),
            **MECHA_COLUMNS,
        }
        additions = ", ".join(f"ADD COLUMN {name} {wanted[name]}" for name in sorted(missing))
        return f"ALTER TABLE {self.table} {additions}"

    wanted_columns = ("expiredate", "row_id", *MECHA_COLUMNS)

    def write(self, request: SetRequest, new_etag: str) -> tuple[Any, ...]:
        """Parameters for the written columns, in `_WRITTEN` order (the TTL takes two)."""
        body, is_binary = sql_common.encode_json_column(request.value)
        ttl = sql_common.ttl_seconds(request.ttl_seconds)
        return (body, is_binary, new_etag, ttl, ttl, new_etag, request.content_type)

    def set_statements(self, request: SetRequest) -> list[Statement]:
        """The statements of a set, in order; the last one must write exactly one row."""
        new_etag = str(uuid.uuid4())
        written = self.write(request, new_etag)
        if request.etag:
            return [(self.update_sql, (*written, request.key, etag(request.etag)))]
        if request.concurrency is Concurrency.FIRST_WRITE:
            return [
                (self.drop_expired_sql, (request.key,)),
                (self.insert_sql, (request.key, *written)),
            ]
        return [(self.upsert_sql, (request.key, *written))]

    def delete_statement(self, request: DeleteRequest) -> Statement:
        if request.etag:
            return self.delete_etag_sql, (request.key, etag(request.etag))
        return self.delete_sql, (request.key,)

    def item(self, row: Any) -> Item:
        """The item in a row that starts with `columns`."""
        value, is_binary, row_etag, expires, content_type = row[1], row[2], row[3], row[4], row[5]
        text = value.decode() if isinstance(value, bytes) else value
        data = sql_common.decode_json_column(text, bool(is_binary))
        return Item(data, row_etag, content_type, sql_common.ttl_metadata(expires))
