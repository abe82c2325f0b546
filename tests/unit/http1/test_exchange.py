"""Single exchanges and keep-alive, checked byte for byte."""

from __future__ import annotations

import asyncio
import re

from mecha.http1 import Request, Response

from .rawhttp import get, post, serve

DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


def hello(request: Request) -> Response:
    return Response(200, b"hello", content_type="text/plain")


async def test_response_head_is_exact() -> None:
    async with serve(hello) as served:
        conn = await served.connect()
        reply = await conn.request(get("/"))
        lines = reply.head.decode().split("\r\n")
        assert lines[0] == "HTTP/1.1 200 OK"
        assert lines[1] == "Server: mecha"
        assert lines[2].startswith("Date: ") and DATE.fullmatch(lines[2][6:])
        assert lines[3:] == ["Content-Length: 5", "Content-Type: text/plain", "", ""]
        assert reply.body == b"hello"
        await conn.aclose()


async def test_request_fields_seen_by_the_handler() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(204)

    async with serve(handler) as served:
        conn = await served.connect()
        await conn.request(
            b"PATCH /v1.0/state/s/a%2Fb?metadata.ttl=5&x=%20 HTTP/1.1\r\n"
            b"Host: test\r\nX-Custom: Caf\xe9\r\nx-custom: second\r\nContent-Length: 3\r\n\r\nabc"
        )
        await conn.aclose()
    (request,) = seen
    assert request.method == "PATCH"
    assert request.path == "/v1.0/state/s/a%2Fb"
    assert request.query == "metadata.ttl=5&x=%20"
    assert request.body == b"abc"
    assert request.keep_alive is True
    assert request.http_version == "1.1"
    assert request.headers.get("x-custom") == "Caf\xe9"  # latin-1: every byte round-trips
    assert request.headers.get_all("X-Custom") == ["Caf\xe9", "second"]
    assert next(iter(request.headers)) == ("host", "test")


async def test_target_forms() -> None:
    seen: list[tuple[str, str]] = []

    def handler(request: Request) -> Response:
        seen.append((request.path, request.query))
        return Response()

    async with serve(handler) as served:
        conn = await served.connect()
        for target in ("/a?b#frag", "http://example.com/x/y?z=1", "*", "/only", "/q?"):
            await conn.request(get(target, method="OPTIONS"))
        await conn.aclose()
    assert seen == [("/a", "b"), ("/x/y", "z=1"), ("*", ""), ("/only", ""), ("/q", "")]


async def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    async with serve(hello) as served:
        conn = await served.connect()
        for _ in range(5):
            reply = await conn.request(get("/"))
            assert reply.status == 200
            assert reply.header("connection") is None
        await conn.aclose()


async def test_connection_close_is_honoured() -> None:
    async with serve(hello) as served:
        conn = await served.connect()
        reply = await conn.request(get("/", "Connection: close"))
        assert reply.header("connection") == "close"
        assert reply.body == b"hello"
        assert await conn.read_eof() == b""
        await conn.aclose()


async def test_http10_closes_unless_asked_to_keep_alive() -> None:
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(f"{request.http_version} {request.keep_alive}")
        return Response(200, b"ok")

    async with serve(handler) as served:
        conn = await served.connect()
        reply = await conn.request(get("/", "Connection: keep-alive", version="1.0"))
        assert reply.header("connection") == "keep-alive"
        reply = await conn.request(get("/", "Connection: keep-alive", version="1.0"))
        assert reply.header("connection") == "keep-alive"
        reply = await conn.request(get("/", version="1.0"))
        assert reply.header("connection") == "close"
        assert await conn.read_eof() == b""
        await conn.aclose()
    assert seen == ["1.0 True", "1.0 True", "1.0 False"]


async def test_head_gets_get_headers_without_body() -> None:
    async with serve(hello) as served:
        conn = await served.connect()
        reply = await conn.request(get("/", method="HEAD"), head_only=True)
        assert reply.status == 200
        assert reply.header("content-length") == "5"
        # Were a body sent, it would be read here as the next response's start.
        reply = await conn.request(get("/"))
        assert reply.body == b"hello"
        await conn.aclose()


async def test_bodyless_statuses_have_no_content_length() -> None:
    def handler(request: Request) -> Response:
        return Response(int(request.path[1:]), b"ignored", content_type="text/plain")

    async with serve(handler) as served:
        conn = await served.connect()
        for status in (204, 304):
            reply = await conn.request(get(f"/{status}"), head_only=True)
            assert reply.status == status
            assert reply.header("content-length") is None
            assert reply.header("content-type") == "text/plain"
        reply = await conn.request(get("/200"))
        assert reply.body == b"ignored"
        await conn.aclose()


async def test_reason_phrases_and_unknown_statuses() -> None:
    async with serve(lambda request: Response(int(request.path[1:]))) as served:
        conn = await served.connect()
        assert (await conn.request(get("/404"))).reason == "Not Found"
        assert (await conn.request(get("/429"))).reason == "Too Many Requests"
        reply = await conn.request(get("/599"))
        assert reply.head.startswith(b"HTTP/1.1 599 \r\n")
        await conn.aclose()


async def test_handler_headers_are_written_and_framing_ones_are_ours() -> None:
    def handler(request: Request) -> Response:
        return Response(
            201,
            b"{}",
            headers=[("X-Trace", "abc"), ("Content-Length", "999"), ("Connection", "close")],
            content_type="application/json",
        )

    async with serve(handler, server_header="") as served:
        conn = await served.connect()
        reply = await conn.request(post("/", b"x"))
        assert reply.status == 201
        assert reply.header("x-trace") == "abc"
        assert reply.header_all("content-length") == ["2"]
        assert reply.header("connection") is None
        assert reply.header("server") is None
        assert reply.header("content-type") == "application/json"
        assert (await conn.request(get("/"))).status == 201  # still open
        await conn.aclose()


async def test_large_body_is_sent_whole() -> None:
    big = bytes(range(256)) * 4096  # 1 MiB, above the size that is joined into the head

    async with serve(lambda request: Response(200, big)) as served:
        conn = await served.connect()
        reply = await conn.request(get("/"))
        assert reply.body == big
        await conn.aclose()


async def test_half_closed_client_still_gets_answers_that_need_no_waiting() -> None:
    async def immediate(request: Request) -> Response:
        return Response(200, request.path.encode())

    async with serve(immediate) as served:
        conn = await served.connect()
        await conn.send(get("/one") + get("/two"))
        conn.writer.write_eof()
        assert (await conn.read_reply()).body == b"/one"
        assert (await conn.read_reply()).body == b"/two"
        assert await conn.read_eof() == b""
        await conn.aclose()


async def test_date_header_is_cached_within_a_second() -> None:
    async with serve(hello) as served:
        conn = await served.connect()
        first = (await conn.request(get("/"))).header("date")
        second = (await conn.request(get("/"))).header("date")
        assert first is not None and second is not None
        assert DATE.fullmatch(first) and DATE.fullmatch(second)
        await conn.aclose()


async def test_async_handlers_run_inside_a_task() -> None:
    # Drivers under a handler use asyncio.timeout() and current_task() from their first line.
    async def handler(request: Request) -> Response:
        assert asyncio.current_task() is not None
        async with asyncio.timeout(5):
            await asyncio.sleep(0)
        return Response(200, b"in a task")

    async with serve(handler) as served:
        conn = await served.connect()
        reply = await conn.request(get("/"))
        assert reply.head.startswith(b"HTTP/1.1 200 ")
        assert reply.body == b"in a task"
        await conn.aclose()
