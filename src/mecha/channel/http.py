"""The HTTP app channel: `{verb} /{method}?{query}` to the app, on Mecha's own HTTP/1.1 client.

The app's answer comes back as it is, whatever its status: only a call that got no answer
raises. The caller's headers travel on, less those that belong to one hop or that the runtime
sets itself (the app's token, caller and callee ids, trace context, content type).
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Sequence
from functools import partial
from typing import Final

from mecha.blocks.invocation.errors import AppTimeout, AppUnreachable, InvocationError
from mecha.blocks.invocation.models import (
    SERVER_OWNED,
    CallContext,
    Header,
    InvokeRequest,
    InvokeResponse,
    text_of,
)
from mecha.callbacks import Cancel, nothing_to_cancel
from mecha.channel.protocols import ChannelDone
from mecha.http1 import (
    CONTENT_TYPE_LINES,
    ClientError,
    ClientResponse,
    ClientTimeout,
    ConnectError,
    HttpClient,
    LineCache,
    TextCache,
    percent_encoded,
)

log: Final = logging.getLogger("mecha.channel.http")

# RFC 7230 hop-by-hop headers and the framing the client states itself; never passed on.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "http2-settings",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-authenticate",
        "content-length",
    }
)
# Caller headers the runtime replaces with its own, or that name the runtime's hop.
_REPLACED = frozenset(
    {
        "host",
        "expect",
        "content-type",
        "dapr-api-token",
        "dapr-caller-app-id",
        "dapr-callee-app-id",
        "destination-app-id",
        "traceparent",
        "tracestate",
        "grpc-trace-bin",
    }
)
_NOT_PASSED: Final = _HOP_BY_HOP | _REPLACED
_NOT_PASSED_BACK: Final = _HOP_BY_HOP | SERVER_OWNED | {"content-type"}
# The common case, taken as is: safe characters only, segments neither empty nor dots-only.
_SEGMENT = r"[A-Za-z0-9:@!$&'()*+,;=_~-][A-Za-z0-9:@!$&'()*+,;=_~.-]*"
_PLAIN_METHOD: Final = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")


def request_target(method: str, query: str) -> str:
    """`/{method}?{query}`: dot segments resolved, the method percent-encoded, the query as is.

    `method` is decoded text, so a "%" in it is a literal percent sign and is encoded too.
    """
    path = _PATHS.get(method) or _PATHS.put(method, _path_of(method))
    return f"{path}?{query}" if query else path


_PATHS: Final = TextCache()


def _path_of(method: str) -> str:
    if _PLAIN_METHOD.fullmatch(method):
        return "/" + method
    path = posixpath.normpath("/" + method)
    # normpath keeps a leading "//" (POSIX allows it a meaning); a URL path does not.
    return percent_encoded("/" + path.lstrip("/"))


class HttpAppChannel:
    """Calls an HTTP app at host:port through `client` (shared, or owned when `owns_client`)."""

    def __init__(
        self,
        client: HttpClient,
        host: str,
        port: int,
        *,
        app_api_token: str | None = None,
        health_check_path: str = "/healthz",
        owns_client: bool = False,
    ) -> None:
        self._client = client
        self._host = host
        self._port = port
        self._token = app_api_token
        self._health_target = "/" + health_check_path.lstrip("/")
        self._owns_client = owns_client

    def call(self, request: InvokeRequest, context: CallContext, done: ChannelDone) -> Cancel:
        target = request_target(request.method, request.query)
        try:
            outgoing = self._client.send(
                self._host,
                self._port,
                request.verb,
                target,
                partial(self._answered, done, context.timeout),
                passed_headers(request, context, self._token),
                request.body,
                context.timeout,
                _APP_CALL_LINES.encode(context, request.content_type),
            )
        except ValueError as error:
            # The request could not be put on the wire (a method or header HTTP cannot carry).
            done(InvocationError(f"cannot send this call to the app: {error}"))
            return nothing_to_cancel
        return outgoing.cancel

    def _answered(
        self, done: ChannelDone, timeout: float | None, outcome: ClientResponse | ClientError
    ) -> None:
        if isinstance(outcome, ClientError):
            done(self._failure(outcome, timeout))
            return
        headers, content_type = passed_back(outcome.headers.pairs())
        done(InvokeResponse(outcome.status, headers, outcome.body, content_type))

    def _failure(self, error: ClientError, timeout: float | None) -> InvocationError:
        if isinstance(error, ConnectError):
            return AppUnreachable(f"app at {self._address} is unreachable: {error}")
        if isinstance(error, ClientTimeout):
            return AppTimeout(f"app at {self._address} did not answer within {timeout}s")
        return InvocationError(
            f"app at {self._address} took the call but its answer was lost: {error}"
        )

    async def probe(self, timeout: float) -> bool:
        headers = [("dapr-api-token", self._token)] if self._token else []
        try:
            answer = await self._client.request(
                self._host, self._port, "GET", self._health_target, headers=headers, timeout=timeout
            )
        except ClientError as error:
            log.debug("health probe of %s failed: %r", self._address, error)
            return False
        if 200 <= answer.status < 300:
            return True
        log.debug("health probe of %s answered %d", self._address, answer.status)
        return False

    async def close(self) -> None:
        if self._owns_client:
            await self._client.close()

    @property
    def _address(self) -> str:
        return f"{self._host}:{self._port}"


def app_request_headers(
    request: InvokeRequest, context: CallContext, app_api_token: str | None
) -> list[Header]:
    """The headers a call carries to an HTTP app, as pairs (HTTP/2): `passed_headers`, then
    the call's own fields."""
    headers = passed_headers(request, context, app_api_token)
    headers.extend(_APP_CALL_LINES.pairs(context, request.content_type))
    return headers


def passed_headers(
    request: InvokeRequest, context: CallContext, app_api_token: str | None
) -> list[Header]:
    """The caller's headers that may travel on, the trace state and the app token."""
    headers = _passed_on(request.headers)
    if context.tracestate:
        headers.append(("tracestate", context.tracestate))
    if app_api_token:
        headers.append(("dapr-api-token", app_api_token))
    return headers


class CallLines:
    """A call's own fields (caller and callee ids, content type, traceparent) under the names
    one hop gives them: as HTTP/1.1 lines, encoded from caches as the same few values come
    again and again, or as pairs for HTTP/2."""

    __slots__ = ("_callee", "_callees", "_caller", "_callers", "_traceparents")

    def __init__(self, caller: str, callee: str) -> None:
        self._caller = caller
        self._callee = callee
        self._callers = LineCache(caller)
        self._callees = LineCache(callee)
        self._traceparents = LineCache("traceparent")

    def encode(self, context: CallContext, content_type: str | None) -> bytes:
        lines = [
            self._callers.line(context.caller_app_id),
            self._callees.line(context.callee_app_id),
        ]
        if content_type:
            lines.append(CONTENT_TYPE_LINES.line(content_type))
        if context.traceparent:
            lines.append(self._traceparents.once(context.traceparent))
        return b"".join(lines)

    def pairs(self, context: CallContext, content_type: str | None) -> list[Header]:
        """The same fields as `encode`'s lines, in the same order, under the names given (in
        lower case, as HTTP/2 wants them)."""
        pairs: list[Header] = [
            (self._caller, context.caller_app_id),
            (self._callee, context.callee_app_id),
        ]
        if content_type:
            pairs.append(("content-type", content_type))
        if context.traceparent:
            pairs.append(("traceparent", context.traceparent))
        return pairs


# What an app is told of each call besides `passed_headers`.
_APP_CALL_LINES: Final = CallLines("dapr-caller-app-id", "dapr-callee-app-id")


# Connection options that name no header; most Connection headers hold one of them alone.
_NAMES_NO_HEADER: Final = frozenset({"", "close", "keep-alive"})
# The same as received, so the usual value is recognised without decoding it.
_RAW_NAMES_NO_HEADER: Final = frozenset({b"close", b"keep-alive"})


def _names_headers(connection: str | bytes) -> bool:
    """Whether a Connection header's value names other headers as hop-by-hop."""
    if connection in _RAW_NAMES_NO_HEADER:
        return False
    return text_of(connection).lower() not in _NAMES_NO_HEADER


def _nominated(headers: Sequence[Header]) -> frozenset[str]:
    """Headers the Connection header names as hop-by-hop (RFC 7230 §6.1)."""
    names: set[str] = set()
    for name, value in headers:
        if name != "connection":
            continue
        text = text_of(value).lower()
        if text in _NAMES_NO_HEADER:
            continue
        names.update(token.strip() for token in text.split(","))
    return frozenset(names - _NAMES_NO_HEADER)


def _without_nominated(kept: list[Header], headers: Sequence[Header]) -> list[Header]:
    nominated = _nominated(headers)
    return [pair for pair in kept if pair[0] not in nominated] if nominated else kept


def _passed_on(headers: Sequence[Header]) -> list[Header]:
    kept: list[Header] = []
    nominating = False
    for name, value in headers:
        if name in _NOT_PASSED:
            nominating = nominating or (name == "connection" and _names_headers(value))
        elif name[-4:] == "-bin":
            pass  # gRPC binary metadata has no meaning to an HTTP app
        elif name[:1] == ":":
            # gRPC pseudo-headers keep their value under a name HTTP can carry.
            kept.append(("dapr-" + name[1:], value))
        elif name[:5] == "grpc-":
            kept.append(("dapr-" + name, value))
        else:
            kept.append((name, value))
    return _without_nominated(kept, headers) if nominating else kept


def passed_back(headers: Sequence[Header]) -> tuple[list[Header], str | None]:
    """The app's response headers for the caller, without hop-by-hop headers; and apart, its
    Content-Type (for InvokeResponse.content_type)."""
    kept: list[Header] = []
    content_type = None
    nominating = False
    for pair in headers:
        name = pair[0]
        if name not in _NOT_PASSED_BACK:
            kept.append(pair)
        elif name == "content-type":
            if content_type is None:
                content_type = text_of(pair[1])
        elif name == "connection":
            nominating = nominating or _names_headers(pair[1])
    return (_without_nominated(kept, headers) if nominating else kept), content_type
