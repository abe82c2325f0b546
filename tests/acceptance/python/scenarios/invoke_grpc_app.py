# Python SDK `DaprClient().invoke_method` through two runtimes to an app built with the SDK's
# gRPC extension (`dapr.ext.grpc.App`, `--app-protocol grpc`): once with the SDK's HTTP
# invocation client (DAPR_API_METHOD_INVOCATION_PROTOCOL=http, /v1.0/invoke/...), once with its
# gRPC one (grpc, InvokeService). Checks what the handler saw (body, content type, the caller's
# metadata, the runtimes' dapr-* metadata, the app token), the header it answered with,
# protobuf payloads, and that the app's gRPC errors reach the caller as Dapr maps them.
#
# @protocols http grpc
# @env DAPR_API_METHOD_INVOCATION_PROTOCOL={protocol}
# @peer invoke-grpc-target
# @peer-app {python} {dir}/../apps/invoke_grpc_app.py
# @peer-flags --app-protocol grpc
# @peer-env APP_API_TOKEN=app-secret
import json
import warnings
from typing import Any

import grpc
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprHttpError
from google.protobuf.wrappers_pb2 import StringValue
from tests.acceptance.python.support import (
    Steps,
    app_id,
    env,
    expect,
    expect_equal,
    expect_failure,
    expect_grpc_code,
    header,
    peer_app_id,
)

protocol = env("ACCEPTANCE_PROTOCOL")
target = peer_app_id()
# In gRPC mode the SDK warns that InvokeService and its `metadata` argument are deprecated.
warnings.simplefilter("ignore", DeprecationWarning)


def expect_http_status(what: str, error: Exception, status: int) -> DaprHttpError:
    if not isinstance(error, DaprHttpError):
        raise AssertionError(f"{what}: expected a DaprHttpError, got {error!r}") from error
    expect_equal(f"{what}: HTTP status", error.status_code, status)
    return error


def echo() -> None:
    reply = client.invoke_method(
        target,
        "echo",
        data='{"order": 42}',
        content_type="application/json",
        http_verb="POST",
        metadata=(("x-acceptance", f"python-{protocol}"),),
    )
    seen: dict[str, Any] = reply.json()
    print(f"the app saw: {seen}")
    expect_equal("body the app saw", seen["body"], '{"order": 42}')
    expect_equal("content type the app saw", seen["content_type"], "application/json")
    metadata = seen["metadata"]
    expect_equal(
        "caller metadata reaches the app", metadata.get("x-acceptance"), f"python-{protocol}"
    )
    expect_equal("dapr-caller-app-id", metadata.get("dapr-caller-app-id"), app_id())
    expect_equal("dapr-callee-app-id", metadata.get("dapr-callee-app-id"), target)
    expect_equal("the app's token reaches the app", metadata.get("dapr-api-token"), "app-secret")
    expect("a trace context reaches the app", "traceparent" in metadata, metadata)
    expect_equal("content type of the answer", reply.content_type, "application/json")
    if protocol == "http":
        expect_equal("HTTP status", reply.status_code, 200)


def answer_header() -> None:
    # The app's response metadata: HTTP response headers, or the gRPC call's initial metadata.
    reply = client.invoke_method(target, "echo", data="{}", http_verb="POST")
    expect_equal("the app's response header", header(reply.headers, "x-app-answer"), ["grpc-app"])


def proto_answer() -> None:
    # Over gRPC the caller gets the packed `Any`; over HTTP the body is the message's bytes,
    # which the SDK parses when the content type says application/x-protobuf.
    question: StringValue | str = StringValue(value="ping") if protocol == "grpc" else "ping"
    reply = client.invoke_method(target, "proto", data=question, http_verb="POST")
    if protocol == "http":
        expect_equal(
            "content type of a protobuf answer", reply.content_type, "application/x-protobuf"
        )
    answer = StringValue()
    reply.unpack(answer)
    expect_equal("protobuf answer", answer.value, "proto says: ping")


def app_raises() -> None:
    # The SDK's server answers UNKNOWN with the exception's text.
    def call() -> object:
        return client.invoke_method(target, "fail", data="order 7", http_verb="POST")

    if protocol == "grpc":
        error = expect_grpc_code("a handler that raises", call, grpc.StatusCode.UNKNOWN)
        expect(
            "the status carries the app's message",
            "the app refuses 'order 7'" in (error.details() or ""),
            error.details(),
        )
        return
    failure = expect_http_status(
        "a handler that raises", expect_failure("a handler that raises", call), 500
    )
    # Dapr's HTTP API answers a gRPC app's error with the status as JSON.
    raw = failure.as_dict()["raw_response_bytes"]  # type: ignore[no-untyped-call]
    body = json.loads(raw or b"{}")
    print(f"the error body: {body}")
    expect_equal("the error body carries the gRPC code", body.get("code"), 2)
    expect(
        "the error body carries the app's message",
        "the app refuses 'order 7'" in body.get("message", ""),
        body,
    )


def app_status_code() -> None:
    # The SDK's server answers OUT_OF_RANGE when a handler returns a type it cannot send. Dapr
    # hands a gRPC caller the app's own status; an HTTP caller gets it mapped to 400.
    def call() -> object:
        return client.invoke_method(target, "wrong-type", data="", http_verb="POST")

    if protocol == "grpc":
        error = expect_grpc_code("a handler of the wrong type", call, grpc.StatusCode.OUT_OF_RANGE)
        expect(
            "the status carries the app's message",
            "is the invalid return type" in (error.details() or ""),
            error.details(),
        )
    else:
        failure = expect_failure("a handler of the wrong type", call)
        expect_http_status("a handler of the wrong type", failure, 400)


def unknown_method() -> None:
    def call() -> object:
        return client.invoke_method(target, "nope", data="", http_verb="POST")

    if protocol == "grpc":
        expect_grpc_code("a method the app does not have", call, grpc.StatusCode.UNIMPLEMENTED)
    else:
        failure = expect_failure("a method the app does not have", call)
        expect_http_status("a method the app does not have", failure, 501)


steps = Steps()
with DaprClient() as client:
    steps.step("echo: what the app saw", echo)
    steps.step("the app's response header", answer_header)
    steps.step("protobuf answer", proto_answer)
    steps.step("a handler that raises", app_raises)
    steps.step("the app's own status code", app_status_code)
    steps.step("a method the app does not have", unknown_method)
steps.finish()
