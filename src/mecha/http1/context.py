"""What the connections of one HttpServer share."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from mecha.http1.message import Handler, Limits, ProtocolErrorRenderer, Response
from mecha.http1.wire import fallback_error, server_line

if TYPE_CHECKING:
    from mecha.http1.connection import HttpConnection

_log = logging.getLogger("mecha.http")


class ServerContext:
    __slots__ = (
        "closing",
        "connections",
        "handler",
        "in_flight",
        "limits",
        "on_empty",
        "renderer",
        "server_line",
    )

    def __init__(
        self,
        handler: Handler,
        limits: Limits,
        renderer: ProtocolErrorRenderer,
        server_header: str,
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.renderer = renderer
        self.server_line = server_line(server_header)
        self.connections: set[HttpConnection] = set()
        self.in_flight = 0
        """Requests whose handler is running."""
        self.closing = False
        self.on_empty: asyncio.Future[None] | None = None
        """Resolved when the last connection is gone, once the server is closing."""

    def error_response(self, status: int, message: str) -> Response:
        """The renderer's response for an error the server answers itself, never an exception."""
        try:
            response: object = self.renderer(status, message)
        except Exception:
            _log.exception("protocol error renderer failed for %d", status)
        else:
            if isinstance(response, Response):
                return response
            _log.error("protocol error renderer returned %r, not a Response", response)
        return fallback_error(status, message)

    def connection_closed(self, connection: HttpConnection) -> None:
        self.connections.discard(connection)
        waiter = self.on_empty
        if not self.connections and waiter is not None and not waiter.done():
            waiter.set_result(None)
