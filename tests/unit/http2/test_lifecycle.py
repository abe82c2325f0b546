"""Deadlines, cancellation, listening and graceful close."""

from __future__ import annotations

import asyncio
import socket

import grpc
import pytest

from mecha.http2 import GrpcServer, ServerCall, UnaryMethod

from .support import ECHO, RawClient, serve, within


class Stuck:
    """A handler that waits until released, recording whether it was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def __call__(self, call: ServerCall, request: bytes) -> bytes:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return b"released:" + request


async def test_client_deadline_cancels_the_handler() -> None:
    stuck = Stuck()
    async with serve({"/t.S/Stuck": UnaryMethod(stuck), **ECHO}) as served:
        channel = served.channel()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await channel.unary_unary("/t.S/Stuck", None, None)(b"", timeout=0.3)
        assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        await within(stuck.cancelled.wait())
        assert await channel.unary_unary("/t.Echo/Unary", None, None)(b"next") == b"next"


async def test_server_enforces_the_deadline_itself() -> None:
    stuck = Stuck()
    async with serve({"/t.S/Stuck": UnaryMethod(stuck)}) as served:
        client = await RawClient.open(served.port)
        client.send(client.request_headers(1, "/t.S/Stuck", [("grpc-timeout", "100m")]))
        client.send(
            b"\x00\x00\x05\x00\x01\x00\x00\x00\x01" + b"\x00\x00\x00\x00\x00"  # empty message
        )
        blocks, body = await client.response(1)
        assert body == b""
        assert blocks[-1][":status"] == "200"
        assert blocks[-1]["grpc-status"] == "4"
        await within(stuck.cancelled.wait())
        await client.aclose()


async def test_client_cancel_cancels_the_handler() -> None:
    stuck = Stuck()
    async with serve({"/t.S/Stuck": UnaryMethod(stuck), **ECHO}) as served:
        channel = served.channel()
        call = channel.unary_unary("/t.S/Stuck", None, None)(b"")
        await within(stuck.started.wait())
        call.cancel()
        await within(stuck.cancelled.wait())
        assert await channel.unary_unary("/t.Echo/Unary", None, None)(b"next") == b"next"


async def test_graceful_close_lets_the_call_in_flight_finish() -> None:
    stuck = Stuck()
    server = GrpcServer({"/t.S/Stuck": UnaryMethod(stuck)}.get)
    port = await server.listen("127.0.0.1", 0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/t.S/Stuck", None, None)(b"x")
        await within(stuck.started.wait())
        closing = asyncio.create_task(server.close(grace=5.0))
        await asyncio.sleep(0.05)
        assert not closing.done()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        stuck.release.set()
        assert await within(call) == b"released:x"
        await within(closing)
    assert not stuck.cancelled.is_set()
    assert server.connections == 0


async def test_close_aborts_calls_that_outlast_the_grace() -> None:
    stuck = Stuck()
    server = GrpcServer({"/t.S/Stuck": UnaryMethod(stuck)}.get)
    port = await server.listen("127.0.0.1", 0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/t.S/Stuck", None, None)(b"x")
        await within(stuck.started.wait())
        await within(server.close(grace=0.2))
        await within(stuck.cancelled.wait())
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await within(call)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_goaway_names_the_last_stream_and_refuses_later_ones() -> None:
    stuck = Stuck()
    server = GrpcServer({"/t.S/Stuck": UnaryMethod(stuck)}.get)
    port = await server.listen("127.0.0.1", 0)
    client = await RawClient.open(port)
    client.send(client.request_headers(1, "/t.S/Stuck"))
    client.send(b"\x00\x00\x05\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00")
    await within(stuck.started.wait())
    closing = asyncio.create_task(server.close(grace=5.0))
    assert await client.goaway() == (1, 0)
    client.unary(3, b"late")  # after GOAWAY: ignored
    stuck.release.set()
    blocks, body = await client.response(1)
    assert body == b"\x00\x00\x00\x00\x09released:"
    assert blocks[-1]["grpc-status"] == "0"
    assert await client.read_eof() == b""
    await within(closing)
    await client.aclose()


async def test_listens_on_ipv6_loopback_and_refuses_after_close() -> None:
    server = GrpcServer(ECHO.get)
    port = await server.listen("::1", 0)
    async with grpc.aio.insecure_channel(f"[::1]:{port}") as channel:
        assert await channel.unary_unary("/t.Echo/Unary", None, None)(b"six") == b"six"
    await server.close()
    with pytest.raises(RuntimeError):
        await server.listen("127.0.0.1", 0)
