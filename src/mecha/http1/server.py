"""HttpServer: an HTTP/1.1 server for one handler, on any number of addresses."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import cast

from mecha.http1.connection import HttpConnection
from mecha.http1.context import ServerContext
from mecha.http1.message import Handler, Limits, ProtocolErrorRenderer
from mecha.listening import Listeners


class HttpServer(Listeners):
    def __init__(
        self,
        handler: Handler,
        *,
        limits: Limits = Limits(),  # noqa: B008 - frozen, so one shared default is safe
        on_protocol_error: ProtocolErrorRenderer,
        server_header: str = "mecha",
        dated: bool = True,
    ) -> None:
        """`server_header` is the `Server:` value ("" for none); `dated` adds `Date:`."""
        self._ctx = ServerContext(handler, limits, on_protocol_error, server_header, dated)
        factory = cast(
            Callable[[], asyncio.BaseProtocol], functools.partial(HttpConnection, self._ctx)
        )
        super().__init__(self._ctx, factory, logging.getLogger("mecha.http"))

    @property
    def in_flight(self) -> int:
        """Requests whose handler is running now."""
        return self._ctx.in_flight
