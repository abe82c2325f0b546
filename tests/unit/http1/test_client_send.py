"""`HttpClient.send`: the answer handed to a callback, straight from the protocol callbacks."""

from __future__ import annotations

import asyncio

import pytest

from mecha.http1 import ClientError, ClientResponse, ConnectError

from .test_client_support import (
    Peer,
    bounded,
    closed_port,
    open_client,
    reply,
    responder,
    scripted,
)

Outcome = ClientResponse | ClientError


class Collector:
    """A `done` callback that records every outcome; `first` resolves with the first."""

    def __init__(self) -> None:
        self.first: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.seen: list[Outcome] = []

    def __call__(self, outcome: Outcome) -> None:
        self.seen.append(outcome)
        if not self.first.done():
            self.first.set_result(outcome)


async def test_the_callback_gets_the_response_with_raw_header_values() -> None:
    answer = responder(lambda r: reply(b"hi", "X-Name: Caf\xe9"))
    async with scripted(answer) as server, open_client() as client:
        done = Collector()
        client.send("127.0.0.1", server.port, "GET", "/a", done)
        outcome = await bounded(done.first)
    assert isinstance(outcome, ClientResponse)
    assert (outcome.status, outcome.body) == (200, b"hi")
    assert outcome.headers.get("x-name") == "Caf\xe9"
    assert len(done.seen) == 1


async def test_the_next_request_sent_from_the_callback_reuses_the_connection() -> None:
    async with scripted(responder()) as server, open_client() as client:
        finished: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        statuses: list[int] = []

        def done(outcome: Outcome) -> None:
            assert isinstance(outcome, ClientResponse)
            statuses.append(outcome.status)
            if len(statuses) < 3:
                client.send("127.0.0.1", server.port, "GET", f"/{len(statuses)}", done)
            else:
                finished.set_result(statuses)

        client.send("127.0.0.1", server.port, "GET", "/0", done)
        assert await bounded(finished) == [200, 200, 200]
    assert len(server.peers) == 1
    assert [request.target for request in server.requests] == ["/0", "/1", "/2"]


async def test_a_request_that_cannot_be_encoded_is_refused_before_anything_is_sent() -> None:
    async with scripted(responder()) as server, open_client() as client:
        done = Collector()
        evil = [("x-evil", b"a\r\nx-smuggled: 1")]
        with pytest.raises(ValueError, match="CR or LF"):
            client.send("127.0.0.1", server.port, "GET", "/", done, evil)
    assert done.seen == []
    assert server.requests == []


async def test_a_refused_connection_reaches_the_callback_as_a_connect_error() -> None:
    async with open_client() as client:
        done = Collector()
        client.send("127.0.0.1", closed_port(), "POST", "/", done, body=b"x")
        outcome = await bounded(done.first)
    assert isinstance(outcome, ConnectError)
    assert len(done.seen) == 1


async def test_cancel_closes_the_connection_and_no_outcome_is_heard() -> None:
    answered = asyncio.Event()

    async def never_answer(peer: Peer) -> None:
        await peer.read_request()
        answered.set()
        await peer.wait_closed_by_client()

    async with scripted(never_answer) as server, open_client() as client:
        done = Collector()
        outgoing = client.send("127.0.0.1", server.port, "GET", "/", done)
        await bounded(answered.wait())
        outgoing.cancel()
        await bounded(server.peers[0].closed_by_client.wait())
    assert done.seen == []


async def test_a_large_body_goes_out_whole_while_the_server_reads_slowly() -> None:
    body = bytes(range(256)) * 16384  # 4 MiB: written a slice at a time

    async def slow_reader(peer: Peer) -> None:
        head = await peer.read_head()
        assert head is not None
        received = b""
        while len(received) < len(body):
            received += await bounded(peer.reader.read(65536))
            await asyncio.sleep(0)
        assert received == body
        await peer.send(reply(b"got it"))

    async with scripted(slow_reader) as server, open_client() as client:
        response = await client.request("127.0.0.1", server.port, "PUT", "/", body=body)
    assert response.body == b"got it"
