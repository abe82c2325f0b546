"""HTTP/2 on the wire, frame by frame: handshake, flow control, framing variants, errors."""

from __future__ import annotations

import asyncio
import struct

from mecha.http2 import Limits, ServerCall, UnaryMethod

from .support import (
    CONTINUATION,
    DATA,
    ECHO,
    END_HEADERS,
    END_STREAM,
    HEADERS,
    PADDED,
    PING,
    PREFACE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    RawClient,
    frame,
    grpc_message,
    serve,
    within,
)

PROTOCOL_ERROR, FRAME_SIZE_ERROR, REFUSED_STREAM, COMPRESSION_ERROR = 0x1, 0x6, 0x7, 0x9
PRIORITY_FLAG = 0x20


async def test_handshake_settings_and_ping() -> None:
    async with serve(ECHO) as served:
        client = await RawClient.open(served.port)
        settings = await client.read_frame()
        assert (settings.kind, settings.flags) == (SETTINGS, 0)
        ids = {struct.unpack(">HL", settings.payload[i : i + 6])[0] for i in range(0, 24, 6)}
        assert {3, 4} <= ids  # MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE
        assert (await client.read_until(WINDOW_UPDATE, 0)).stream_id == 0
        assert (await client.read_until(SETTINGS)).flags == 1  # our SETTINGS acknowledged
        for number in range(100):  # keepalive pings never make the server go away
            client.send(frame(PING, 0, 0, struct.pack(">Q", number)))
            ack = await client.read_until(PING)
            assert (ack.flags, ack.payload) == (1, struct.pack(">Q", number))
        client.unary(1, b"still here")
        _, body = await client.response(1)
        assert body == grpc_message(b"still here")
        await client.aclose()


async def test_large_response_to_a_client_with_the_default_window() -> None:
    payload = b"w" * (4 * 1024 * 1024)
    async with serve(ECHO) as served:
        client = await RawClient.open(served.port)  # INITIAL_WINDOW_SIZE stays 65,535
        client.unary(1, payload)
        blocks, body = await client.response(1)
        assert body == grpc_message(payload)
        assert blocks[-1]["grpc-status"] == "0"
        await client.aclose()


async def test_data_frames_respect_a_larger_max_frame_size_and_the_default() -> None:
    async with serve(ECHO) as served:
        client = await RawClient.open(served.port, max_frame_size=65536)
        client.unary(1, b"m" * 200_000)
        sizes = []
        while True:
            received = await client.read_until(DATA, 1)
            sizes.append(len(received.payload))
            if sum(sizes) == 200_005:
                break
            increment = struct.pack(">L", len(received.payload))
            client.send(
                frame(WINDOW_UPDATE, 0, 0, increment) + frame(WINDOW_UPDATE, 0, 1, increment)
            )
        assert max(sizes) <= 65536
        assert max(sizes) > 16384
        await client.aclose()


async def test_padding_priority_and_continuation() -> None:
    async with serve(ECHO) as served:
        client = await RawClient.open(served.port)
        block = client.request_headers(1)[9:]
        padded = b"\x03" + b"\x00\x00\x00\x00\x10" + block[:10] + b"\x00\x00\x00"
        client.send(frame(HEADERS, PADDED | PRIORITY_FLAG, 1, padded))
        client.send(frame(CONTINUATION, 0, 1, block[10:20]))
        client.send(frame(CONTINUATION, END_HEADERS, 1, block[20:]))
        message = grpc_message(b"padded")
        client.send(frame(DATA, PADDED, 1, b"\x05" + message[:4] + b"\x00" * 5))
        client.send(frame(DATA, END_STREAM, 1, message[4:]))
        _, body = await client.response(1)
        assert body == message
        await client.aclose()


async def test_header_cache_follows_the_dynamic_table() -> None:
    seen: list[str | bytes] = []

    async def handler(call: ServerCall, request: bytes) -> bytes:
        seen.extend(value for name, value in call.metadata if name == "x-n")
        return request

    async with serve({"/t.Echo/Unary": UnaryMethod(handler)}) as served:
        client = await RawClient.open(served.port)
        values = ["1", "2", "1", "1", "3", "2", "2"]
        for index, value in enumerate(values):
            stream_id = 2 * index + 1
            client.send(client.request_headers(stream_id, extra=[("x-n", value)]))
            client.send(frame(DATA, END_STREAM, stream_id, grpc_message(b"")))
            await client.response(stream_id)
        assert seen == values
        await client.aclose()


async def test_not_grpc_requests_get_http_statuses() -> None:
    async with serve(ECHO) as served:
        client = await RawClient.open(served.port)
        get = client.encoder.encode(
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "t")]
        )
        client.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, get))
        blocks, _ = await client.response(1)
        assert blocks == [{":status": "405"}]
        client.send(client.request_headers(3, extra=[("content-type", "text/plain")]))
        blocks, _ = await client.response(3)
        assert blocks == [{":status": "415"}]
        await client.aclose()


async def test_streams_over_the_concurrency_limit_are_refused() -> None:
    release = asyncio.Event()

    async def stuck(call: ServerCall, request: bytes) -> bytes:
        await release.wait()
        return request

    limits = Limits(max_concurrent_streams=2)
    async with serve({"/t.Echo/Unary": UnaryMethod(stuck)}, limits=limits) as served:
        client = await RawClient.open(served.port)
        for stream_id in (1, 3, 5):
            client.unary(stream_id, b"x")
        reset = await client.read_until(RST_STREAM)
        assert (reset.stream_id, reset.payload) == (5, struct.pack(">L", REFUSED_STREAM))
        release.set()
        for stream_id in (1, 3):
            _, body = await client.response(stream_id)
            assert body == grpc_message(b"x")
        await client.aclose()


async def expect_goaway(port: int, data: bytes, code: int, *, handshake: bool = True) -> None:
    client = await RawClient.open(port, handshake=handshake)
    client.send(data)
    assert (await client.goaway())[1] == code
    assert await client.read_eof() == b""
    await client.aclose()


async def test_connection_errors_end_with_goaway() -> None:
    async with serve(ECHO) as served:
        port = served.port
        await expect_goaway(
            port, b"GET / HTTP/1.1\r\n\r\n" + b"x" * 20, PROTOCOL_ERROR, handshake=False
        )
        await expect_goaway(
            port, PREFACE + frame(PING, 0, 0, b"\x00" * 8), PROTOCOL_ERROR, handshake=False
        )
        await expect_goaway(port, frame(DATA, 0, 1, b"\x00" * 20_000), FRAME_SIZE_ERROR)
        await expect_goaway(
            port, frame(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\xff"), COMPRESSION_ERROR
        )
        await expect_goaway(port, frame(HEADERS, END_HEADERS, 2, b"\x82"), PROTOCOL_ERROR)
        await expect_goaway(port, frame(DATA, 0, 0, b"x"), PROTOCOL_ERROR)
        await expect_goaway(port, frame(PING, 0, 0, b"short"), FRAME_SIZE_ERROR)
        await expect_goaway(port, frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x00\x00"), PROTOCOL_ERROR)
        await expect_goaway(
            port, frame(HEADERS, 0, 1, b"\x82") + frame(PING, 0, 0, b"\x00" * 8), PROTOCOL_ERROR
        )
        await expect_goaway(
            port, frame(SETTINGS, 0, 0, b"\x00\x05\x00\x00\x00\x01"), PROTOCOL_ERROR
        )
        # And the server still serves.
        client = await RawClient.open(port)
        client.unary(1, b"fine")
        _, body = await within(client.response(1))
        assert body == grpc_message(b"fine")
        await client.aclose()
