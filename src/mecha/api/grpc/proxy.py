"""gRPC proxying: a call on the gRPC port that names another app in `dapr-app-id` is forwarded
to that app's own gRPC services — through the peer runtime that hosts it, or straight to the
app when it is hosted here. Any arity works: on the wire every gRPC call is a stream.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from mecha.api.grpc.errors import grpc_error
from mecha.blocks.invocation.service import split_target
from mecha.channel.grpcio_metadata import STATUS_DETAILS_KEY, pairs, status_details
from mecha.errors import ErrorCode, MechaError
from mecha.http2 import GrpcError, MetadataValue, ServerCall, StatusCode
from mecha.observability.tracing import next_traceparent

if TYPE_CHECKING:
    import grpc

    from mecha.apps import HostedApp
    from mecha.runtime import Runtime

log = logging.getLogger("mecha.api.grpc.proxy")

APP_ID_KEY = "dapr-app-id"
# Metadata that belongs to this hop or is set by the runtime.
_DROPPED = frozenset(
    {"dapr-api-token", "traceparent", "tracestate", "dapr-caller-app-id", "dapr-callee-app-id"}
)


def _identity(data: bytes) -> bytes:
    return data


class GrpcProxy:
    def __init__(
        self, runtime: Runtime, app: HostedApp, authorize: Callable[[ServerCall], None]
    ) -> None:
        self._runtime = runtime
        self._app = app
        self._authorize = authorize
        self._channels: dict[tuple[str, int], grpc.aio.Channel] = {}

    async def forward(self, call: ServerCall) -> None:
        """Serve a call on a method this runtime does not have, as a stream either way."""
        target = next((str(v) for k, v in call.metadata if k == APP_ID_KEY and v), None)
        if target is None:
            raise GrpcError(StatusCode.UNIMPLEMENTED, f"unknown method {call.method}")
        try:
            self._authorize(call)
            host, port, local = await self._destination(target)
        except MechaError as error:
            raise grpc_error(error) from None
        metadata = self._metadata(call, split_target(target, self._runtime.namespace)[0], local)
        # grpcio carries the call to the app; imported on the first proxied call only.
        import grpc

        upstream = self._channel(host, port).stream_stream(
            call.method, request_serializer=_identity, response_deserializer=_identity
        )(_requests(call), metadata=metadata, timeout=call.time_remaining())
        try:
            initial = await upstream.initial_metadata()
            if initial:
                call.send_initial_metadata(pairs(initial))
            async for reply in upstream:
                await call.write(reply)
            trailing = pairs(await upstream.trailing_metadata())
        except grpc.aio.AioRpcError as error:
            trailing = pairs(error.trailing_metadata())
            raise GrpcError(
                error.code().value[0],
                error.details() or "",
                status_details(trailing),
                trailers=_without_details(trailing),
            ) from None
        finally:
            upstream.cancel()  # a no-op once it has ended; ends it when this call is cancelled
        call.set_trailing_metadata(_without_details(trailing))

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
        self, call: ServerCall, callee: str, local: HostedApp | None
    ) -> list[tuple[str, MetadataValue]]:
        incoming = call.metadata
        found = {k: str(v) for k, v in incoming if k in ("traceparent", "dapr-caller-app-id")}
        metadata: list[tuple[str, MetadataValue]] = [
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
            import grpc

            target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            channel = self._channels[(host, port)] = grpc.aio.insecure_channel(target)
        return channel

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()


async def _requests(call: ServerCall) -> AsyncIterator[bytes]:
    while (message := await call.read()) is not None:
        yield message


def _without_details(metadata: list[tuple[str, MetadataValue]]) -> list[tuple[str, MetadataValue]]:
    return [(key, value) for key, value in metadata if key != STATUS_DETAILS_KEY]
