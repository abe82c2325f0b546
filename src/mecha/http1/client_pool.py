"""The keep-alive connections to one (host, port): reused newest first, bounded in number.

`size` counts the pool's slots in use: connects in progress, and connections handed out and
not closed yet (`owns_slot`). A caller that finds no idle connection opens one while a slot is
free, else queues (first come, first served). A connection that completes an exchange is
handed straight to the first queued caller; a slot given up by a closed connection lets the
first queued caller open a new one.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections import deque
from typing import cast

from mecha.http1.client_connection import ClientConnection
from mecha.http1.client_message import ClientError, ClientTimeout, ConnectError
from mecha.http1.client_wire import host_line


class HostPool:
    __slots__ = (
        "_closed_waiter",
        "_connect_timeout",
        "_idle_timeout",
        "_timer",
        "address",
        "closing",
        "connecting",
        "host",
        "host_line",
        "idle",
        "limit",
        "live",
        "loop",
        "max_response_bytes",
        "port",
        "size",
        "ssl",
        "waiters",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        *,
        limit: int,
        idle_timeout: float,
        connect_timeout: float,
        max_response_bytes: int,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.loop = loop
        self.host = host
        self.port = port
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.host_line = host_line(host, port)
        self.limit = limit
        self.max_response_bytes = max_response_bytes
        self.ssl = ssl
        """TLS for every connection (its handshake counts against the connect timeout)."""
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout
        self.idle: list[ClientConnection] = []
        """Open connections waiting for a request; the most recently used last."""
        self.waiters: deque[asyncio.Future[ClientConnection | None]] = deque()
        """Queued callers: each gets a connection, or None to open one in the slot it got."""
        self.size = 0
        self.connecting = 0
        self.live: set[ClientConnection] = set()
        """Connections whose transport exists (made and not yet lost)."""
        self.closing = False
        self._timer: asyncio.TimerHandle | None = None
        self._closed_waiter: asyncio.Future[None] | None = None

    # taking and giving back

    def take_idle(self) -> ClientConnection | None:
        idle = self.idle
        while idle:
            connection = idle.pop()
            connection.in_idle = False
            if connection.usable:
                return connection
            connection.close()  # seen closed by the server; the slot is freed at once
        return None

    async def acquire(self, deadline: float | None, fresh: bool) -> tuple[ClientConnection, bool]:
        """A connection for one exchange, and whether it carried an exchange before.

        `fresh` skips idle connections (a retry after one turned out closed). Raises
        ConnectError when no connection can be opened, ClientTimeout at `deadline`.
        """
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    if self.closing:
                        raise ClientError(f"the client for {self.address} is closed")
                    connection = None if fresh else self.take_idle()
                    if connection is not None:
                        return connection, True
                    if self.size < self.limit:
                        self.size += 1
                        return await self._open(), False
                    granted = await self._queue()
                    if granted is None:
                        return await self._open(), False
                    if granted.usable:
                        return granted, True
                    granted.close()  # closed while being handed over: try again
        except TimeoutError:
            raise ClientTimeout(
                f"no connection to {self.address} free before the request's timeout"
            ) from None

    async def _queue(self) -> ClientConnection | None:
        waiter: asyncio.Future[ClientConnection | None] = self.loop.create_future()
        self.waiters.append(waiter)
        try:
            return await waiter
        except BaseException:
            if not waiter.done():
                self.waiters.remove(waiter)
            elif not waiter.cancelled() and waiter.exception() is None:
                granted = waiter.result()  # handed over as this caller gave up: pass it on
                if granted is None:
                    self._free_slot()
                else:
                    self.release(granted)
            raise

    async def _open(self) -> ClientConnection:
        """Opens a connection in a slot already counted in `size`."""
        self.connecting += 1
        made: list[ClientConnection] = []

        def new_connection() -> asyncio.BaseProtocol:
            connection = ClientConnection(self)
            made.append(connection)
            return cast(asyncio.BaseProtocol, connection)

        try:
            async with asyncio.timeout(self._connect_timeout):
                await self.loop.create_connection(
                    new_connection, self.host, self.port, ssl=self.ssl
                )
            connection = made[-1]
        except BaseException as error:
            for unclaimed in made:
                unclaimed.discard_unclaimed()
            self._free_slot()
            if isinstance(error, TimeoutError):
                raise ConnectError(
                    f"cannot connect to {self.address}: "
                    f"no connection within {self._connect_timeout:g}s"
                ) from None
            if isinstance(error, OSError):
                reason = error.strerror or str(error)
                raise ConnectError(f"cannot connect to {self.address}: {reason}") from None
            raise
        finally:
            self.connecting -= 1
            self._check_closed()
        if self.closing or not connection.usable:
            connection.close()
            self._free_slot()
            if self.closing:
                raise ClientError(f"the client for {self.address} is closed")
            raise ConnectError(f"connection to {self.address} closed as it opened")
        connection.owns_slot = True  # from here on, closing the connection frees the slot
        return connection

    def release(self, connection: ClientConnection) -> None:
        """Takes back a connection ready for another exchange."""
        if self.closing or not connection.usable:
            connection.close()
            return
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        connection.idle_since = self.loop.time()
        connection.in_idle = True
        self.idle.append(connection)
        if self._timer is None:
            self._timer = self.loop.call_at(
                connection.idle_since + self._idle_timeout, self._close_expired
            )

    def forget(self, connection: ClientConnection) -> None:
        """A connection is closing (called once): it leaves the idle list and gives up its slot."""
        if connection.in_idle:
            connection.in_idle = False
            self.idle.remove(connection)
        if connection.owns_slot:
            connection.owns_slot = False
            self._free_slot()

    def _free_slot(self) -> None:
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to this caller
                return
        self.size -= 1

    def _close_expired(self) -> None:
        """Closes connections idle for longer than the idle timeout, oldest first."""
        self._timer = None
        idle = self.idle
        cutoff = self.loop.time() - self._idle_timeout
        while idle and idle[0].idle_since <= cutoff:
            idle[0].close()
        if idle:
            self._timer = self.loop.call_at(
                idle[0].idle_since + self._idle_timeout, self._close_expired
            )

    # bookkeeping of transports, for close

    def connection_made(self, connection: ClientConnection) -> None:
        self.live.add(connection)

    def connection_lost(self, connection: ClientConnection) -> None:
        self.live.discard(connection)
        self._check_closed()

    def _check_closed(self) -> None:
        waiter = self._closed_waiter
        if waiter is not None and not self.live and not self.connecting and not waiter.done():
            waiter.set_result(None)

    # closing

    def start_closing(self) -> asyncio.Future[None]:
        """Refuses new exchanges, fails queued callers and closes idle connections.

        Exchanges in flight go on; their connections close when they end. The future
        resolves once no transport of the pool is left.
        """
        if self._closed_waiter is not None:
            return self._closed_waiter
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        error = ClientError(f"the client for {self.address} is closed")
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        while self.idle:
            self.idle[-1].close()
        self._closed_waiter = self.loop.create_future()
        self._check_closed()
        return self._closed_waiter

    def abort_all(self) -> None:
        for connection in list(self.live):
            connection.close(abort=True)
