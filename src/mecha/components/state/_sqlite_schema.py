"""The SQL of `state.sqlite`: creating daprd's tables, and the statements run against them.

Table and column layout are daprd's, so either can open the other's database; daprd's migration
bookkeeping (`migrations` in the metadata table) is kept as daprd expects. Our `content_type`
column is added apart from that bookkeeping, so a later daprd migration is never skipped.
"""

from __future__ import annotations

import sqlite3

MIGRATION_LEVEL = 1  # the number of daprd's migrations this layout matches


def quoted(identifier: str) -> str:
    """An identifier for SQL text; settings allow only letters, digits and '_' in it."""
    return f'"{identifier}"'


def migrate(db: sqlite3.Connection, *, table: str, meta: str) -> frozenset[str]:
    """Create what is missing, as daprd's migrations would, plus our column; the columns."""
    table, meta = quoted(table), quoted(meta)
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {meta} (key text NOT NULL PRIMARY KEY, value text NOT NULL)"
    )
    row = db.execute(f"SELECT value FROM {meta} WHERE key = 'migrations'").fetchone()
    if row is None or _migration_level(row[0]) < MIGRATION_LEVEL:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (key TEXT NOT NULL PRIMARY KEY, "
            "value TEXT NOT NULL, is_binary BOOLEAN NOT NULL, etag TEXT NOT NULL, "
            "expiration_time TIMESTAMP DEFAULT NULL, "
            "update_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        db.execute(
            f"REPLACE INTO {meta} (key, value) VALUES ('migrations', ?)", (str(MIGRATION_LEVEL),)
        )
    if "content_type" not in _columns(db, table):
        db.execute(f"ALTER TABLE {table} ADD COLUMN content_type TEXT DEFAULT NULL")
    return _columns(db, table)


def table_columns(db: sqlite3.Connection, *, table: str) -> frozenset[str]:
    return _columns(db, quoted(table))


def _columns(db: sqlite3.Connection, table: str) -> frozenset[str]:
    return frozenset(row[1] for row in db.execute(f"PRAGMA table_info({table})"))


def _migration_level(text: str) -> int:
    try:
        level = int(text)
    except ValueError:
        level = -1
    if level < 0:
        raise ValueError(f"invalid migration level {text!r} in the metadata table")
    return level


class Statements:
    """Every statement the store runs, written once per table.

    Each takes the current time (`?` after the other parameters) where rows past their
    expiration time must count as missing.
    """

    def __init__(self, table: str, meta: str, columns: frozenset[str]) -> None:
        table, meta = quoted(table), quoted(meta)
        # A read-only database written by daprd may lack our column.
        content_type = "content_type" if "content_type" in columns else "NULL"
        read = f"value, is_binary, etag, expiration_time, {content_type}"
        live = "(expiration_time IS NULL OR expiration_time > ?)"
        self.get = f"SELECT {read} FROM {table} WHERE key = ? AND {live}"
        self.bulk_get = f"SELECT key, {read} FROM {table} WHERE key IN ({{}}) AND {live}"
        self.upsert = (
            f"INSERT INTO {table} (key, value, is_binary, etag, expiration_time, update_time, "
            "content_type) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "value = excluded.value, is_binary = excluded.is_binary, etag = excluded.etag, "
            "expiration_time = excluded.expiration_time, update_time = excluded.update_time, "
            "content_type = excluded.content_type"
        )
        # First-write may replace only a row that has expired.
        self.insert = (
            f"{self.upsert} WHERE {table}.expiration_time IS NOT NULL "
            f"AND {table}.expiration_time <= ?"
        )
        self.update = (
            f"UPDATE {table} SET value = ?, is_binary = ?, etag = ?, expiration_time = ?, "
            f"update_time = ?, content_type = ? WHERE key = ? AND etag = ? AND {live}"
        )
        self.delete = f"DELETE FROM {table} WHERE key = ?"
        self.delete_checked = f"DELETE FROM {table} WHERE key = ? AND etag = ? AND {live}"
        self.query = (
            f"SELECT key, value, etag, {content_type} FROM {table} "
            f"WHERE key GLOB ? AND NOT is_binary AND {live}"
        )
        # daprd's way to let one of several processes sharing the file clean up at a time.
        self.claim_cleanup = (
            f"INSERT INTO {meta} (key, value) VALUES ('last-cleanup', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value "
            f"WHERE (julianday(excluded.value) - julianday({meta}.value)) * 86400000 > ?"
        )
        self.delete_expired = (
            f"DELETE FROM {table} WHERE expiration_time IS NOT NULL AND expiration_time <= ?"
        )
