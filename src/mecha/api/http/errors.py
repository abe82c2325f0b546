"""MechaError → HTTP response: the one place an error becomes Dapr's JSON error body."""

from __future__ import annotations

from typing import Any

import orjson

from mecha.errors import ErrorCode, MechaError
from mecha.http1 import Response

_STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.MALFORMED_REQUEST,
    413: ErrorCode.BODY_TOO_LARGE,
    431: ErrorCode.HEADERS_TOO_LARGE,
    500: ErrorCode.INTERNAL,
}


def render_error(error: MechaError) -> Response:
    body: dict[str, Any] = {"errorCode": error.error.code, "message": error.message}
    if error.error_reason:
        details: dict[str, Any] = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": error.error_reason,
            "domain": "dapr.io",
        }
        if error.metadata:
            details["metadata"] = error.metadata
        body["details"] = [details]
    return Response(error.error.http_status, orjson.dumps(body), content_type="application/json")


def render_protocol_error(status: int, message: str) -> Response:
    """Errors the HTTP layer answers itself: malformed requests, oversized bodies or headers."""
    code = _STATUS_CODES.get(status, ErrorCode.INTERNAL)
    return render_error(MechaError(code, message))
