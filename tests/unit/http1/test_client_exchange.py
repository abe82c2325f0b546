"""The client against mecha.http1's own server: what goes out, what comes back."""

from __future__ import annotations

import asyncio
import socket

import pytest

from mecha.http1 import ClientResponse, HttpServer, Request, Response

from .rawhttp import render_error, serve
from .test_client_support import bounded, open_client


def echo(request: Request) -> Response:
    """Answers with the request's body and what it saw of the request in headers."""
    return Response(
        200,
        request.body,
        headers=[
            ("X-Method", request.method),
            ("X-Path", request.path),
            ("X-Query", request.query),
            ("X-Seen", "one"),
            ("X-Seen", "two"),
        ],
        content_type="application/octet-stream",
    )


async def test_get_round_trip() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return echo(request)

    async with serve(handler) as served, open_client() as client:
        response = await client.request(
            "127.0.0.1",
            served.port,
            "GET",
            "/v1.0/invoke/a%2Fb?x=1&y=%20",
            [("X-Trace", "t1"), ("Accept", "a"), ("x-trace", "t2")],
        )
    assert isinstance(response, ClientResponse)
    assert (response.status, response.reason) == (200, "OK")
    assert response.body == b""
    assert response.headers.get("X-Path") == "/v1.0/invoke/a%2Fb"
    assert response.headers.get("x-query") == "x=1&y=%20"
    assert response.headers.get_all("x-seen") == ["one", "two"]
    assert response.headers.get("content-length") == "0"
    (request,) = seen
    assert request.method == "GET"
    assert list(request.headers) == [
        ("host", f"127.0.0.1:{served.port}"),
        ("x-trace", "t1"),
        ("accept", "a"),
        ("x-trace", "t2"),
    ]
    assert "content-length" not in request.headers  # a GET without a body states none


async def test_body_framing_is_the_clients_own() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return echo(request)

    async with serve(handler) as served, open_client() as client:
        caller_framing = [
            ("Content-Length", "999"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "close"),
            ("Keep-Alive", "timeout=5"),
            ("Content-Type", "text/plain"),
        ]
        posted = await client.request(
            "127.0.0.1", served.port, "POST", "/p", caller_framing, b"payload"
        )
        empty_post = await client.request("127.0.0.1", served.port, "POST", "/e")
        delete_with_body = await client.request("127.0.0.1", served.port, "DELETE", "/d", body=b"x")
    assert posted.body == b"payload"
    assert empty_post.status == 200 and empty_post.body == b""
    assert delete_with_body.body == b"x"
    post, empty, delete = seen
    assert post.headers.get_all("content-length") == ["7"]
    assert "transfer-encoding" not in post.headers
    assert "connection" not in post.headers and "keep-alive" not in post.headers
    assert post.headers.get("content-type") == "text/plain"
    assert post.keep_alive
    assert empty.headers.get_all("content-length") == ["0"]
    assert delete.headers.get_all("content-length") == ["1"]


async def test_a_host_header_of_the_caller_replaces_the_default() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(204)

    async with serve(handler) as served, open_client() as client:
        await client.request("127.0.0.1", served.port, "GET", "/", [("Host", "app.internal")])
    assert seen[0].headers.get_all("host") == ["app.internal"]


async def test_head_204_and_304_have_no_body_and_keep_the_connection_usable() -> None:
    def handler(request: Request) -> Response:
        if request.path == "/204":
            return Response(204)
        if request.path == "/304":
            return Response(304)
        return Response(200, b"0123456789", content_type="text/plain")

    async with serve(handler) as served, open_client() as client:
        port = served.port
        head = await client.request("127.0.0.1", port, "HEAD", "/")
        after_head = await client.request("127.0.0.1", port, "GET", "/")
        no_content = await client.request("127.0.0.1", port, "GET", "/204")
        not_modified = await client.request("127.0.0.1", port, "GET", "/304")
        last = await client.request("127.0.0.1", port, "GET", "/")
    assert (head.status, head.body, head.headers.get("content-length")) == (200, b"", "10")
    assert after_head.body == b"0123456789"
    assert (no_content.status, no_content.body) == (204, b"")
    assert (not_modified.status, not_modified.body) == (304, b"")
    assert last.body == b"0123456789"


async def test_four_mebibyte_bodies_both_ways() -> None:
    body = bytes(range(256)) * (4 * 1024 * 1024 // 256)
    async with serve(echo) as served, open_client() as client:
        uploaded = await client.request("127.0.0.1", served.port, "PUT", "/big", body=body)
        again = await client.request("127.0.0.1", served.port, "PUT", "/big", body=body)
    assert uploaded.body == body
    assert again.body == body


async def test_sixty_four_concurrent_callers() -> None:
    arrived = 0
    all_arrived = asyncio.Event()

    async def handler(request: Request) -> Response:
        nonlocal arrived
        arrived += 1
        if arrived == 64:
            all_arrived.set()
        await all_arrived.wait()  # answered only once all 64 are being handled at once
        return Response(200, request.path.encode())

    async with serve(handler) as served, open_client() as client:
        responses = await bounded(
            asyncio.gather(
                *(client.request("127.0.0.1", served.port, "GET", f"/{n}") for n in range(64))
            )
        )
        repeat = await bounded(
            asyncio.gather(
                *(client.request("127.0.0.1", served.port, "GET", f"/{n}") for n in range(64))
            )
        )
    assert [response.body for response in responses] == [f"/{n}".encode() for n in range(64)]
    assert [response.body for response in repeat] == [f"/{n}".encode() for n in range(64)]


async def test_ipv6_literal_host() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(200, b"v6")

    server = HttpServer(handler, on_protocol_error=render_error)
    try:
        port = await server.listen("::1", 0)
    except OSError:
        await server.close()
        pytest.skip("cannot listen on ::1")
    try:
        async with open_client() as client:
            response = await client.request("::1", port, "GET", "/six")
    finally:
        await bounded(server.close(grace=1.0))
    assert response.body == b"v6"
    assert seen[0].headers.get("host") == f"[::1]:{port}"


@pytest.mark.parametrize(
    ("method", "target", "headers", "message"),
    [
        ("GET", "/a b", [], "invalid request target"),
        ("GET", "/a\r\nX-Injected: 1", [], "invalid request target"),
        ("GET", "", [], "invalid request target"),
        ("GET", "/caf\u00e9", [], "invalid request target"),
        ("GE T", "/", [], "invalid HTTP method"),
        ("GET", "/", [("X-Bad", "a\r\nX-Injected: 1")], "CR or LF"),
        ("GET", "/", [("X-Bad\n", "a")], "CR or LF"),
    ],
)
async def test_requests_that_cannot_go_on_the_wire_raise_value_error(
    method: str, target: str, headers: list[tuple[str, str]], message: str
) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(204)

    async with serve(handler) as served, open_client() as client:
        with pytest.raises(ValueError, match=message):
            await client.request("127.0.0.1", served.port, method, target, headers)
        assert (await client.request("127.0.0.1", served.port, "GET", "/")).status == 204
    assert [request.path for request in seen] == ["/"]
