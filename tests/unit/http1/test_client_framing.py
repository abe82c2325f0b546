"""How responses are delimited and read: lengths, chunks, close, interim responses, and
responses that break the rules or the size limit."""

from __future__ import annotations

import pytest

from mecha.http1 import ClientError, ConnectError

from .test_client_support import Peer, open_client, reply, responder, scripted


def script_of(*responses: bytes, close: bool = False) -> object:
    """Answers the n-th request of a connection with responses[n] (sent as given)."""

    async def script(peer: Peer) -> None:
        for response in responses:
            if await peer.read_request() is None:
                return
            await peer.send(response)
        if not close:
            await peer.read_request()

    return script


async def test_chunked_body_arriving_in_pieces() -> None:
    async def script(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            await peer.send(b"5\r\nhello\r\n")
            await peer.send(b"1;ext=1\r\n \r\n6\r\nworld!\r\n")
            await peer.send(b"0\r\nX-Trailer: t\r\n\r\n")

    async with scripted(script) as server, open_client() as client:
        first = await client.request("127.0.0.1", server.port, "GET", "/")
        second = await client.request("127.0.0.1", server.port, "GET", "/")
    assert first.body == second.body == b"hello world!"
    assert "x-trailer" not in first.headers  # trailers are not headers
    assert len(server.peers) == 1


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
    ],
)
async def test_body_delimited_by_close(head: bytes) -> None:
    async def script(peer: Peer) -> None:
        if await peer.read_request() is not None:
            await peer.send(head + b"until ")
            await peer.send(b"the end")

    async with scripted(script) as server, open_client() as client:
        first = await client.request("127.0.0.1", server.port, "GET", "/")
        second = await client.request("127.0.0.1", server.port, "GET", "/")
    assert first.body == second.body == b"until the end"
    assert len(server.peers) == 2


async def test_connection_close_is_honoured_even_if_the_server_keeps_it_open() -> None:
    async with (
        scripted(responder(lambda request: reply(b"bye", "Connection: close"))) as server,
        open_client() as client,
    ):
        await client.request("127.0.0.1", server.port, "GET", "/")
        await client.request("127.0.0.1", server.port, "GET", "/")
    assert [len(peer.requests) for peer in server.peers] == [1, 1]


async def test_http_1_0_keep_alive_is_reused_only_when_announced() -> None:
    announced = reply(b"a", "Connection: keep-alive", version="1.0")
    async with scripted(responder(lambda request: announced)) as server, open_client() as client:
        await client.request("127.0.0.1", server.port, "GET", "/")
        assert (await client.request("127.0.0.1", server.port, "GET", "/")).body == b"a"
    assert len(server.peers) == 1
    async with (
        scripted(responder(lambda request: reply(b"b", version="1.0"))) as server,
        open_client() as client,
    ):
        await client.request("127.0.0.1", server.port, "GET", "/")
        await client.request("127.0.0.1", server.port, "GET", "/")
    assert len(server.peers) == 2


async def test_interim_responses_are_skipped() -> None:
    interim = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    )

    async def script(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.send(interim)
            await peer.send(reply(b"final", "X-Final: yes", status="201 Created"))

    async with scripted(script) as server, open_client() as client:
        response = await client.request(
            "127.0.0.1", server.port, "POST", "/", [("Expect", "100-continue")], b"data"
        )
        again = await client.request("127.0.0.1", server.port, "POST", "/", body=b"data")
    assert (response.status, response.reason, response.body) == (201, "Created", b"final")
    assert response.headers.get("x-final") == "yes"
    assert "link" not in response.headers
    assert again.status == 201
    assert len(server.peers) == 1


async def test_head_response_announcing_a_length_keeps_the_connection_in_step() -> None:
    async def script(peer: Peer) -> None:
        while (request := await peer.read_request()) is not None:
            if request.method == "HEAD":
                await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            else:
                await peer.send(reply(b"body"))

    async with scripted(script) as server, open_client() as client:
        head = await client.request("127.0.0.1", server.port, "HEAD", "/")
        get = await client.request("127.0.0.1", server.port, "GET", "/")
    assert (head.body, head.headers.get("content-length")) == (b"", "1000")
    assert get.body == b"body"
    assert len(server.peers) == 1


@pytest.mark.parametrize(
    "extra",
    [
        reply(b"unasked"),  # a second response nobody asked for
        b"garbage",
    ],
)
async def test_bytes_after_the_response_retire_the_connection(extra: bytes) -> None:
    async def script(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.send(reply(b"asked") + extra)

    async with scripted(script) as server, open_client() as client:
        first = await client.request("127.0.0.1", server.port, "GET", "/")
        second = await client.request("127.0.0.1", server.port, "GET", "/")
    assert first.body == second.body == b"asked"
    assert len(server.peers) == 2


async def test_a_body_after_a_head_response_retires_the_connection() -> None:
    async def script(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody")

    async with scripted(script) as server, open_client() as client:
        head = await client.request("127.0.0.1", server.port, "HEAD", "/")
        get = await client.request("127.0.0.1", server.port, "GET", "/")
    assert head.body == b""
    assert get.body == b"body"
    assert len(server.peers) == 2


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (b"HELLO THERE\r\n\r\n", "malformed response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "malformed response"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "malformed"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", "switched protocols"),
        (b"HTTP/1.1 199 Odd\r\n\r\n", "unsupported interim response"),
    ],
)
async def test_malformed_responses(response: bytes, message: str) -> None:
    async def script(peer: Peer) -> None:
        if await peer.read_request() is not None:
            await peer.send(response)
            await peer.read_request()

    async with scripted(script) as server, open_client() as client:
        with pytest.raises(ClientError, match=message) as raised:
            await client.request("127.0.0.1", server.port, "GET", "/")
        assert not isinstance(raised.value, ConnectError)  # bytes came: never safe to retry
        await server.peers[0].closed_by_client.wait()
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "response",
    [
        reply(b"x" * 2000),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"400\r\n"
        + b"x" * 1024
        + b"\r\n"
        + b"400\r\n"
        + b"x" * 1024
        + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 2000,
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"h" * (300 * 1024) + b"\r\n\r\n",
    ],
    ids=["length", "chunked", "close", "head"],
)
async def test_responses_larger_than_the_limit(response: bytes) -> None:
    async def script(peer: Peer) -> None:
        if await peer.read_request() is not None:
            await peer.send(response)
            await peer.read_request()

    async with scripted(script) as server, open_client(max_response_bytes=1500) as client:
        with pytest.raises(ClientError, match="larger than"):
            await client.request("127.0.0.1", server.port, "GET", "/")
        await server.peers[0].closed_by_client.wait()


async def test_a_body_of_exactly_the_limit_is_accepted() -> None:
    async with (
        scripted(responder(lambda request: reply(b"y" * 1500))) as server,
        open_client(max_response_bytes=1500) as client,
    ):
        response = await client.request("127.0.0.1", server.port, "GET", "/")
    assert len(response.body) == 1500


async def test_unsolicited_bytes_on_an_idle_connection_retire_it() -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(reply(b"one") + b"")
        await peer.send(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
        await peer.read_request()

    async with scripted(script) as server, open_client() as client:
        await client.request("127.0.0.1", server.port, "GET", "/")
        await server.peers[0].closed_by_client.wait()
        await client.request("127.0.0.1", server.port, "GET", "/")
    assert [len(peer.requests) for peer in server.peers] == [1, 1]
