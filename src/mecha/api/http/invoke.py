"""HTTP service invocation: `/v1.0/invoke/{target}/method/{method}` and the `dapr-app-id` header."""

from __future__ import annotations

import posixpath
from functools import partial

from mecha.api.http.errors import render_error
from mecha.api.http.router import Call
from mecha.blocks.invocation.models import Header, InvokeRequest, InvokeResponse, text_of
from mecha.blocks.invocation.service import Trace
from mecha.errors import MechaError
from mecha.http1 import Deferred, Request, Response, percent_decoded
from mecha.mesh import wire

VERBS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


def _clean(method: str) -> str:
    """The method with dot segments resolved and empty ones dropped."""
    if "." not in method and "//" not in method and method[:1] != "/" and method[-1:] != "/":
        return method  # nothing to resolve: the usual case
    cleaned = posixpath.normpath("/" + method).lstrip("/")
    return "" if cleaned == "." else cleaned


def target_and_method(rest: str) -> tuple[str, str]:
    """Split `<target>/method/<method>` (the raw path after `/v1.0/invoke/`); the target may
    be a URL (`http://...`)."""
    index = rest.find("/method/")
    if index <= 0:
        return "", ""
    return percent_decoded(rest[:index]), _clean(percent_decoded(rest[index + len("/method/") :]))


def by_path(call: Call) -> Deferred:
    target, method = target_and_method(call.params["rest"])
    return invoke(call, target, method)


def invoke(call: Call, target: str, method: str) -> Deferred:
    request = call.request
    headers: list[Header] = []
    content_type = traceparent = None
    tracestate = ""
    # One pass: the caller's headers that travel on, and the few the runtime reads itself.
    for name, value in request.headers.pairs():
        if name not in wire.NOT_PASSED:
            if not name.startswith("mecha-"):
                headers.append((name, value))
        elif name == "content-type":
            content_type = text_of(value)
        elif name == "traceparent":
            traceparent = text_of(value)
        elif name == "tracestate":
            tracestate = text_of(value)
    reply = Deferred()
    reply.on_cancel = call.runtime.invocation.start(
        call.app,
        target,
        InvokeRequest(
            method=method,
            verb=request.method,
            query=request.query,
            headers=headers,
            body=request.body,
            content_type=content_type,
        ),
        Trace(traceparent, tracestate),
        partial(_answer, reply),
    )
    return reply


def _answer(reply: Deferred, outcome: InvokeResponse | MechaError) -> None:
    if isinstance(outcome, MechaError):
        reply.resolve(render_error(outcome))
        return
    # A packed protobuf answer is protobuf bytes, whatever content type the app named.
    content_type = "application/x-protobuf" if outcome.type_url else outcome.content_type
    reply.resolve(
        Response(outcome.status, outcome.body, outcome.headers, content_type=content_type)
    )


def header_target(request: Request) -> str | None:
    """The app id of the `dapr-app-id` header form, for paths no API route serves."""
    return request.headers.get("dapr-app-id")


def by_header(call: Call, target: str) -> Deferred:
    return invoke(call, target, _clean(percent_decoded(call.request.path)))
