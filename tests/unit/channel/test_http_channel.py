"""The HTTP app channel against a real app on mecha.http1's server, over Mecha's HTTP client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mecha.blocks.invocation.errors import AppTimeout, AppUnreachable, InvocationError
from mecha.blocks.invocation.models import InvokeRequest
from mecha.channel.http import HttpAppChannel, passed_back, request_target
from mecha.channel.protocols import invoke
from mecha.http1 import HttpClient

from .apps import HttpApp
from .conftest import TRACEPARENT, call_context, texts


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    client = HttpClient()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def channel(http_app: HttpApp, client: HttpClient) -> HttpAppChannel:
    return HttpAppChannel(client, "127.0.0.1", http_app.port, app_api_token="app-secret")


async def test_request_reaches_the_app(http_app: HttpApp, channel: HttpAppChannel) -> None:
    request = InvokeRequest(
        method="orders/42",
        verb="PUT",
        query="a=1&b=two%20words",
        body=b'{"id":42}',
        content_type="application/json",
    )
    reply = await invoke(channel, request, call_context())
    [seen] = http_app.state.seen
    assert (seen.method, seen.verb, seen.query) == ("orders/42", "PUT", "a=1&b=two%20words")
    assert (seen.body, seen.content_type) == (b'{"id":42}', "application/json")
    assert reply.status == 200
    assert reply.body == b'{"id":42}'
    assert reply.content_type == "application/json"


@pytest.mark.parametrize("verb", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
async def test_verbs(http_app: HttpApp, channel: HttpAppChannel, verb: str) -> None:
    reply = await invoke(channel, InvokeRequest(method="m", verb=verb, body=b"x"), call_context())
    assert http_app.state.seen[0].verb == verb
    assert reply.status == 200
    assert reply.body == (b"" if verb == "HEAD" else b"x")


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("orders", "/orders"),
        ("", "/"),
        ("a b/caf\u00e9", "/a%20b/caf%C3%A9"),
        ("100%/x", "/100%25/x"),
        ("a/./b/../c", "/a/c"),
        ("../../etc/passwd", "/etc/passwd"),
        ("//twice//", "/twice"),
        ("keep:@!$&'()*+,;=-._~", "/keep:@!$&'()*+,;=-._~"),
        ("no?query#here", "/no%3Fquery%23here"),
        ("line\n", "/line%0A"),
        ("v1.0/.well-known/x..y", "/v1.0/.well-known/x..y"),
    ],
)
def test_request_target_encodes_the_method_path(method: str, target: str) -> None:
    assert request_target(method, "") == target
    assert request_target(method, "q=1") == target + "?q=1"


async def test_an_encoded_method_arrives_encoded(
    http_app: HttpApp, channel: HttpAppChannel
) -> None:
    await invoke(channel, InvokeRequest(method="a b/caf\u00e9"), call_context())
    assert http_app.state.seen[0].method == "a%20b/caf%C3%A9"


async def test_headers_passed_on_and_replaced(http_app: HttpApp, channel: HttpAppChannel) -> None:
    request = InvokeRequest(
        method="m",
        body=b"{}",
        content_type="application/json",
        headers=[
            ("x-custom", "one"),
            ("x-multi", "a"),
            ("x-multi", "b"),
            ("accept", "text/plain"),
            ("content-type", "text/html"),
            ("host", "caller.example"),
            ("connection", "x-hop"),
            ("x-hop", "dropped"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic eA=="),
            ("dapr-api-token", "callers-token"),
            ("dapr-caller-app-id", "spoofed"),
            ("traceparent", "00-11111111111111111111111111111111-2222222222222222-01"),
            ("x-data-bin", "AAE="),
            ("grpc-accept-encoding", "gzip"),
        ],
    )
    await invoke(channel, request, call_context(tracestate="vendor=1"))
    seen = http_app.state.seen[0]
    assert ("x-custom", "one") in seen.headers
    assert [value for key, value in seen.headers if key == "x-multi"] == ["a", "b"]
    assert seen.header("accept") == "text/plain"
    assert seen.header("content-type") == "application/json"
    assert seen.header("host") == f"127.0.0.1:{http_app.port}"
    assert seen.header("dapr-api-token") == "app-secret"
    assert seen.header("dapr-caller-app-id") == "caller"
    assert seen.header("dapr-callee-app-id") == "callee"
    assert seen.header("traceparent") == TRACEPARENT
    assert seen.header("tracestate") == "vendor=1"
    assert seen.header("dapr-grpc-accept-encoding") == "gzip"
    dropped = {"x-hop", "keep-alive", "te", "upgrade", "proxy-authorization", "x-data-bin"}
    assert not seen.header_names() & dropped
    for name in ("content-type", "dapr-api-token", "traceparent", "host"):
        assert len([key for key, _ in seen.headers if key == name]) == 1, name


async def test_no_token_when_the_app_has_none(http_app: HttpApp, client: HttpClient) -> None:
    channel = HttpAppChannel(client, "127.0.0.1", http_app.port)
    request = InvokeRequest(method="m", headers=[("dapr-api-token", "callers-token")])
    await invoke(channel, request, call_context())
    names = http_app.state.seen[0].header_names()
    assert "dapr-api-token" not in names
    assert "tracestate" not in names
    assert "content-type" not in names


@pytest.mark.parametrize("status", [201, 204, 301, 400, 404, 409, 500, 503])
async def test_app_status_is_passed_back(channel: HttpAppChannel, status: int) -> None:
    body = b"" if status == 204 else b"answer"
    request = InvokeRequest(method="m", query=f"status={status}", body=body, content_type="x/y")
    reply = await invoke(channel, request, call_context())
    assert reply.status == status
    assert reply.body == body
    assert reply.content_type == "x/y"


async def test_response_headers_come_back_without_hop_by_hop(channel: HttpAppChannel) -> None:
    reply = await invoke(
        channel, InvokeRequest(method="m", body=b"1", content_type="a/b"), call_context()
    )
    assert ("x-app", "http") in texts(reply.headers)
    assert [value for key, value in texts(reply.headers) if key == "x-multi"] == ["1", "2"]
    names = {key for key, _ in texts(reply.headers)}
    assert not names & {"content-length", "connection", "keep-alive", "transfer-encoding"}
    # Content type travels in its own field.
    assert "content-type" not in names
    assert reply.content_type == "a/b"


def test_headers_the_apps_connection_header_names_are_not_passed_back() -> None:
    for connection in ("Keep-Alive, X-Hop", "x-hop", "close,x-hop"):
        kept, _ = passed_back([("connection", connection), ("x-hop", "1"), ("x-app", "2")])
        assert kept == [("x-app", "2")], connection
    kept, _ = passed_back([("connection", "Keep-Alive"), ("keep-alive", "timeout=5"), ("x", "1")])
    assert kept == [("x", "1")]
    # Values as the parser hands them over (bytes): a plain keep-alive names nothing, a second
    # Connection header still can.
    kept, _ = passed_back([("connection", b"keep-alive"), ("x-app", b"2")])
    assert kept == [("x-app", b"2")]
    headers = [("connection", b"keep-alive"), ("connection", b"X-Hop"), ("x-hop", b"1")]
    kept, _ = passed_back([*headers, ("x-app", b"2")])
    assert kept == [("x-app", b"2")]


def test_the_apps_server_and_date_stay_on_its_hop() -> None:
    # The runtime answering the caller states its own; passing the app's on would repeat them.
    app_headers = [("server", b"nginx"), ("date", b"Mon, 07 Dec 2026 23:25:12 GMT"), ("x", b"1")]
    kept, _ = passed_back(app_headers)
    assert kept == [("x", b"1")]


async def test_binary_and_4_mib_bodies_round_trip(channel: HttpAppChannel) -> None:
    every_byte = bytes(range(256))
    big = every_byte * (4 * 1024 * 1024 // 256)
    for body in (every_byte, big):
        request = InvokeRequest(method="m", body=body, content_type="application/octet-stream")
        reply = await invoke(channel, request, call_context())
        assert reply.body == body


async def test_app_down_is_unreachable(client: HttpClient, closed_port: int) -> None:
    channel = HttpAppChannel(client, "127.0.0.1", closed_port)
    with pytest.raises(AppUnreachable):
        await invoke(channel, InvokeRequest(method="m"), call_context())
    assert not await channel.probe(0.5)


async def test_slow_app_times_out(channel: HttpAppChannel) -> None:
    with pytest.raises(AppTimeout):
        await invoke(channel, InvokeRequest(method="slow"), call_context(timeout=0.2))


async def test_answer_cut_short_is_not_taken_for_unreachable(client: HttpClient) -> None:
    async def answer_half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_half, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        channel = HttpAppChannel(client, "127.0.0.1", port)
        with pytest.raises(InvocationError) as caught:
            await invoke(channel, InvokeRequest(method="m"), call_context())
        assert not isinstance(caught.value, AppUnreachable | AppTimeout)
    finally:
        server.close()
        await server.wait_closed()


async def test_a_header_http_cannot_carry_is_an_invocation_error(channel: HttpAppChannel) -> None:
    request = InvokeRequest(method="m", headers=[("x-bad", "a\r\nx-injected: 1")])
    with pytest.raises(InvocationError):
        await invoke(channel, request, call_context())


async def test_health_probe(http_app: HttpApp, client: HttpClient) -> None:
    channel = HttpAppChannel(client, "127.0.0.1", http_app.port, health_check_path="healthz")
    assert await channel.probe(5.0)
    http_app.state.healthy = False
    assert not await channel.probe(5.0)
    assert http_app.state.health_probes == 2
    elsewhere = HttpAppChannel(client, "127.0.0.1", http_app.port, health_check_path="/other")
    # The test app records any other path as a call and answers 200.
    assert await elsewhere.probe(5.0)
    assert http_app.state.seen[-1].method == "other"
