"""An open-loop HTTP/1.1 load generator: requests leave on a fixed schedule, come what may.

A closed loop (wrk) sends the next request only when the last one is answered, so a slow server
is asked less and its stalls hide. Here request i is due at start + i / rate. The sender wakes
on the event loop's timer (uvloop: millisecond resolution), releases every request that is due
on a keep-alive connection that is free, and a request that finds none waits for one, its clock
already running. Latency is measured from release to the last byte of the answer; how late the
sender released requests (its "lag") is reported apart, to show the generator kept up.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import time
from collections import deque
from dataclasses import dataclass, field
from typing import cast

import httptools
import uvloop

_DRAIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class OpenLoopSettings:
    rate_per_s: int = 1000
    duration_s: float = 5.0
    connections: int = 16
    content_type: str = "application/octet-stream"


@dataclass
class OpenLoopResult:
    """Latencies in nanoseconds, one per answered request, in completion order."""

    sent: int
    latencies_ns: list[int]
    lag_ns: list[int]
    errors: dict[str, int]
    wall_s: float
    # This process's CPU seconds during the run: the generator's own cost.
    client_cpu_s: float
    first_error: str | None = None

    @property
    def answered(self) -> int:
        return len(self.latencies_ns)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def client_cpu_utilisation(self) -> float:
        return self.client_cpu_s / self.wall_s if self.wall_s else 0.0


@dataclass
class _Tally:
    latencies_ns: list[int] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    first_error: str | None = None

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if self.first_error is None:
            self.first_error = f"{kind}: {detail}"


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, pool: _Pool, expected_body_bytes: int | None) -> None:
        self._pool = pool
        self._expected = expected_body_bytes
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._started_ns = 0
        self._body_bytes = 0
        self._failed = False
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def send(self, request: bytes, started_ns: int) -> None:
        assert self._transport is not None
        self.busy = True
        self._started_ns = started_ns
        self._body_bytes = 0
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail("parse", str(error))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)

    def on_message_complete(self) -> None:
        finished_ns = time.perf_counter_ns()
        status = self._parser.get_status_code()
        tally = self._pool.tally
        if status != 200:
            tally.error("status", str(status))
        elif self._expected is not None and self._body_bytes != self._expected:
            tally.error("body", f"{self._body_bytes} bytes, expected {self._expected}")
        else:
            tally.latencies_ns.append(finished_ns - self._started_ns)
        self.busy = False
        self._pool.release(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy and not self._failed and not self._pool.closing:
            self._pool.tally.error("closed", str(exc) if exc else "connection closed by the server")
        self._pool.lost(self)

    def _fail(self, kind: str, detail: str) -> None:
        self._failed = True
        self._pool.tally.error(kind, detail)
        if self._transport is not None:
            self._transport.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _Pool:
    """Free connections in FIFO order (so all carry traffic) and requests waiting for one."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.tally = _Tally()
        self.idle: deque[_Connection] = deque()
        self.waiting: deque[int] = deque()  # release times of requests that found no connection
        self.in_flight = 0
        self.settled = asyncio.Event()
        self.closing = False

    def submit(self, released_ns: int) -> None:
        self.in_flight += 1
        self.settled.clear()
        if self.idle:
            self.idle.popleft().send(self.request, released_ns)
        else:
            self.waiting.append(released_ns)

    def release(self, connection: _Connection) -> None:
        self.in_flight -= 1
        if self.waiting:
            connection.send(self.request, self.waiting.popleft())
        else:
            self.idle.append(connection)
        if self.in_flight == 0:
            self.settled.set()

    def lost(self, connection: _Connection) -> None:
        """A closed connection leaves the pool; the request it carried, if any, is over."""
        if connection in self.idle:
            self.idle.remove(connection)
        if connection.busy:
            connection.busy = False
            self.in_flight -= 1
            if self.in_flight == 0:
                self.settled.set()


def build_request(host: str, port: int, path: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _run(
    port: int,
    path: str,
    body: bytes,
    settings: OpenLoopSettings,
    expected_body_bytes: int | None,
) -> OpenLoopResult:
    host = "127.0.0.1"
    pool = _Pool(build_request(host, port, path, body, settings.content_type))
    loop = asyncio.get_running_loop()
    connections: list[_Connection] = []
    for _ in range(settings.connections):
        _, connection = await loop.create_connection(
            lambda: _Connection(pool, expected_body_bytes), host, port
        )
        connections.append(connection)
        pool.idle.append(connection)

    total = int(settings.rate_per_s * settings.duration_s)
    interval_ns = 1e9 / settings.rate_per_s
    lag_ns: list[int] = []
    clock = time.perf_counter_ns
    cpu_before = _own_cpu_s()
    start_ns = clock()
    index = 0
    while index < total:
        now = clock()
        while index < total and start_ns + int(index * interval_ns) <= now:
            lag_ns.append(now - start_ns - int(index * interval_ns))
            pool.submit(now)
            index += 1
        if index < total:
            await asyncio.sleep(max(0.0, (start_ns + index * interval_ns - clock()) / 1e9))
    try:
        await asyncio.wait_for(pool.settled.wait(), _DRAIN_TIMEOUT_S)
    except TimeoutError:
        for _ in range(pool.in_flight):
            pool.tally.error("timeout", f"unanswered {_DRAIN_TIMEOUT_S} s after the last release")
    wall_s = (clock() - start_ns) / 1e9
    client_cpu_s = _own_cpu_s() - cpu_before
    pool.closing = True
    for connection in connections:
        connection.close()
    return OpenLoopResult(
        sent=total,
        latencies_ns=pool.tally.latencies_ns,
        lag_ns=lag_ns,
        errors=pool.tally.errors,
        wall_s=wall_s,
        client_cpu_s=client_cpu_s,
        first_error=pool.tally.first_error,
    )


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_open_loop(
    port: int,
    path: str,
    body: bytes,
    settings: OpenLoopSettings,
    *,
    expected_body_bytes: int | None = None,
) -> OpenLoopResult:
    """POST `body` to 127.0.0.1:port/path at a fixed rate; blocks until every answer is in.

    Garbage collection is off during the run so its pauses do not land in the figures.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_run(port, path, body, settings, expected_body_bytes))
    finally:
        if gc_was_enabled:
            gc.enable()
