"""Pipelined requests: strict response order and back-pressure on both sides."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from mecha.http1 import Limits, Request, Response
from mecha.http1.connection import HttpConnection

from .rawhttp import eventually, get, post, serve, within


def only_connection(served_server: object) -> HttpConnection:
    (connection,) = served_server._ctx.connections  # type: ignore[attr-defined]
    assert isinstance(connection, HttpConnection)
    return connection


async def test_responses_follow_request_order_whatever_the_handlers_do() -> None:
    release = asyncio.Event()
    slow_started = asyncio.Event()
    calls: list[str] = []

    async def answer(request: Request) -> Response:
        calls.append(request.path)
        if request.path == "/slow":
            slow_started.set()
            await release.wait()
        elif request.path == "/yields":
            for _ in range(3):
                await asyncio.sleep(0)
        return Response(200, request.path.encode())

    def handler(request: Request) -> Response | Awaitable[Response]:
        if request.path == "/sync":
            calls.append(request.path)
            return Response(200, b"/sync")
        return answer(request)

    paths = ["/slow", "/yields", "/sync", "/immediate", "/sync"]
    async with serve(handler) as served:
        conn = await served.connect()
        await conn.send(b"".join(get(path) for path in paths))
        await within(slow_started.wait())
        # Handlers of one connection run one at a time: nothing behind /slow has started.
        assert calls == ["/slow"]
        assert served.server.in_flight == 1
        release.set()
        bodies = [(await conn.read_reply()).body for _ in paths]
        assert bodies == [path.encode() for path in paths]
        assert calls == paths
        assert served.server.in_flight == 0
        await conn.aclose()


@pytest.mark.parametrize("body_bytes", [0, 1024])
async def test_reading_stops_at_max_pipelined_and_resumes(body_bytes: int) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def handler(request: Request) -> Response:
        if request.path == "/0":
            started.set()
            await release.wait()
        return Response(200, request.path.encode())

    count = 200
    async with serve(handler, limits=Limits(max_pipelined=4)) as served:
        conn = await served.connect()
        body = b"b" * body_bytes
        await conn.send(
            b"".join(post(f"/{n}", body) if body else get(f"/{n}") for n in range(count))
        )
        await within(started.wait())
        connection = only_connection(served.server)
        await eventually(lambda: connection._read_paused, "reading paused")
        assert len(connection._queue) == 4  # parsed ahead of the one being answered
        release.set()
        for n in range(count):
            assert (await conn.read_reply()).body == f"/{n}".encode()
        assert not connection._read_paused
        await conn.aclose()


async def test_slow_reader_pauses_handling_and_reading() -> None:
    big = b"x" * (256 * 1024)
    handled: list[str] = []

    def handler(request: Request) -> Response:
        handled.append(request.path)
        return Response(200, request.path.encode() + big)

    count = 400  # 100 MiB of responses: far more than socket buffers hold
    async with serve(handler) as served:
        conn = await served.connect()
        await conn.send(b"".join(get(f"/{n}") for n in range(count)))
        connection = only_connection(served.server)
        await eventually(
            lambda: connection._write_paused and connection._read_paused, "both sides paused"
        )
        transport = connection._transport
        assert transport is not None
        # One response past the high-water mark at most, not everything asked for.
        assert transport.get_write_buffer_size() <= 2 * (len(big) + 1024) + 64 * 1024
        assert len(handled) < count
        for n in range(count):
            reply = await conn.read_reply()
            assert reply.body[: len(str(n)) + 1] == f"/{n}".encode()
            assert len(reply.body) == len(big) + len(str(n)) + 1
        assert len(handled) == count
        await conn.aclose()


async def test_a_handler_finishing_later_does_not_hold_up_other_connections() -> None:
    release = asyncio.Event()

    async def handler(request: Request) -> Response:
        if request.path == "/wait":
            await release.wait()
        return Response(200, request.path.encode())

    async with serve(handler) as served:
        waiting = await served.connect()
        await waiting.send(get("/wait"))
        other = await served.connect()
        assert (await other.request(get("/now"))).body == b"/now"
        release.set()
        assert (await waiting.read_reply()).body == b"/wait"
        await other.aclose()
        await waiting.aclose()
