"""The https and grpcs app channels against real TLS apps with a self-signed certificate."""

from __future__ import annotations

import asyncio
import functools
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs

import grpc
import pytest
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import appcallback_pb2
from google.protobuf import any_pb2, empty_pb2

from mecha.blocks.invocation.errors import AppUnreachable
from mecha.blocks.invocation.models import InvokeRequest
from mecha.channel.factory import AppChannelSettings, BuiltChannel, build_app_channel
from mecha.channel.protocols import invoke
from mecha.http1 import Request, Response
from mecha.http1.connection import HttpConnection
from mecha.http1.context import ServerContext
from mecha.http1.message import Limits

from .conftest import call_context, texts

MiB = 1 << 20


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    command += " -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


async def _echo(seen: list[Request], request: Request) -> Response:
    seen.append(request)
    if request.path == "/healthz":
        return Response(200)
    status = int(parse_qs(request.query).get("status", ["200"])[0])
    content_type = request.headers.get("content-type")
    return Response(status, request.body, [("x-app", "https")], content_type=content_type)


@pytest.fixture
async def https_app(certificate: tuple[Path, Path]) -> AsyncIterator[tuple[int, list[Request]]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    seen: list[Request] = []
    server_context = ServerContext(
        functools.partial(_echo, seen),
        Limits(max_body_bytes=16 * MiB),
        lambda status, message: Response(status, message.encode()),
        "app",
        True,
    )
    loop = asyncio.get_running_loop()
    # A compiled HttpConnection is an asyncio protocol only by its methods.
    factory = cast(
        Callable[[], asyncio.BaseProtocol], functools.partial(HttpConnection, server_context)
    )
    server = await loop.create_server(factory, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()
        for connection in list(server_context.connections):
            connection.abort()
        await server.wait_closed()


@pytest.fixture
async def https_channel(https_app: tuple[int, list[Request]]) -> AsyncIterator[BuiltChannel]:
    built = build_app_channel(
        AppChannelSettings(port=https_app[0], protocol="https", app_api_token="app-secret")
    )
    try:
        yield built
    finally:
        await built.channel.close()


@pytest.mark.parametrize("verb", ["GET", "POST", "PUT", "DELETE", "PATCH"])
async def test_https_verbs_headers_and_bodies(
    https_app: tuple[int, list[Request]], https_channel: BuiltChannel, verb: str
) -> None:
    request = InvokeRequest(
        method="orders/1",
        verb=verb,
        body=b"payload",
        content_type="text/plain",
        headers=[("x-custom", "yes")],
    )
    reply = await invoke(https_channel.channel, request, call_context())
    [seen] = https_app[1]
    assert (seen.method, seen.path, seen.body) == (verb, "/orders/1", b"payload")
    assert seen.headers.get("x-custom") == "yes"
    assert seen.headers.get("dapr-api-token") == "app-secret"
    assert seen.headers.get("dapr-caller-app-id") == "caller"
    assert (reply.status, reply.body, reply.content_type) == (200, b"payload", "text/plain")
    assert ("x-app", "https") in texts(reply.headers)


async def test_https_large_bodies_and_non_2xx(https_channel: BuiltChannel) -> None:
    body = b"x" * (4 * MiB)
    big = await invoke(
        https_channel.channel, InvokeRequest(method="m", verb="POST", body=body), call_context()
    )
    assert big.body == body
    failed = await invoke(
        https_channel.channel,
        InvokeRequest(method="m", verb="POST", query="status=503", body=b"down"),
        call_context(),
    )
    assert (failed.status, failed.body) == (503, b"down")
    assert await https_channel.channel.probe(1.0)


async def test_https_app_down_is_unreachable(closed_port: int) -> None:
    built = build_app_channel(AppChannelSettings(port=closed_port, protocol="https"))
    with pytest.raises(AppUnreachable):
        await invoke(built.channel, InvokeRequest(method="m"), call_context())
    await built.channel.close()


async def _on_invoke(
    request: common_pb2.InvokeRequest,
    context: grpc.aio.ServicerContext[common_pb2.InvokeRequest, common_pb2.InvokeResponse],
) -> common_pb2.InvokeResponse:
    params = parse_qs(request.http_extension.querystring)
    if "code" in params:
        await context.abort(grpc.StatusCode[params["code"][0]], "app says no")
    verb = common_pb2.HTTPExtension.Verb.Name(request.http_extension.verb)
    token = dict(context.invocation_metadata() or ()).get("dapr-api-token", "")
    await context.send_initial_metadata((("x-verb", verb), ("x-token", str(token))))
    return common_pb2.InvokeResponse(
        data=any_pb2.Any(value=request.data.value), content_type=request.content_type
    )


async def _health(
    request: empty_pb2.Empty,
    context: grpc.aio.ServicerContext[empty_pb2.Empty, appcallback_pb2.HealthCheckResponse],
) -> appcallback_pb2.HealthCheckResponse:
    return appcallback_pb2.HealthCheckResponse()


@pytest.fixture
async def grpcs_port(certificate: tuple[Path, Path]) -> AsyncIterator[int]:
    cert, key = certificate
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 16 * MiB)])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "dapr.proto.runtime.v1.AppCallback",
                {
                    "OnInvoke": grpc.unary_unary_rpc_method_handler(
                        _on_invoke,
                        request_deserializer=common_pb2.InvokeRequest.FromString,
                        response_serializer=common_pb2.InvokeResponse.SerializeToString,
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                "dapr.proto.runtime.v1.AppCallbackHealthCheck",
                {
                    "HealthCheck": grpc.unary_unary_rpc_method_handler(
                        _health,
                        request_deserializer=empty_pb2.Empty.FromString,
                        response_serializer=appcallback_pb2.HealthCheckResponse.SerializeToString,
                    )
                },
            ),
        ]
    )
    credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


async def test_grpcs_calls_with_the_app_certificate_trusted(
    grpcs_port: int, certificate: tuple[Path, Path]
) -> None:
    settings = AppChannelSettings(
        port=grpcs_port, protocol="grpcs", app_api_token="tok", tls_ca_file=str(certificate[0])
    )
    built = build_app_channel(settings)
    try:
        body = b"y" * (4 * MiB)
        reply = await invoke(
            built.channel,
            InvokeRequest(method="m", verb="PUT", body=body, content_type="a/b"),
            call_context(),
        )
        assert (reply.status, reply.body, reply.content_type) == (200, body, "a/b")
        assert ("x-verb", "PUT") in texts(reply.headers)
        assert ("x-token", "tok") in texts(reply.headers)
        failed = await invoke(
            built.channel, InvokeRequest(method="m", query="code=NOT_FOUND"), call_context()
        )
        assert failed.status == 404
        assert await built.channel.probe(2.0)
    finally:
        await built.channel.close()


async def test_grpcs_with_an_untrusted_certificate_is_unreachable(grpcs_port: int) -> None:
    built = build_app_channel(AppChannelSettings(port=grpcs_port, protocol="grpcs"))
    try:
        with pytest.raises(AppUnreachable):
            await invoke(built.channel, InvokeRequest(method="m"), call_context())
    finally:
        await built.channel.close()


async def test_grpcs_app_down_is_unreachable(
    closed_port: int, certificate: tuple[Path, Path]
) -> None:
    settings = AppChannelSettings(
        port=closed_port, protocol="grpcs", tls_ca_file=str(certificate[0])
    )
    built = build_app_channel(settings)
    try:
        with pytest.raises(AppUnreachable):
            await invoke(built.channel, InvokeRequest(method="m"), call_context())
    finally:
        await built.channel.close()
