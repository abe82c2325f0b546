"""How an invocation travels between runtimes: an HTTP/1.1 request and its answer.

The request is the app's own call — `{verb} /{method}?{query}`, its headers and body — plus a
few `mecha-*` headers naming the apps and the payload type. A refusal by the peer runtime
(not an answer of the app) comes back with `mecha-error` naming the ErrorCode.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from urllib.parse import quote, unquote

from mecha.blocks.invocation.models import GrpcStatus
from mecha.http1 import Headers

CALLER = "mecha-caller-app-id"
CALLEE = "mecha-callee-app-id"
TYPE_URL = "mecha-type-url"
TIMEOUT = "mecha-timeout"
ERROR = "mecha-error"
GRPC_STATUS = "mecha-grpc-status"
GRPC_MESSAGE = "mecha-grpc-message"
GRPC_DETAILS = "mecha-grpc-details"

# Headers that belong to one HTTP hop, never passed on.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "host",
    }
)
# Headers the runtime sets itself on each hop.
RUNTIME_HEADERS = frozenset(
    {
        "dapr-api-token",
        "dapr-app-id",
        "traceparent",
        "tracestate",
        "dapr-caller-app-id",
        "dapr-callee-app-id",
    }
)


def passed_on(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The caller's headers that travel with the call (content type travels on its own)."""
    return [
        (name, value)
        for name, value in headers
        if name not in HOP_BY_HOP
        and name not in RUNTIME_HEADERS
        and name != "content-type"
        and not name.startswith("mecha-")
    ]


# RFC 3986 path characters that stay as they are.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def request_target(method: str, query: str) -> str:
    """`/{method}?{query}` for the wire: the method percent-encoded, the query as given."""
    target = "/" + quote(method, safe=_PATH_SAFE)
    return f"{target}?{query}" if query else target


def grpc_status_headers(status: GrpcStatus) -> list[tuple[str, str]]:
    """A gRPC app's error status as headers, for the hop back to the calling runtime."""
    return [
        (GRPC_STATUS, str(status.code)),
        (GRPC_MESSAGE, quote(status.message, safe="")),
        (GRPC_DETAILS, base64.b64encode(status.details).decode("ascii")),
    ]


def grpc_status_of(headers: Headers) -> GrpcStatus | None:
    code = headers.get(GRPC_STATUS)
    if code is None or not code.isdigit():
        return None
    return GrpcStatus(
        int(code),
        unquote(headers.get(GRPC_MESSAGE) or ""),
        base64.b64decode(headers.get(GRPC_DETAILS) or ""),
    )
