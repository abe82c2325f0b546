# Python SDK `DaprClient().invoke_method` through two runtimes to an HTTP app built with FastAPI
# (served by uvicorn, with the SDK's `DaprApp` extension): once with the SDK's HTTP invocation
# client (DAPR_API_METHOD_INVOCATION_PROTOCOL=http, /v1.0/invoke/...), once with its gRPC one
# (grpc, InvokeService with an HTTP extension). Checks the verb, path, query string, headers and
# body the app saw, the header and content type it answered with, and that its non-2xx answers
# reach the caller: the status and body over HTTP, the status Dapr maps it to over gRPC. Also
# an app id no runtime serves, and (HTTP run) the `dapr-app-id` header form of the HTTP API.
#
# @protocols http grpc
# @env DAPR_API_METHOD_INVOCATION_PROTOCOL={protocol}
# @peer invoke-fastapi-target
# @peer-app {python} {dir}/../apps/invoke_fastapi_app.py
# @peer-env APP_API_TOKEN=app-secret
import json
import warnings
from typing import Any

import grpc
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprHttpError
from tests.acceptance.python.support import (
    Steps,
    app_id,
    env,
    error_infos,
    expect,
    expect_equal,
    expect_failure,
    expect_grpc_code,
    header,
    http_call,
    peer_app_id,
)

protocol = env("ACCEPTANCE_PROTOCOL")
target = peer_app_id()
# In gRPC mode the SDK warns that InvokeService and its `metadata` argument are deprecated.
warnings.simplefilter("ignore", DeprecationWarning)
QUERY = (("expand", "items"), ("note", "a b&c"), ("expand", "lines"))
# QUERY as both SDK clients encode it (aiohttp in HTTP mode, urllib's urlencode in gRPC mode),
# which the app must see unchanged.
ENCODED_QUERY = "expand=items&note=a+b%26c&expand=lines"


def echo_with(verb: str) -> dict[str, Any]:
    reply = client.invoke_method(
        target,
        "echo/orders/42",
        data=json.dumps({"verb": verb}),
        content_type="application/json",
        metadata=(("x-acceptance", f"python-{protocol}"),),
        http_verb=verb,
        http_querystring=QUERY,
    )
    seen: dict[str, Any] = reply.json()
    print(f"{verb}: the app saw {seen}")
    expect_equal(f"{verb}: content type of the answer", reply.content_type, "application/json")
    if protocol == "http":
        expect_equal(f"{verb}: HTTP status", reply.status_code, 200)
    return seen


def post() -> None:
    seen = echo_with("POST")
    expect_equal("verb the app saw", seen["method"], "POST")
    expect_equal("path the app saw", seen["path"], "/echo/orders/42")
    expect_equal("query the app saw", seen["query"], ENCODED_QUERY)
    expect_equal("body the app saw", seen["body"], '{"verb": "POST"}')
    headers = seen["headers"]
    expect_equal("content type the app saw", headers.get("content-type"), "application/json")
    expect_equal("caller header reaches the app", headers.get("x-acceptance"), f"python-{protocol}")
    expect_equal("dapr-caller-app-id", headers.get("dapr-caller-app-id"), app_id())
    expect_equal("dapr-callee-app-id", headers.get("dapr-callee-app-id"), target)
    expect_equal("the app's token reaches the app", headers.get("dapr-api-token"), "app-secret")
    expect("a trace context reaches the app", "traceparent" in headers, headers)


def other_verbs() -> None:
    for verb in ("GET", "PUT", "PATCH", "DELETE"):
        seen = echo_with(verb)
        expect_equal(f"{verb}: verb the app saw", seen["method"], verb)
        expect_equal(f"{verb}: path the app saw", seen["path"], "/echo/orders/42")
        expect_equal(f"{verb}: query the app saw", seen["query"], ENCODED_QUERY)


def header_form() -> None:
    # The `dapr-app-id` header form of Dapr's HTTP API, which no SDK client uses: any path.
    status, body = http_call(
        "PUT", "/echo/by-header?x=1", {"dapr-app-id": target, "content-type": "text/plain"}, b"hi"
    )
    expect_equal("status", status, 200)
    seen = json.loads(body)
    expect_equal(
        "what the app saw",
        {k: seen[k] for k in ("method", "path", "query", "body")},
        {"method": "PUT", "path": "/echo/by-header", "query": "x=1", "body": "hi"},
    )
    expect_equal("dapr-caller-app-id", seen["headers"].get("dapr-caller-app-id"), app_id())


def unknown_app() -> None:
    def call() -> object:
        return client.invoke_method("nobody", "echo/x", data="", http_verb="POST")

    if protocol == "http":
        failure = expect_failure("an app id nobody serves", call)
        if not isinstance(failure, DaprHttpError):
            raise AssertionError(f"expected a DaprHttpError, got {failure!r}") from failure
        expect_equal("HTTP status", failure.status_code, 500)
        expect_equal("error code", failure.error_code, "ERR_DIRECT_INVOKE")
        expect("the message names the app id", "nobody" in (failure.message or ""), failure.message)
        return
    # daprd answers INTERNAL (ERR_DIRECT_INVOKE); UNAVAILABLE says the same more precisely.
    error = expect_grpc_code(
        "an app id nobody serves", call, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE
    )
    expect("the message names the app id", "nobody" in (error.details() or ""), error.details())


def answer_header() -> None:
    # The app's response headers: HTTP response headers, or the gRPC call's initial metadata.
    reply = client.invoke_method(target, "echo/h", data="{}", http_verb="POST")
    expect_equal("the app's response header", header(reply.headers, "x-app-answer"), ["fastapi"])


def not_found() -> None:
    def call() -> object:
        return client.invoke_method(target, "status/404", data="", http_verb="GET")

    if protocol == "http":
        failure = expect_failure("an app answering 404", call)
        if not isinstance(failure, DaprHttpError):
            raise AssertionError(f"expected a DaprHttpError, got {failure!r}") from failure
        expect_equal("HTTP status", failure.status_code, 404)
        raw = failure.as_dict()["raw_response_bytes"]  # type: ignore[no-untyped-call]
        expect_equal("the app's body passes through", raw, b"app says 404")
        return
    error = expect_grpc_code("an app answering 404", call, grpc.StatusCode.NOT_FOUND)
    # Dapr adds the app's HTTP status and body as a google.rpc.ErrorInfo.
    infos = error_infos(error)
    expect_equal("one ErrorInfo in the status details", len(infos), 1)
    expect_equal("ErrorInfo http.code", infos[0].metadata.get("http.code"), "404")
    expect_equal(
        "ErrorInfo http.error_message", infos[0].metadata.get("http.error_message"), "app says 404"
    )


def server_error() -> None:
    def call() -> object:
        return client.invoke_method(target, "status/503", data="", http_verb="POST")

    if protocol == "http":
        failure = expect_failure("an app answering 503", call)
        if not isinstance(failure, DaprHttpError):
            raise AssertionError(f"expected a DaprHttpError, got {failure!r}") from failure
        expect_equal("HTTP status", failure.status_code, 503)
    else:
        expect_grpc_code("an app answering 503", call, grpc.StatusCode.UNAVAILABLE)


steps = Steps()
with DaprClient() as client:
    steps.step("POST with a query: what the app saw", post)
    steps.step("GET, PUT, PATCH, DELETE", other_verbs)
    steps.step("the app's response header", answer_header)
    steps.step("the app answers 404", not_found)
    steps.step("the app answers 503", server_error)
    steps.step("an app id nobody serves", unknown_app)
    if protocol == "http":
        steps.step("the dapr-app-id header form", header_form)
steps.finish()
