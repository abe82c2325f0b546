"""The h2c app channel against a real HTTP/2 cleartext app (an `h2` server on a local port)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import parse_qs

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RequestReceived,
    StreamEnded,
    WindowUpdated,
)

from mecha.blocks.invocation.errors import AppTimeout, AppUnreachable
from mecha.blocks.invocation.models import InvokeRequest
from mecha.channel.factory import AppChannelSettings, build_app_channel
from mecha.channel.h2c import H2cAppChannel
from mecha.channel.protocols import invoke

from .conftest import TRACEPARENT, call_context

MiB = 1 << 20


@dataclass
class H2Seen:
    verb: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class H2App:
    """Echoes body and content type; answers the status of a `status=` query parameter;
    `/slow` never answers; `/healthz` is 200. Counts connections and the most streams open."""

    seen: list[H2Seen] = field(default_factory=list)
    connections: int = 0
    open_streams: int = 0
    most_streams: int = 0
    # Answers to the streams in `held` wait until this is set.
    release: asyncio.Event = field(default_factory=asyncio.Event)
    # Set once `awaited_streams` streams are open at the same time.
    streams_open: asyncio.Event = field(default_factory=asyncio.Event)
    awaited_streams: int = 0
    live: set[_H2AppConnection] = field(default_factory=set)
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _H2AppConnection(self), "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for connection in list(self.live):
                connection.go_away()
            await self.server.wait_closed()


class _H2AppConnection(asyncio.Protocol):
    def __init__(self, app: H2App) -> None:
        self.app = app
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding="latin1"))
        self.transport: asyncio.Transport | None = None
        self.requests: dict[int, tuple[dict[str, str], list[bytes]]] = {}
        self.window = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.app.connections += 1
        self.app.live.add(self)
        self.h2.initiate_connection()
        self.flush()

    def go_away(self) -> None:
        """Closes as a server shutting down does: GOAWAY first, then the connection."""
        self.h2.close_connection()
        self.flush()
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.app.live.discard(self)

    def flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.h2.data_to_send())

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return  # gone away: what the client still sends is of no interest
        for event in self.h2.receive_data(data):
            if isinstance(event, RequestReceived):
                assert event.stream_id is not None and event.headers is not None
                self.requests[event.stream_id] = ({str(k): str(v) for k, v in event.headers}, [])
                self.app.open_streams += 1
                self.app.most_streams = max(self.app.most_streams, self.app.open_streams)
                if self.app.open_streams >= self.app.awaited_streams:
                    self.app.streams_open.set()
            elif isinstance(event, DataReceived):
                assert event.stream_id is not None and event.data is not None
                self.requests[event.stream_id][1].append(event.data)
                self.h2.acknowledge_received_data(
                    event.flow_controlled_length or 0, event.stream_id
                )
            elif isinstance(event, StreamEnded):
                assert event.stream_id is not None
                asyncio.get_running_loop().create_task(self.answer(event.stream_id))
            elif isinstance(event, WindowUpdated):
                self.window.set()
            elif isinstance(event, ConnectionTerminated):
                assert self.transport is not None
                self.transport.close()
        self.flush()

    async def answer(self, stream_id: int) -> None:
        headers, parts = self.requests.pop(stream_id)
        path, _, query = headers[":path"].partition("?")
        body = b"".join(parts)
        self.app.seen.append(H2Seen(headers[":method"], headers[":path"], headers, body))
        if path == "/slow":
            await asyncio.Event().wait()
        if path == "/held":
            await self.app.release.wait()
        self.app.open_streams -= 1
        status = "200" if path == "/healthz" else parse_qs(query).get("status", ["200"])[0]
        reply = [(":status", status), ("x-app", "h2c"), ("connection-token", "ok")]
        if "content-type" in headers:
            reply.append(("content-type", headers["content-type"]))
        self.h2.send_headers(stream_id, reply, end_stream=not body)
        offset = 0
        while offset < len(body):
            room = min(
                self.h2.local_flow_control_window(stream_id),
                self.h2.max_outbound_frame_size,
                len(body) - offset,
            )
            if room <= 0:
                self.window.clear()
                await self.window.wait()
                continue
            self.h2.send_data(stream_id, body[offset : offset + room], offset + room == len(body))
            self.flush()
            offset += room
        self.flush()


@pytest.fixture
async def h2_app() -> AsyncIterator[H2App]:
    app = H2App()
    await app.start()
    try:
        yield app
    finally:
        app.release.set()
        await app.close()


@pytest.fixture
async def channel(h2_app: H2App) -> AsyncIterator[H2cAppChannel]:
    channel = H2cAppChannel("127.0.0.1", h2_app.port, app_api_token="app-secret")
    try:
        yield channel
    finally:
        await channel.close()


async def test_a_call_reaches_the_app_with_its_fields(
    h2_app: H2App, channel: H2cAppChannel
) -> None:
    request = InvokeRequest(
        method="orders/42",
        verb="PUT",
        query="a=1",
        body=b'{"id":42}',
        content_type="application/json",
        headers=[("X-Custom", "yes"), ("Connection", "close"), ("host", "elsewhere")],
    )
    reply = await invoke(channel, request, call_context())
    [seen] = h2_app.seen
    assert (seen.verb, seen.path, seen.body) == ("PUT", "/orders/42?a=1", b'{"id":42}')
    assert seen.headers[":authority"] == f"127.0.0.1:{h2_app.port}"
    assert seen.headers[":scheme"] == "http"
    assert seen.headers["x-custom"] == "yes"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["dapr-api-token"] == "app-secret"
    assert seen.headers["dapr-caller-app-id"] == "caller"
    assert seen.headers["dapr-callee-app-id"] == "callee"
    assert seen.headers["traceparent"] == TRACEPARENT
    assert "connection" not in seen.headers
    assert (reply.status, reply.body, reply.content_type) == (200, b'{"id":42}', "application/json")
    assert ("x-app", "h2c") in reply.headers


@pytest.mark.parametrize("verb", ["GET", "POST", "DELETE", "PATCH", "OPTIONS"])
async def test_verbs(h2_app: H2App, channel: H2cAppChannel, verb: str) -> None:
    await invoke(channel, InvokeRequest(method="m", verb=verb), call_context())
    assert h2_app.seen[0].verb == verb


async def test_non_2xx_answers_come_back_as_they_are(channel: H2cAppChannel) -> None:
    reply = await invoke(
        channel,
        InvokeRequest(method="m", verb="POST", query="status=418", body=b"teapot"),
        call_context(),
    )
    assert (reply.status, reply.body) == (418, b"teapot")


async def test_four_mib_bodies_both_ways(h2_app: H2App, channel: H2cAppChannel) -> None:
    body = bytes(range(256)) * (4 * MiB // 256)
    reply = await invoke(
        channel, InvokeRequest(method="big", verb="POST", body=body), call_context()
    )
    assert h2_app.seen[0].body == body
    assert reply.body == body


async def test_calls_share_one_connection_at_once(h2_app: H2App, channel: H2cAppChannel) -> None:
    h2_app.awaited_streams = 20
    calls = [
        asyncio.create_task(invoke(channel, InvokeRequest(method="held"), call_context()))
        for _ in range(20)
    ]
    async with asyncio.timeout(10):
        await h2_app.streams_open.wait()
    h2_app.release.set()
    replies = await asyncio.gather(*calls)
    assert [reply.status for reply in replies] == [200] * 20
    assert h2_app.connections == 1


async def test_app_down_is_unreachable(closed_port: int) -> None:
    channel = H2cAppChannel("127.0.0.1", closed_port)
    with pytest.raises(AppUnreachable):
        await invoke(channel, InvokeRequest(method="m"), call_context())
    assert not await channel.probe(1.0)
    await channel.close()


async def test_no_answer_in_time_is_a_timeout(channel: H2cAppChannel) -> None:
    with pytest.raises(AppTimeout):
        await invoke(channel, InvokeRequest(method="slow"), call_context(timeout=0.2))


async def test_a_new_connection_after_the_app_restarts(h2_app: H2App) -> None:
    channel = H2cAppChannel("127.0.0.1", h2_app.port)
    assert (await invoke(channel, InvokeRequest(method="m"), call_context())).status == 200
    await h2_app.close()
    restarted = H2App()
    loop = asyncio.get_running_loop()
    restarted.server = await loop.create_server(
        lambda: _H2AppConnection(restarted), "127.0.0.1", h2_app.port
    )
    try:
        assert (await invoke(channel, InvokeRequest(method="m"), call_context())).status == 200
        assert restarted.connections == 1
    finally:
        await channel.close()
        await restarted.close()


async def test_probe_and_factory(h2_app: H2App) -> None:
    built = build_app_channel(AppChannelSettings(port=h2_app.port, protocol="h2c"))
    try:
        assert await built.channel.probe(1.0)
        reply = await invoke(built.channel, InvokeRequest(method="x", body=b"b"), call_context())
        assert reply.body == b"b"
    finally:
        await built.channel.close()
