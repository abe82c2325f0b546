"""Serving test methods on a free port, and a raw HTTP/2 client for protocol-level tests."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TypeVar, cast

import grpc
from hpack import Decoder, Encoder

from mecha.http2 import GrpcServer, Limits, Method, ServerCall, UnaryMethod

T = TypeVar("T")

# The longest a test waits for something that should happen well within it.
WAIT = 10.0

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0, 1, 2, 3, 4, 5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS, PADDED = 0x1, 0x1, 0x4, 0x8


async def echo(call: ServerCall, request: bytes) -> bytes:
    return request


ECHO = {"/t.Echo/Unary": UnaryMethod(echo)}


@dataclass
class Served:
    server: GrpcServer
    port: int
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def channel(self) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(self.target)
        self.channels.append(channel)
        return channel


@asynccontextmanager
async def serve(
    methods: Mapping[str, Method], *, limits: Limits | None = None
) -> AsyncIterator[Served]:
    server = GrpcServer(methods.get, limits=limits or Limits())
    served = Served(server, await server.listen("127.0.0.1", 0))
    try:
        yield served
    finally:
        for channel in served.channels:
            await channel.close(None)
        await server.close(grace=1.0)


async def within(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, WAIT)


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">L", len(payload))[1:]
        + bytes((kind, flags))
        + struct.pack(">L", stream_id)
        + payload
    )


def settings(**values: int) -> bytes:
    ids = {"header_table_size": 1, "initial_window_size": 4, "max_frame_size": 5}
    payload = b"".join(struct.pack(">HL", ids[key], value) for key, value in values.items())
    return frame(SETTINGS, 0, 0, payload)


def grpc_message(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">L", len(message)) + message


@dataclass(frozen=True)
class Frame:
    kind: int
    flags: int
    stream_id: int
    payload: bytes


class RawClient:
    """A hand-driven HTTP/2 client: the test chooses every frame it sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.encoder = Encoder()
        self.decoder = Decoder()

    @classmethod
    async def open(cls, port: int, *, handshake: bool = True, **options: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        if handshake:
            client.send(PREFACE + settings(**options))
        return client

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def request_headers(
        self,
        stream_id: int,
        path: str = "/t.Echo/Unary",
        extra: Sequence[tuple[str, str]] = (),
        *,
        end_stream: bool = False,
    ) -> bytes:
        block = self.encoder.encode(
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", path),
                (":authority", "test"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                *extra,
            ]
        )
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        return frame(HEADERS, flags, stream_id, block)

    def unary(self, stream_id: int, message: bytes, path: str = "/t.Echo/Unary") -> None:
        """A whole unary request; DATA frames of at most the default maximum size."""
        data = grpc_message(message)
        chunks = [data[start : start + 16384] for start in range(0, len(data), 16384)]
        frames = [frame(DATA, 0, stream_id, chunk) for chunk in chunks[:-1]]
        frames.append(frame(DATA, END_STREAM, stream_id, chunks[-1]))
        self.send(self.request_headers(stream_id, path) + b"".join(frames))

    async def read_frame(self) -> Frame:
        head = await asyncio.wait_for(self.reader.readexactly(9), WAIT)
        size = int.from_bytes(head[:3], "big")
        payload = await asyncio.wait_for(self.reader.readexactly(size), WAIT)
        stream_id = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
        return Frame(head[3], head[4], stream_id, payload)

    async def read_until(self, kind: int, stream_id: int | None = None) -> Frame:
        """The next frame of this kind (on this stream), answering what the server expects."""
        while True:
            received = await self.read_frame()
            if received.kind == SETTINGS and not received.flags & ACK:
                self.send(frame(SETTINGS, ACK, 0))
            if received.kind == kind and stream_id in (None, received.stream_id):
                return received

    async def response(self, stream_id: int) -> tuple[list[dict[str, str]], bytes]:
        """The header blocks and DATA of one stream, until its END_STREAM; grants window."""
        blocks: list[dict[str, str]] = []
        body = bytearray()
        while True:
            received = await self.read_frame()
            if received.kind == SETTINGS and not received.flags & ACK:
                self.send(frame(SETTINGS, ACK, 0))
            if received.stream_id != stream_id:
                continue
            if received.kind == HEADERS:
                blocks.append(
                    dict(cast(Iterable[tuple[str, str]], self.decoder.decode(received.payload)))
                )
            elif received.kind == DATA:
                body += received.payload
                if received.payload:
                    increment = struct.pack(">L", len(received.payload))
                    self.send(
                        frame(WINDOW_UPDATE, 0, 0, increment)
                        + frame(WINDOW_UPDATE, 0, stream_id, increment)
                    )
            elif received.kind == RST_STREAM:
                raise AssertionError(f"stream reset: {received.payload.hex()}")
            if received.flags & END_STREAM:
                return blocks, bytes(body)

    async def goaway(self) -> tuple[int, int]:
        """(last stream id, error code) of the server's GOAWAY; then EOF must follow."""
        received = await self.read_until(GOAWAY)
        last, code = struct.unpack(">LL", received.payload[:8])
        return last, code

    async def read_eof(self) -> bytes:
        return await asyncio.wait_for(self.reader.read(), WAIT)

    async def aclose(self) -> None:
        self.writer.close()
        with suppress(OSError):
            await self.writer.wait_closed()


def pairs(metadata: object) -> list[tuple[str, str | bytes]]:
    """grpc metadata (a Metadata mapping or a tuple of pairs) as a list of pairs."""
    return [(key, value) for key, value in cast(Iterable[tuple[str, str | bytes]], metadata)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
