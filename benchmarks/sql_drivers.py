"""Which async driver the SQL state stores use: measured, not guessed.

16 concurrent callers share one connection pool and do single-row reads and upserts of 1 KiB
values by primary key, the state store's hot path. PostgreSQL: asyncpg against psycopg 3 (async,
with its C extension when installed). MariaDB/MySQL: asyncmy against aiomysql. Drivers run in
alternating rounds so drift hits them alike; the median round is reported.

Reported per driver and operation: operations/s, p50/p99/max latency, and CPU per operation of
this process (the driver's cost, which is what the runtime pays) and of the database server.
Two variants show why the stores configure their pools as they do: "asyncpg (reset on release)"
is asyncpg's default pool reset (a query per release), "asyncmy (pool alone)" is asyncmy's pool
without the FIFO gate in front of it (watch its max latency). aiomysql 0.3.2 needs PyMySQL < 1.2.

Run by hand from the repository root, with the servers running (as on the dev machines):
    .venv/bin/python -m benchmarks.sql_drivers [--seconds 3] [--rounds 3] [--pool 4]
It creates its own table `mecha_bench_drivers` in database `test` and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import uvloop

TABLE = "mecha_bench_drivers"
KEYS = 1000
VALUE = os.urandom(1024)
CALLERS = 16


class Driver(Protocol):
    name: str
    server_process: str  # process name of the database server, for its CPU time

    async def open(self, pool_size: int) -> None: ...
    async def get(self, key: str) -> bytes | None: ...
    async def upsert(self, key: str, value: bytes) -> None: ...
    async def close(self) -> None: ...


async def _keep_session(connection: object) -> None:
    """asyncpg's pool reset hook: nothing to undo, the store never changes session state."""


class AsyncpgDriver:
    name = "asyncpg"
    server_process = "postgres"

    def __init__(self, reset_query: bool = False) -> None:
        # By default asyncpg's pool sends a reset query (RESET ALL; UNLISTEN *; ...) on every
        # release: one more round trip per operation. A no-op hook skips it.
        self._reset = None if reset_query else _keep_session
        if reset_query:
            self.name = "asyncpg (reset on release)"

    async def open(self, pool_size: int) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(
            "postgresql://postgres@127.0.0.1:5432/test",
            min_size=pool_size,
            max_size=pool_size,
            reset=self._reset,
        )

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._pool.fetchval(
            f"SELECT value FROM {TABLE} WHERE key = $1", key
        )
        return value

    async def upsert(self, key: str, value: bytes) -> None:
        await self._pool.execute(
            f"INSERT INTO {TABLE} (key, value) VALUES ($1, $2)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value,
        )

    async def close(self) -> None:
        await self._pool.close()


class PsycopgDriver:
    name = "psycopg"
    server_process = "postgres"

    async def open(self, pool_size: int) -> None:
        import psycopg
        from psycopg_pool import AsyncConnectionPool

        self.name = f"psycopg ({psycopg.pq.__impl__})"
        # autocommit: no BEGIN/COMMIT round trips, as asyncpg does by default.
        self._pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            "host=127.0.0.1 port=5432 user=postgres dbname=test",
            min_size=pool_size,
            max_size=pool_size,
            kwargs={"autocommit": True},
            open=False,
        )
        await self._pool.open(wait=True)

    async def get(self, key: str) -> bytes | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(f"SELECT value FROM {TABLE} WHERE key = %s", (key,))
            row = await cursor.fetchone()
        return None if row is None else bytes(row[0])

    async def upsert(self, key: str, value: bytes) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                f"INSERT INTO {TABLE} (key, value) VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    async def close(self) -> None:
        await self._pool.close()


class _MySQLDriver:
    server_process = "mariadbd"
    _fair = True
    _connect: Callable[..., Awaitable[Any]]

    async def open(self, pool_size: int) -> None:
        self._pool = await self._connect(
            host="127.0.0.1",
            port=3306,
            user="root",
            password="",
            db="test",
            minsize=pool_size,
            maxsize=pool_size,
            autocommit=True,
        )
        # A FIFO gate sized to the pool, so callers take turns: asyncmy's pool hands a just
        # released connection straight back to the releaser and can starve waiting callers.
        self._gate = asyncio.Semaphore(pool_size if self._fair else 1_000_000)

    async def get(self, key: str) -> bytes | None:
        async with self._gate, self._pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute(f"SELECT value FROM {TABLE} WHERE id = %s", (key,))
            row = await cursor.fetchone()
        return None if row is None else bytes(row[0])

    async def upsert(self, key: str, value: bytes) -> None:
        async with self._gate, self._pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute(
                f"INSERT INTO {TABLE} (id, value) VALUES (%s, %s)"
                " ON DUPLICATE KEY UPDATE value = VALUES(value)",
                (key, value),
            )

    async def close(self) -> None:
        self._pool.close()
        await self._pool.wait_closed()


class AsyncmyDriver(_MySQLDriver):
    name = "asyncmy"

    def __init__(self, fair: bool = True) -> None:
        import asyncmy

        self._connect = asyncmy.create_pool
        self._fair = fair
        if not fair:
            self.name = "asyncmy (pool alone)"


class AiomysqlDriver(_MySQLDriver):
    name = "aiomysql"

    def __init__(self) -> None:
        import aiomysql  # type: ignore[import-untyped]

        self._connect = aiomysql.create_pool


@dataclass(frozen=True)
class Result:
    driver: str
    operation: str
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    client_cpu_us: float
    server_cpu_us: float


def _server_cpu_seconds(process_name: str) -> float:
    """utime + stime of every process with that name (the server and its backends)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat_dir in Path("/proc").iterdir():
        if not stat_dir.name.isdigit():
            continue
        try:
            stat = (stat_dir / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name == process_name:
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


async def _measure(driver: Driver, operation: str, seconds: float) -> Result:
    keys = [f"bench||key-{i}" for i in range(KEYS)]
    call: Callable[[str], Awaitable[object]]
    if operation == "get":
        call = driver.get
    else:

        async def call(key: str) -> object:
            await driver.upsert(key, VALUE)
            return None

    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def caller(rng: random.Random) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call(rng.choice(keys))
            latencies.append(time.perf_counter() - started)

    cpu_before, server_before = time.process_time(), _server_cpu_seconds(driver.server_process)
    started = time.perf_counter()
    await asyncio.gather(*(caller(random.Random(i)) for i in range(CALLERS)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    server_cpu = _server_cpu_seconds(driver.server_process) - server_before
    latencies.sort()
    count = len(latencies)
    return Result(
        driver=driver.name,
        operation=operation,
        ops_per_s=count / elapsed,
        p50_ms=latencies[count // 2] * 1000,
        p99_ms=latencies[min(count - 1, int(count * 0.99))] * 1000,
        max_ms=latencies[-1] * 1000,
        client_cpu_us=cpu / count * 1e6,
        server_cpu_us=server_cpu / count * 1e6,
    )


async def _create_tables() -> None:
    import asyncmy
    import asyncpg

    pg = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await pg.execute(f"DROP TABLE IF EXISTS {TABLE}")
    await pg.execute(f"CREATE TABLE {TABLE} (key text PRIMARY KEY, value bytea NOT NULL)")
    await pg.close()
    my = await asyncmy.connect(host="127.0.0.1", user="root", db="test", autocommit=True)
    async with my.cursor() as cursor:
        await cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await cursor.execute(
            f"CREATE TABLE {TABLE} (id VARCHAR(255) PRIMARY KEY, value BLOB NOT NULL)"
        )
    my.close()


async def _drop_tables() -> None:
    import asyncmy
    import asyncpg

    pg = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await pg.execute(f"DROP TABLE IF EXISTS {TABLE}")
    await pg.close()
    my = await asyncmy.connect(host="127.0.0.1", user="root", db="test", autocommit=True)
    async with my.cursor() as cursor:
        await cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
    my.close()


async def _run(drivers: Sequence[Driver], seconds: float, rounds: int, pool: int) -> list[Result]:
    await _create_tables()
    rows: dict[tuple[str, str], list[Result]] = {}
    try:
        for driver in drivers:
            await driver.open(pool)
            for i in range(KEYS):  # prefill, and warm the pool and statement caches
                await driver.upsert(f"bench||key-{i}", VALUE)
        for _ in range(rounds):
            for driver in drivers:
                for operation in ("get", "upsert"):
                    result = await _measure(driver, operation, seconds)
                    rows.setdefault((result.driver, operation), []).append(result)
    finally:
        for driver in drivers:
            await driver.close()
        await _drop_tables()
    medians = []
    for results in rows.values():
        results.sort(key=lambda r: r.ops_per_s)
        medians.append(results[len(results) // 2])
    return medians


def _print(results: Sequence[Result]) -> None:
    header = f"{'driver':<28}{'op':<8}{'ops/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    print(header + f"{'client µs/op':>14}{'server µs/op':>14}")
    for r in results:
        print(
            f"{r.driver:<28}{r.operation:<8}{r.ops_per_s:>9.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.max_ms:>9.1f}"
            f"{r.client_cpu_us:>14.0f}{r.server_cpu_us:>14.0f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0, help="per driver, operation, round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool", type=int, default=4, help="connections per pool (Dapr: 4)")
    parser.add_argument("--only", choices=["postgresql", "mysql"], default=None)
    args = parser.parse_args(argv)
    drivers: list[Driver] = []
    if args.only != "mysql":
        drivers += [AsyncpgDriver(), AsyncpgDriver(reset_query=True), PsycopgDriver()]
    if args.only != "postgresql":
        drivers += [AsyncmyDriver(), AsyncmyDriver(fair=False), AiomysqlDriver()]
    logging.getLogger("asyncmy").setLevel(
        logging.ERROR
    )  # "Unknown table" notes from DROP IF EXISTS
    print(f"{CALLERS} callers, pool of {args.pool}, 1 KiB values, {KEYS} keys, uvloop")
    results = uvloop.run(_run(drivers, args.seconds, args.rounds, args.pool))
    _print(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
