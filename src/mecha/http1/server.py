"""HttpServer: listening sockets, connection bookkeeping and graceful close."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket

from mecha.http1.connection import HttpConnection
from mecha.http1.context import ServerContext
from mecha.http1.message import Handler, Limits, ProtocolErrorRenderer

_log = logging.getLogger("mecha.http")

_BACKLOG = 1024
# After the grace period connections are aborted; their close callbacks then come at once.
_ABORT_WAIT_SECONDS = 5.0


class HttpServer:
    """An HTTP/1.1 server for one handler, on any number of addresses."""

    def __init__(
        self,
        handler: Handler,
        *,
        limits: Limits = Limits(),  # noqa: B008 - frozen, so one shared default is safe
        on_protocol_error: ProtocolErrorRenderer,
        server_header: str = "mecha",
    ) -> None:
        self._ctx = ServerContext(handler, limits, on_protocol_error, server_header)
        self._listeners: list[asyncio.Server] = []
        self._ports: list[int] = []

    async def listen(self, host: str, port: int) -> int:
        """Starts accepting on host:port; returns the bound port (an ephemeral one for 0)."""
        if self._ctx.closing:
            raise RuntimeError("server is closed")
        listener = await self._open(host, port)
        bound_port: int = listener.sockets[0].getsockname()[1]
        self._listeners.append(listener)
        self._ports.append(bound_port)
        return bound_port

    async def _open(self, host: str, port: int) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        factory = functools.partial(HttpConnection, self._ctx)
        numeric = _numeric_socket(host, port)
        if numeric is not None:
            return await loop.create_server(factory, sock=numeric, backlog=_BACKLOG)
        listener = await loop.create_server(factory, host, port, backlog=_BACKLOG)
        if len({sock.getsockname()[1] for sock in listener.sockets}) > 1:
            # Port 0 on a name with several addresses drew one port per address: use one.
            chosen = listener.sockets[0].getsockname()[1]
            listener.close()
            await listener.wait_closed()
            listener = await loop.create_server(factory, host, chosen, backlog=_BACKLOG)
        return listener

    @property
    def ports(self) -> list[int]:
        """The bound port of each listen() call, in order."""
        return list(self._ports)

    @property
    def in_flight(self) -> int:
        """Requests whose handler is running now."""
        return self._ctx.in_flight

    async def close(self, grace: float = 5.0) -> None:
        """Stops accepting at once, lets requests in progress finish, aborts what is left
        after `grace` seconds, and returns when every connection is gone."""
        ctx = self._ctx
        ctx.closing = True
        for listener in self._listeners:
            listener.close()
        if ctx.connections:
            ctx.on_empty = asyncio.get_running_loop().create_future()
            for connection in list(ctx.connections):
                connection.shutdown()
            if not await self._wait_empty(grace):
                _log.warning(
                    "aborting %d connections still open after %ss", len(ctx.connections), grace
                )
                for connection in list(ctx.connections):
                    connection.abort()
                await self._wait_empty(_ABORT_WAIT_SECONDS)
        for listener in self._listeners:
            await listener.wait_closed()

    async def _wait_empty(self, timeout: float) -> bool:
        waiter = self._ctx.on_empty
        if waiter is None or waiter.done():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        return waiter.done()


def _numeric_socket(host: str, port: int) -> socket.socket | None:
    """A listening socket for a numeric address; None for a name, which needs resolving.

    Binding it here skips the event loop's name lookup, which starts a pool of resolver
    threads (and their memory) for an address that needs no resolving.
    """
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            sock.listen(_BACKLOG)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock
    return None
