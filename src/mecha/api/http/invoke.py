"""HTTP service invocation: `/v1.0/invoke/{target}/method/{method}` and the `dapr-app-id` header."""

from __future__ import annotations

import posixpath
from urllib.parse import unquote

from mecha.api.http.router import Call
from mecha.blocks.invocation.models import InvokeRequest
from mecha.blocks.invocation.service import Trace
from mecha.http1 import Request, Response
from mecha.mesh import wire

PREFIX = "/v1.0/invoke/"
# Set by this runtime's HTTP server on every response; the app's own would repeat them.
_SERVER_OWNED = frozenset({"date", "server"})
VERBS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


def _clean(method: str) -> str:
    cleaned = posixpath.normpath("/" + method).lstrip("/")
    return "" if cleaned == "." else cleaned


def target_and_method(path: str) -> tuple[str, str]:
    """Split `/v1.0/invoke/<target>/method/<method>`; the target may be a URL (`http://...`)."""
    rest = path[len(PREFIX) :]
    index = rest.find("/method/")
    if index <= 0:
        return "", ""
    return unquote(rest[:index]), _clean(unquote(rest[index + len("/method/") :]))


async def by_path(call: Call) -> Response:
    target, method = target_and_method(call.request.path)
    return await invoke(call, target, method)


async def invoke(call: Call, target: str, method: str) -> Response:
    request = call.request
    reply = await call.runtime.invocation.invoke(
        call.app,
        target,
        InvokeRequest(
            method=method,
            verb=request.method,
            query=request.query,
            headers=wire.passed_on(request.headers),
            body=request.body,
            content_type=request.headers.get("content-type"),
        ),
        Trace(request.headers.get("traceparent"), request.headers.get("tracestate") or ""),
    )
    # A packed protobuf answer is protobuf bytes, whatever content type the app named.
    content_type = "application/x-protobuf" if reply.type_url else reply.content_type
    headers = [(k, v) for k, v in reply.headers if k not in _SERVER_OWNED]
    return Response(reply.status, reply.body, headers, content_type=content_type)


def header_target(request: Request) -> str | None:
    """The app id of the `dapr-app-id` header form, for paths no API route serves."""
    return request.headers.get("dapr-app-id")


async def by_header(call: Call, target: str) -> Response:
    return await invoke(call, target, _clean(unquote(call.request.path)))
