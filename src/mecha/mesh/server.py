"""MeshServer: the listener peers call; it hands each invocation to the hosted app it names.

Answers go out from the callback that completes the call into the app: no task per call.
They carry neither `Server` nor `Date`, which the calling runtime would only drop.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from mecha.api.http.errors import render_error, render_protocol_error
from mecha.blocks.invocation.models import InvokeResponse
from mecha.errors import ErrorCode, MechaError
from mecha.http1 import Deferred, HttpServer, Limits, Request, Response
from mecha.mesh import wire
from mecha.observability.tracing import next_traceparent

if TYPE_CHECKING:
    from mecha.runtime import Runtime


class MeshServer:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        config = runtime.config
        self.server = HttpServer(
            self.handle,
            limits=Limits(max_body_bytes=config.max_body_bytes, max_header_bytes=64 * 1024),
            on_protocol_error=render_protocol_error,
            server_header="",
            dated=False,
        )

    async def listen(self, addresses: tuple[str, ...], port: int) -> int:
        return await self.server.listen_all(addresses, port)

    async def close(self, grace: float) -> None:
        await self.server.close(grace)

    def handle(self, request: Request) -> Response | Deferred:
        try:
            call = wire.read_call(request, next_traceparent)
        except ValueError as error:
            return _refusal(MechaError(ErrorCode.DIRECT_INVOKE, f"malformed peer call: {error}"))
        app = self._runtime.apps.get(call.callee)
        if app is None:
            return _refusal(
                MechaError(
                    ErrorCode.DIRECT_INVOKE_APP_NOT_FOUND,
                    f"failed to invoke, id: {call.callee}, "
                    f"err: app {call.callee!r} is not hosted here",
                )
            )
        reply = Deferred()
        reply.on_cancel = self._runtime.invocation.call_app(
            app, call.request, call.context, partial(_answer, reply)
        )
        return reply


def _answer(reply: Deferred, outcome: InvokeResponse | MechaError) -> None:
    if isinstance(outcome, MechaError):
        reply.resolve(_refusal(outcome))
        return
    reply.resolve(
        Response(
            outcome.status,
            outcome.body,
            wire.reply_headers(outcome),
            content_type=outcome.content_type,
        )
    )


def _refusal(error: MechaError) -> Response:
    refusal = render_error(error)
    refusal.headers.append((wire.ERROR, error.error.name))
    return refusal
