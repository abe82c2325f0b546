"""GrpcApi: one app's gRPC API listener for `dapr.proto.runtime.v1.Dapr`.

Served by Mecha's own HTTP/2 server (`mecha.http2`). The service is built from the proto
descriptor shipped in the `dapr` package: every method it declares is served, the ones Mecha
implements by their block module, all others answer UNIMPLEMENTED at once. Each call passes
through one wrapper that checks the API token and turns a MechaError into a gRPC status. A call
to any other method is proxied to the app named by its `dapr-app-id` metadata.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dapr.proto.runtime.v1 import dapr_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError

from mecha.api.grpc import invoke, lifecycle, metadata, state
from mecha.api.grpc.errors import grpc_error
from mecha.api.grpc.proxy import GrpcProxy
from mecha.errors import ErrorCode, MechaError
from mecha.http2 import (
    GrpcError,
    GrpcServer,
    Limits,
    Method,
    ServerCall,
    StatusCode,
    StreamMethod,
    UnaryMethod,
)

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
    context: ServerCall


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
        self._max_message = runtime.config.max_body_bytes
        methods = {f"/{SERVICE.full_name}/{m.name}": self._method(m) for m in SERVICE.methods}
        # Dapr's own service first; any other call naming an app in `dapr-app-id` is proxied.
        self._proxy = GrpcProxy(runtime, app, self._authorize)
        proxied = StreamMethod(self._proxy.forward)
        self.server = GrpcServer(
            lambda path: methods.get(path, proxied),
            limits=Limits(max_message_bytes=self._max_message),
        )

    async def listen(self, addresses: tuple[str, ...], port: int) -> int:
        for address in addresses:
            try:
                port = await self.server.listen(address, port)
            except OSError as error:
                raise PortInUse(
                    f"cannot listen for gRPC on {address}:{port}: {error.strerror or error}"
                ) from None
        return port

    async def close(self, grace: float) -> None:
        await self.server.close(grace)
        await self._proxy.close()

    def _method(self, method: MethodDescriptor) -> Method:
        impl = IMPLEMENTED.get(method.name)
        if impl is None:
            return _unimplemented(method)
        parse = message_factory.GetMessageClass(method.input_type).FromString
        name = method.name

        async def handle(call: ServerCall, data: bytes) -> bytes:
            started = time.perf_counter()
            try:
                self._authorize(call)
                try:
                    request = parse(data)
                except DecodeError:
                    raise GrpcError(
                        StatusCode.INTERNAL, f"cannot parse the {name} request message"
                    ) from None
                response: bytes = (
                    await impl(GrpcCall(self._app, self._runtime, call), request)
                ).SerializeToString()
            except MechaError as error:
                raise grpc_error(error) from None
            finally:
                if self._log_calls:
                    api_log.info(
                        "gRPC API called: %s in %.2f ms",
                        name,
                        (time.perf_counter() - started) * 1000,
                    )
            if len(response) > self._max_message:
                raise GrpcError(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"response larger than max ({len(response)} vs. {self._max_message})",
                )
            return response

        return UnaryMethod(handle)

    def _authorize(self, call: ServerCall) -> None:
        if self._token is None or self._same_token is None:
            return
        for key, value in call.metadata:
            if key == "dapr-api-token":
                given = value.encode() if isinstance(value, str) else value
                if self._same_token(given, self._token):
                    return
        raise grpc_error(
            MechaError(ErrorCode.UNAUTHORIZED, "authentication error: api token mismatch")
        )


def _unimplemented(method: MethodDescriptor) -> Method:
    refusal = MechaError(
        ErrorCode.API_UNIMPLEMENTED, f"{method.name} is not implemented by this runtime yet"
    )

    async def refuse_unary(call: ServerCall, data: bytes) -> bytes:
        raise grpc_error(refusal)

    async def refuse_stream(call: ServerCall) -> None:
        raise grpc_error(refusal)

    # Nothing is parsed for a call that is refused anyway.
    if method.client_streaming or method.server_streaming:
        return StreamMethod(refuse_stream)
    return UnaryMethod(refuse_unary)
