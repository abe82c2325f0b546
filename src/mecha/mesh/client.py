"""PeerClient: send an invocation to the runtime that hosts the target app."""

from __future__ import annotations

import orjson

from mecha.blocks.invocation.errors import AppTimeout, AppUnreachable, InvocationError
from mecha.blocks.invocation.models import CallContext, InvokeRequest, InvokeResponse
from mecha.blocks.invocation.service import RemoteError
from mecha.blocks.nameresolution.models import Address
from mecha.errors import ErrorCode, MechaError
from mecha.http1 import ClientError, ClientTimeout, ConnectError, HttpClient
from mecha.mesh import wire


class PeerClient:
    def __init__(self, http: HttpClient) -> None:
        self._http = http

    async def invoke(
        self, address: Address, request: InvokeRequest, context: CallContext
    ) -> InvokeResponse:
        headers = list(request.headers)
        headers.append((wire.CALLER, context.caller_app_id))
        headers.append((wire.CALLEE, context.callee_app_id))
        headers.append(("traceparent", context.traceparent))
        if context.tracestate:
            headers.append(("tracestate", context.tracestate))
        if request.content_type:
            headers.append(("content-type", request.content_type))
        if request.type_url:
            headers.append((wire.TYPE_URL, request.type_url))
        if context.timeout is not None:
            headers.append((wire.TIMEOUT, f"{context.timeout:.3f}"))
        target = wire.request_target(request.method, request.query)
        try:
            reply = await self._http.request(
                address.host,
                address.internal_port,
                request.verb,
                target,
                headers,
                request.body,
                timeout=context.timeout,
            )
        except ConnectError as error:
            raise AppUnreachable(
                f"runtime at {address.host}:{address.internal_port} unreachable: {error}"
            ) from None
        except ClientTimeout:
            raise AppTimeout(f"no answer within {context.timeout}s") from None
        except ClientError as error:
            # Delivered, perhaps processed: reported, never retried.
            raise InvocationError(
                f"call to runtime at {address.host}:{address.internal_port} failed: {error}"
            ) from None
        refusal = reply.headers.get(wire.ERROR)
        if refusal is not None:
            raise RemoteError(_remote_error(refusal, reply.body))
        content_type = reply.headers.get("content-type")
        return InvokeResponse(
            status=reply.status,
            headers=wire.passed_on(reply.headers),
            body=reply.body,
            content_type=content_type,
            type_url=reply.headers.get(wire.TYPE_URL) or "",
            grpc_status=wire.grpc_status_of(reply.headers),
        )


def _remote_error(name: str, body: bytes) -> MechaError:
    try:
        message = str(orjson.loads(body).get("message", ""))
    except (orjson.JSONDecodeError, AttributeError):
        message = body.decode("utf-8", "replace")
    code = ErrorCode.__members__.get(name, ErrorCode.DIRECT_INVOKE)
    return MechaError(code, message)
