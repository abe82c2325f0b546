"""gRPC `InvokeService`: the HTTP-style invocation API over gRPC."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import invoke_pb2
from google.protobuf import any_pb2
from google.rpc.error_details_pb2 import ErrorInfo
from google.rpc.status_pb2 import Status

from mecha.blocks.invocation.models import GrpcStatus, Header, InvokeRequest, text_of
from mecha.blocks.invocation.service import Trace
from mecha.http2 import GrpcError, StatusCode
from mecha.mesh import wire

if TYPE_CHECKING:
    from mecha.api.grpc.server import GrpcCall

_VERBS: Final = {value: name for name, value in common_pb2.HTTPExtension.Verb.items()}
# Dapr's mapping of an app's HTTP status to the gRPC status a gRPC caller sees.
_CODES: Final = {
    408: StatusCode.CANCELLED,
    500: StatusCode.UNKNOWN,
    400: StatusCode.INTERNAL,
    504: StatusCode.DEADLINE_EXCEEDED,
    404: StatusCode.NOT_FOUND,
    409: StatusCode.ALREADY_EXISTS,
    403: StatusCode.PERMISSION_DENIED,
    401: StatusCode.UNAUTHENTICATED,
    429: StatusCode.RESOURCE_EXHAUSTED,
    501: StatusCode.UNIMPLEMENTED,
    503: StatusCode.UNAVAILABLE,
}
_KNOWN_CODES: Final = frozenset(StatusCode)
_MAX_DETAIL: Final = 63
_METADATA_NAME: Final = re.compile(r"[0-9a-z_.\-]+")


async def invoke_service(
    call: GrpcCall, request: invoke_pb2.InvokeServiceRequest
) -> common_pb2.InvokeResponse:
    message = request.message
    extension = message.http_extension
    verb = _VERBS.get(extension.verb, "POST") if message.HasField("http_extension") else "POST"
    if verb == "NONE":
        verb = "POST"
    metadata = call.context.metadata
    headers = wire.passed_on([(key, value) for key, value in metadata if isinstance(value, str)])
    incoming = {key: value for key, value in metadata if key in ("traceparent", "tracestate")}
    remaining = call.context.time_remaining()
    reply = await call.runtime.invocation.invoke(
        call.app,
        request.id,
        InvokeRequest(
            method=message.method,
            verb=verb,
            query=extension.querystring,
            headers=headers,
            body=message.data.value,
            content_type=message.content_type or None,
            type_url=message.data.type_url,
        ),
        Trace(_text(incoming.get("traceparent")), _text(incoming.get("tracestate")) or ""),
        timeout=remaining,
    )
    if reply.grpc_status is not None and reply.grpc_status.code != 0:
        raise _app_status(reply.grpc_status)
    if not 200 <= reply.status < 300:
        raise _http_status(reply.status, reply.body)
    call.context.send_initial_metadata(
        [*_metadata_of(reply.headers), ("dapr-http-status", str(reply.status))]
    )
    return common_pb2.InvokeResponse(
        data=any_pb2.Any(type_url=reply.type_url, value=reply.body),
        content_type=reply.content_type or "",
    )


def _metadata_of(headers: list[Header]) -> list[tuple[str, str]]:
    """The app's response headers that can travel as gRPC metadata."""
    metadata: list[tuple[str, str]] = []
    for name, raw in headers:
        value = text_of(raw)
        if (
            _METADATA_NAME.fullmatch(name)
            and not name.startswith("grpc-")
            and not name.endswith("-bin")
            and value.isascii()
            and value.isprintable()
        ):
            metadata.append((name, value))
    return metadata


def _app_status(status: GrpcStatus) -> GrpcError:
    """A gRPC app's own error reaches a gRPC caller unchanged: code, message, details."""
    code = status.code if status.code in _KNOWN_CODES else StatusCode.UNKNOWN
    return GrpcError(code, status.message, status.details)


def _text(value: str | bytes | None) -> str | None:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _http_status(status: int, body: bytes) -> GrpcError:
    code = _CODES.get(status, StatusCode.UNKNOWN)
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = str(status)
    info = ErrorInfo(
        reason=reason,
        domain="dapr.io",
        metadata={
            "http.code": str(status),
            "http.error_message": body[:_MAX_DETAIL].decode("utf-8", "replace"),
        },
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    details = Status(code=code, message=reason, details=[detail])
    return GrpcError(
        code, reason, details.SerializeToString(), trailers=(("dapr-http-status", str(status)),)
    )


METHODS: dict[str, Any] = {"InvokeService": invoke_service}
