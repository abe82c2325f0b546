"""Listening, idle timeout, client disconnects and graceful close."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from mecha.http1 import HttpServer, Limits, Request, Response

from .rawhttp import RawConnection, get, render_error, serve, within


def ok(request: Request) -> Response:
    return Response(200, b"ok")


async def test_listen_on_several_addresses() -> None:
    server = HttpServer(ok, on_protocol_error=render_error)
    first = await server.listen("127.0.0.1", 0)
    second = await server.listen("localhost", 0)
    assert first != 0 and second != 0
    assert server.ports == [first, second]
    for port in (first, second):
        conn = await RawConnection.open(port)
        assert (await conn.request(get("/"))).body == b"ok"
        await conn.aclose()
    await server.close()
    with pytest.raises(RuntimeError):
        await server.listen("127.0.0.1", 0)


async def test_numeric_addresses_of_both_families_are_served_and_a_taken_port_refused() -> None:
    server = HttpServer(ok, on_protocol_error=render_error)
    try:
        for address in ("127.0.0.1", "::1"):
            port = await server.listen(address, 0)
            with socket.create_connection((address, port), timeout=5):
                pass
            with pytest.raises(OSError, match="in use"):
                await server.listen(address, port)
    finally:
        await server.close()


async def test_idle_keep_alive_connection_is_closed_after_the_timeout() -> None:
    async with serve(ok, limits=Limits(keepalive_timeout=0.2)) as served:
        conn = await served.connect()
        assert (await conn.request(get("/"))).status == 200
        assert await conn.read_eof() == b""
        await conn.aclose()


async def test_a_running_handler_is_not_idle() -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def handler(request: Request) -> Response:
        started.set()
        await release.wait()
        return Response(200, b"late")

    async with serve(handler, limits=Limits(keepalive_timeout=0.1)) as served:
        conn = await served.connect()
        await conn.send(get("/"))
        await within(started.wait())
        # Outlast several idle timeouts while the handler works.
        await asyncio.sleep(0.35)
        release.set()
        assert (await conn.read_reply()).body == b"late"
        await conn.aclose()


async def test_client_gone_mid_request_cancels_the_handler_quietly() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def handler(request: Request) -> Response:
        if request.path == "/ok":
            return Response(200, b"ok")
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    async with serve(handler) as served:
        conn = await served.connect()
        await conn.send(get("/hang"))
        await within(started.wait())
        assert served.server.in_flight == 1
        await conn.aclose()
        await within(cancelled.wait())
        conn = await served.connect()
        assert (await conn.request(get("/ok"))).body == b"ok"
        await conn.aclose()
        assert served.server.in_flight == 0


async def test_handler_that_swallows_cancellation_is_ignored() -> None:
    started = asyncio.Event()
    finished = asyncio.Event()

    async def handler(request: Request) -> Response:
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        finished.set()
        return Response(200, b"too late")

    async with serve(handler) as served:
        conn = await served.connect()
        await conn.send(get("/"))
        await within(started.wait())
        await conn.aclose()
        await within(finished.wait())


async def test_graceful_close() -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def handler(request: Request) -> Response:
        if request.path == "/slow":
            started.set()
            await release.wait()
        return Response(200, request.path.encode())

    server = HttpServer(handler, on_protocol_error=render_error)
    port = await server.listen("127.0.0.1", 0)
    busy = await RawConnection.open(port)
    await busy.send(get("/slow") + get("/queued"))
    idle = await RawConnection.open(port)
    assert (await idle.request(get("/fast"))).body == b"/fast"
    await within(started.wait())

    closing = asyncio.create_task(server.close(grace=5.0))
    assert await idle.read_eof() == b""  # idle keep-alive connection: closed at once
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    assert not closing.done()

    release.set()
    reply = await busy.read_reply()
    assert reply.body == b"/slow"
    assert reply.header("connection") == "close"
    assert await busy.read_eof() == b""  # the queued request is not answered
    await busy.aclose()
    await idle.aclose()
    await within(closing)
    assert server.in_flight == 0


async def test_close_aborts_what_outlasts_the_grace_period(logged_errors: object) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def handler(request: Request) -> Response:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    server = HttpServer(handler, on_protocol_error=render_error)
    port = await server.listen("127.0.0.1", 0)
    conn = await RawConnection.open(port)
    await conn.send(get("/"))
    await within(started.wait())
    await within(server.close(grace=0.1))
    assert cancelled.is_set()
    assert await conn.read_eof() == b""
    await conn.aclose()


async def test_request_arriving_during_close_is_finished() -> None:
    async with serve(lambda request: Response(200, request.body)) as served:
        conn = await served.connect()
        await conn.send(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab")
        reply_task = asyncio.create_task(conn.read_reply())
        await asyncio.sleep(0)
        closing = asyncio.create_task(served.server.close(grace=5.0))
        await asyncio.sleep(0)
        await conn.send(b"cd")
        reply = await within(reply_task)
        assert isinstance(reply, object)
        assert reply.body == b"abcd"  # type: ignore[attr-defined]
        assert reply.header("connection") == "close"  # type: ignore[attr-defined]
        await conn.aclose()
        await within(closing)


async def test_reset_by_client_is_harmless() -> None:
    async with serve(ok) as served:
        sock = socket.create_connection(("127.0.0.1", served.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
        sock.close()  # RST
        conn = await served.connect()
        assert (await conn.request(get("/"))).body == b"ok"
        await conn.aclose()
