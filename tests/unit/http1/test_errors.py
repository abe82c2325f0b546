"""Malformed requests, limits on the head, and handler failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable

import pytest

from mecha.http1 import Limits, Request, Response
from tests.unit.server_checks import LoggedErrors

from .rawhttp import RawConnection, Served, get, post, serve


def ok(request: Request) -> Response:
    return Response(200, b"ok")


async def assert_refused(conn: RawConnection, status: int) -> dict[str, str]:
    reply = await conn.read_reply()
    assert reply.status == status
    assert reply.header("connection") == "close"
    assert reply.header("content-type") == "application/json"
    assert await conn.read_eof() == b""
    await conn.aclose()
    error: dict[str, str] = json.loads(reply.body)
    assert error["errorCode"] == f"ERR_HTTP_{status}"
    return error


async def assert_still_serving(served: Served) -> None:
    conn = await served.connect()
    reply = await conn.request(get("/"))
    assert (reply.status, reply.body) == (200, b"ok")
    await conn.aclose()


MALFORMED = [
    b"garbage\r\n\r\n",
    b"FOO / HTTP/1.1\r\n\r\n",
    b"get / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\nHost: x\n\n",
    b"GET /\xff HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
    b"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
    b"GET / HTTP/1.7\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
]


@pytest.mark.parametrize("raw", MALFORMED)
async def test_malformed_request_gets_400_and_the_server_goes_on(raw: bytes) -> None:
    async with serve(ok) as served:
        conn = await served.connect()
        await conn.send(raw)
        error = await assert_refused(conn, 400)
        assert error["message"].startswith("malformed request")
        await assert_still_serving(served)


async def test_garbage_after_good_requests_is_answered_after_them() -> None:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(0)
        return Response(200, request.path.encode())

    async with serve(slow) as served:
        conn = await served.connect()
        await conn.send(get("/1") + get("/2") + b"NOT HTTP\r\n\r\n")
        assert (await conn.read_reply()).body == b"/1"
        assert (await conn.read_reply()).body == b"/2"
        await assert_refused(conn, 400)


async def test_unsupported_http_version_gets_505() -> None:
    async with serve(ok) as served:
        conn = await served.connect()
        await conn.send(b"GET / HTTP/2.0\r\n\r\n")
        await assert_refused(conn, 505)
        conn = await served.connect()
        await conn.send(b"GET /\r\n\r\n")  # HTTP/0.9
        await assert_refused(conn, 505)


HEAD_LIMIT = Limits(max_header_bytes=1024)


async def test_header_section_over_the_limit_gets_431() -> None:
    async with serve(ok, limits=HEAD_LIMIT) as served:
        conn = await served.connect()
        await conn.send(get("/", *(f"X-Header-{n}: {'v' * 40}" for n in range(30))))
        await assert_refused(conn, 431)
        await assert_still_serving(served)


async def test_header_section_just_under_the_limit_is_accepted() -> None:
    async with serve(ok, limits=HEAD_LIMIT) as served:
        conn = await served.connect()
        # request line "/" (1) + "Host: test" (4+4+4) + one header filling the rest
        filler = 1024 - 1 - 12 - len("X-Fill") - 4
        reply = await conn.request(get("/", f"X-Fill: {'f' * filler}"))
        assert reply.status == 200
        await conn.aclose()
        conn = await served.connect()
        await conn.send(get("/", f"X-Fill: {'f' * (filler + 1)}"))
        await assert_refused(conn, 431)


async def test_long_url_gets_431() -> None:
    async with serve(ok, limits=HEAD_LIMIT) as served:
        conn = await served.connect()
        await conn.send(get("/" + "a" * 2000))
        await assert_refused(conn, 431)


async def test_endless_header_value_gets_431_without_waiting_for_its_end() -> None:
    async with serve(ok, limits=HEAD_LIMIT) as served:
        conn = await served.connect()
        # The line never ends: the server must give up on its own, not buffer forever.
        await conn.send(b"GET / HTTP/1.1\r\nX-Endless: " + b"v" * 8192)
        await assert_refused(conn, 431)


async def test_handler_exception_gets_500_and_the_connection_stays(
    logged_errors: LoggedErrors,
) -> None:
    records = logged_errors.expect()

    def handler(request: Request) -> Response | Awaitable[Response]:
        if request.path == "/sync-boom":
            raise RuntimeError("sync boom")
        if request.path == "/async-boom":
            return async_boom()
        if request.path == "/late-boom":
            return late_boom()
        return Response(200, b"ok")

    async def async_boom() -> Response:
        raise ValueError("async boom")

    async def late_boom() -> Response:
        await asyncio.sleep(0)
        raise KeyError("late boom")

    async with serve(handler) as served:
        conn = await served.connect()
        for path in ("/sync-boom", "/async-boom", "/late-boom"):
            reply = await conn.request(get(path))
            assert reply.status == 500
            assert reply.header("connection") is None
            assert json.loads(reply.body)["errorCode"] == "ERR_HTTP_500"
            assert (await conn.request(get("/"))).body == b"ok"
        await conn.aclose()
    assert [record.name for record in records] == ["mecha.http"] * 3
    assert all("handler failed" in record.getMessage() for record in records)


async def test_invalid_responses_get_500(logged_errors: LoggedErrors) -> None:
    records = logged_errors.expect()
    answers: dict[str, object] = {
        "/none": None,
        "/injection": Response(200, headers=[("X-Bad", "a\r\nSet-Cookie: evil=1")]),
        "/status": Response(42),
        "/not-latin1": Response(200, headers=[("X-Name", "\u20ac")]),
    }

    async with serve(lambda request: answers[request.path]) as served:  # type: ignore[arg-type,return-value]
        conn = await served.connect()
        for path in answers:
            reply = await conn.request(get(path))
            assert reply.status == 500, path
            assert reply.header("set-cookie") is None
        await conn.aclose()
    assert len(records) == len(answers)


async def test_failing_error_renderer_falls_back_to_plain_text(
    logged_errors: LoggedErrors,
) -> None:
    records = logged_errors.expect()

    def broken(status: int, message: str) -> Response:
        raise RuntimeError("renderer broke")

    from mecha.http1 import HttpServer

    server = HttpServer(ok, on_protocol_error=broken)
    port = await server.listen("127.0.0.1", 0)
    conn = await RawConnection.open(port)
    await conn.send(b"nonsense\r\n\r\n")
    reply = await conn.read_reply()
    assert reply.status == 400
    assert reply.header("content-type") == "text/plain; charset=utf-8"
    assert reply.body.startswith(b"malformed request")
    await conn.aclose()
    await server.close()
    assert "renderer failed" in records[0].getMessage()


async def test_body_bytes_are_never_parsed_as_requests() -> None:
    async with serve(ok) as served:
        conn = await served.connect()
        reply = await conn.request(post("/", b"GET /smuggled HTTP/1.1\r\n\r\n"))
        assert reply.body == b"ok"
        reply = await conn.request(get("/"))
        assert reply.status == 200
        await conn.aclose()
