"""gRPC proxying: a call on the gRPC port that names another app in `dapr-app-id` is forwarded
to that app's own gRPC services — through the peer runtime that hosts it, or straight to the
app when it is hosted here. Any arity works: on the wire every gRPC call is a stream.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import grpc

from mecha.api.grpc.errors import status_of
from mecha.blocks.invocation.service import split_target
from mecha.errors import ErrorCode, MechaError
from mecha.observability.tracing import next_traceparent

if TYPE_CHECKING:
    from mecha.apps import HostedApp
    from mecha.runtime import Runtime

log = logging.getLogger("mecha.api.grpc.proxy")

APP_ID_KEY = "dapr-app-id"
# Metadata that belongs to this hop or is set by the runtime.
_DROPPED = frozenset(
    {"dapr-api-token", "traceparent", "tracestate", "dapr-caller-app-id", "dapr-callee-app-id"}
)


if TYPE_CHECKING:
    _GenericHandler = grpc.GenericRpcHandler[Any, Any]
else:  # not subscriptable at run time
    _GenericHandler = grpc.GenericRpcHandler


def _identity(data: bytes) -> bytes:
    return data


def _pairs(metadata: Any) -> tuple[tuple[str, str | bytes], ...]:
    return tuple((str(key), value) for key, value in metadata or ())


class GrpcProxy(_GenericHandler):
    def __init__(self, runtime: Runtime, app: HostedApp, authorize: Callable[[Any], None]) -> None:
        self._runtime = runtime
        self._app = app
        self._authorize = authorize
        self._channels: dict[tuple[str, int], grpc.aio.Channel] = {}

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        for key, value in handler_call_details.invocation_metadata or ():
            if key == APP_ID_KEY and value:
                method: str = handler_call_details.method
                return grpc.stream_stream_rpc_method_handler(
                    self._forwarder(method, str(value)),
                    request_deserializer=_identity,
                    response_serializer=_identity,
                )
        return None

    def _forwarder(
        self, method: str, target: str
    ) -> Callable[[AsyncIterator[bytes], grpc.aio.ServicerContext[Any, Any]], AsyncIterator[bytes]]:
        async def forward(
            requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[bytes]:
            try:
                self._authorize(context)
                host, port, local = await self._destination(target)
            except MechaError as error:
                code, message, trailers = status_of(error)
                context.set_trailing_metadata(trailers)
                await context.abort(code, message)
            metadata = self._metadata(
                context, split_target(target, self._runtime.namespace)[0], local
            )
            channel = self._channel(host, port)
            call = channel.stream_stream(
                method, request_serializer=_identity, response_deserializer=_identity
            )(requests, metadata=metadata, timeout=context.time_remaining())
            try:
                initial = await call.initial_metadata()
                if initial:
                    await context.send_initial_metadata(initial)
                async for reply in call:
                    yield reply
            except grpc.aio.AioRpcError as error:
                context.set_trailing_metadata(_pairs(error.trailing_metadata()))
                await context.abort(error.code(), error.details() or "")
            context.set_trailing_metadata(_pairs(await call.trailing_metadata()))

        return forward

    async def _destination(self, target: str) -> tuple[str, int, HostedApp | None]:
        """Where to send the call: host, port, and the hosted app when it goes straight to it."""
        runtime = self._runtime
        app_id, namespace = split_target(target, runtime.namespace)
        local = runtime.apps.get(app_id) if namespace == runtime.namespace else None
        if local is not None:
            if local.app_port is None:
                raise MechaError(
                    ErrorCode.APP_CHANNEL_NIL, f"app {app_id} has no --app-port to proxy to"
                )
            return local.app_channel_address, local.app_port, local
        address = await runtime.invocation.resolve(app_id, namespace)
        return address.host, address.grpc_port, None

    def _metadata(
        self, context: grpc.aio.ServicerContext[Any, Any], callee: str, local: HostedApp | None
    ) -> list[tuple[str, str | bytes]]:
        incoming = list(context.invocation_metadata() or ())
        found = {k: str(v) for k, v in incoming if k in ("traceparent", "dapr-caller-app-id")}
        metadata: list[tuple[str, str | bytes]] = [
            (k, v) for k, v in incoming if k not in _DROPPED and not (local and k == APP_ID_KEY)
        ]
        metadata.append(("traceparent", next_traceparent(found.get("traceparent"))))
        # The calling runtime names both apps; the runtime in front of the callee keeps them.
        caller = found.get("dapr-caller-app-id") if local is not None else None
        metadata.append(("dapr-caller-app-id", caller or self._app.id))
        metadata.append(("dapr-callee-app-id", callee))
        if local is not None and local.app_api_token:
            metadata.append(("dapr-api-token", local.app_api_token))
        return metadata

    def _channel(self, host: str, port: int) -> grpc.aio.Channel:
        channel = self._channels.get((host, port))
        if channel is None:
            target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            channel = self._channels[(host, port)] = grpc.aio.insecure_channel(target)
        return channel

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()
