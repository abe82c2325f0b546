"""A gRPC app built with the Python SDK's `dapr.ext.grpc.App`, for mecha to launch.

Service invocation reaches its `@app.method` handlers through `AppCallback/OnInvoke`:

- `echo` answers JSON saying what the handler saw (body, content type, metadata) and sets a
  response header, so a scenario can check both directions;
- `proto` takes a packed `StringValue` (or plain text) and answers a `StringValue`, so
  protobuf payloads (`Any` with a type URL) can be checked end to end;
- `fail` raises, which the SDK's server turns into gRPC status UNKNOWN;
- `wrong-type` returns a value the SDK cannot send, which it answers with OUT_OF_RANGE.

Any other method answers UNIMPLEMENTED, as the SDK does for methods it does not know.

The app also serves a service of its own beside the SDK's (`acceptance.Greeter`, plain bytes
in and out, added with `App.add_external_service`), which callers reach through gRPC proxying:
`Hello` answers JSON with a greeting and the dapr-* metadata it saw, and sets trailing
metadata; `Chat` numbers and upper-cases a stream; `Refuse` fails with FAILED_PRECONDITION.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from types import FrameType

import grpc
from dapr.clients.grpc._request import InvokeMethodRequest
from dapr.clients.grpc._response import InvokeMethodResponse
from dapr.ext.grpc import App
from google.protobuf.wrappers_pb2 import StringValue

# The SDK's `App.method` and `App.add_external_service` carry no annotations, hence the
# `type: ignore`s where they are used.
GREETER = "acceptance.Greeter"
# What `Greeter/Hello` reports of its call's metadata.
PROXY_METADATA = ("dapr-app-id", "dapr-caller-app-id", "dapr-callee-app-id", "dapr-api-token")
# Metadata every gRPC call carries that says nothing about the invocation.
TRANSPORT_METADATA = frozenset({"user-agent", "grpc-accept-encoding", "accept-encoding"})

app = App()


def seen_metadata(request: InvokeMethodRequest) -> dict[str, str]:
    """The call's metadata as text; binary (`-bin`) values are shown as their length."""
    seen: dict[str, str] = {}
    for key, values in request.metadata.items():
        value = values[-1]
        if key not in TRANSPORT_METADATA:
            seen[key] = value if isinstance(value, str) else f"<{len(value)} bytes>"
    return seen


@app.method("echo")  # type: ignore[untyped-decorator]
def echo(request: InvokeMethodRequest) -> InvokeMethodResponse:
    seen = {
        "body": request.text(),
        "content_type": request.content_type,
        "metadata": seen_metadata(request),
    }
    response = InvokeMethodResponse(json.dumps(seen).encode(), "application/json")
    response.headers = (("x-app-answer", "grpc-app"),)
    return response


@app.method("proto")  # type: ignore[untyped-decorator]
def proto(request: InvokeMethodRequest) -> StringValue:
    # A gRPC caller can send a packed message; over Dapr's HTTP API a body has no type URL.
    question = StringValue()
    if request.is_proto():
        request.unpack(question)
    else:
        question.value = request.text()
    return StringValue(value=f"proto says: {question.value}")


@app.method("fail")  # type: ignore[untyped-decorator]
def fail(request: InvokeMethodRequest) -> bytes:
    raise RuntimeError(f"the app refuses {request.text()!r}")


@app.method("wrong-type")  # type: ignore[untyped-decorator]
def wrong_type(request: InvokeMethodRequest) -> int:
    return 42


def hello(request: bytes, context: grpc.ServicerContext) -> bytes:
    metadata = dict(context.invocation_metadata())
    context.set_trailing_metadata((("x-greeter", "done"),))
    seen = {key: metadata.get(key) for key in PROXY_METADATA}
    return json.dumps({"greeting": f"hello {request.decode()}", "metadata": seen}).encode()


def chat(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    for number, request in enumerate(requests, start=1):
        yield f"{number}:".encode() + request.upper()


def refuse(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"not now: {request.decode()}")


def add_greeter(handlers: grpc.GenericRpcHandler[bytes, bytes], server: grpc.Server) -> None:
    server.add_generic_rpc_handlers((handlers,))


GREETER_HANDLERS = grpc.method_handlers_generic_handler(
    GREETER,
    {
        # No serializers: requests and replies are the raw message bytes.
        "Hello": grpc.unary_unary_rpc_method_handler(hello),
        "Chat": grpc.stream_stream_rpc_method_handler(chat),
        "Refuse": grpc.unary_unary_rpc_method_handler(refuse),
    },
)


def main() -> None:
    app.add_external_service(add_greeter, GREETER_HANDLERS)  # type: ignore[no-untyped-call]

    def stop(signum: int, frame: FrameType | None) -> None:
        app.stop()

    signal.signal(signal.SIGTERM, stop)
    print(f"invoke_grpc_app: serving on {os.environ['APP_PORT']}", flush=True)
    app.run(int(os.environ["APP_PORT"]), listen_address="127.0.0.1")


if __name__ == "__main__":
    main()
