"""Random and mutated request bytes against a live server.

Whatever arrives, each connection must get a sequence of well-formed responses (at most one
refusal, last) and be closed, and the server must serve the next connection normally.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Awaitable, Iterator

import httptools
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mecha.http1 import HttpServer, Limits, Request, Response
from tests.unit.server_checks import served_in_a_thread

from .rawhttp import TIMEOUT, render_error

LIMITS = Limits(max_body_bytes=2048, max_header_bytes=1024, max_pipelined=4)
ANSWERS = {100, 200}
REFUSALS = {400, 413, 431, 505}


def handler(request: Request) -> Response | Awaitable[Response]:
    body = b"" if request.method == "HEAD" else b"%d" % len(request.body)
    if request.path.startswith("/a"):
        return suspending(body)
    return Response(200, body)


async def suspending(body: bytes) -> Response:
    await asyncio.sleep(0)
    return Response(200, body)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """A server on its own loop in a thread, so that examples can use blocking sockets."""
    server = HttpServer(handler, limits=LIMITS, on_protocol_error=render_error)
    with served_in_a_thread(server, asyncio.new_event_loop()) as bound:
        yield bound


class Responses:
    """httptools callbacks collecting the responses in a byte stream."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.closing: list[bool] = []
        self.complete = 0
        self.parser = httptools.HttpResponseParser(self)

    def on_headers_complete(self) -> None:
        self.statuses.append(self.parser.get_status_code())
        self.closing.append(not self.parser.should_keep_alive())

    def on_message_complete(self) -> None:
        self.complete += 1


def exchange(port: int, pieces: list[bytes]) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        try:
            for piece in pieces:
                sock.sendall(piece)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may refuse and close before everything is sent
        received = bytearray()
        try:
            while data := sock.recv(65536):  # a hang fails with socket.timeout
                received += data
        except ConnectionResetError:
            pass
    return bytes(received)


def check_responses(received: bytes) -> Responses:
    responses = Responses()
    responses.parser.feed_data(received)
    assert responses.complete == len(responses.statuses), received[-200:]
    for index, status in enumerate(responses.statuses):
        if status in REFUSALS:
            assert index == len(responses.statuses) - 1, received
            assert responses.closing[index]
        else:
            assert status in ANSWERS, received
    return responses


# Request generation: mostly plausible requests, so that the interesting paths get reached.


def mostly(usual: st.SearchStrategy[str], odd: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`usual` about seven times out of eight: most requests must parse to reach deeper paths."""
    return st.tuples(st.booleans(), st.booleans(), st.booleans()).flatmap(
        lambda coins: odd if all(coins) else usual
    )


TCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
TOKEN = st.text(TCHAR, min_size=1, max_size=12)
METHOD = mostly(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]), TOKEN)
TARGET = mostly(
    st.sampled_from(["/", "/a", "/s", "/a?x=1", "*", "http://h/a?q", "/%2F%zz", "/x#f"]),
    st.text(max_size=30).map(lambda text: "/" + text),
)
VERSION = mostly(st.just("1.1"), st.sampled_from(["1.0", "2.0", "0.9", "1.2", "1.", "11"]))
VALUE = mostly(
    st.sampled_from(["", "x", "100-continue", "close", "keep-alive", "chunked", "upgrade"])
    | st.text(TCHAR + " ,;=/", max_size=40)
    | st.integers(100, 1500).map("v".__mul__),
    st.text(max_size=40),
)
NAME = mostly(
    st.sampled_from(["Host", "Connection", "Expect", "Upgrade", "Content-Type", "X-A"]) | TOKEN,
    st.text(max_size=12),
)


@st.composite
def request(draw: st.DrawFn) -> bytes:
    method = draw(METHOD)
    line = f"{method} {draw(TARGET)} HTTP/{draw(VERSION)}"
    headers = [f"{draw(NAME)}: {draw(VALUE)}" for _ in range(draw(st.integers(0, 4)))]
    body = draw(st.binary(max_size=300)) if draw(st.booleans()) else b""
    framing = draw(
        st.sampled_from(["length", "length", "chunked", "chunked", "none", "wrong", "big", "both"])
    )
    raw_body = b""
    if framing in ("length", "both"):
        headers.append(f"Content-Length: {len(body)}")
        raw_body = body
    if framing == "wrong":
        headers.append(f"Content-Length: {len(body) + draw(st.integers(-5, 5))}")
        raw_body = body
    if framing == "big":
        headers.append(f"Content-Length: {draw(st.integers(2049, 10**12))}")
        raw_body = body
    if framing in ("chunked", "both"):
        headers.append("Transfer-Encoding: chunked")
        sizes = draw(st.lists(st.integers(1, 700), max_size=4))
        chunks = [b"%x\r\n%s\r\n" % (size, b"c" * size) for size in sizes]
        trailer = draw(st.sampled_from([b"", b"X-Trailer: 1\r\n", b"bad trailer\r\n"]))
        raw_body = b"".join(chunks) + b"0\r\n" + trailer + b"\r\n"
    head = "\r\n".join([line, *headers]) + "\r\n\r\n"
    return head.encode("utf-8", "surrogatepass") + raw_body


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "truncate"]))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(
                st.binary(min_size=1, max_size=8) | st.sampled_from([b"\r\n", b":", b" ", b"\x00"])
            )
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))] * draw(st.integers(1, 40))
        else:
            del data[at:]
    return bytes(data)


PIPELINE = st.lists(request(), min_size=1, max_size=4).map(b"".join)
STREAM = st.one_of(
    PIPELINE,
    PIPELINE,
    PIPELINE.flatmap(mutated),
    st.binary(max_size=400),
    st.binary(max_size=50).map(lambda tail: b"GET / HTTP/1.1\r\n" + tail),
)


@st.composite
def pieces(draw: st.DrawFn) -> list[bytes]:
    data = draw(STREAM)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=5)))
    bounds = [0, *cuts, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds) if end > start]


VALID = b"GET /check HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sent=pieces())
def test_any_bytes_get_valid_responses_and_the_server_goes_on(port: int, sent: list[bytes]) -> None:
    check_responses(exchange(port, sent))
    after = check_responses(exchange(port, [VALID]))
    assert after.statuses == [200]


@pytest.mark.parametrize(
    "sent",
    [
        [b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"],  # body cut short by the client
        [b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"],
        [b"GET /a HTTP/1.1\r\n\r\n" * 20],  # pipelined past max_pipelined, then EOF
        [
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ],
    ],
)
def test_edge_streams(port: int, sent: list[bytes]) -> None:
    check_responses(exchange(port, sent))
    assert check_responses(exchange(port, [VALID])).statuses == [200]
