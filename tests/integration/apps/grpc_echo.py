"""A gRPC app for invocation tests: AppCallback.OnInvoke echoes, plus a raw streaming service
(`/test.Echo/Chat`, bytes in and out) that gRPC proxying must carry.

OnInvoke answers the request data with metadata it saw in `x-echo-*` response metadata; method
`status/<http status>` fails with the matching gRPC code; `slow/<seconds>` waits first.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import grpc
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import appcallback_pb2, appcallback_pb2_grpc
from google.protobuf import any_pb2, empty_pb2


class Callback(appcallback_pb2_grpc.AppCallbackServicer):
    async def OnInvoke(  # noqa: N802
        self, request: common_pb2.InvokeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> common_pb2.InvokeResponse:
        if request.method.startswith("status/"):
            await context.abort(_code(int(request.method.split("/")[1])), "app says no")
        if request.method.startswith("slow/"):
            await asyncio.sleep(float(request.method.split("/")[1]))
        seen = {
            "method": request.method,
            "verb": common_pb2.HTTPExtension.Verb.Name(request.http_extension.verb),
            "query": request.http_extension.querystring,
            "metadata": {
                k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)
            },
        }
        await context.send_initial_metadata((("x-echo-seen", json.dumps(seen)),))
        return common_pb2.InvokeResponse(
            data=any_pb2.Any(type_url=request.data.type_url, value=request.data.value),
            content_type=request.content_type,
        )

    async def ListTopicSubscriptions(  # noqa: N802
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext[Any, Any]
    ) -> appcallback_pb2.ListTopicSubscriptionsResponse:
        return appcallback_pb2.ListTopicSubscriptionsResponse()

    async def ListInputBindings(  # noqa: N802
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext[Any, Any]
    ) -> appcallback_pb2.ListInputBindingsResponse:
        return appcallback_pb2.ListInputBindingsResponse()


# `status/<http status>` fails with the gRPC code that maps to that status.
_CODES = {
    404: grpc.StatusCode.NOT_FOUND,
    403: grpc.StatusCode.PERMISSION_DENIED,
    500: grpc.StatusCode.INTERNAL,
}


def _code(http_status: int) -> grpc.StatusCode:
    return _CODES[http_status]


async def chat(
    requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[bytes]:
    async for message in requests:
        yield b"echo:" + message


async def main() -> None:
    server = grpc.aio.server()
    appcallback_pb2_grpc.add_AppCallbackServicer_to_server(Callback(), server)  # type: ignore[no-untyped-call]
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "test.Echo", {"Chat": grpc.stream_stream_rpc_method_handler(chat)}
            ),
        )
    )
    server.add_insecure_port(f"127.0.0.1:{os.environ['APP_PORT']}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
