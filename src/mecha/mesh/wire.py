"""How an invocation travels between runtimes: an HTTP/1.1 request and its answer.

The request is the app's own call — `{verb} /{method}?{query}`, its headers and body — plus a
few `mecha-*` headers naming the apps, the trace and the payload type. A refusal by the peer
runtime (not an answer of the app) comes back with `mecha-error` naming the ErrorCode. Each
side reads the other's headers in one pass: this runs twice per invocation.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import quote, unquote

from mecha.blocks.invocation.models import (
    SERVER_OWNED,
    CallContext,
    GrpcStatus,
    Header,
    InvokeRequest,
    InvokeResponse,
    text_of,
)
from mecha.channel.http import CallLines
from mecha.http1 import ClientResponse, Request, TextCache, percent_decoded, percent_encoded

CALLER: Final = "mecha-caller-app-id"
CALLEE: Final = "mecha-callee-app-id"
TYPE_URL: Final = "mecha-type-url"
TIMEOUT: Final = "mecha-timeout"
ERROR: Final = "mecha-error"
GRPC_STATUS: Final = "mecha-grpc-status"
GRPC_MESSAGE: Final = "mecha-grpc-message"
GRPC_DETAILS: Final = "mecha-grpc-details"
_MECHA: Final = "mecha-"

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
# Content type travels on its own, beside the headers.
NOT_PASSED: Final = HOP_BY_HOP | RUNTIME_HEADERS | {"content-type"}


def passed_back(headers: Sequence[Header]) -> list[Header]:
    """An outside server's answer headers that travel back to the caller."""
    return [pair for pair in passed_on(headers) if pair[0] not in SERVER_OWNED]


def passed_on(headers: Sequence[Header]) -> list[Header]:
    """The caller's headers that travel with the call (content type travels on its own)."""
    return [
        pair for pair in headers if pair[0] not in NOT_PASSED and not pair[0].startswith(_MECHA)
    ]


_PATHS: Final = TextCache()


def request_target(method: str, query: str) -> str:
    """`/{method}?{query}` for the wire: the method percent-encoded, the query as given."""
    path = _PATHS.get(method) or _PATHS.put(method, "/" + percent_encoded(method))
    return f"{path}?{query}" if query else path


# The calling side


def call_headers(request: InvokeRequest, context: CallContext) -> list[Header]:
    """The headers of the request to the peer that are checked as they go: the caller's, and
    the runtime's rarer ones. `call_lines` has the rest."""
    headers = request.headers
    if context.tracestate or request.type_url or context.timeout is not None:
        headers = list(headers)
        if context.tracestate:
            headers.append(("tracestate", context.tracestate))
        if request.type_url:
            headers.append((TYPE_URL, request.type_url))
        if context.timeout is not None:
            headers.append((TIMEOUT, f"{context.timeout:.3f}"))
    return headers


_CALL_LINES: Final = CallLines(CALLER, CALLEE)


def call_lines(request: InvokeRequest, context: CallContext) -> bytes:
    """The runtime's header lines every call carries: app ids, trace, content type."""
    return _CALL_LINES.encode(context, request.content_type)


class Refusal:
    """The peer runtime refused the call: the ErrorCode's name and the error body."""

    __slots__ = ("body", "code")

    def __init__(self, code: str, body: bytes) -> None:
        self.code = code
        self.body = body


def read_reply(response: ClientResponse) -> InvokeResponse | Refusal:
    """The peer's answer: the app's response, or the peer runtime's refusal."""
    kept: list[Header] = []
    content_type: str | None = None
    type_url = ""
    grpc: dict[str, str] | None = None
    for name, value in response.headers.pairs():
        if name.startswith(_MECHA):
            if name == ERROR:
                return Refusal(text_of(value), response.body)
            if name == TYPE_URL:
                type_url = text_of(value)
            elif name in _GRPC_FIELDS:
                grpc = grpc or {}
                grpc[name] = text_of(value)
        elif name == "content-type":
            content_type = text_of(value)
        elif name not in NOT_PASSED:
            kept.append((name, value))
    return InvokeResponse(
        status=response.status,
        headers=kept,
        body=response.body,
        content_type=content_type,
        type_url=type_url,
        grpc_status=None if grpc is None else _grpc_status(grpc),
    )


# The called side


class IncomingCall:
    __slots__ = ("callee", "context", "request")

    def __init__(self, callee: str, request: InvokeRequest, context: CallContext) -> None:
        self.callee = callee
        self.request = request
        self.context = context


def read_call(request: Request, next_traceparent: Callable[[str | None], str]) -> IncomingCall:
    """A peer's request as the invocation it carries; `next_traceparent` turns the caller's
    traceparent into this hop's."""
    kept: list[Header] = []
    callee = caller = type_url = tracestate = ""
    traceparent = content_type = timeout = None
    for name, value in request.headers.pairs():
        if name.startswith(_MECHA):
            if name == CALLEE:
                callee = text_of(value)
            elif name == CALLER:
                caller = text_of(value)
            elif name == TYPE_URL:
                type_url = text_of(value)
            elif name == TIMEOUT:
                timeout = float(value)
        elif name in NOT_PASSED:
            if name == "traceparent":
                traceparent = text_of(value)
            elif name == "tracestate":
                tracestate = text_of(value)
            elif name == "content-type":
                content_type = text_of(value)
        else:
            kept.append((name, value))
    return IncomingCall(
        callee,
        InvokeRequest(
            method=percent_decoded(request.path[1:]),
            verb=request.method,
            query=request.query,
            headers=kept,
            body=request.body,
            content_type=content_type,
            type_url=type_url,
        ),
        CallContext(caller, callee, next_traceparent(traceparent), tracestate, timeout),
    )


def reply_headers(reply: InvokeResponse) -> list[Header]:
    """The headers of the answer to the peer: the app's, then what else the answer says."""
    headers = reply.headers
    if reply.type_url or reply.grpc_status is not None:
        headers = list(headers)
        if reply.type_url:
            headers.append((TYPE_URL, reply.type_url))
        if reply.grpc_status is not None:
            status = reply.grpc_status
            headers.append((GRPC_STATUS, str(status.code)))
            headers.append((GRPC_MESSAGE, quote(status.message, safe="")))
            headers.append((GRPC_DETAILS, base64.b64encode(status.details).decode("ascii")))
    return headers


_GRPC_FIELDS: Final = frozenset({GRPC_STATUS, GRPC_MESSAGE, GRPC_DETAILS})


def _grpc_status(fields: dict[str, str]) -> GrpcStatus | None:
    code = fields.get(GRPC_STATUS, "")
    if not code.isdigit():
        return None
    return GrpcStatus(
        int(code),
        unquote(fields.get(GRPC_MESSAGE, "")),
        base64.b64decode(fields.get(GRPC_DETAILS, "")),
    )
