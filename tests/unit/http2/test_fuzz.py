"""Random and malformed input after a valid preface, against a live server.

Whatever arrives, the connection must end cleanly once the client stops sending (no hang, no
error logged, nothing escaping into the event loop), and the server must go on serving a fresh
connection.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterator

import pytest
import uvloop
from hpack import Encoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mecha.http2 import GrpcServer, Limits, Method, ServerCall, StreamMethod, UnaryMethod
from tests.unit.server_checks import served_in_a_thread

from .support import DATA, END_STREAM, PREFACE, RawClient, frame, grpc_message

TIMEOUT = 10.0
HANDSHAKE = PREFACE + frame(4, 0, 0)


async def echo(call: ServerCall, request: bytes) -> bytes:
    return request


async def echo_stream(call: ServerCall) -> None:
    while (message := await call.read()) is not None:
        await call.write(message)


METHODS: dict[str, Method] = {
    "/t.Echo/Unary": UnaryMethod(echo),
    "/t.Echo/Stream": StreamMethod(echo_stream),
}


@pytest.fixture(scope="module", params=["asyncio", "uvloop"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A server on its own loop in a thread, so that examples can use blocking sockets."""
    loop = asyncio.new_event_loop() if request.param == "asyncio" else uvloop.new_event_loop()
    server = GrpcServer(METHODS.get, limits=Limits(max_message_bytes=4096))
    with served_in_a_thread(server, loop) as bound:
        yield bound


def request_block(path: str) -> bytes:
    return Encoder().encode(
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "fuzz"),
            ("content-type", "application/grpc"),
            ("grpc-timeout", "1S"),
        ]
    )


payloads = st.one_of(
    st.binary(max_size=48),
    st.sampled_from(
        [
            request_block("/t.Echo/Unary"),
            request_block("/t.Echo/Stream"),
            request_block("/nope"),
            grpc_message(b"hello"),
            grpc_message(b"x" * 5000),
            b"\x00\x00\x00\x00\x08",
            struct.pack(">L", 1),
            struct.pack(">L", 0x7FFFFFFF),
            b"\x00\x04\x00\x00\xff\xff",
            b"\x00\x05\x00\x00\x40\x00",
        ]
    ),
)
frames = st.builds(
    frame,
    st.integers(min_value=0, max_value=11),
    st.integers(min_value=0, max_value=255),
    st.sampled_from([0, 1, 2, 3, 5, 7, 0x7FFFFFFF]),
    payloads,
)
inputs = st.one_of(
    st.binary(max_size=256),
    st.lists(frames, max_size=12).map(b"".join),
    st.tuples(st.lists(frames, max_size=8).map(b"".join), st.binary(max_size=32)).map(b"".join),
)


def exchange(port: int, data: bytes) -> bytes:
    """Sends data after a valid handshake, half-closes, and reads until the server closes."""
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(HANDSHAKE + data)
        sock.shutdown(socket.SHUT_WR)
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return bytes(received)


def check_serving(port: int) -> None:
    async def call() -> bytes:
        client = await RawClient.open(port)
        client.unary(1, b"alive")
        _, body = await client.response(1)
        await client.aclose()
        return body

    assert asyncio.run(call()) == grpc_message(b"alive")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=inputs)
def test_random_input_never_hangs_or_breaks_the_server(port: int, data: bytes) -> None:
    exchange(port, data)
    exchange(port, data + frame(DATA, END_STREAM, 1, b""))
    check_serving(port)


def test_the_server_serves_after_fuzzing(port: int) -> None:
    for blob in (b"\xff" * 100, frame(1, 4, 1, b"\x00\x00\x00"), frame(9, 4, 1, b"")):
        exchange(port, blob)
    check_serving(port)
