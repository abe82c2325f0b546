"""A private Redis for the state benchmark: a free port, no persistence, pinned to given CPUs.

The shared Redis on 6379 serves every test run on the machine and floats between cores; a
private one pinned to a known core makes the runs repeatable.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from benchmarks.harness import free_port, procfs
from benchmarks.harness.tools import find_program
from benchmarks.state_settings import HOST


class RedisNotReadyError(RuntimeError):
    """redis-server is missing, exited, or did not answer PING in time."""


@contextmanager
def private_redis(cpus: Collection[int] | None, timeout_s: float = 10.0) -> Iterator[int]:
    """Run redis-server on a free loopback port for the duration; yields the port."""
    program = find_program("redis-server")
    if program is None:
        raise RedisNotReadyError("redis-server not found (Debian package redis-server)")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="redis-state-bench-"))
    pinning = ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []
    argv = [
        *pinning,
        program,
        "--bind",
        HOST,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]
    log = (workdir / "output.log").open("wb")
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()
    try:
        _wait_for_ping(process, port, timeout_s)
        yield port
    finally:
        procfs.stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_ping(process: subprocess.Popen[bytes], port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    client = redis.Redis(host=HOST, port=port, socket_connect_timeout=1.0)
    try:
        while True:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                pass
            if process.poll() is not None:
                raise RedisNotReadyError(f"redis-server exited with code {process.returncode}")
            if time.monotonic() > deadline:
                raise RedisNotReadyError(f"redis-server did not answer PING within {timeout_s} s")
            time.sleep(0.01)
    finally:
        client.close()
