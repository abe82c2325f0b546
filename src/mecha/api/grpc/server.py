"""GrpcApi: one app's gRPC API listener for `dapr.proto.runtime.v1.Dapr`.

The service is built from the proto descriptor shipped in the `dapr` package: every method it
declares is served, the ones Mecha implements by their block module, all others answer
UNIMPLEMENTED at once. Each call passes through one wrapper that checks the API token and turns
a MechaError into a gRPC status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from dapr.proto.runtime.v1 import dapr_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor

from mecha.api.grpc import invoke, lifecycle, metadata, state
from mecha.api.grpc.errors import status_of
from mecha.api.grpc.proxy import GrpcProxy
from mecha.errors import ErrorCode, MechaError

if TYPE_CHECKING:
    from mecha.apps import HostedApp
    from mecha.runtime import Runtime

log = logging.getLogger("mecha.api.grpc")
api_log = logging.getLogger("mecha.api")

SERVICE = dapr_pb2.DESCRIPTOR.services_by_name["Dapr"]


@dataclass(slots=True)
class GrpcCall:
    """One gRPC API call as an implementation sees it."""

    app: HostedApp
    runtime: Runtime
    context: grpc.aio.ServicerContext[Any, Any]


Unary = Callable[[GrpcCall, Any], Awaitable[Any]]

IMPLEMENTED: Mapping[str, Unary] = {
    **metadata.METHODS,
    **lifecycle.METHODS,
    **state.METHODS,
    **invoke.METHODS,
}


class PortInUse(Exception):
    pass


class GrpcApi:
    def __init__(self, runtime: Runtime, app: HostedApp) -> None:
        self._runtime = runtime
        self._app = app
        self._token = app.api_token.encode() if app.api_token else None
        self._same_token: Callable[[bytes, bytes], bool] | None = None
        if self._token is not None:
            # hmac brings in OpenSSL's digests (~0.7 MB): loaded only when a token is set.
            from hmac import compare_digest

            self._same_token = compare_digest
        self._log_calls = runtime.config.enable_api_logging
        limit = runtime.config.max_body_bytes
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                # Two runtimes must never share a port silently.
                ("grpc.so_reuseport", 0),
            ]
        )
        handlers = {method.name: self._handler(method) for method in SERVICE.methods}
        # Dapr's own service first; any other call naming an app in `dapr-app-id` is proxied.
        self._proxy = GrpcProxy(runtime, app, self._authorize)
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE.full_name, handlers), self._proxy)
        )

    async def listen(self, addresses: tuple[str, ...], port: int) -> int:
        bound = port
        for address in addresses:
            host = f"[{address}]" if ":" in address else address
            try:
                bound = self.server.add_insecure_port(f"{host}:{bound}")
            except RuntimeError:
                raise PortInUse(f"cannot listen for gRPC on {address}:{port}") from None
            if bound == 0:
                raise PortInUse(f"cannot listen for gRPC on {address}:{port}")
        await self.server.start()
        return bound

    async def close(self, grace: float) -> None:
        await self.server.stop(grace)
        await self._proxy.close()

    def _handler(self, method: MethodDescriptor) -> grpc.RpcMethodHandler[Any, Any]:
        impl = IMPLEMENTED.get(method.name)
        if impl is None:
            return _unimplemented_handler(method)
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)

        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            try:
                self._authorize(context)
                return await impl(GrpcCall(self._app, self._runtime, context), request)
            except MechaError as error:
                code, message, trailers = status_of(error)
                context.set_trailing_metadata(trailers)
                await context.abort(code, message)
            finally:
                if self._log_calls:
                    api_log.info(
                        "gRPC API called: %s in %.2f ms",
                        method.name,
                        (time.perf_counter() - started) * 1000,
                    )

        return grpc.unary_unary_rpc_method_handler(
            handle,
            request_deserializer=request_class.FromString,
            response_serializer=response_class.SerializeToString,
        )

    def _authorize(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if self._token is None or self._same_token is None:
            return
        for key, value in context.invocation_metadata() or ():
            if key == "dapr-api-token":
                given = value.encode() if isinstance(value, str) else value
                if self._same_token(given, self._token):
                    return
        raise MechaError(ErrorCode.UNAUTHORIZED, "authentication error: api token mismatch")


def _unimplemented_handler(method: MethodDescriptor) -> grpc.RpcMethodHandler[Any, Any]:
    error = MechaError(
        ErrorCode.API_UNIMPLEMENTED, f"{method.name} is not implemented by this runtime yet"
    )
    code, message, trailers = status_of(error)

    async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        context.set_trailing_metadata(trailers)
        await context.abort(code, message)

    # Raw bytes in and out: nothing is parsed for a call that is refused anyway.
    if method.client_streaming and method.server_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse)
    if method.client_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse)
    return grpc.unary_unary_rpc_method_handler(refuse)
