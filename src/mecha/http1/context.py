"""What the connections of one HttpServer share."""

from __future__ import annotations

import logging
from typing import Final

from mecha.http1.message import Handler, Limits, ProtocolErrorRenderer, Response
from mecha.http1.wire import fallback_error, server_line
from mecha.listening import ConnectionSet

_log: Final = logging.getLogger("mecha.http")


class ServerContext(ConnectionSet):
    __slots__ = ("dated", "handler", "in_flight", "limits", "renderer", "server_line")

    def __init__(
        self,
        handler: Handler,
        limits: Limits,
        renderer: ProtocolErrorRenderer,
        server_header: str,
        dated: bool,
    ) -> None:
        super().__init__()
        self.handler = handler
        self.limits = limits
        self.renderer = renderer
        self.server_line = server_line(server_header)
        self.dated = dated
        self.in_flight = 0
        """Requests whose handler is running."""

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
