"""Test apps behind the channels: an HTTP app (on mecha.http1's server) and a gRPC app
(grpc.aio, serving AppCallback/OnInvoke and AppCallbackHealthCheck/HealthCheck).

Both behave alike, by the method called:
- `held/<n>`: counted as in flight until the test releases call n (`InFlight`);
- `slow`: never answers;
- anything else: echoes the body and content type back; the HTTP app answers the status
  named by a `status=` query parameter, the gRPC app fails with `code=`/`message=`.
Every request the app sees is recorded as a `Seen`.

Run as a program (`python -m channel.apps http|grpc [port]`, from tests/unit), an app prints
its port, then `entered <n>` for each held call.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import grpc
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import appcallback_pb2
from google.protobuf import any_pb2, empty_pb2
from google.rpc import error_details_pb2, status_pb2

from mecha.http1 import HttpServer, Limits, Request, Response


@dataclass
class Seen:
    """One request as the app received it."""

    method: str
    verb: str
    query: str
    headers: list[tuple[str, str | bytes]]
    body: bytes
    content_type: str
    type_url: str = ""

    def header(self, name: str) -> str | bytes | None:
        return next((value for key, value in self.headers if key == name), None)

    def header_names(self) -> set[str]:
        return {key for key, _ in self.headers}


@dataclass
class InFlight:
    """Calls to `held/<n>` the app holds: which came in, in what order, and the most at once."""

    entered: list[int] = field(default_factory=list)
    # Told the number of each call as it comes in.
    on_enter: Callable[[int], None] | None = None
    now: int = 0
    most: int = 0
    _releases: dict[int, asyncio.Event] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def hold(self, number: int) -> None:
        release = self._releases.setdefault(number, asyncio.Event())
        async with self._changed:
            self.entered.append(number)
            self.now += 1
            self.most = max(self.most, self.now)
            self._changed.notify_all()
        if self.on_enter is not None:
            self.on_enter(number)
        try:
            await release.wait()
        finally:
            self.now -= 1

    def release(self, number: int) -> None:
        self._releases.setdefault(number, asyncio.Event()).set()

    async def wait_entered(self, count: int) -> None:
        async with asyncio.timeout(10.0), self._changed:
            await self._changed.wait_for(lambda: len(self.entered) >= count)


@dataclass
class AppState:
    seen: list[Seen] = field(default_factory=list)
    in_flight: InFlight = field(default_factory=InFlight)
    healthy: bool = True
    health_probes: int = 0


async def _behave(state: AppState, method: str) -> None:
    """Holds or stalls the calls whose method asks for it."""
    if method.startswith("held/"):
        await state.in_flight.hold(int(method.removeprefix("held/")))
    elif method == "slow":
        await asyncio.Event().wait()


class HttpApp:
    """An HTTP app on mecha.http1's server; health at GET /healthz."""

    def __init__(self) -> None:
        self.state = AppState()
        limits = Limits(max_body_bytes=16 << 20)
        self._server = HttpServer(self._handle, limits=limits, on_protocol_error=_plain_error)
        self.port = 0

    async def start(self, port: int = 0) -> int:
        self.port = await self._server.listen("127.0.0.1", port)
        return self.port

    async def close(self) -> None:
        await self._server.close(grace=0.1)

    async def _handle(self, request: Request) -> Response:
        state = self.state
        if request.path == "/healthz":
            state.health_probes += 1
            return Response(200 if state.healthy else 503)
        content_type = request.headers.get("content-type") or ""
        method = request.path.removeprefix("/")
        state.seen.append(
            Seen(
                method,
                request.method,
                request.query,
                list(request.headers),
                request.body,
                content_type,
            )
        )
        await _behave(state, method)
        status = int(parse_qs(request.query).get("status", ["200"])[0])
        headers = [("x-app", "http"), ("x-multi", "1"), ("x-multi", "2")]
        return Response(status, request.body, headers, content_type=content_type or None)


def _plain_error(status: int, message: str) -> Response:
    return Response(status, message.encode(), content_type="text/plain")


class GrpcApp:
    """A gRPC app serving AppCallback/OnInvoke and AppCallbackHealthCheck/HealthCheck."""

    def __init__(self) -> None:
        self.state = AppState()
        self.port = 0
        self._server: grpc.aio.Server | None = None

    async def start(self, port: int = 0) -> int:
        options = [
            ("grpc.max_receive_message_length", 16 << 20),
            ("grpc.max_send_message_length", 16 << 20),
            ("grpc.so_reuseport", 0),
        ]
        server = grpc.aio.server(options=options)
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "dapr.proto.runtime.v1.AppCallback",
                    {
                        "OnInvoke": grpc.unary_unary_rpc_method_handler(
                            self._on_invoke,
                            request_deserializer=common_pb2.InvokeRequest.FromString,
                            response_serializer=common_pb2.InvokeResponse.SerializeToString,
                        )
                    },
                ),
                grpc.method_handlers_generic_handler(
                    "dapr.proto.runtime.v1.AppCallbackHealthCheck",
                    {
                        "HealthCheck": grpc.unary_unary_rpc_method_handler(
                            self._health_check,
                            request_deserializer=empty_pb2.Empty.FromString,
                            response_serializer=appcallback_pb2.HealthCheckResponse.SerializeToString,
                        )
                    },
                ),
            ]
        )
        self.port = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        self._server = server
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            await self._server.stop(None)
            self._server = None

    async def _on_invoke(
        self,
        request: common_pb2.InvokeRequest,
        context: grpc.aio.ServicerContext[common_pb2.InvokeRequest, common_pb2.InvokeResponse],
    ) -> common_pb2.InvokeResponse:
        verb = common_pb2.HTTPExtension.Verb.Name(request.http_extension.verb)
        query = request.http_extension.querystring
        metadata = [(key, value) for key, value in context.invocation_metadata() or ()]
        self.state.seen.append(
            Seen(
                request.method,
                verb,
                query,
                metadata,
                request.data.value,
                request.content_type,
                request.data.type_url,
            )
        )
        await _behave(self.state, request.method)
        params = parse_qs(query)
        if "code" in params:
            code = grpc.StatusCode[params["code"][0]]
            message = params.get("message", [""])[0]
            await context.abort(code, message, _status_details(code, message))
        await context.send_initial_metadata((("x-app", "grpc"), ("x-raw-bin", b"\x00\xff")))
        return common_pb2.InvokeResponse(
            data=any_pb2.Any(type_url=request.data.type_url, value=request.data.value),
            content_type=request.content_type,
        )

    async def _health_check(
        self,
        request: empty_pb2.Empty,
        context: grpc.aio.ServicerContext[empty_pb2.Empty, appcallback_pb2.HealthCheckResponse],
    ) -> appcallback_pb2.HealthCheckResponse:
        self.state.health_probes += 1
        if not self.state.healthy:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not healthy")
        return appcallback_pb2.HealthCheckResponse()


def _status_details(code: grpc.StatusCode, message: str) -> tuple[tuple[str, bytes], ...]:
    """The google.rpc.Status trailer an app sends with rich error details."""
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason="TEST_REASON", domain="test.app"))
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),)


async def _serve_forever(kind: str, port: int) -> None:
    app: HttpApp | GrpcApp = HttpApp() if kind == "http" else GrpcApp()
    app.state.in_flight.on_enter = lambda number: print(f"entered {number}", flush=True)
    print(await app.start(port), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve_forever(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
