"""Server, client and bidirectional streaming, with flow control in both directions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from mecha.http2 import GrpcError, ServerCall, StatusCode, StreamMethod

from .support import pairs, serve, within

MIB = 1024 * 1024


async def count_up(call: ServerCall) -> None:
    request = await call.read()
    assert request is not None
    assert await call.read() is None
    for number in range(int(request)):
        await call.write(b"%d" % number)


async def total(call: ServerCall) -> None:
    size = count = 0
    while (message := await call.read()) is not None:
        size += len(message)
        count += 1
    await call.write(b"%d messages, %d bytes" % (count, size))


async def echo_each(call: ServerCall) -> None:
    while (message := await call.read()) is not None:
        await call.write(message)


async def fail_midway(call: ServerCall) -> None:
    call.send_initial_metadata([("x-started", "yes")])
    await call.write(b"first")
    call.set_trailing_metadata([("x-why", "midway")])
    raise GrpcError(StatusCode.ABORTED, "stopped after one")


METHODS = {
    "/t.S/CountUp": StreamMethod(count_up),
    "/t.S/Total": StreamMethod(total),
    "/t.S/Echo": StreamMethod(echo_each),
    "/t.S/Fail": StreamMethod(fail_midway),
}


async def test_server_streaming() -> None:
    async with serve(METHODS) as served:
        call = served.channel().unary_stream("/t.S/CountUp", None, None)(b"100")
        replies = [reply async for reply in call]
    assert replies == [b"%d" % n for n in range(100)]


async def test_client_streaming() -> None:
    async def requests() -> AsyncIterator[bytes]:
        for number in range(50):
            yield b"x" * number

    async with serve(METHODS) as served:
        reply = await served.channel().stream_unary("/t.S/Total", None, None)(requests())
    assert reply == b"50 messages, %d bytes" % sum(range(50))


async def test_bidi_streaming_in_lockstep() -> None:
    async with serve(METHODS) as served:
        call = served.channel().stream_stream("/t.S/Echo", None, None)(None)
        for number in range(20):
            await call.write(b"ping %d" % number)
            assert await call.read() == b"ping %d" % number
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF  # type: ignore[attr-defined]
        assert await call.code() == grpc.StatusCode.OK


async def test_bidi_streaming_moves_more_than_every_window() -> None:
    # 24 MiB each way: more than the stream and connection windows on both sides.
    chunk = bytes(range(256)) * (MIB // 256)

    async def requests() -> AsyncIterator[bytes]:
        for _ in range(24):
            yield chunk

    async with serve(METHODS) as served:
        call = served.channel().stream_stream("/t.S/Echo", None, None)(requests())
        replies = await within(_collect(call))
    assert len(replies) == 24
    assert all(reply == chunk for reply in replies)


async def _collect(call: grpc.aio.StreamStreamCall[bytes, bytes]) -> list[bytes]:
    return [reply async for reply in call]


async def test_streaming_error_after_messages_goes_in_the_trailers() -> None:
    async with serve(METHODS) as served:
        call = served.channel().unary_stream("/t.S/Fail", None, None)(b"")
        assert await call.read() == b"first"
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call.read()
        assert raised.value.code() == grpc.StatusCode.ABORTED
        assert raised.value.details() == "stopped after one"
        assert ("x-why", "midway") in pairs(raised.value.trailing_metadata())
        assert ("x-started", "yes") in pairs(await call.initial_metadata())


async def test_cancelling_a_stream_cancels_its_handler() -> None:
    cancelled = asyncio.Event()

    async def forever(call: ServerCall) -> None:
        try:
            while True:
                await call.write(b"tick")
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with serve({"/t.S/Forever": StreamMethod(forever)}) as served:
        call = served.channel().unary_stream("/t.S/Forever", None, None)(b"")
        assert await call.read() == b"tick"
        call.cancel()
        await within(cancelled.wait())
