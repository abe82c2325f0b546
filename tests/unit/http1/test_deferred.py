"""Handlers that answer with a Deferred: resolved later from a callback, or at once."""

from __future__ import annotations

import asyncio

from mecha.http1 import Deferred, Request, Response

from .rawhttp import TIMEOUT, eventually, get, serve, within


async def test_an_answer_resolved_later_is_written_then_and_keep_alive_goes_on() -> None:
    pending: list[tuple[Request, Deferred]] = []
    asked = asyncio.Event()

    def handler(request: Request) -> Deferred:
        deferred = Deferred()
        pending.append((request, deferred))
        asked.set()
        return deferred

    async with serve(handler) as served:
        conn = await served.connect()
        await conn.send(get("/first"))
        await within(asked.wait())
        request, deferred = pending.pop()
        assert served.server.in_flight == 1
        deferred.resolve(Response(200, request.path.encode(), content_type="text/plain"))
        reply = await conn.read_reply()
        assert (reply.status, reply.body) == (200, b"/first")
        assert served.server.in_flight == 0
        asked.clear()
        await conn.send(get("/second"))
        await within(asked.wait())
        pending.pop()[1].resolve(Response(201))
        assert (await conn.read_reply()).status == 201
        await conn.aclose()


async def test_an_answer_resolved_before_the_handler_returns_is_written_at_once() -> None:
    def handler(request: Request) -> Deferred:
        deferred = Deferred()
        deferred.resolve(Response(200, b"at once"))
        deferred.resolve(Response(500))  # only the first answer counts
        return deferred

    async with serve(handler) as served:
        conn = await served.connect()
        reply = await conn.request(get("/"))
        assert (reply.status, reply.body) == (200, b"at once")
        await conn.aclose()


async def test_pipelined_requests_wait_for_the_deferred_answer_before_them() -> None:
    pending: list[Deferred] = []
    order: list[str] = []

    def handler(request: Request) -> Response | Deferred:
        order.append(request.path)
        if request.path == "/slow":
            deferred = Deferred()
            pending.append(deferred)
            return deferred
        return Response(200, request.path.encode())

    async with serve(handler) as served:
        conn = await served.connect()
        await conn.send(get("/slow") + get("/fast"))
        await eventually(lambda: bool(pending), "the handler was called")
        assert order == ["/slow"]  # the next request waits its turn
        pending[0].resolve(Response(200, b"/slow"))
        first, second = await conn.read_reply(), await conn.read_reply()
        assert (first.body, second.body) == (b"/slow", b"/fast")
        assert order == ["/slow", "/fast"]
        await conn.aclose()


async def test_client_gone_cancels_the_deferred_and_a_late_answer_is_dropped() -> None:
    cancelled = asyncio.Event()
    pending: list[Deferred] = []

    def handler(request: Request) -> Deferred:
        deferred = Deferred()
        deferred.on_cancel = cancelled.set
        pending.append(deferred)
        return deferred

    async with serve(handler) as served:
        conn = await served.connect()
        await conn.send(get("/"))
        await eventually(lambda: bool(pending), "the handler was called")
        await conn.aclose()
        await within(cancelled.wait())
        assert served.server.in_flight == 0
        pending[0].resolve(Response(200))  # nobody to answer: ignored


async def test_graceful_close_waits_for_a_deferred_answer() -> None:
    pending: list[Deferred] = []

    def handler(request: Request) -> Deferred:
        deferred = Deferred()
        pending.append(deferred)
        return deferred

    async with serve(handler) as served:
        conn = await served.connect()
        await conn.send(get("/"))
        await eventually(lambda: bool(pending), "the handler was called")
        closing = asyncio.ensure_future(served.server.close(grace=TIMEOUT))
        await asyncio.sleep(0.05)
        assert not closing.done()
        pending[0].resolve(Response(200, b"last"))
        reply = await conn.read_reply()
        assert (reply.status, reply.body, reply.header("connection")) == (200, b"last", "close")
        await conn.aclose()
        await within(closing)
