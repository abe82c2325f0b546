"""Keep-alive pools: reuse, the per-host limit, FIFO queueing, idle closes and client close."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from mecha.http1 import ClientError, ClientTimeout, ConnectError

from .test_client_support import Peer, bounded, open_client, reply, responder, scripted


async def test_sequential_requests_share_one_connection() -> None:
    async with scripted(responder()) as server, open_client() as client:
        for _ in range(20):
            response = await client.request("127.0.0.1", server.port, "GET", "/")
            assert response.body == b"ok"
    assert len(server.peers) == 1
    assert len(server.requests) == 20


async def test_pool_limit_and_fifo_queueing() -> None:
    gate = asyncio.Event()
    active = 0
    most_active = 0
    two_active = asyncio.Event()

    async def script(peer: Peer) -> None:
        nonlocal active, most_active
        while await peer.read_request() is not None:
            active += 1
            most_active = max(most_active, active)
            if active == 2:
                two_active.set()
            await gate.wait()
            active -= 1
            await peer.send(reply())

    async with scripted(script) as server, open_client(max_connections_per_host=2) as client:
        calls = [
            asyncio.create_task(client.request("127.0.0.1", server.port, "GET", f"/{n}"))
            for n in range(8)
        ]
        await bounded(two_active.wait())
        gate.set()
        responses = await bounded(asyncio.gather(*calls))
    assert all(response.status == 200 for response in responses)
    assert most_active == 2
    assert len(server.peers) == 2
    assert len(server.requests) == 8


async def test_queued_callers_are_served_in_arrival_order() -> None:
    async with (
        scripted(responder()) as server,
        open_client(max_connections_per_host=1) as client,
    ):
        calls = [
            asyncio.create_task(client.request("127.0.0.1", server.port, "GET", f"/{n}"))
            for n in range(10)
        ]
        await bounded(asyncio.gather(*calls))
    assert [request.target for request in server.requests] == [f"/{n}" for n in range(10)]
    assert len(server.peers) == 1


async def test_a_timeout_while_queued_gives_up_the_place_in_the_queue() -> None:
    release = asyncio.Event()

    async def script(peer: Peer) -> None:
        while (request := await peer.read_request()) is not None:
            if request.target == "/slow":
                await release.wait()
            await peer.send(reply(request.target.encode()))

    async with scripted(script) as server, open_client(max_connections_per_host=1) as client:
        slow = asyncio.create_task(client.request("127.0.0.1", server.port, "GET", "/slow"))
        await bounded(server.connected.wait())
        with pytest.raises(ClientTimeout):
            await client.request("127.0.0.1", server.port, "GET", "/queued", timeout=0.05)
        release.set()
        assert (await bounded(slow)).body == b"/slow"
        after = await client.request("127.0.0.1", server.port, "GET", "/after")
    assert after.body == b"/after"
    assert [request.target for request in server.requests] == ["/slow", "/after"]
    assert len(server.peers) == 1


async def test_a_cancelled_queued_caller_does_not_hold_a_slot() -> None:
    release = asyncio.Event()

    async def script(peer: Peer) -> None:
        while (request := await peer.read_request()) is not None:
            if request.target == "/slow":
                await release.wait()
            await peer.send(reply())

    async with scripted(script) as server, open_client(max_connections_per_host=1) as client:
        slow = asyncio.create_task(client.request("127.0.0.1", server.port, "GET", "/slow"))
        await bounded(server.connected.wait())
        queued = asyncio.create_task(client.request("127.0.0.1", server.port, "GET", "/q"))
        await asyncio.sleep(0)  # lets it take its place in the queue
        queued.cancel()
        release.set()
        await bounded(slow)
        assert (await client.request("127.0.0.1", server.port, "GET", "/next")).status == 200
        with pytest.raises(asyncio.CancelledError):
            await queued
    assert [request.target for request in server.requests] == ["/slow", "/next"]
    assert len(server.peers) == 1


async def test_server_closing_the_idle_connection_is_not_an_error() -> None:
    async def script(peer: Peer) -> None:
        if await peer.read_request() is not None:
            await peer.send(reply())  # keep-alive, then closed as soon as it is idle

    async with scripted(script) as server, open_client() as client:
        for _ in range(3):
            response = await client.request("127.0.0.1", server.port, "GET", "/")
            assert response.body == b"ok"
    assert len(server.requests) == 3


@pytest.mark.parametrize("how", ["close", "reset"])
async def test_a_request_racing_the_idle_close_is_retried_once_on_a_new_connection(
    how: str,
) -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(reply(b"first"))
        # The next request meets a connection the server is closing: no answer at all.
        if await peer.read_request() is not None and how == "reset":
            peer.abort()

    async def second_connection(peer: Peer) -> None:
        while (request := await peer.read_request()) is not None:
            await peer.send(reply(b"retried " + request.body))

    scripts = [script, second_connection]

    async def by_connection(peer: Peer) -> None:
        await scripts.pop(0)(peer)

    async with scripted(by_connection) as server, open_client() as client:
        first = await client.request("127.0.0.1", server.port, "GET", "/")
        second = await client.request("127.0.0.1", server.port, "GET", "/", body=b"x")
    assert first.body == b"first"
    assert second.body == b"retried x"
    assert [len(peer.requests) for peer in server.peers] == [2, 1]


async def test_a_lost_answer_to_a_post_is_not_repeated() -> None:
    # The server may have processed it before dying: repeating a POST could do it twice.
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(reply(b"first"))
        await peer.read_request()  # then closes, unanswered

    async with scripted(script) as server, open_client() as client:
        await client.request("127.0.0.1", server.port, "GET", "/")
        with pytest.raises(ClientError, match="before any response byte") as lost:
            await client.request("127.0.0.1", server.port, "POST", "/", body=b"x")
    assert not isinstance(lost.value, ConnectError)
    assert len(server.requests) == 2


async def test_a_new_connection_closed_before_any_answer_is_not_retried() -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()  # and close without a word

    async with scripted(script) as server, open_client() as client:
        with pytest.raises(ClientError, match="before any response byte") as lost:
            await client.request("127.0.0.1", server.port, "POST", "/", body=b"x")
    # Delivered, perhaps processed: not the "safe to retry" ConnectError.
    assert not isinstance(lost.value, ConnectError)
    assert len(server.requests) == 1


async def test_a_retry_that_fails_too_is_reported() -> None:
    async def script(peer: Peer) -> None:
        if not peer.requests and len(server.peers) == 1:
            await peer.read_request()
            await peer.send(reply())
        await peer.read_request()  # then closes, unanswered

    async with scripted(script) as server, open_client() as client:
        await client.request("127.0.0.1", server.port, "GET", "/")
        with pytest.raises(ClientError):
            await client.request("127.0.0.1", server.port, "GET", "/")
    assert [len(peer.requests) for peer in server.peers] == [2, 1]


async def test_idle_connections_are_closed_after_the_idle_timeout() -> None:
    async with scripted(responder()) as server, open_client(idle_timeout=0.05) as client:
        await client.request("127.0.0.1", server.port, "GET", "/")
        (peer,) = server.peers
        await bounded(peer.closed_by_client.wait())
        await client.request("127.0.0.1", server.port, "GET", "/")
    assert len(server.peers) == 2


async def test_close_closes_idle_connections_and_refuses_new_requests() -> None:
    async with scripted(responder()) as server, open_client() as client:
        await client.request("127.0.0.1", server.port, "GET", "/")
        await bounded(client.close())
        await bounded(server.peers[0].closed_by_client.wait())
        with pytest.raises(ClientError, match="closed"):
            await client.request("127.0.0.1", server.port, "GET", "/")
        with pytest.raises(ClientError, match="closed"):
            await client.request("127.0.0.1", server.port + 1, "GET", "/")


async def test_close_lets_a_request_in_flight_finish() -> None:
    release = asyncio.Event()

    async def script(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await release.wait()
            await peer.send(reply(b"finished"))

    async with scripted(script) as server, open_client() as client:
        call = asyncio.create_task(client.request("127.0.0.1", server.port, "GET", "/"))
        await bounded(server.connected.wait())
        closing = asyncio.create_task(client.close(grace=5.0))
        await asyncio.sleep(0)
        assert not closing.done()
        release.set()
        assert (await bounded(call)).body == b"finished"
        await bounded(closing)
        await bounded(server.peers[0].closed_by_client.wait())


async def test_close_aborts_a_request_still_in_flight_after_the_grace_period() -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.wait_closed_by_client()  # never answers

    async with scripted(script) as server, open_client() as client:
        call = asyncio.create_task(client.request("127.0.0.1", server.port, "GET", "/"))
        await bounded(server.connected.wait())
        await bounded(client.close(grace=0.05))
        with pytest.raises(ClientError, match="closed by the client"):
            await bounded(call)
        await bounded(server.peers[0].closed_by_client.wait())


async def test_no_slot_is_lost_whatever_happens_to_the_requests() -> None:
    both_arrived = asyncio.Event()
    arrived = 0

    async def script(peer: Peer) -> None:
        nonlocal arrived
        while (request := await peer.read_request()) is not None:
            fate = request.target.removeprefix("/")
            if fate == "answer":
                await peer.send(reply())
            elif fate == "reset":
                peer.abort()
                return
            elif fate == "close":
                return
            elif fate == "half":
                await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhalf")
                return
            elif fate == "together":
                arrived += 1
                if arrived == 2:
                    both_arrived.set()
                await both_arrived.wait()
                await peer.send(reply())
            # "stall": no answer; the caller times out or is cancelled

    fates = ["answer", "reset", "stall", "close", "half", "answer", "stall"] * 6
    async with scripted(script) as server, open_client(max_connections_per_host=2) as client:

        async def call(fate: str) -> None:
            with contextlib.suppress(ClientError):
                await client.request("127.0.0.1", server.port, "GET", f"/{fate}", timeout=0.2)

        calls = [asyncio.create_task(call(fate)) for fate in fates]
        calls[-1].cancel()
        calls[5].cancel()
        await bounded(asyncio.wait(calls))
        # Both slots must be free: two requests are held by the server at the same time.
        together = [client.request("127.0.0.1", server.port, "GET", "/together") for _ in range(2)]
        responses = await bounded(asyncio.gather(*together))
    assert [response.status for response in responses] == [200, 200]
