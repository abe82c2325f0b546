"""The gRPC app channel: `AppCallback/OnInvoke` on the app's gRPC server, over grpc.aio.

The app's own gRPC errors are answers, not failures: they come back as the HTTP status Dapr maps
the code to, with a JSON body `{"code", "message", "details"}` as Dapr shows an HTTP caller.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import appcallback_pb2
from google.protobuf import any_pb2, empty_pb2, json_format
from google.rpc import error_details_pb2, status_pb2

from mecha.blocks.invocation.errors import AppTimeout, AppUnreachable, InvocationError
from mecha.blocks.invocation.models import (
    CallContext,
    GrpcStatus,
    Header,
    InvokeRequest,
    InvokeResponse,
    text_of,
)
from mecha.callbacks import Cancel, run_in_task
from mecha.channel.grpcio_metadata import STATUS_DETAILS_KEY, pairs, status_details
from mecha.channel.protocols import ChannelDone

log = logging.getLogger("mecha.channel.grpc")

_Pairs = Iterable[tuple[str, str | bytes]]

# Big enough for a 4 MiB body plus the envelope around it.
DEFAULT_MAX_MESSAGE_BYTES = (4 << 20) + (64 << 10)

_ON_INVOKE = "/dapr.proto.runtime.v1.AppCallback/OnInvoke"
_HEALTH_CHECK = "/dapr.proto.runtime.v1.AppCallbackHealthCheck/HealthCheck"
# How gRPC's HTTP/2 transport words the failure of a call in flight on a connection it lost
# (the connection itself may still look ready for a moment).
_STREAM_REMOVED = "Stream removed"

# Caller headers that gRPC owns or that Mecha sets itself.
_DROPPED = frozenset(
    {
        "dapr-api-token",
        "dapr-caller-app-id",
        "dapr-callee-app-id",
        "destination-app-id",
        "traceparent",
        "tracestate",
        "grpc-trace-bin",
    }
)
# Standard HTTP request headers travel with a "dapr-" prefix, as daprd sends them, so that they
# cannot clash with gRPC's own (content-type, te, user-agent, ...).
_HTTP_HEADERS_PREFIXED = frozenset(
    {
        "accept",
        "accept-charset",
        "accept-language",
        "accept-ranges",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "cache-control",
        "content-type",
        "content-length",
        "cookie",
        "date",
        "expect",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-schedule-tag-match",
        "if-unmodified-since",
        "max-forwards",
        "origin",
        "pragma",
        "referer",
        "via",
        "warning",
        "te",
        "user-agent",
    }
)
_VALID_KEY = re.compile(r"^[0-9a-z_.-]+$")
_VALID_VALUE = re.compile(r"^[\x20-\x7e]*$")

# daprd's mapping of gRPC status codes to HTTP statuses, for the app's own error answers.
_HTTP_STATUS_OF_CODE = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 408,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

# Registers the google.rpc detail types so that their JSON form can be written.
_DETAIL_TYPES = error_details_pb2.DESCRIPTOR


def http_status_of_grpc_code(code: grpc.StatusCode) -> int:
    """The HTTP status an HTTP caller sees for a gRPC status code from the app."""
    return _HTTP_STATUS_OF_CODE.get(code, 500)


@dataclass(frozen=True, slots=True)
class _AppCallback:
    """Typed callables for the app methods the channel calls (the generated stubs are untyped)."""

    on_invoke: grpc.aio.UnaryUnaryMultiCallable[common_pb2.InvokeRequest, common_pb2.InvokeResponse]
    health_check: grpc.aio.UnaryUnaryMultiCallable[
        empty_pb2.Empty, appcallback_pb2.HealthCheckResponse
    ]

    @classmethod
    def on(cls, channel: grpc.aio.Channel) -> _AppCallback:
        return cls(
            on_invoke=channel.unary_unary(
                _ON_INVOKE,
                request_serializer=common_pb2.InvokeRequest.SerializeToString,
                response_deserializer=common_pb2.InvokeResponse.FromString,
            ),
            health_check=channel.unary_unary(
                _HEALTH_CHECK,
                request_serializer=empty_pb2.Empty.SerializeToString,
                response_deserializer=appcallback_pb2.HealthCheckResponse.FromString,
            ),
        )


class GrpcAppChannel:
    """Calls a gRPC app at `target` ("host:port") over one shared HTTP/2 connection."""

    def __init__(
        self,
        target: str,
        *,
        app_api_token: str | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """`credentials` make the channel TLS (grpcs); without them it is cleartext."""
        self._target = target
        self._token = app_api_token
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            # The app is local: after it restarts, reconnect within a fraction of a second
            # rather than gRPC's default backoff of a second and more.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        if credentials is None:
            self._channel = grpc.aio.insecure_channel(target, options=options)
        else:
            self._channel = grpc.aio.secure_channel(target, credentials, options=options)
        self._app = _AppCallback.on(self._channel)

    def call(self, request: InvokeRequest, context: CallContext, done: ChannelDone) -> Cancel:
        return run_in_task(self._invoke(request, context), done, InvocationError)

    async def _invoke(self, request: InvokeRequest, context: CallContext) -> InvokeResponse:
        message = common_pb2.InvokeRequest(
            method=request.method,
            data=any_pb2.Any(type_url=request.type_url, value=request.body),
            content_type=request.content_type or "",
            http_extension=common_pb2.HTTPExtension(
                verb=_verb(request.verb), querystring=request.query
            ),
        )
        call = self._app.on_invoke(
            message, timeout=context.timeout, metadata=self._metadata(request, context)
        )
        try:
            reply = await call
        except grpc.aio.AioRpcError as error:
            return self._error_answer(error, context)
        return InvokeResponse(
            status=200,
            headers=_headers_of(await call.initial_metadata()),
            body=reply.data.value,
            content_type=reply.content_type or None,
            type_url=reply.data.type_url,
        )

    async def probe(self, timeout: float) -> bool:
        metadata = (("dapr-api-token", self._token),) if self._token else None
        try:
            await self._app.health_check(empty_pb2.Empty(), timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            log.debug(
                "health probe of %s failed: %s %s", self._target, error.code(), error.details()
            )
            return False
        return True

    async def close(self) -> None:
        await self._channel.close(None)

    def _metadata(
        self, request: InvokeRequest, context: CallContext
    ) -> list[tuple[str, str | bytes]]:
        metadata: list[tuple[str, str | bytes]] = []
        for name, value in request.headers:
            entry = _metadata_entry(name.lower(), text_of(value))
            if entry is not None:
                metadata.append(entry)
        metadata.append(("dapr-caller-app-id", context.caller_app_id))
        metadata.append(("dapr-callee-app-id", context.callee_app_id))
        if context.traceparent:
            metadata.append(("traceparent", context.traceparent))
        if context.tracestate:
            metadata.append(("tracestate", context.tracestate))
        if self._token:
            metadata.append(("dapr-api-token", self._token))
        return metadata

    def _error_answer(self, error: grpc.aio.AioRpcError, context: CallContext) -> InvokeResponse:
        code = error.code()
        if code == grpc.StatusCode.UNAVAILABLE:
            details = error.details() or ""
            if details.startswith(_STREAM_REMOVED):
                raise InvocationError(
                    f"connection to the app at {self._target} was lost during the call, "
                    f"which it may have processed: {details}"
                )
            # An app's own UNAVAILABLE leaves the connection ready; a call that could not
            # be sent does not.
            if self._channel.get_state() != grpc.ChannelConnectivity.READY:
                raise AppUnreachable(f"app at {self._target} is unreachable: {details}")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED and context.timeout is not None:
            raise AppTimeout(f"app at {self._target} did not answer within {context.timeout}s")
        code_number: int = code.value[0]
        trailers = error.trailing_metadata()
        packed = status_details(pairs(trailers))
        return InvokeResponse(
            status=http_status_of_grpc_code(code),
            headers=_headers_of(error.initial_metadata()),
            body=_status_json(code_number, error.details() or "", trailers),
            content_type="application/json",
            grpc_status=GrpcStatus(code_number, error.details() or "", packed),
        )


def _verb(verb: str) -> common_pb2.HTTPExtension.Verb.ValueType:
    try:
        return common_pb2.HTTPExtension.Verb.Value(verb.upper())
    except ValueError:
        return common_pb2.HTTPExtension.NONE


def _metadata_entry(name: str, value: str) -> tuple[str, str | bytes] | None:
    if name in _DROPPED:
        return None
    if name in _HTTP_HEADERS_PREFIXED or name.startswith("grpc-"):
        name = "dapr-" + name
    elif name.startswith(":"):
        name = "dapr-" + name[1:]
    if not _VALID_KEY.match(name):
        log.debug("header %r is not valid gRPC metadata; not passed to the app", name)
        return None
    if name.endswith("-bin"):
        # Binary metadata travels base64-encoded in text headers.
        try:
            return name, base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        except (binascii.Error, ValueError):
            log.debug("header %r is not base64; not passed to the app", name)
            return None
    if not _VALID_VALUE.match(value):
        log.debug("header %r has a value gRPC cannot carry; not passed to the app", name)
        return None
    return name, value


def _headers_of(metadata: _Pairs | None) -> list[Header]:
    if metadata is None:
        return []
    headers: list[Header] = []
    for name, value in metadata:
        if isinstance(value, bytes):
            headers.append((name, base64.b64encode(value).decode("ascii")))
        else:
            headers.append((name, value))
    return headers


def _status_json(code: int, message: str, trailers: object) -> bytes:
    body: dict[str, Any] = {"code": code}
    if message:
        body["message"] = message
    details = _status_details(trailers)
    if details:
        body["details"] = details
    return orjson.dumps(body)


def _status_details(trailers: object) -> list[dict[str, Any]]:
    # grpc.aio errors carry grpc.aio.Metadata here, whatever the type stubs say.
    if not isinstance(trailers, grpc.aio.Metadata):
        return []
    raw = trailers.get(STATUS_DETAILS_KEY)
    if not isinstance(raw, bytes):
        return []
    status = status_pb2.Status()
    try:
        status.ParseFromString(raw)
    except Exception:
        log.debug("app sent unreadable %s", STATUS_DETAILS_KEY)
        return []
    details: list[dict[str, Any]] = []
    for detail in status.details:
        try:
            details.append(json_format.MessageToDict(detail))
        except (TypeError, json_format.Error):
            # A detail type this runtime does not know: keep its type and raw bytes.
            value = base64.b64encode(detail.value).decode("ascii")
            details.append({"@type": detail.type_url, "value": value})
    return details
