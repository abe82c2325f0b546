"""Redis drivers side by side: which one the state store should use.

Each driver runs in its own process against the Redis on 127.0.0.1:6379. N concurrent callers
(16 by default) loop on one operation for a few seconds: `get` (GET of a 1 KiB value), `set`
(SET of a 1 KiB value) and `cas` (EVALSHA of a check-and-set script on a hash, the store's ETag
write path). Reported: operations per second, client CPU per operation (process time, all
threads, so drivers with a native I/O thread pay for it too) and latency percentiles.

Drivers that are not installed are skipped. The candidates besides our own live outside the
project's environment, e.g.:

    python3 -m venv /tmp/rbench
    /tmp/rbench/bin/pip install 'redis[hiredis]' coredis valkey-glide uvloop hiredis orjson
    PYTHONPATH=src /tmp/rbench/bin/python -m benchmarks.redis_drivers

Run from the repository root: `.venv/bin/python -m benchmarks.redis_drivers [--help]`.
Keys live under a fresh `bench-redis-drivers-<id>:` prefix and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
PORT = 6379
VALUE = os.urandom(1024)
OPERATIONS = ("get", "set", "cas")

CAS_SCRIPT = """
local version = redis.call("HGET", KEYS[1], "version")
if ARGV[1] ~= "" and version ~= ARGV[1] then return 0 end
redis.call("HSET", KEYS[1], "data", ARGV[2])
return redis.call("HINCRBY", KEYS[1], "version", 1)
"""


@dataclass
class Driver:
    """Three awaitables over one client: get(key), set(key, value), cas(key, etag, value)."""

    get: Callable[[str], Awaitable[Any]]
    set: Callable[[str, bytes], Awaitable[Any]]
    cas: Callable[[str, str, bytes], Awaitable[Any]]


# ---- the candidates --------------------------------------------------------------------------


@asynccontextmanager
async def redis_py() -> AsyncIterator[Driver]:
    aioredis: Any = importlib.import_module("redis.asyncio")
    if not importlib.import_module("redis.utils").HIREDIS_AVAILABLE:
        raise RuntimeError("redis-py is installed without hiredis")
    client = aioredis.Redis(host=HOST, port=PORT, protocol=2)
    sha = await client.script_load(CAS_SCRIPT)
    try:
        yield Driver(
            get=client.get,
            set=client.set,
            cas=lambda key, etag, value: client.evalsha(sha, 1, key, etag, value),
        )
    finally:
        await client.aclose()


@asynccontextmanager
async def coredis_driver() -> AsyncIterator[Driver]:
    coredis: Any = importlib.import_module("coredis")
    client = coredis.Redis(host=HOST, port=PORT)
    async with client:
        sha = await client.script_load(CAS_SCRIPT)
        yield Driver(
            get=client.get,
            set=client.set,
            cas=lambda key, etag, value: client.evalsha(sha, keys=[key], args=[etag, value]),
        )


@asynccontextmanager
async def glide() -> AsyncIterator[Driver]:
    glide_api: Any = importlib.import_module("glide")
    configuration = glide_api.GlideClientConfiguration([glide_api.NodeAddress(HOST, PORT)])
    client = await glide_api.GlideClient.create(configuration)
    script = glide_api.Script(CAS_SCRIPT)
    try:
        yield Driver(
            get=client.get,
            set=client.set,
            cas=lambda key, etag, value: client.invoke_script(
                script, keys=[key], args=[etag, value]
            ),
        )
    finally:
        await client.close()


@asynccontextmanager
async def mecha_resp() -> AsyncIterator[Driver]:
    from mecha.components.redis.client import ConnectionOptions, RedisClient, Script

    client = RedisClient(ConnectionOptions(HOST, PORT))
    script = Script(CAS_SCRIPT)
    try:
        yield Driver(
            get=lambda key: client.execute(b"GET", key),
            set=lambda key, value: client.execute(b"SET", key, value),
            cas=lambda key, etag, value: client.run_script(script, (key,), (etag, value)),
        )
    finally:
        await client.close()


@asynccontextmanager
async def mecha_resp_pure_python() -> AsyncIterator[Driver]:
    """Our connection with a small pure-Python reply parser in place of hiredis's reader."""
    from mecha.components.redis import resp

    resp._new_reader = PurePythonReader  # type: ignore[assignment]
    async with mecha_resp() as driver:
        yield driver


@asynccontextmanager
async def mecha_state_store() -> AsyncIterator[Driver]:
    """The whole state.redis component: `get` reads a hash, `set` and `cas` run its write script."""
    from pathlib import Path

    from mecha.blocks.state.models import GetRequest, SetRequest
    from mecha.components.base import ComponentContext
    from mecha.components.state.redis import RedisStateStore

    store = RedisStateStore()
    metadata = {"redisHost": f"{HOST}:{PORT}"}
    await store.init(ComponentContext("bench", "state.redis", "v1", metadata, "", Path(".")))

    async def cas(key: str, etag: str, value: bytes) -> str | None:
        await store.set(SetRequest(key, value, etag=etag or None))
        item = await store.get(GetRequest(key))
        return item.etag if item else None

    try:
        yield Driver(
            get=lambda key: store.get(GetRequest(key)),
            set=lambda key, value: store.set(SetRequest(key, value)),
            cas=cas,
        )
    finally:
        await store.close()


DRIVERS: dict[str, tuple[str, Callable[[], Any]]] = {
    # name: (module that must be importable, factory)
    "redis-py+hiredis": ("redis", redis_py),
    "coredis": ("coredis", coredis_driver),
    "valkey-glide": ("glide", glide),
    "mecha-resp": ("hiredis", mecha_resp),
    "mecha-resp-pure-python": ("mecha", mecha_resp_pure_python),
    "mecha-state-store": ("hiredis", mecha_state_store),
}


class _IncompleteReplyError(Exception):
    pass


class PurePythonReader:
    """RESP2 replies from a byte stream, with hiredis.Reader's feed/gets interface."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._position = 0

    def feed(self, data: bytes) -> None:
        if self._position and self._position == len(self._buffer):
            self._buffer.clear()
            self._position = 0
        self._buffer += data

    def gets(self) -> Any:
        try:
            reply, self._position = self._parse(self._position)
        except _IncompleteReplyError:
            return False
        return reply

    def _parse(self, position: int) -> tuple[Any, int]:
        buffer = self._buffer
        end = buffer.find(b"\r\n", position)
        if end < 0:
            raise _IncompleteReplyError
        kind = buffer[position]
        if kind == 0x24:  # $ bulk string
            size = int(buffer[position + 1 : end])
            if size < 0:
                return None, end + 2
            stop = end + 2 + size
            if stop + 2 > len(buffer):
                raise _IncompleteReplyError
            return bytes(buffer[end + 2 : stop]), stop + 2
        if kind == 0x3A:  # : integer
            return int(buffer[position + 1 : end]), end + 2
        if kind == 0x2B:  # + simple string
            return bytes(buffer[position + 1 : end]), end + 2
        if kind == 0x2D:  # - error
            from mecha.components.redis.resp import ResponseError

            return ResponseError(buffer[position + 1 : end].decode()), end + 2
        if kind == 0x2A:  # * array
            count = int(buffer[position + 1 : end])
            if count < 0:
                return None, end + 2
            items = []
            position = end + 2
            for _ in range(count):
                item, position = self._parse(position)
                items.append(item)
            return items, position
        raise ValueError(f"unknown RESP type byte {kind!r}")


# ---- measuring (in the child process) --------------------------------------------------------


async def _measure(
    call: Callable[[int], Awaitable[Any]], callers: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    stop_at = 0.0

    async def caller(index: int) -> int:
        done = 0
        clock = time.perf_counter
        while True:
            started = clock()
            if started >= stop_at:
                return done
            await call(index)
            latencies.append(clock() - started)
            done += 1

    stop_at = time.perf_counter() + min(1.0, seconds / 3)  # warm-up
    await asyncio.gather(*(caller(i) for i in range(callers)))
    latencies.clear()
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    stop_at = wall_before + seconds
    counts = await asyncio.gather(*(caller(i) for i in range(callers)))
    cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    total = sum(counts)
    latencies.sort()
    return {
        "ops_per_s": total / wall,
        "cpu_us_per_op": cpu / total * 1e6,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
    }


async def _run_child(name: str, callers: int, seconds: float, prefix: str) -> dict[str, Any]:
    factory = DRIVERS[name][1]
    keys = [f"{prefix}{name}:{index}" for index in range(callers)]
    results: dict[str, Any] = {}
    async with factory() as driver:
        for key in keys:
            await driver.set(key, VALUE)
        results["get"] = await _measure(lambda i: driver.get(keys[i]), callers, seconds)
        results["set"] = await _measure(lambda i: driver.set(keys[i], VALUE), callers, seconds)
        hash_keys = [f"{key}:hash" for key in keys]
        versions = [""] * callers

        async def cas(index: int) -> None:
            version = await driver.cas(hash_keys[index], versions[index], VALUE)
            if not version:
                raise RuntimeError(f"{name}: check-and-set lost its own version")
            versions[index] = str(version)

        results["cas"] = await _measure(cas, callers, seconds)
    return results


def _child_main(args: argparse.Namespace) -> int:
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    results = asyncio.run(_run_child(args.child, args.callers, args.seconds, args.prefix))
    print(json.dumps(results))
    return 0


# ---- the parent: one child per driver, a table, cleanup ---------------------------------------


def _available(name: str) -> bool:
    return importlib.util.find_spec(DRIVERS[name][0]) is not None


def _cleanup(prefix: str, names: Sequence[str], callers: int) -> None:
    keys = [f"{prefix}{name}:{index}" for name in names for index in range(callers)]
    keys += [f"{key}:hash" for key in keys]
    subprocess.run(
        ["redis-cli", "-h", HOST, "-p", str(PORT), "DEL", *keys], check=False, capture_output=True
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per operation")
    parser.add_argument("--callers", type=int, default=16, help="concurrent callers")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--drivers", nargs="*", default=list(DRIVERS), choices=list(DRIVERS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child_main(args)

    prefix = f"bench-redis-drivers-{uuid.uuid4().hex[:8]}:"
    print(f"{args.callers} callers, {args.seconds:g}s per operation, {args.loop}, 1 KiB values")
    header = f"{'driver':<24}{'op':<5}{'ops/s':>10}{'CPU µs/op':>11}{'p50 ms':>9}{'p99 ms':>9}"
    print(header)
    try:
        for name in args.drivers:
            if not _available(name):
                print(f"{name:<24}not installed, skipped")
                continue
            command = [sys.executable, "-m", "benchmarks.redis_drivers", "--child", name]
            command += ["--prefix", prefix, "--callers", str(args.callers)]
            command += ["--seconds", str(args.seconds), "--loop", args.loop]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["failed"])[-1]
                print(f"{name:<24}failed: {last}")
                continue
            results = json.loads(done.stdout.strip().splitlines()[-1])
            for operation in OPERATIONS:
                row = results[operation]
                print(
                    f"{name:<24}{operation:<5}{row['ops_per_s']:>10,.0f}"
                    f"{row['cpu_us_per_op']:>11.1f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
                )
    finally:
        _cleanup(prefix, args.drivers, args.callers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
