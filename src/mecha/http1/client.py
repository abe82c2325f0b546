"""HttpClient: outbound HTTP/1.1 over keep-alive connection pools, one pool per (host, port).

Used for the app channel and for runtime-to-runtime calls, so a request costs one write of
head and body on a pooled connection and is answered from inside the protocol callbacks: no
task, no connection setup, no stream objects. `send` hands the answer to a callback; `request`
is the same, awaited. A client belongs to the event loop it is first
used on. With an `ssl` context, every connection of the client speaks TLS (HTTPS).
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Final

from mecha.http1.client_message import (
    ClientError,
    ClientResponse,
    ConnectError,
    NotSentError,
    UnansweredError,
)
from mecha.http1.client_pool import HostPool
from mecha.http1.client_wire import encode_head

if TYPE_CHECKING:
    from mecha.http1.client_connection import ClientConnection

_log: Final = logging.getLogger("mecha.http.client")

Done = Callable[[ClientResponse | ClientError], None]
"""Hears how a request ended: its whole response, or the ClientError that ended it."""

# Methods a lost answer may be retried for (as Go's client does): repeating them changes nothing.
_REPEATABLE: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class HttpClient:
    def __init__(
        self,
        *,
        max_connections_per_host: int = 64,
        idle_timeout: float = 60.0,
        connect_timeout: float = 5.0,
        max_response_bytes: int = 64 * 1024 * 1024,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        if max_connections_per_host < 1:
            raise ValueError("max_connections_per_host must be >= 1")
        if idle_timeout <= 0 or connect_timeout <= 0:
            raise ValueError("idle_timeout and connect_timeout must be > 0")
        if max_response_bytes < 0:
            raise ValueError("max_response_bytes must be >= 0")
        self._limit = max_connections_per_host
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout
        self._max_response_bytes = max_response_bytes
        self._ssl = ssl
        self._pools: dict[tuple[str, int], HostPool] = {}
        self._closed = False

    def send(
        self,
        host: str,
        port: int,
        method: str,
        target: str,
        done: Done,
        headers: Sequence[tuple[str, str | bytes]] = (),
        body: bytes = b"",
        timeout: float | None = None,
        lines: bytes = b"",
    ) -> Outgoing:
        """Sends one request; `done` gets the whole response or a ClientError, from a protocol
        callback (on a pooled connection, no task is involved) or, rarely, before this returns.

        `target` is the path (and `?query`), percent-encoded as it goes on the wire. Host and
        Content-Length are set here; a Host among `headers` replaces the default one. The
        other headers go out in order, except Connection, Keep-Alive, Content-Length and
        Transfer-Encoding, which belong to the client; then `lines`, header lines already
        encoded and checked (a LineCache's). `timeout` bounds the whole request:
        waiting for a connection, sending, and receiving the complete response.

        The errors: ConnectError (not delivered, safe to retry), ClientTimeout, ClientError
        (which may have been processed: a lost answer to a non-repeatable method). Raises
        ValueError at once for a method, target or header that cannot be sent as given.
        """
        pool = self._pools.get((host, port))
        if pool is None:
            pool = self._add_pool(host, port)
        head = encode_head(method, target, pool.host_line, headers, len(body), lines)
        deadline = None if timeout is None else pool.loop.time() + timeout
        outgoing = Outgoing(pool, method, head, body, deadline, done)
        connection = pool.take_idle()
        if connection is None:
            outgoing.connect(fresh=False)
        else:
            outgoing.reused = True
            connection.start(outgoing)
        return outgoing

    async def request(
        self,
        host: str,
        port: int,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str | bytes]] = (),
        body: bytes = b"",
        timeout: float | None = None,
    ) -> ClientResponse:
        """`send`, awaited: returns the response, raises the ClientError."""
        answered: asyncio.Future[ClientResponse | ClientError] = (
            asyncio.get_running_loop().create_future()
        )
        outgoing = self.send(
            host, port, method, target, partial(_fulfil, answered), headers, body, timeout
        )
        try:
            outcome = await answered
        except BaseException:
            outgoing.cancel()
            raise
        if isinstance(outcome, ClientError):
            raise outcome
        return outcome

    async def close(self, *, grace: float = 5.0) -> None:
        """Closes idle connections at once; waits up to `grace` seconds for requests in
        flight to finish, then aborts them. Returns when every connection is closed."""
        self._closed = True
        closed = [pool.start_closing() for pool in self._pools.values()]
        if not closed:
            return
        _, pending = await asyncio.wait(closed, timeout=grace)
        if pending:
            for pool in self._pools.values():
                pool.abort_all()
            await asyncio.wait(pending)

    def _add_pool(self, host: str, port: int) -> HostPool:
        if self._closed:
            raise ClientError("the HTTP client is closed")
        pool = HostPool(
            asyncio.get_running_loop(),
            host,
            port,
            limit=self._limit,
            idle_timeout=self._idle_timeout,
            connect_timeout=self._connect_timeout,
            max_response_bytes=self._max_response_bytes,
            ssl=self._ssl,
        )
        self._pools[(host, port)] = pool
        return pool


class Outgoing:
    """One request on its way: sent on a pooled connection, once more on a new one when the
    first turned out closed, and its outcome handed to `done`."""

    __slots__ = (
        "_done",
        "_pool",
        "_retried",
        "_task",
        "body",
        "connection",
        "deadline",
        "head",
        "head_request",
        "method",
        "reused",
    )

    def __init__(
        self,
        pool: HostPool,
        method: str,
        head: bytes,
        body: bytes,
        deadline: float | None,
        done: Done,
    ) -> None:
        self._pool = pool
        self.method = method
        self.head = head
        self.body = body
        self.head_request = method == "HEAD"
        self.deadline = deadline
        self._done: Done | None = done
        self.reused = False
        """The connection carried an exchange before this one."""
        self._retried = False
        self._task: asyncio.Task[None] | None = None
        self.connection: ClientConnection | None = None
        """The connection carrying the exchange now (set by the connection)."""

    def settle(self, outcome: ClientResponse | ClientError) -> None:
        """The connection's outcome; `done` hears it unless the request is tried once more."""
        self.connection = None
        if isinstance(outcome, ClientError) and self._may_retry(outcome):
            # The server closed the idle connection as the request went out: once more, anew.
            self._retried = True
            self.connect(fresh=True)
            return
        done, self._done = self._done, None
        if done is not None:
            try:
                done(outcome)
            except Exception:
                _log.exception("a response callback failed")

    def cancel(self) -> None:
        """No outcome is wanted any more: the exchange stops, its connection is closed."""
        self._done = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.abandon(self)

    def connect(self, *, fresh: bool) -> None:
        """Waits for a connection (a new one when `fresh`) in a task, then sends on it."""
        self._task = self._pool.loop.create_task(self._acquire(fresh))

    def _may_retry(self, error: ClientError) -> bool:
        if self._retried:
            return False
        if isinstance(error, NotSentError):
            return True
        return isinstance(error, UnansweredError) and self.reused and self.method in _REPEATABLE

    async def _acquire(self, fresh: bool) -> None:
        try:
            connection, self.reused = await self._pool.acquire(self.deadline, fresh)
        except ClientError as error:
            self._task = None
            self.settle(error)
            return
        except Exception as error:
            self._task = None
            _log.exception("cannot open a connection to %s", self._pool.address)
            self.settle(ConnectError(f"cannot connect to {self._pool.address}: {error!r}"))
            return
        self._task = None
        if self._done is None:
            self._pool.release(connection)  # cancelled as the connection came
            return
        connection.start(self)


def _fulfil(
    answered: asyncio.Future[ClientResponse | ClientError], outcome: ClientResponse | ClientError
) -> None:
    if not answered.done():
        answered.set_result(outcome)
