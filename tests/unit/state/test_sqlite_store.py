"""state.sqlite beyond the conformance suite: metadata, files, daprd's data, cleanup, failures."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import closing
from pathlib import Path

import pytest

from mecha.blocks.state.errors import ETagMismatch, StoreUnavailable
from mecha.blocks.state.models import GetRequest, SetRequest
from mecha.components.base import ComponentContext
from mecha.components.state._sqlite_settings import (
    SQLiteSettingsError,
    parse_go_duration,
    parse_settings,
)
from mecha.components.state._sqlite_worker import SQLiteWorker
from mecha.components.state.sqlite import SQLiteStateStore

DAPR_TABLE = """CREATE TABLE state (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL,
    is_binary BOOLEAN NOT NULL,
    etag TEXT NOT NULL,
    expiration_time TIMESTAMP DEFAULT NULL,
    update_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)"""


def context(data_dir: Path, **metadata: str) -> ComponentContext:
    return ComponentContext("statestore", "state.sqlite", "v1", metadata, "", data_dir)


async def open_store(data_dir: Path, **metadata: str) -> SQLiteStateStore:
    store = SQLiteStateStore()
    await store.init(context(data_dir, **metadata))
    return store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStateStore]:
    store = await open_store(tmp_path, connectionString="state.db")
    yield store
    await store.close()


def side_connection(path: Path) -> closing[sqlite3.Connection]:
    """Another connection to the same file, as daprd or the sqlite3 shell would open."""
    return closing(sqlite3.connect(path, isolation_level=None))


def files_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


# ---- metadata ----------------------------------------------------------------------------------


def settings(data_dir: Path = Path("/data"), **metadata: str) -> Mapping[str, object]:
    parsed = parse_settings(metadata, data_dir)
    return {name: getattr(parsed, name) for name in parsed.__slots__}


def test_defaults_follow_daprd() -> None:
    parsed = settings(connectionString="state.db")
    assert parsed["database"] == "file:/data/state.db"
    assert parsed["table"] == "state"
    assert parsed["metadata_table"] == "metadata"
    assert parsed["timeout"] == 20.0
    assert parsed["busy_timeout"] == 2.0
    assert parsed["disable_wal"] is False
    assert parsed["cleanup_interval"] == 0.0
    assert parsed["in_memory"] is False


def test_names_match_case_insensitively_with_daprd_aliases() -> None:
    parsed = settings(
        URL="x.db",
        TIMEOUTINSECONDS="30",
        busytimeout="150ms",
        disablewal="true",
        TableName="my_state",
        metadataTableName="my_meta",
        cleanupIntervalInSeconds="3600",
    )
    assert parsed["database"] == "file:/data/x.db"
    assert parsed["timeout"] == 30.0
    assert parsed["busy_timeout"] == 0.15
    assert parsed["disable_wal"] is True
    assert (parsed["table"], parsed["metadata_table"]) == ("my_state", "my_meta")
    assert parsed["cleanup_interval"] == 3600.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("20s", 20.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        ("500ms", 0.5),
        ("2m0.5s", 120.5),
        ("-1s", -1.0),
        ("0", 0.0),
        ("45", 45.0),
        ("-1", -1.0),
        ("10us", 1e-5),
    ],
)
def test_durations_are_go_durations_or_seconds(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "1.5", "10 s", "1d", "--1s", "1h-5m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({}, "missing metadata 'connectionString'"),
        ({"connectionString": "x.db", "timeout": "500ms"}, "must be 1 s or more"),
        ({"connectionString": "x.db", "timeout": "soon"}, "invalid value for 'timeout'"),
        ({"connectionString": "x.db", "tableName": "state; DROP"}, "'tableName'"),
        ({"connectionString": "x.db", "metadataTableName": "m-t"}, "'metadataTableName'"),
        ({"connectionString": "x.db", "disableWAL": "yes"}, "'disableWAL'"),
        ({"connectionString": "x.db?_pragma=busy_timeout(10)"}, "use the 'busyTimeout'"),
        ({"connectionString": "x.db?_pragma=journal_mode(WAL)"}, "use the 'disableWAL'"),
        ({"connectionString": "x.db?_pragma=foreign_keys(1)"}, "not allowed"),
        ({"connectionString": "x.db?_pragma=cache_size"}, "invalid _pragma"),
        ({"connectionString": "file://example.com/x.db"}, "remote host"),
    ],
)
def test_bad_metadata_is_refused_with_the_field_named(
    metadata: dict[str, str], message: str
) -> None:
    with pytest.raises(SQLiteSettingsError, match=message.replace("(", r"\(")):
        parse_settings(metadata, Path("/data"))


@pytest.mark.parametrize(
    ("connection_string", "database"),
    [
        ("state.db", "file:/data/state.db"),
        ("sub dir/state.db", "file:/data/sub%20dir/state.db"),
        ("/abs/state.db", "file:/abs/state.db"),
        ("file:rel.db?mode=ro&_txlock=immediate", "file:/data/rel.db?mode=ro"),
        ("file:/abs/x.db?cache=shared", "file:/abs/x.db?cache=shared"),
        ("file:///abs/x.db", "file:/abs/x.db"),
        ("file://localhost/abs/x.db", "file:/abs/x.db"),
        ("file:with%20space.db", "file:/data/with%20space.db"),
        (":memory:", ":memory:"),
        ("file::memory:?cache=shared", "file::memory:?cache=shared"),
    ],
)
def test_connection_strings_resolve_against_the_data_folder(
    connection_string: str, database: str
) -> None:
    assert settings(connectionString=connection_string)["database"] == database


def test_pragmas_and_read_only_mode_are_read_from_the_connection_string() -> None:
    parsed = settings(connectionString="file:x.db?mode=ro&_pragma=synchronous(normal)")
    assert parsed["read_only"] is True
    assert parsed["pragmas"] == (("synchronous", "normal"),)


# ---- files and journal -------------------------------------------------------------------------


async def test_relative_path_lands_in_the_data_folder_which_is_created(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet"
    store = await open_store(data_dir, connectionString="deeper/state.db")
    await store.set(SetRequest("app||k", b'"v"'))
    await store.close()

    with side_connection(data_dir / "deeper" / "state.db") as db:
        assert db.execute("SELECT value FROM state").fetchall() == [('"v"',)]


@pytest.mark.parametrize(("metadata", "journal"), [({}, "wal"), ({"disableWAL": "true"}, "delete")])
async def test_wal_unless_disabled(tmp_path: Path, metadata: dict[str, str], journal: str) -> None:
    store = await open_store(tmp_path, connectionString="state.db", **metadata)
    await store.close()
    with side_connection(tmp_path / "state.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == (journal,)


async def test_memory_databases_are_private_to_the_store(tmp_path: Path) -> None:
    first = await open_store(tmp_path, connectionString=":memory:")
    second = await open_store(tmp_path, connectionString=":memory:")
    try:
        await first.set(SetRequest("app||k", b"first"))
        assert await second.get(GetRequest("app||k")) is None
        item = await first.get(GetRequest("app||k"))
        assert item is not None
        assert item.data == b"first"
    finally:
        await first.close()
        await second.close()
    assert files_in(tmp_path) == []


async def test_custom_table_names(tmp_path: Path) -> None:
    store = await open_store(
        tmp_path, connectionString="s.db", tableName="1st_state", metadataTableName="apps_meta"
    )
    await store.set(SetRequest("app||k", b"{}"))
    await store.close()
    with side_connection(tmp_path / "s.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"1st_state", "apps_meta"}
        assert db.execute('SELECT key FROM "1st_state"').fetchall() == [("app||k",)]


# ---- daprd's layout ----------------------------------------------------------------------------


async def test_rows_written_by_daprd_read_back(tmp_path: Path) -> None:
    with side_connection(tmp_path / "state.db") as db:
        db.execute("CREATE TABLE metadata (key text NOT NULL PRIMARY KEY, value text NOT NULL)")
        db.execute("INSERT INTO metadata VALUES ('migrations', '1')")
        db.execute(DAPR_TABLE)
        rows = [
            ("app||json", '{"a":1}', False, "etag-1", None),
            ("app||binary", "AP8=", True, "etag-2", None),  # base64 of 00 ff
            ("app||ttl", '"x"', False, "etag-3", "DATETIME(CURRENT_TIMESTAMP, '+100 seconds')"),
            ("app||expired", '"y"', False, "etag-4", "DATETIME(CURRENT_TIMESTAMP, '-1 seconds')"),
        ]
        for key, value, is_binary, etag, expiry in rows:
            db.execute(
                "INSERT INTO state (key, value, is_binary, etag, update_time, expiration_time) "
                f"VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP, {expiry or 'NULL'})",
                (key, value, is_binary, etag),
            )
    store = await open_store(tmp_path, connectionString="state.db")
    try:
        json_item, binary, ttl, expired = await store.bulk_get(
            [GetRequest(f"app||{name}") for name in ("json", "binary", "ttl", "expired")]
        )
    finally:
        await store.close()

    assert json_item is not None
    assert (json_item.data, json_item.etag, json_item.content_type) == (b'{"a":1}', "etag-1", None)
    assert binary is not None
    assert binary.data == b"\x00\xff"
    assert ttl is not None
    assert ttl.metadata["ttlExpireTime"].endswith("Z")
    assert expired is None
    with side_connection(tmp_path / "state.db") as db:
        assert db.execute("SELECT value FROM metadata WHERE key = 'migrations'").fetchone() == (
            "1",
        )


async def test_a_read_only_database_from_daprd_reads_without_our_column(tmp_path: Path) -> None:
    with side_connection(tmp_path / "state.db") as db:
        db.execute(DAPR_TABLE)
        db.execute("INSERT INTO state (key, value, is_binary, etag) VALUES ('app||k', '1', 0, 'e')")
    store = await open_store(tmp_path, connectionString="file:state.db?mode=ro")
    try:
        item = await store.get(GetRequest("app||k"))
        assert item is not None
        assert (item.data, item.etag, item.content_type) == (b"1", "e", None)
        with pytest.raises(PermissionError, match=r"state\.db is opened read-only"):
            await store.set(SetRequest("app||k", b"2"))
    finally:
        await store.close()


async def test_two_stores_sharing_a_file_lose_no_update(tmp_path: Path) -> None:
    stores = [await open_store(tmp_path, connectionString="shared.db") for _ in range(2)]
    key = "app||counter"
    await stores[0].set(SetRequest(key, b"0"))

    async def add_one(store: SQLiteStateStore) -> None:
        while True:
            item = await store.get(GetRequest(key))
            assert item is not None
            try:
                await store.set(SetRequest(key, b"%d" % (int(item.data) + 1), etag=item.etag))
            except ETagMismatch:
                continue
            return

    try:
        await asyncio.gather(*(add_one(store) for store in stores for _ in range(25)))
        item = await stores[1].get(GetRequest(key))
        assert item is not None
        assert item.data == b"50"
    finally:
        for store in stores:
            await store.close()


async def test_opening_waits_for_another_connection_switching_the_journal(
    tmp_path: Path,
) -> None:
    # Runtimes started together open one new database together; SQLite refuses a journal
    # switch that meets another connection's lock at once, without its busy handler.
    path = tmp_path / "state.db"
    with side_connection(path) as writer:
        writer.execute("CREATE TABLE t (x)")
        writer.execute("BEGIN IMMEDIATE")  # the write lock another opener holds mid-switch
        asyncio.get_running_loop().call_later(0.2, writer.execute, "COMMIT")
        store = await open_store(tmp_path, connectionString="state.db", busyTimeout="5s")
    try:
        with side_connection(path) as check:
            assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        await store.set(SetRequest("app||k", b"v"))
    finally:
        await store.close()


async def test_rows_written_here_read_as_daprd_reads_them(
    store: SQLiteStateStore, tmp_path: Path
) -> None:
    await store.set(SetRequest("app||json", b'{"b": 2}', content_type="application/json"))
    await store.set(SetRequest("app||binary", b"\x00\xff"))
    await store.set(SetRequest("app||ttl", b"1", ttl_seconds=100))

    with side_connection(tmp_path / "state.db") as db:
        # daprd's own read query, with its own notion of now.
        rows = db.execute(
            "SELECT key, value, is_binary, etag FROM state WHERE expiration_time IS NULL "
            "OR expiration_time > CURRENT_TIMESTAMP ORDER BY key"
        ).fetchall()
        expiry = db.execute(
            "SELECT unixepoch(expiration_time) - unixepoch(CURRENT_TIMESTAMP) FROM state "
            "WHERE key = 'app||ttl'"
        ).fetchone()[0]
    assert [row[:3] for row in rows] == [
        ("app||binary", "AP8=", 1),
        ("app||json", '{"b": 2}', 0),
        ("app||ttl", "1", 0),
    ]
    assert all(len(row[3]) == 36 for row in rows)  # UUID etags
    assert 98 <= expiry <= 101


# ---- cleanup, failures, close ------------------------------------------------------------------


async def test_cleanup_deletes_expired_rows_and_records_when(tmp_path: Path) -> None:
    store = await open_store(tmp_path, connectionString="state.db", cleanupInterval="50ms")
    try:
        await store.set(SetRequest("app||live", b"1"))
        with side_connection(tmp_path / "state.db") as db:
            db.execute(
                "INSERT INTO state (key, value, is_binary, etag, expiration_time) "
                "VALUES ('app||old', '1', 0, 'e', DATETIME(CURRENT_TIMESTAMP, '-5 seconds'))"
            )
            deadline = time.monotonic() + 5
            while db.execute("SELECT count(*) FROM state").fetchone() != (1,):
                assert time.monotonic() < deadline, "the expired row was never removed"
                await asyncio.sleep(0.02)
            assert db.execute("SELECT key FROM state").fetchall() == [("app||live",)]
            cleanup = db.execute("SELECT value FROM metadata WHERE key = 'last-cleanup'")
            assert cleanup.fetchone() is not None
    finally:
        await store.close()


async def test_a_locked_database_is_unavailable_then_recovers(tmp_path: Path) -> None:
    store = await open_store(tmp_path, connectionString="state.db", busyTimeout="50ms")
    blocker = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable, match=r"sqlite .*state\.db.*locked"):
            await store.set(SetRequest("app||k", b"v"))
        blocker.execute("ROLLBACK")

        await store.set(SetRequest("app||k", b"v"))
        item = await store.get(GetRequest("app||k"))
        assert item is not None
        assert item.data == b"v"
    finally:
        blocker.close()
        await store.close()


async def test_an_operation_that_overruns_the_timeout_is_interrupted(tmp_path: Path) -> None:
    worker = SQLiteWorker(
        parse_settings({"connectionString": ":memory:", "timeout": "1s"}, tmp_path)
    )
    await worker.open()
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="no answer within 1 s"):
            await worker.run(lambda db: db.execute(endless).fetchone())
        assert time.monotonic() - started < 5
        assert await worker.run(lambda db: db.execute("SELECT 42").fetchone()) == (42,)
    finally:
        await worker.close()


async def test_a_failing_job_in_a_batch_undoes_only_itself(tmp_path: Path) -> None:
    worker = SQLiteWorker(parse_settings({"connectionString": ":memory:"}, tmp_path))
    await worker.open()

    def write_then_fail(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO t VALUES ('bad')")
        raise RuntimeError("changed my mind")

    try:
        await worker.run(lambda db: db.execute("CREATE TABLE t (v TEXT)"), writes=True)
        results = await asyncio.gather(
            worker.run(lambda db: db.execute("INSERT INTO t VALUES ('a')"), writes=True),
            worker.run(write_then_fail, writes=True),
            worker.run(lambda db: db.execute("INSERT INTO t VALUES ('b')"), writes=True),
            return_exceptions=True,
        )
        assert isinstance(results[1], RuntimeError)
        rows = await worker.run(lambda db: db.execute("SELECT v FROM t ORDER BY v").fetchall())
        assert rows == [("a",), ("b",)]
    finally:
        await worker.close()


async def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = await open_store(tmp_path, connectionString="state.db", cleanupInterval="1h")
    await store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.get(GetRequest("app||k"))


async def test_a_database_that_cannot_be_opened_fails_init(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreUnavailable, match=r"sqlite .*a-file/state\.db: .*File exists"):
        await open_store(tmp_path, connectionString="a-file/state.db")
