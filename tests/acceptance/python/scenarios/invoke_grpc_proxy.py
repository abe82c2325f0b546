# gRPC proxying: a plain grpc channel to the caller runtime's gRPC port, with `dapr-app-id`
# metadata, reaches a service the Python SDK's gRPC app (`dapr.ext.grpc.App`) serves beside its
# own (`acceptance.Greeter`, added with `App.add_external_service`) behind a second runtime.
# Checks a unary call (the reply, the dapr-* metadata and app token the app saw, the app's
# trailing metadata), a bidirectional stream, the app's own error status, and an app id that no
# runtime serves.
#
# @peer invoke-proxy-target
# @peer-app {python} {dir}/../apps/invoke_grpc_app.py
# @peer-flags --app-protocol grpc
# @peer-env APP_API_TOKEN=app-secret
from __future__ import annotations

import json

import grpc
from tests.acceptance.python.support import (
    Steps,
    app_id,
    expect,
    expect_equal,
    expect_grpc_code,
    grpc_port,
    peer_app_id,
)

target = peer_app_id()
TO_TARGET = (("dapr-app-id", target),)


def identity(data: bytes) -> bytes:
    return data


def unary(channel: grpc.Channel, method: str) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(
        f"/acceptance.Greeter/{method}",
        request_serializer=identity,
        response_deserializer=identity,
    )


def hello() -> None:
    answer = json.loads(unary(channel, "Hello")(b"world", metadata=TO_TARGET, timeout=10))
    print(f"the app answered {answer}")
    expect_equal("unary reply", answer["greeting"], "hello world")
    # The caller's and callee's ids and the app token are added; dapr-app-id is not passed on.
    expect_equal(
        "dapr-* metadata the app saw",
        answer["metadata"],
        {
            "dapr-app-id": None,
            "dapr-caller-app-id": app_id(),
            "dapr-callee-app-id": target,
            "dapr-api-token": "app-secret",
        },
    )


def trailers() -> None:
    _, call = unary(channel, "Hello").with_call(b"again", metadata=TO_TARGET, timeout=10)
    trailing = dict(call.trailing_metadata() or ())
    expect_equal("the app's trailing metadata", trailing.get("x-greeter"), "done")


def chat() -> None:
    stream = channel.stream_stream(
        "/acceptance.Greeter/Chat", request_serializer=identity, response_deserializer=identity
    )
    replies = list(stream(iter([b"one", b"two", b"three"]), metadata=TO_TARGET, timeout=10))
    expect_equal("stream replies", replies, [b"1:ONE", b"2:TWO", b"3:THREE"])


def refused() -> None:
    error = expect_grpc_code(
        "the app's own error status",
        lambda: unary(channel, "Refuse")(b"tuesday", metadata=TO_TARGET, timeout=10),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    expect_equal("the app's error message", error.details(), "not now: tuesday")


def unknown_target() -> None:
    # Which status says so is not fixed by Dapr (it depends on the name resolver's error).
    error = expect_grpc_code(
        "proxying to an app id nobody serves",
        lambda: unary(channel, "Hello")(b"x", metadata=(("dapr-app-id", "nobody"),), timeout=10),
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    )
    expect("the message names the app id", "nobody" in (error.details() or ""), error.details())


steps = Steps()
with grpc.insecure_channel(f"127.0.0.1:{grpc_port()}") as channel:
    steps.step("unary call", hello)
    steps.step("the app's trailing metadata", trailers)
    steps.step("bidirectional stream", chat)
    steps.step("the app's error status", refused)
    steps.step("an unknown app id", unknown_target)
steps.finish()
