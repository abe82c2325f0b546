"""Request bodies: Content-Length, chunked, 100-continue, limits, and Upgrade requests."""

from __future__ import annotations

import json

import pytest

from mecha.http1 import Limits, Request, Response

from .rawhttp import chunked, get, post, serve


def echo(request: Request) -> Response:
    return Response(200, request.body, headers=[("x-method", request.method)])


LIMIT = 1000
SMALL = Limits(max_body_bytes=LIMIT)


async def test_content_length_body_arriving_in_pieces() -> None:
    body = bytes(range(256)) * 40
    async with serve(echo) as served:
        conn = await served.connect()
        raw = post("/", body)
        for start in range(0, len(raw), 777):
            await conn.send(raw[start : start + 777])
        assert (await conn.read_reply()).body == body
        assert (await conn.request(post("/", b"again"))).body == b"again"
        await conn.aclose()


async def test_chunked_body_is_dechunked_and_trailers_dropped() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return echo(request)

    async with serve(handler) as served:
        conn = await served.connect()
        raw = chunked("/", [b"hello ", b"chunked", b" world" * 100], trailer="X-T: 1\r\n")
        await conn.send(raw[:50])
        await conn.send(raw[50:])
        reply = await conn.read_reply()
        assert reply.body == b"hello chunked" + b" world" * 100
        assert (await conn.request(post("/", b"next"))).body == b"next"
        await conn.aclose()
    assert "x-t" not in seen[0].headers
    assert seen[0].headers.get("transfer-encoding") == "chunked"


async def test_bodies_at_the_limit_are_accepted() -> None:
    async with serve(echo, limits=SMALL) as served:
        conn = await served.connect()
        assert len((await conn.request(post("/", b"a" * LIMIT))).body) == LIMIT
        reply = await conn.request(chunked("/", [b"b" * 600, b"c" * 400]))
        assert len(reply.body) == LIMIT
        await conn.aclose()


async def test_content_length_over_the_limit_is_refused_from_the_headers() -> None:
    async with serve(echo, limits=SMALL) as served:
        conn = await served.connect()
        # Only the head is sent: the answer must not wait for the body.
        reply = await conn.request(get("/", f"Content-Length: {LIMIT + 1}", method="POST"))
        assert reply.status == 413
        assert reply.header("connection") == "close"
        assert json.loads(reply.body)["errorCode"] == "ERR_HTTP_413"
        assert await conn.read_eof() == b""
        await conn.aclose()


async def test_chunked_body_over_the_limit_is_refused() -> None:
    async with serve(echo, limits=SMALL) as served:
        conn = await served.connect()
        await conn.send(chunked("/", [b"x" * 600, b"y" * 600, b"z" * 5000]))
        reply = await conn.read_reply()
        assert reply.status == 413
        assert reply.header("connection") == "close"
        assert await conn.read_eof() == b""
        await conn.aclose()
        conn = await served.connect()
        assert (await conn.request(post("/", b"ok"))).body == b"ok"
        await conn.aclose()


async def test_expect_continue_gets_100_before_the_body_is_sent() -> None:
    async with serve(echo, limits=SMALL) as served:
        conn = await served.connect()
        await conn.send(get("/", "Content-Length: 5", "Expect: 100-continue", method="PUT"))
        assert await conn.read_head() == b"HTTP/1.1 100 Continue\r\n\r\n"
        await conn.send(b"hello")
        reply = await conn.read_reply()
        assert (reply.status, reply.body) == (200, b"hello")
        await conn.aclose()


async def test_expect_continue_with_chunked_body() -> None:
    async with serve(echo) as served:
        conn = await served.connect()
        raw = chunked("/", [b"abc"], "Expect: 100-Continue")
        head_end = raw.index(b"\r\n\r\n") + 4
        await conn.send(raw[:head_end])
        assert await conn.read_head() == b"HTTP/1.1 100 Continue\r\n\r\n"
        await conn.send(raw[head_end:])
        assert (await conn.read_reply()).body == b"abc"
        await conn.aclose()


async def test_expect_continue_over_the_limit_gets_413_and_no_100() -> None:
    async with serve(echo, limits=SMALL) as served:
        conn = await served.connect()
        await conn.send(
            get("/", f"Content-Length: {LIMIT + 1}", "Expect: 100-continue", method="PUT")
        )
        reply = await conn.read_reply()
        assert reply.status == 413
        assert await conn.read_eof() == b""
        await conn.aclose()


async def test_expect_continue_behind_a_pipelined_request_waits_its_turn() -> None:
    async with serve(echo) as served:
        conn = await served.connect()
        await conn.send(post("/", b"first") + get("/", "Content-Length: 3", "Expect: 100-continue"))
        assert (await conn.read_reply()).body == b"first"
        assert await conn.read_head() == b"HTTP/1.1 100 Continue\r\n\r\n"
        await conn.send(b"two")
        assert (await conn.read_reply()).body == b"two"
        await conn.aclose()


async def test_no_100_without_a_body_or_for_http10() -> None:
    async with serve(echo) as served:
        conn = await served.connect()
        reply = await conn.request(get("/", "Expect: 100-continue"))
        assert reply.status == 200
        raw = get("/", "Content-Length: 2", "Expect: 100-continue", version="1.0", method="POST")
        reply = await conn.request(raw + b"10")
        assert (reply.status, reply.body) == (200, b"10")
        await conn.aclose()


async def test_upgrade_request_is_answered_as_a_normal_request() -> None:
    async with serve(echo) as served:
        conn = await served.connect()
        reply = await conn.request(
            get("/ws", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13")
        )
        assert reply.status == 200
        assert (await conn.request(post("/", b"after"))).body == b"after"
        await conn.aclose()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_upgrade_request_with_a_body_keeps_its_body(framing: str) -> None:
    upgrade = ("Upgrade: h2c", "Connection: Upgrade, HTTP2-Settings", "HTTP2-Settings: AAMAAABkAAQ")
    if framing == "chunked":
        raw = chunked("/", [b"up", b"load"], *upgrade)
    else:
        raw = post("/", b"upload", *upgrade)
    async with serve(echo) as served:
        conn = await served.connect()
        await conn.send(raw + post("/", b"next"))
        reply = await conn.read_reply()
        assert (reply.status, reply.body) == (200, b"upload")
        assert (await conn.read_reply()).body == b"next"
        await conn.aclose()


async def test_connect_is_answered_then_the_connection_closes() -> None:
    async with serve(lambda request: Response(405)) as served:
        conn = await served.connect()
        reply = await conn.request(b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.status == 405
        assert reply.header("connection") == "close"
        assert await conn.read_eof() == b""
        await conn.aclose()
