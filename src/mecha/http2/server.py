"""GrpcServer: a gRPC server (HTTP/2 without TLS) for the methods a lookup finds, on any number
of addresses."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import cast

from mecha.http2.connection import GrpcConnection
from mecha.http2.context import Limits, Lookup, ServerContext
from mecha.listening import Listeners


class GrpcServer(Listeners):
    """`lookup("/package.Service/Method")` returns how to serve a method, or None for
    UNIMPLEMENTED. Closing sends GOAWAY and lets the calls in progress finish."""

    def __init__(
        self,
        lookup: Lookup,
        *,
        limits: Limits = Limits(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> None:
        self._ctx = ServerContext(lookup, limits)
        factory = cast(
            Callable[[], asyncio.BaseProtocol], functools.partial(GrpcConnection, self._ctx)
        )
        super().__init__(self._ctx, factory, logging.getLogger("mecha.http2"))

    @property
    def connections(self) -> int:
        return len(self._ctx.connections)
