"""Test helpers: a live HttpServer on 127.0.0.1:0 and a raw client that sees exact bytes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from mecha.http1 import Handler, HttpServer, Limits, Response

TIMEOUT = 5.0
"""Upper bound for any single wait: generous for a loaded machine, never a sleep."""


def render_error(status: int, message: str) -> Response:
    body = json.dumps({"errorCode": f"ERR_HTTP_{status}", "message": message}).encode()
    return Response(status, body, content_type="application/json")


@dataclass
class Served:
    server: HttpServer
    port: int

    async def connect(self) -> RawConnection:
        return await RawConnection.open(self.port)


@contextlib.asynccontextmanager
async def serve(
    handler: Handler, *, limits: Limits | None = None, server_header: str = "mecha"
) -> AsyncIterator[Served]:
    server = HttpServer(
        handler,
        limits=limits or Limits(),
        on_protocol_error=render_error,
        server_header=server_header,
    )
    port = await server.listen("127.0.0.1", 0)
    try:
        yield Served(server, port)
    finally:
        await asyncio.wait_for(server.close(grace=1.0), TIMEOUT)


@dataclass
class Reply:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    head: bytes

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def parse_head(head: bytes) -> tuple[int, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    version, status, reason = lines[0].split(" ", 2)
    assert version == "HTTP/1.1", lines[0]
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
    return int(status), reason, headers


class RawConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> RawConnection:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), TIMEOUT)

    async def read_head(self) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), TIMEOUT)

    async def read_reply(self, *, head_only: bool = False) -> Reply:
        head = await self.read_head()
        status, reason, headers = parse_head(head)
        reply = Reply(status, reason, headers, b"", head)
        length = reply.header("content-length")
        if not head_only and length is not None:
            reply.body = await asyncio.wait_for(self.reader.readexactly(int(length)), TIMEOUT)
        return reply

    async def read_eof(self) -> bytes:
        """Everything up to the server's close; a reset counts as a close."""
        try:
            return await asyncio.wait_for(self.reader.read(), TIMEOUT)
        except ConnectionResetError:
            return b""

    async def request(self, data: bytes, *, head_only: bool = False) -> Reply:
        await self.send(data)
        return await self.read_reply(head_only=head_only)

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)


def get(path: str = "/", *headers: str, version: str = "1.1", method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def post(path: str, body: bytes, *headers: str) -> bytes:
    return get(path, f"Content-Length: {len(body)}", *headers, method="POST") + body


def chunked(path: str, chunks: list[bytes], *headers: str, trailer: str = "") -> bytes:
    head = get(path, "Transfer-Encoding: chunked", *headers, method="POST")
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks)
    return head + encoded + b"0\r\n" + trailer.encode("latin-1") + b"\r\n"


def describe(request_path: str, body: bytes) -> Response:
    return Response(200, body or request_path.encode(), content_type="text/plain")


async def eventually(predicate: Callable[[], bool], what: str) -> None:
    """Waits for a condition that no event announces (internal back-pressure state)."""
    async with asyncio.timeout(TIMEOUT):
        while not predicate():  # noqa: ASYNC110 - no event announces this internal state
            await asyncio.sleep(0.005)
    assert predicate(), what


async def within(awaitable: Awaitable[object]) -> object:
    return await asyncio.wait_for(awaitable, TIMEOUT)
