"""HttpClient: outbound HTTP/1.1 over keep-alive connection pools, one pool per (host, port).

Used for the app channel and for runtime-to-runtime calls, so a request costs one write of
head and body on a pooled connection and is answered from inside the protocol callbacks: no
task, no connection setup, no stream objects. A client belongs to the event loop it is first
used on. With an `ssl` context, every connection of the client speaks TLS (HTTPS).
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Iterable

from mecha.http1.client_message import (
    ClientError,
    ClientResponse,
    NotSentError,
    UnansweredError,
)
from mecha.http1.client_pool import HostPool
from mecha.http1.client_wire import encode_head

# Methods a lost answer may be retried for (as Go's client does): repeating them changes nothing.
_REPEATABLE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


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

    async def request(
        self,
        host: str,
        port: int,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        timeout: float | None = None,
    ) -> ClientResponse:
        """Sends one request and returns the whole response.

        `target` is the path (and `?query`), percent-encoded as it goes on the wire. Host and
        Content-Length are set here; a Host among `headers` replaces the default one. The
        other headers go out in order, except Connection, Keep-Alive, Content-Length and
        Transfer-Encoding, which belong to the client. `timeout` bounds the whole request:
        waiting for a connection, sending, and receiving the complete response.

        Raises ConnectError (not delivered, safe to retry), ClientTimeout, ClientError (which
        may have been processed: a lost answer to a non-repeatable method), and
        ValueError for a method, target or header that cannot be sent as given.
        """
        pool = self._pools.get((host, port))
        if pool is None:
            pool = self._add_pool(host, port)
        head = encode_head(method, target, pool.host_line, headers, len(body))
        head_request = method == "HEAD"
        deadline = None if timeout is None else pool.loop.time() + timeout
        connection = pool.take_idle()
        reused = True
        if connection is None:
            connection, reused = await pool.acquire(deadline, fresh=False)
        try:
            return await connection.exchange(head, body, head_request, deadline)
        except NotSentError:
            pass
        except UnansweredError:
            if not reused or method not in _REPEATABLE:
                raise
        # The server closed the idle connection as the request went out: once more, anew.
        connection, _ = await pool.acquire(deadline, fresh=True)
        return await connection.exchange(head, body, head_request, deadline)

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
