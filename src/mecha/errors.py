"""The one error that crosses the API boundary, and the table of codes it carries.

Each `ErrorCode` holds what both front ends need: Dapr's error code string, the HTTP status,
the gRPC status code and the `google.rpc.ErrorInfo` reason. Renderings to HTTP and gRPC live in
`mecha.api.http.errors` and `mecha.api.grpc.errors`, one function each.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from mecha.http2.status import StatusCode


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    http_status: int
    grpc_status: StatusCode
    reason: str = ""


class ErrorCode(enum.Enum):
    """Dapr's error codes, with the statuses Dapr gives them."""

    # Common
    BAD_REQUEST = Code("ERR_BAD_REQUEST", 400, StatusCode.INVALID_ARGUMENT)
    MALFORMED_REQUEST = Code("ERR_MALFORMED_REQUEST", 400, StatusCode.INVALID_ARGUMENT)
    MALFORMED_REQUEST_DATA = Code("ERR_MALFORMED_REQUEST_DATA", 400, StatusCode.INVALID_ARGUMENT)
    BODY_READ = Code("ERR_BODY_READ", 400, StatusCode.INVALID_ARGUMENT)
    BODY_TOO_LARGE = Code("ERR_BODY_TOO_LARGE", 413, StatusCode.RESOURCE_EXHAUSTED)
    HEADERS_TOO_LARGE = Code("ERR_HEADERS_TOO_LARGE", 431, StatusCode.RESOURCE_EXHAUSTED)
    NOT_FOUND = Code("ERR_NOT_FOUND", 404, StatusCode.NOT_FOUND)
    METHOD_NOT_ALLOWED = Code("ERR_METHOD_NOT_ALLOWED", 405, StatusCode.UNIMPLEMENTED)
    API_UNIMPLEMENTED = Code("ERR_API_UNIMPLEMENTED", 501, StatusCode.UNIMPLEMENTED)
    INTERNAL = Code("ERR_INTERNAL", 500, StatusCode.INTERNAL)
    UNAUTHORIZED = Code("ERR_UNAUTHORIZED", 401, StatusCode.UNAUTHENTICATED)
    SHUTTING_DOWN = Code("ERR_SHUTTING_DOWN", 503, StatusCode.UNAVAILABLE)

    # Health
    HEALTH_NOT_READY = Code("ERR_HEALTH_NOT_READY", 500, StatusCode.INTERNAL)
    OUTBOUND_HEALTH_NOT_READY = Code("ERR_OUTBOUND_HEALTH_NOT_READY", 500, StatusCode.INTERNAL)
    HEALTH_APPID_NOT_MATCH = Code("ERR_HEALTH_APPID_NOT_MATCH", 500, StatusCode.INTERNAL)

    # Service invocation
    DIRECT_INVOKE = Code("ERR_DIRECT_INVOKE", 500, StatusCode.INTERNAL)
    DIRECT_INVOKE_NO_APP_ID = Code("ERR_DIRECT_INVOKE", 404, StatusCode.NOT_FOUND)
    DIRECT_INVOKE_APP_NOT_FOUND = Code(
        "ERR_DIRECT_INVOKE", 500, StatusCode.UNAVAILABLE, "DAPR_INVOKE_APP_NOT_FOUND"
    )
    DIRECT_INVOKE_UNREACHABLE = Code(
        "ERR_DIRECT_INVOKE", 500, StatusCode.UNAVAILABLE, "DAPR_INVOKE_APP_UNREACHABLE"
    )
    DIRECT_INVOKE_TIMEOUT = Code(
        "ERR_DIRECT_INVOKE", 504, StatusCode.DEADLINE_EXCEEDED, "DAPR_INVOKE_TIMEOUT"
    )
    DIRECT_INVOKE_APP_UNHEALTHY = Code(
        "ERR_DIRECT_INVOKE", 500, StatusCode.UNAVAILABLE, "DAPR_INVOKE_APP_UNHEALTHY"
    )
    APP_CHANNEL_NIL = Code("ERR_APP_CHANNEL_NIL", 500, StatusCode.INTERNAL)

    # State
    STATE_STORE_NOT_CONFIGURED = Code(
        "ERR_STATE_STORE_NOT_CONFIGURED",
        500,
        StatusCode.FAILED_PRECONDITION,
        "DAPR_STATE_NOT_CONFIGURED",
    )
    STATE_STORE_NOT_FOUND = Code(
        "ERR_STATE_STORE_NOT_FOUND", 400, StatusCode.INVALID_ARGUMENT, "DAPR_STATE_NOT_FOUND"
    )
    STATE_ILLEGAL_KEY = Code(
        "ERR_STATE_ILLEGAL_KEY", 400, StatusCode.INVALID_ARGUMENT, "DAPR_STATE_ILLEGAL_KEY"
    )
    STATE_TRANSACTIONS_NOT_SUPPORTED = Code(
        "ERR_STATE_STORE_NOT_SUPPORTED",
        500,
        StatusCode.UNIMPLEMENTED,
        "DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED",
    )
    STATE_QUERY_NOT_SUPPORTED = Code(
        "ERR_STATE_STORE_NOT_SUPPORTED",
        500,
        StatusCode.INTERNAL,
        "DAPR_STATE_QUERYING_NOT_SUPPORTED",
    )
    STATE_TTL_NOT_SUPPORTED = Code(
        "ERR_STATE_STORE_NOT_SUPPORTED",
        400,
        StatusCode.INVALID_ARGUMENT,
        "DAPR_STATE_TTL_NOT_SUPPORTED",
    )
    STATE_GET = Code("ERR_STATE_GET", 500, StatusCode.INTERNAL)
    STATE_BULK_GET = Code("ERR_STATE_BULK_GET", 500, StatusCode.INTERNAL)
    STATE_SAVE = Code("ERR_STATE_SAVE", 500, StatusCode.INTERNAL)
    STATE_DELETE = Code("ERR_STATE_DELETE", 500, StatusCode.INTERNAL)
    STATE_BULK_DELETE = Code("ERR_STATE_BULK_DELETE", 500, StatusCode.INTERNAL)
    STATE_TRANSACTION = Code("ERR_STATE_TRANSACTION", 500, StatusCode.INTERNAL)
    STATE_QUERY = Code("ERR_STATE_QUERY", 500, StatusCode.INTERNAL, "DAPR_STATE_QUERY_FAILED")
    STATE_OPERATION_NOT_SUPPORTED = Code(
        "ERR_NOT_SUPPORTED_STATE_OPERATION", 400, StatusCode.INVALID_ARGUMENT
    )
    # ETag failures keep the operation's error code, with Dapr's statuses for them.
    STATE_SAVE_ETAG_MISMATCH = Code("ERR_STATE_SAVE", 409, StatusCode.ABORTED)
    STATE_SAVE_ETAG_INVALID = Code("ERR_STATE_SAVE", 400, StatusCode.INVALID_ARGUMENT)
    STATE_DELETE_ETAG_MISMATCH = Code("ERR_STATE_DELETE", 409, StatusCode.ABORTED)
    STATE_DELETE_ETAG_INVALID = Code("ERR_STATE_DELETE", 400, StatusCode.INVALID_ARGUMENT)
    STATE_BULK_DELETE_ETAG_MISMATCH = Code("ERR_STATE_BULK_DELETE", 409, StatusCode.ABORTED)
    STATE_BULK_DELETE_ETAG_INVALID = Code("ERR_STATE_BULK_DELETE", 400, StatusCode.INVALID_ARGUMENT)
    STATE_TRANSACTION_ETAG_MISMATCH = Code("ERR_STATE_TRANSACTION", 409, StatusCode.ABORTED)
    STATE_TRANSACTION_ETAG_INVALID = Code("ERR_STATE_TRANSACTION", 400, StatusCode.INVALID_ARGUMENT)

    @property
    def code(self) -> str:
        return self.value.code

    @property
    def http_status(self) -> int:
        return self.value.http_status

    @property
    def grpc_status(self) -> StatusCode:
        return self.value.grpc_status

    @property
    def reason(self) -> str:
        return self.value.reason


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """The resource an error is about (rendered as `google.rpc.ResourceInfo`)."""

    type: str
    name: str
    owner: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """A bad field in the request (rendered as `google.rpc.BadRequest`)."""

    field: str
    description: str


@dataclass(slots=True)
class MechaError(Exception):
    """An error an API caller sees: a code from the table and a message for humans."""

    error: ErrorCode
    message: str
    metadata: dict[str, str] = field(default_factory=dict)
    resource: ResourceRef | None = None
    violations: tuple[FieldViolation, ...] = ()
    reason: str = ""

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    @property
    def error_reason(self) -> str:
        return self.reason or self.error.reason

    def __str__(self) -> str:
        return f"{self.error.code}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            MechaError,
            (self.error, self.message, self.metadata, self.resource, self.violations, self.reason),
        )
