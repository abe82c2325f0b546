"""One invocation as it travels: caller → runtime → (peer runtime) → app, and its answer back.

The same classes serve HTTP and gRPC callers and HTTP and gRPC apps: a gRPC `InvokeRequest`
(method, `Any` data, content type, HTTP extension) maps onto these fields, and so does an HTTP
request (verb, path, query, headers, body).
"""

from __future__ import annotations

from typing import Final

Header = tuple[str, str | bytes]
"""A header (HTTP) or metadata entry (gRPC): a lower-case name, and its value as text or as the
bytes received, which pass on without being decoded."""


# An HTTP server states these on each answer itself: an app's or endpoint's copy stays on its own
# hop, and the runtime answering the caller gives its own.
SERVER_OWNED: Final = frozenset({"date", "server"})


def text_of(value: str | bytes) -> str:
    """A header value as text (latin-1, so every byte round-trips)."""
    return value if isinstance(value, str) else value.decode("latin1")


# Plain classes, not dataclasses: a few are built per invocation on every hop, and the
# dataclass-generated `__init__` would run as interpreted Python even in the compiled build.


class InvokeRequest:
    __slots__ = ("body", "content_type", "headers", "method", "query", "type_url", "verb")

    def __init__(
        self,
        method: str,
        verb: str = "POST",
        query: str = "",
        headers: list[Header] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        type_url: str = "",
    ) -> None:
        # The app's method: the path after `/method/`, without a leading slash ("orders/42").
        self.method = method
        self.verb = verb
        # Raw query string, without '?'.
        self.query = query
        # Headers (HTTP) or metadata (gRPC) to pass on, order kept.
        self.headers: list[Header] = [] if headers is None else headers
        self.body = body
        self.content_type = content_type
        # For a body that is a packed protobuf `Any` from a gRPC caller: its type URL ("" if not).
        self.type_url = type_url

    def __repr__(self) -> str:
        return f"InvokeRequest({self.verb} {self.method!r}, {len(self.body)} bytes)"


class InvokeResponse:
    __slots__ = ("body", "content_type", "grpc_status", "headers", "status", "type_url")

    def __init__(
        self,
        status: int = 200,
        headers: list[Header] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        type_url: str = "",
        grpc_status: GrpcStatus | None = None,
    ) -> None:
        self.status = status
        self.headers: list[Header] = [] if headers is None else headers
        self.body = body
        self.content_type = content_type
        # Set when the app (a gRPC app) answered with a packed protobuf `Any`.
        self.type_url = type_url
        # A gRPC app's own error, kept whole for gRPC callers: code, message, serialized
        # google.rpc.Status details. None for every other answer.
        self.grpc_status = grpc_status

    def __repr__(self) -> str:
        return f"InvokeResponse({self.status}, {len(self.body)} bytes)"


class GrpcStatus:
    __slots__ = ("code", "details", "message")

    def __init__(self, code: int, message: str = "", details: bytes = b"") -> None:
        self.code = code
        self.message = message
        self.details = details

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GrpcStatus):
            return NotImplemented
        return (self.code, self.message, self.details) == (other.code, other.message, other.details)

    def __hash__(self) -> int:
        return hash((self.code, self.message, self.details))

    def __repr__(self) -> str:
        return f"GrpcStatus({self.code}, {self.message!r})"


class CallContext:
    """Who is calling whom, and the trace the call belongs to. Not changed once made."""

    __slots__ = ("callee_app_id", "caller_app_id", "timeout", "traceparent", "tracestate")

    def __init__(
        self,
        caller_app_id: str,
        callee_app_id: str,
        traceparent: str,
        tracestate: str = "",
        timeout: float | None = None,
    ) -> None:
        self.caller_app_id = caller_app_id
        self.callee_app_id = callee_app_id
        self.traceparent = traceparent
        self.tracestate = tracestate
        # Seconds the caller is willing to wait for the app's answer; None for no limit.
        self.timeout = timeout

    def with_timeout(self, timeout: float | None) -> CallContext:
        return CallContext(
            self.caller_app_id, self.callee_app_id, self.traceparent, self.tracestate, timeout
        )

    def __repr__(self) -> str:
        return f"CallContext({self.caller_app_id!r} -> {self.callee_app_id!r})"
