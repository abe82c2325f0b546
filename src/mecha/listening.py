"""Listening sockets and graceful close, shared by Mecha's HTTP/1.1 and HTTP/2 servers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any, Final, Protocol

_BACKLOG: Final = 1024
# After the grace period connections are aborted; their close callbacks then come at once.
_ABORT_WAIT_SECONDS: Final = 5.0


def _bound_ports(server: Any) -> list[int]:
    # Untyped: asyncio's Server.sockets is a tuple, uvloop's a list, and compiled code checks.
    return [sock.getsockname()[1] for sock in server.sockets]


class Connection(Protocol):
    def shutdown(self) -> None:
        """Finish what is in progress, take nothing new, then close."""

    def abort(self) -> None: ...


class ConnectionSet:
    """A server's open connections; once it is closing, a wait for the last one to go."""

    __slots__ = ("closing", "connections", "on_empty")

    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self.closing = False
        self.on_empty: asyncio.Future[None] | None = None
        """Resolved when the last connection is gone, once the server is closing."""

    def forget(self, connection: Connection) -> None:
        self.connections.discard(connection)
        waiter = self.on_empty
        if not self.connections and waiter is not None and not waiter.done():
            waiter.set_result(None)


class Listeners:
    """The listening sockets of one server, any number of addresses, one protocol factory;
    the servers are built on it."""

    def __init__(
        self,
        tracked: ConnectionSet,
        factory: Callable[[], asyncio.BaseProtocol],
        log: logging.Logger,
    ) -> None:
        self._tracked = tracked
        self._factory = factory
        self._log = log
        self._servers: list[asyncio.Server] = []
        self._ports: list[int] = []

    async def listen(self, host: str, port: int) -> int:
        """Starts accepting on host:port; returns the bound port (an ephemeral one for 0)."""
        if self._tracked.closing:
            raise RuntimeError("server is closed")
        server = await self._open(host, port)
        bound_port = _bound_ports(server)[0]
        self._servers.append(server)
        self._ports.append(bound_port)
        return bound_port

    async def listen_all(self, hosts: tuple[str, ...], port: int) -> int:
        """Listens on every host with one port: `port`, or the one the first host drew for 0."""
        for host in hosts:
            port = await self.listen(host, port)
        return port

    @property
    def ports(self) -> list[int]:
        """The bound port of each listen() call, in order."""
        return list(self._ports)

    async def _open(self, host: str, port: int) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        numeric = _numeric_socket(host, port)
        if numeric is not None:
            return await loop.create_server(self._factory, sock=numeric, backlog=_BACKLOG)
        server = await loop.create_server(self._factory, host, port, backlog=_BACKLOG)
        ports = _bound_ports(server)
        if len(set(ports)) > 1:
            # Port 0 on a name with several addresses drew one port per address: use one.
            chosen = ports[0]
            server.close()
            await server.wait_closed()
            server = await loop.create_server(self._factory, host, chosen, backlog=_BACKLOG)
        return server

    async def close(self, grace: float = 5.0) -> None:
        """Stops accepting at once, asks every connection to finish what it has in progress,
        aborts what is left after `grace` seconds, and returns when every connection is gone."""
        tracked = self._tracked
        tracked.closing = True
        for server in self._servers:
            server.close()
        if tracked.connections:
            tracked.on_empty = asyncio.get_running_loop().create_future()
            for connection in list(tracked.connections):
                connection.shutdown()
            if not await self._wait_empty(grace):
                self._log.warning(
                    "aborting %d connections still open after %ss", len(tracked.connections), grace
                )
                for connection in list(tracked.connections):
                    connection.abort()
                await self._wait_empty(_ABORT_WAIT_SECONDS)
        for server in self._servers:
            await server.wait_closed()

    async def _wait_empty(self, timeout: float) -> bool:
        waiter = self._tracked.on_empty
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
