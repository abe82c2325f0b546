"""The gRPC app channel against a real grpc.aio app on a local port."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import orjson
import pytest

from mecha.blocks.invocation.errors import AppTimeout, AppUnreachable
from mecha.blocks.invocation.models import InvokeRequest
from mecha.channel.grpc import GrpcAppChannel
from mecha.channel.health import AppHealth, HealthSettings
from mecha.channel.protocols import invoke

from .apps import GrpcApp
from .conftest import TRACEPARENT, call_context, settled


@pytest.fixture
async def channel(grpc_app: GrpcApp) -> AsyncIterator[GrpcAppChannel]:
    channel = GrpcAppChannel(f"127.0.0.1:{grpc_app.port}", app_api_token="app-secret")
    try:
        yield channel
    finally:
        await channel.close()


async def test_request_fields_reach_the_app(grpc_app: GrpcApp, channel: GrpcAppChannel) -> None:
    request = InvokeRequest(
        method="orders/42",
        verb="PUT",
        query="a=1&b=two",
        body=b'{"id":42}',
        content_type="application/json",
    )
    reply = await invoke(channel, request, call_context())
    [seen] = grpc_app.state.seen
    assert (seen.method, seen.verb, seen.query) == ("orders/42", "PUT", "a=1&b=two")
    assert (seen.body, seen.content_type, seen.type_url) == (b'{"id":42}', "application/json", "")
    assert reply.status == 200
    assert reply.body == b'{"id":42}'
    assert reply.content_type == "application/json"


@pytest.mark.parametrize("verb", ["GET", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"])
async def test_verbs(grpc_app: GrpcApp, channel: GrpcAppChannel, verb: str) -> None:
    await invoke(channel, InvokeRequest(method="m", verb=verb.lower()), call_context())
    assert grpc_app.state.seen[0].verb == verb


async def test_a_verb_the_proto_has_no_name_for_goes_as_none(
    grpc_app: GrpcApp, channel: GrpcAppChannel
) -> None:
    await invoke(channel, InvokeRequest(method="m", verb="PROPFIND"), call_context())
    assert grpc_app.state.seen[0].verb == "NONE"


async def test_packed_any_keeps_its_type_url_both_ways(
    grpc_app: GrpcApp, channel: GrpcAppChannel
) -> None:
    type_url = "type.googleapis.com/google.protobuf.StringValue"
    request = InvokeRequest(method="m", body=b"\n\x02hi", type_url=type_url)
    reply = await invoke(channel, request, call_context())
    assert grpc_app.state.seen[0].type_url == type_url
    assert reply.type_url == type_url
    assert reply.body == b"\n\x02hi"


async def test_headers_become_metadata(grpc_app: GrpcApp, channel: GrpcAppChannel) -> None:
    binary = base64.b64encode(b"\x00\x01\xfe").decode()
    request = InvokeRequest(
        method="m",
        headers=[
            ("x-custom", "one"),
            ("X-Upper", "two"),
            ("x-multi", "a"),
            ("x-multi", "b"),
            ("accept", "application/json"),
            ("content-type", "text/plain"),
            ("grpc-foo", "g"),
            ("x-data-bin", binary),
            ("dapr-api-token", "callers-token"),
            ("dapr-caller-app-id", "spoofed"),
            ("traceparent", "00-11111111111111111111111111111111-2222222222222222-01"),
            ("bad name", "x"),
            ("x-newline", "a\nb"),
            ("x-latin", "caf\u00e9"),
        ],
    )
    await invoke(channel, request, call_context(tracestate="vendor=1"))
    seen = grpc_app.state.seen[0]
    values = seen.headers
    assert ("x-custom", "one") in values
    assert ("x-upper", "two") in values
    assert [value for key, value in values if key == "x-multi"] == ["a", "b"]
    # Standard HTTP headers and gRPC's own names travel prefixed, as daprd sends them.
    assert ("dapr-accept", "application/json") in values
    assert ("dapr-content-type", "text/plain") in values
    assert ("dapr-grpc-foo", "g") in values
    assert ("x-data-bin", b"\x00\x01\xfe") in values
    assert seen.header("dapr-api-token") == "app-secret"
    assert seen.header("dapr-caller-app-id") == "caller"
    assert seen.header("dapr-callee-app-id") == "callee"
    assert seen.header("traceparent") == TRACEPARENT
    assert seen.header("tracestate") == "vendor=1"
    # Names and values gRPC cannot carry are left out, not fatal.
    assert not seen.header_names() & {"bad name", "x-newline", "x-latin"}


async def test_no_token_when_the_app_has_none(grpc_app: GrpcApp) -> None:
    channel = GrpcAppChannel(f"127.0.0.1:{grpc_app.port}")
    try:
        request = InvokeRequest(method="m", headers=[("dapr-api-token", "callers-token")])
        await invoke(channel, request, call_context(tracestate=""))
    finally:
        await channel.close()
    seen = grpc_app.state.seen[0]
    assert "dapr-api-token" not in seen.header_names()
    assert "tracestate" not in seen.header_names()


async def test_response_metadata_comes_back_as_headers(channel: GrpcAppChannel) -> None:
    reply = await invoke(channel, InvokeRequest(method="m"), call_context())
    assert ("x-app", "grpc") in reply.headers
    assert ("x-raw-bin", base64.b64encode(b"\x00\xff").decode()) in reply.headers


async def test_binary_and_4_mib_bodies_round_trip(channel: GrpcAppChannel) -> None:
    every_byte = bytes(range(256))
    big = every_byte * (4 * 1024 * 1024 // 256)
    for body in (every_byte, big):
        request = InvokeRequest(method="m", body=body, content_type="application/octet-stream")
        reply = await invoke(channel, request, call_context())
        assert reply.body == body


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("INVALID_ARGUMENT", 400),
        ("NOT_FOUND", 404),
        ("ALREADY_EXISTS", 409),
        ("PERMISSION_DENIED", 403),
        ("UNAUTHENTICATED", 401),
        ("RESOURCE_EXHAUSTED", 429),
        ("UNIMPLEMENTED", 501),
        ("INTERNAL", 500),
        ("UNAVAILABLE", 503),
        ("DEADLINE_EXCEEDED", 504),
    ],
)
async def test_app_errors_are_answers_with_daprs_http_status(
    channel: GrpcAppChannel, code: str, status: int
) -> None:
    request = InvokeRequest(method="m", query=f"code={code}&message=went+wrong")
    reply = await invoke(channel, request, call_context(timeout=None))
    assert reply.status == status
    assert reply.content_type == "application/json"
    body = orjson.loads(reply.body)
    assert body["message"] == "went wrong"
    assert body["code"] > 0
    assert body["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "TEST_REASON",
            "domain": "test.app",
        }
    ]


async def test_app_down_is_unreachable(closed_port: int) -> None:
    channel = GrpcAppChannel(f"127.0.0.1:{closed_port}")
    try:
        with pytest.raises(AppUnreachable):
            await invoke(channel, InvokeRequest(method="m"), call_context())
        assert not await channel.probe(0.5)
    finally:
        await channel.close()


async def test_app_that_went_away_is_unreachable_then_back(grpc_app: GrpcApp) -> None:
    channel = GrpcAppChannel(f"127.0.0.1:{grpc_app.port}")
    health = AppHealth(channel.probe, HealthSettings(interval=0.1, timeout=0.1, threshold=1))
    try:
        assert (await invoke(channel, InvokeRequest(method="m"), call_context())).status == 200
        await grpc_app.close()
        with pytest.raises(AppUnreachable):
            await invoke(channel, InvokeRequest(method="m"), call_context())
        await grpc_app.start(grpc_app.port)
        health.start()
        await settled(health, True)
        assert (await invoke(channel, InvokeRequest(method="m"), call_context())).status == 200
    finally:
        await health.close()
        await channel.close()


async def test_slow_app_times_out(channel: GrpcAppChannel) -> None:
    with pytest.raises(AppTimeout):
        await invoke(channel, InvokeRequest(method="slow"), call_context(timeout=0.2))


async def test_health_probe(grpc_app: GrpcApp, channel: GrpcAppChannel) -> None:
    assert await channel.probe(5.0)
    grpc_app.state.healthy = False
    assert not await channel.probe(5.0)
    assert grpc_app.state.health_probes == 2
