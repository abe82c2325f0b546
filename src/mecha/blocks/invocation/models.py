"""One invocation as it travels: caller → runtime → (peer runtime) → app, and its answer back.

The same dataclasses serve HTTP and gRPC callers and HTTP and gRPC apps: a gRPC `InvokeRequest`
(method, `Any` data, content type, HTTP extension) maps onto these fields, and so does an HTTP
request (verb, path, query, headers, body).
"""

from __future__ import annotations

from dataclasses import dataclass, field

Header = tuple[str, str | bytes]
"""A header (HTTP) or metadata entry (gRPC): a lower-case name, and its value as text or as the
bytes received, which pass on without being decoded."""


def text_of(value: str | bytes) -> str:
    """A header value as text (latin-1, so every byte round-trips)."""
    return value if isinstance(value, str) else value.decode("latin1")


@dataclass(slots=True)
class InvokeRequest:
    # The app's method: the path after `/method/`, without a leading slash ("orders/42").
    method: str
    verb: str = "POST"
    # Raw query string, without '?'.
    query: str = ""
    # Headers (HTTP) or metadata (gRPC) to pass on, order kept.
    headers: list[Header] = field(default_factory=list)
    body: bytes = b""
    content_type: str | None = None
    # For a body that is a packed protobuf `Any` from a gRPC caller: its type URL ("" otherwise).
    type_url: str = ""


@dataclass(slots=True)
class InvokeResponse:
    status: int = 200
    headers: list[Header] = field(default_factory=list)
    body: bytes = b""
    content_type: str | None = None
    # Set when the app (a gRPC app) answered with a packed protobuf `Any`.
    type_url: str = ""
    # A gRPC app's own error, kept whole for gRPC callers: code, message, serialized
    # google.rpc.Status details. None for every other answer.
    grpc_status: GrpcStatus | None = None


@dataclass(frozen=True, slots=True)
class GrpcStatus:
    code: int
    message: str = ""
    details: bytes = b""


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who is calling whom, and the trace the call belongs to."""

    caller_app_id: str
    callee_app_id: str
    traceparent: str
    tracestate: str = ""
    # Seconds the caller is willing to wait for the app's answer; None for no limit.
    timeout: float | None = None
