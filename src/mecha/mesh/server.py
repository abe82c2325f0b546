"""MeshServer: the listener peers call; it hands each invocation to the hosted app it names."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from mecha.api.http.errors import render_error, render_protocol_error
from mecha.blocks.invocation.models import CallContext, InvokeRequest
from mecha.errors import ErrorCode, MechaError
from mecha.http1 import HttpServer, Limits, Request, Response
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
        )

    async def listen(self, addresses: tuple[str, ...], port: int) -> int:
        return await self.server.listen_all(addresses, port)

    async def close(self, grace: float) -> None:
        await self.server.close(grace)

    async def handle(self, request: Request) -> Response:
        try:
            return await self._invoke(request)
        except MechaError as error:
            refusal = render_error(error)
            refusal.headers.append((wire.ERROR, error.error.name))
            return refusal

    async def _invoke(self, request: Request) -> Response:
        headers = request.headers
        callee = headers.get(wire.CALLEE) or ""
        app = self._runtime.apps.get(callee)
        if app is None:
            raise MechaError(
                ErrorCode.DIRECT_INVOKE_APP_NOT_FOUND,
                f"failed to invoke, id: {callee}, err: app {callee!r} is not hosted here",
            )
        timeout_text = headers.get(wire.TIMEOUT)
        context = CallContext(
            caller_app_id=headers.get(wire.CALLER) or "",
            callee_app_id=callee,
            traceparent=next_traceparent(headers.get("traceparent")),
            tracestate=headers.get("tracestate") or "",
            timeout=float(timeout_text) if timeout_text else None,
        )
        invoke = InvokeRequest(
            method=unquote(request.path[1:]),
            verb=request.method,
            query=request.query,
            headers=wire.passed_on(headers),
            body=request.body,
            content_type=headers.get("content-type"),
            type_url=headers.get(wire.TYPE_URL) or "",
        )
        reply = await self._runtime.invocation.call_app(app, invoke, context)
        reply_headers = list(reply.headers)
        if reply.type_url:
            reply_headers.append((wire.TYPE_URL, reply.type_url))
        if reply.grpc_status is not None:
            reply_headers.extend(wire.grpc_status_headers(reply.grpc_status))
        return Response(reply.status, reply.body, reply_headers, content_type=reply.content_type)
