"""Helpers of the client tests (no tests here): a client that is always closed, and scripted
servers that answer byte for byte as a test says, misbehaviour included."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mecha.http1 import HttpClient

from .rawhttp import TIMEOUT

T = TypeVar("T")


async def bounded(awaitable: Awaitable[T]) -> T:
    """Awaits within the tests' upper bound for any single wait."""
    return await asyncio.wait_for(awaitable, TIMEOUT)


@contextlib.asynccontextmanager
async def open_client(**options: Any) -> AsyncIterator[HttpClient]:
    client = HttpClient(**options)
    try:
        yield client
    finally:
        await bounded(client.close(grace=1.0))


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def reply(
    body: bytes = b"ok", *headers: str, status: str = "200 OK", version: str = "1.1"
) -> bytes:
    """A response with Content-Length and the given extra header lines."""
    lines = [f"HTTP/{version} {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class RawRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class Peer:
    """The server side of one connection accepted by a scripted server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.requests: list[RawRequest] = []
        self.closed_by_client = asyncio.Event()

    async def read_head(self) -> bytes | None:
        """The next request head, or None when the client closed first."""
        try:
            return await bounded(self.reader.readuntil(b"\r\n\r\n"))
        except asyncio.IncompleteReadError as error:
            if error.partial:
                raise
        except ConnectionResetError:
            pass
        self.closed_by_client.set()
        return None

    async def read_request(self) -> RawRequest | None:
        head = await self.read_head()
        if head is None:
            return None
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ")
        headers = []
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers.append((name, value.strip()))
        request = RawRequest(method, target, headers, b"")
        lengths = request.header_all("content-length")
        if lengths:
            request.body = await bounded(self.reader.readexactly(int(lengths[0])))
        self.requests.append(request)
        return request

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await bounded(self.writer.drain())

    async def wait_closed_by_client(self) -> None:
        """Reads (and drops) until the client closes or resets the connection."""
        with contextlib.suppress(ConnectionResetError):
            while await bounded(self.reader.read(65536)):
                pass
        self.closed_by_client.set()

    def abort(self) -> None:
        self.writer.transport.abort()


Script = Callable[[Peer], Awaitable[None]]


@dataclass
class ScriptedServer:
    port: int = 0
    peers: list[Peer] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def requests(self) -> list[RawRequest]:
        return [request for peer in self.peers for request in peer.requests]


@contextlib.asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[ScriptedServer]:
    """A server on 127.0.0.1 that runs `script` for each connection, then closes it."""
    state = ScriptedServer()
    scripts: set[asyncio.Task[Any]] = set()
    handlers: set[asyncio.Task[Any]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        scripts.add(task)
        peer = Peer(reader, writer)
        state.peers.append(peer)
        state.connected.set()
        try:
            await script(peer)
        except asyncio.CancelledError:
            pass  # the test is over; asyncio would report a cancelled handler as an error
        except ConnectionError:
            pass  # the client closed or reset the connection: tests check what they expect
        finally:
            scripts.discard(task)  # from here on it only closes: never cancelled
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            handlers.discard(task)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in list(scripts):
            task.cancel()
        if handlers:
            await asyncio.wait(list(handlers), timeout=TIMEOUT)
        await server.wait_closed()


def responder(answer: Callable[[RawRequest], bytes] = lambda request: reply()) -> Script:
    """A well-behaved keep-alive server: each request gets `answer(request)`."""

    async def script(peer: Peer) -> None:
        while (request := await peer.read_request()) is not None:
            await peer.send(answer(request))

    return script
