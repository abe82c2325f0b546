"""Responses cut at random points, and random bytes, fed to one client connection.

However a response is split into reads, the client must assemble the same response; and
whatever bytes arrive, an exchange must end, at the latest with the connection's end, in a
response or a ClientError, never in another exception or a hang.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import pytest
import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from mecha.http1 import ClientError, ClientResponse
from mecha.http1.client import Outgoing
from mecha.http1.client_connection import ClientConnection
from mecha.http1.client_pool import HostPool

from .test_client_support import bounded

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
HEADER_NAMES = st.sampled_from(["X-A", "x-b", "Content-Type", "Set-Cookie", "ETag", "Vary"])
HEADER_VALUES = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=20,
)


@dataclass
class Wire:
    data: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    until_close: bool


@st.composite
def responses(draw: st.DrawFn) -> Wire:
    status = draw(st.sampled_from([200, 201, 204, 304, 404, 500, 503]))
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=6))
    body = b"" if status in (204, 304) else draw(st.binary(max_size=400))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" if draw(st.booleans()) else b""
    fields = [(name, value) for name, value in headers]
    if framing == "length" and status not in (204, 304):
        fields.append(("Content-Length", str(len(body))))
    elif framing == "chunked" and status not in (204, 304):
        fields.append(("Transfer-Encoding", "chunked"))
        sizes = draw(st.lists(st.integers(1, 64), max_size=10))
        chunks, rest = [], body
        for size in sizes:
            if rest:
                chunks.append(rest[:size])
                rest = rest[size:]
        if rest:
            chunks.append(rest)
        body_wire = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks)
        body_wire += b"0\r\n\r\n"
    head = f"HTTP/1.1 {status} Reason Phrase\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in fields
    )
    until_close = framing == "close" and status not in (204, 304)
    if framing != "chunked" or status in (204, 304):
        body_wire = body
    data = interim + head.encode("latin-1") + b"\r\n" + body_wire
    expected = [(name.lower(), value) for name, value in fields]
    return Wire(data, status, expected, body, until_close)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = sorted({0, len(data), *(point % (len(data) + 1) for point in points)})
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


async def exchange(pieces: list[bytes], *, end: bool) -> ClientResponse | ClientError:
    """One GET on a real connection whose response is fed as `pieces`, one read each."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    pool = HostPool(
        loop,
        "fuzz",
        80,
        limit=1,
        idle_timeout=60.0,
        connect_timeout=1.0,
        max_response_bytes=1 << 20,
    )
    pool.size = 1  # the slot acquire() would have taken
    # Cast both ways: a compiled ClientConnection is an asyncio protocol only by its methods.
    _, protocol = await loop.create_connection(
        lambda: cast(asyncio.BaseProtocol, ClientConnection(pool)), sock=ours
    )
    connection = cast(ClientConnection, protocol)
    call: asyncio.Future[ClientResponse | ClientError] = loop.create_future()
    connection.start(Outgoing(pool, "GET", b"GET / HTTP/1.1\r\n\r\n", b"", None, call.set_result))
    for piece in pieces:
        if call.done():
            break
        connection.data_received(piece)
    if end and not call.done():
        connection.eof_received()
    result = await bounded(call)
    connection.close()
    theirs.close()
    if pool.live:
        await bounded(pool.start_closing())
    return result


def run(loop_name: str, pieces: list[bytes], *, end: bool) -> ClientResponse | ClientError:
    loop = LOOPS[loop_name]()
    try:
        return loop.run_until_complete(exchange(pieces, end=end))
    finally:
        loop.close()


@pytest.mark.parametrize("loop_name", list(LOOPS))
@settings(max_examples=150, deadline=None)
@given(wire=responses(), points=st.lists(st.integers(0, 10_000), max_size=12))
def test_a_response_split_anywhere_reads_the_same(
    loop_name: str, wire: Wire, points: list[int]
) -> None:
    result = run(loop_name, cut(wire.data, points), end=wire.until_close)
    assert isinstance(result, ClientResponse), result
    assert (result.status, result.reason) == (wire.status, "Reason Phrase")
    assert list(result.headers) == wire.headers
    assert result.body == wire.body


@pytest.mark.parametrize("loop_name", list(LOOPS))
@settings(max_examples=150, deadline=None)
@given(
    wire=responses(),
    junk=st.binary(min_size=1, max_size=40),
    at=st.integers(0, 10_000),
    points=st.lists(st.integers(0, 10_000), max_size=6),
)
def test_damaged_responses_end_in_a_response_or_a_client_error(
    loop_name: str, wire: Wire, junk: bytes, at: int, points: list[int]
) -> None:
    position = at % (len(wire.data) + 1)
    damaged = wire.data[:position] + junk + wire.data[position + len(junk) :]
    result = run(loop_name, cut(damaged, points), end=True)
    assert isinstance(result, ClientResponse | ClientError)


@pytest.mark.parametrize("loop_name", list(LOOPS))
@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=200), points=st.lists(st.integers(0, 10_000), max_size=6))
def test_random_bytes_end_in_a_response_or_a_client_error(
    loop_name: str, data: bytes, points: list[int]
) -> None:
    result = run(loop_name, cut(data, points), end=True)
    assert isinstance(result, ClientResponse | ClientError)
