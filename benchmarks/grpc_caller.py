"""A lean gRPC caller for benchmarks: one unary call at a time on one raw HTTP/2 connection.

Request headers are HPACK-encoded by `hpack` as grpcio's client does it (indexed once they are in
the dynamic table, so from the second call on a method's header block is a few index bytes);
the reply frames are cut by hand and their header blocks decoded with `hpack`. Blocks that
leave the HPACK tables as they were are encoded or decoded once and then reused, as repeated
calls repeat them byte for byte. It costs the client a few µs per call where grpcio's own
client costs about 200 µs, so what is measured is the server.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from typing import cast

import hpack

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PING, _GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
_END_STREAM, _ACK, _END_HEADERS, _PADDED, _PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
_WINDOW_UPDATE = 0x8
_BIG_WINDOW = 2**31 - 1


class GrpcCallFailed(RuntimeError):
    """The call ended with a status other than OK, or the connection went away."""


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + stream.to_bytes(4, "big")


def _fields(authority: str, method: str) -> list[tuple[bytes, bytes]]:
    return [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", method.encode()),
        (b":authority", authority.encode()),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    ]


class GrpcCaller(asyncio.Protocol):
    """Calls unary methods one after another; `call` returns the response message."""

    def __init__(self, authority: str) -> None:
        self._authority = authority
        self._fields: dict[str, list[tuple[bytes, bytes]]] = {}
        self._encoder = hpack.Encoder()
        self._encoded: dict[str, bytes] = {}
        self._decoder = hpack.Decoder()
        self._decoded: dict[bytes, dict[bytes, bytes]] = {}
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._stream = -1
        self._message = b""
        self._waiter: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        settings = struct.pack(">HI", 0x4, _BIG_WINDOW)  # INITIAL_WINDOW_SIZE
        grow = (_BIG_WINDOW - 65535).to_bytes(4, "big")
        self._transport.write(
            _PREFACE
            + _frame(_SETTINGS, 0, 0, settings)
            + settings
            + _frame(_WINDOW_UPDATE, 0, 0, grow)
            + grow
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._fail(f"connection lost: {exc}")

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        offset = 0
        while len(buffer) - offset >= 9:
            length = int.from_bytes(buffer[offset : offset + 3], "big")
            end = offset + 9 + length
            if end > len(buffer):
                break
            kind, flags = buffer[offset + 3], buffer[offset + 4]
            stream = int.from_bytes(buffer[offset + 5 : offset + 9], "big") & 0x7FFFFFFF
            self._on_frame(kind, flags, stream, buffer[offset + 9 : end])
            offset = end
        self._buffer = buffer[offset:]

    def _on_frame(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == _SETTINGS and not flags & _ACK:
            self._write(_frame(_SETTINGS, _ACK, 0, b""))
        elif kind == _PING and not flags & _ACK:
            self._write(_frame(_PING, _ACK, 0, payload) + payload)
        elif kind == _GOAWAY:
            self._fail("the server sent GOAWAY")
        elif stream != self._stream:
            return
        elif kind == _DATA:
            self._message += _unpadded(flags, payload)
        elif kind == _HEADERS:
            block = _unpadded(flags, payload)
            if flags & _PRIORITY:
                block = block[5:]
            fields = self._decode(block)
            if flags & _END_STREAM:
                self._finish(fields)
        elif kind == _RST_STREAM:
            self._fail("the server reset the stream")

    def _decode(self, block: bytes) -> dict[bytes, bytes]:
        fields = self._decoded.get(block)
        if fields is None:
            before = _state(self._decoder.header_table.dynamic_entries)
            fields = dict(self._decoder.decode(block, raw=True))
            if _state(self._decoder.header_table.dynamic_entries) == before:
                self._decoded[block] = fields
            else:
                self._decoded.clear()  # indices moved: blocks seen before may now mean else
        return fields

    def _encode(self, method: str) -> bytes:
        block = self._encoded.get(method)
        if block is not None:
            return block
        fields = self._fields.get(method)
        if fields is None:
            fields = self._fields[method] = _fields(self._authority, method)
        before = _state(self._encoder.header_table.dynamic_entries)
        block = self._encoder.encode(fields)
        if _state(self._encoder.header_table.dynamic_entries) == before:
            self._encoded[method] = block
        else:
            self._encoded.clear()
        return block

    def _finish(self, trailers: dict[bytes, bytes]) -> None:
        status = trailers.get(b"grpc-status")
        if status != b"0":
            message = trailers.get(b"grpc-message", b"").decode("latin-1")
            self._fail(f"status {status!r}: {message}")
            return
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(self._message[5:])

    def _fail(self, reason: str) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(GrpcCallFailed(reason))

    def _write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

    async def call(self, method: str, request: bytes) -> bytes:
        if self._transport is None:
            raise GrpcCallFailed("not connected")
        head = self._encode(method)
        self._stream += 2
        self._message = b""
        self._waiter = asyncio.get_running_loop().create_future()
        body = b"\x00" + len(request).to_bytes(4, "big") + request
        self._write(
            _frame(_HEADERS, _END_HEADERS, self._stream, head)
            + head
            + _frame(_DATA, _END_STREAM, self._stream, body)
            + body
        )
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _state(entries: deque[tuple[bytes, bytes]]) -> tuple[int, object]:
    """What changes when an HPACK table gains (or loses) an entry: its length and newest entry."""
    return len(entries), entries[0] if entries else None


def _unpadded(flags: int, payload: bytes) -> bytes:
    if flags & _PADDED:
        return payload[1 : len(payload) - payload[0]]
    return payload
