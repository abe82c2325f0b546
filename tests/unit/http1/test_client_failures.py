"""Failures: refused and stalled connects, timeouts, cancellation, connections lost
mid-response, early answers, and back-pressure on large request bodies."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import pytest

from mecha.http1 import ClientError, ClientTimeout, ConnectError, Request, Response
from mecha.http1.client_connection import ClientConnection

from .rawhttp import serve
from .test_client_support import (
    Peer,
    bounded,
    closed_port,
    open_client,
    reply,
    responder,
    scripted,
)

FOUR_MIB = 4 * 1024 * 1024


@contextlib.contextmanager
def unanswered_port() -> Iterator[int]:
    """A port whose accept queue is full: a connect to it neither completes nor fails."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_connection_refused() -> None:
    async with open_client() as client:
        with pytest.raises(ConnectError, match=r"cannot connect to 127\.0\.0\.1"):
            await client.request("127.0.0.1", closed_port(), "GET", "/")


async def test_connect_timeout_frees_the_slot() -> None:
    with unanswered_port() as port:
        async with open_client(connect_timeout=0.05, max_connections_per_host=1) as client:
            for _ in range(2):  # the second would wait forever if the first kept its slot
                with pytest.raises(ConnectError, match=r"no connection within 0\.05s"):
                    await bounded(client.request("127.0.0.1", port, "GET", "/"))


async def test_the_request_timeout_covers_connecting() -> None:
    with unanswered_port() as port:
        async with open_client(connect_timeout=5.0) as client:
            with pytest.raises(ClientTimeout):
                await client.request("127.0.0.1", port, "GET", "/", timeout=0.05)


async def test_a_timed_out_connection_is_closed_not_reused() -> None:
    async def script(peer: Peer) -> None:
        while (request := await peer.read_request()) is not None:
            if request.target == "/stall":
                await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
            else:
                await peer.send(reply())

    async with scripted(script) as server, open_client() as client:
        with pytest.raises(ClientTimeout, match=r"no complete response from 127\.0\.0\.1"):
            await client.request("127.0.0.1", server.port, "GET", "/stall", timeout=0.05)
        await bounded(server.peers[0].closed_by_client.wait())
        response = await client.request("127.0.0.1", server.port, "GET", "/", timeout=5.0)
    assert response.body == b"ok"
    assert [len(peer.requests) for peer in server.peers] == [1, 1]


async def test_cancelling_the_caller_closes_its_connection() -> None:
    received = asyncio.Event()

    async def script(peer: Peer) -> None:
        while (request := await peer.read_request()) is not None:
            received.set()
            if request.target != "/never":
                await peer.send(reply())

    async with scripted(script) as server, open_client() as client:
        call = asyncio.create_task(client.request("127.0.0.1", server.port, "GET", "/never"))
        await bounded(received.wait())
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await bounded(server.peers[0].closed_by_client.wait())
        response = await client.request("127.0.0.1", server.port, "GET", "/")
    assert response.body == b"ok"
    assert len(server.peers) == 2


async def test_cancelling_a_caller_that_is_connecting() -> None:
    with unanswered_port() as port:
        async with open_client(connect_timeout=0.05, max_connections_per_host=1) as client:
            call = asyncio.create_task(client.request("127.0.0.1", port, "GET", "/"))
            await asyncio.sleep(0)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            with pytest.raises(ConnectError):  # not stuck behind a slot the cancelled one held
                await bounded(client.request("127.0.0.1", port, "GET", "/"))


async def test_cancelling_a_caller_while_its_large_body_waits_for_the_transport() -> None:
    async def script(peer: Peer) -> None:
        await peer.read_head()  # the body is left unread: the client has to pause
        await peer.closed_by_client.wait()

    async with scripted(script) as server, open_client() as client:
        call = asyncio.create_task(
            client.request("127.0.0.1", server.port, "POST", "/", body=b"z" * FOUR_MIB)
        )
        await bounded(server.connected.wait())
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await bounded(server.peers[0].wait_closed_by_client())


@pytest.mark.parametrize("reused", [False, True])
@pytest.mark.parametrize("how", ["close", "reset"])
async def test_connection_lost_mid_response_is_an_error_and_not_retried(
    reused: bool, how: str
) -> None:
    async def script(peer: Peer) -> None:
        if reused:
            await peer.read_request()
            await peer.send(reply())
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        if how == "reset":
            peer.abort()

    async with scripted(script) as server, open_client() as client:
        if reused:
            await client.request("127.0.0.1", server.port, "GET", "/")
        with pytest.raises(ClientError, match="mid-response") as raised:
            await client.request("127.0.0.1", server.port, "POST", "/", body=b"once")
    assert not isinstance(raised.value, ConnectError)
    assert len(server.peers) == 1
    assert [request.body for request in server.requests][-1] == b"once"


async def test_an_early_answer_to_a_large_body_is_returned() -> None:
    async def script(peer: Peer) -> None:
        await peer.read_head()
        await peer.send(reply(b"too big", "Connection: close", status="413 Content Too Large"))
        peer.writer.write_eof()
        await peer.wait_closed_by_client()

    async with scripted(script) as server, open_client() as client:
        response = await client.request("127.0.0.1", server.port, "POST", "/", body=b"z" * FOUR_MIB)
    assert (response.status, response.body) == (413, b"too big")


async def test_mecha_server_refusing_a_body_over_its_limit() -> None:
    def handler(request: Request) -> Response:
        return Response(200, b"%d" % len(request.body))

    async with serve(handler) as served, open_client() as client:
        refused = await client.request(
            "127.0.0.1", served.port, "POST", "/", body=b"z" * (FOUR_MIB + 1)
        )
        accepted = await client.request("127.0.0.1", served.port, "POST", "/", body=b"z" * 10)
    assert refused.status == 413
    assert accepted.body == b"10"


async def test_a_large_body_waits_for_a_slow_reader() -> None:
    body = bytes(range(256)) * (FOUR_MIB // 256)
    reading = asyncio.Event()

    async def script(peer: Peer) -> None:
        head = await peer.read_head()
        assert head is not None
        await reading.wait()  # meanwhile the socket buffers fill and the client must pause
        received = await bounded(peer.reader.readexactly(FOUR_MIB))
        await peer.send(reply(b"%d %s" % (len(received), b"intact" if received == body else b"")))
        await responder()(peer)

    async with scripted(script) as server, open_client() as client:
        call = asyncio.create_task(client.request("127.0.0.1", server.port, "POST", "/", body=body))
        await bounded(server.connected.wait())
        assert not call.done()
        reading.set()
        response = await bounded(call)
        after = await client.request("127.0.0.1", server.port, "GET", "/")
    assert response.body == b"4194304 intact"
    assert after.body == b"ok"
    assert len(server.peers) == 1


async def test_a_connect_cancelled_as_it_completes_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    callers: list[asyncio.Task[object]] = []
    connection_made = ClientConnection.connection_made

    def made_as_the_caller_is_cancelled(
        connection: ClientConnection, transport: asyncio.BaseTransport
    ) -> None:
        connection_made(connection, transport)
        callers[0].cancel()  # the connect completes, but its caller is gone

    monkeypatch.setattr(ClientConnection, "connection_made", made_as_the_caller_is_cancelled)
    async with scripted(responder()) as server, open_client(max_connections_per_host=1) as client:
        callers.append(asyncio.create_task(client.request("127.0.0.1", server.port, "GET", "/")))
        with pytest.raises(asyncio.CancelledError):
            await callers[0]
        monkeypatch.undo()
        response = await bounded(client.request("127.0.0.1", server.port, "GET", "/"))
        assert response.body == b"ok"
        await bounded(client.close())  # no transport is left unaccounted for
