"""Servers for the Redis driver tests: a scripted fake, and a proxy in front of the real Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import hiredis

from mecha.components.redis.client import ConnectionOptions

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379

# What a fake answers to one command: RESP bytes, an awaitable of them (answer later, keeping
# order), CLOSE to drop the connection, or None to never answer.
Answer = bytes | Awaitable[bytes] | None
CLOSE = b"<close>"


class FakeRedis:
    """A RESP server on a free port that records commands and answers through `handler`."""

    def __init__(self, handler: Callable[[list[bytes]], Answer]) -> None:
        self.handler = handler
        self.commands: list[list[bytes]] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, REDIS_HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def options(self, **overrides: object) -> ConnectionOptions:
        settings: dict[str, object] = {"host": REDIS_HOST, "port": self.port} | overrides
        return ConnectionOptions(**settings)  # type: ignore[arg-type]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        parser = hiredis.Reader()
        try:
            while data := await reader.read(65536):
                parser.feed(data)
                while (command := parser.gets()) is not False:
                    self.commands.append(command)
                    answer = self.handler(command)
                    if answer is None:
                        continue
                    if not isinstance(answer, bytes):
                        answer = await answer
                    if answer == CLOSE:
                        return
                    writer.write(answer)
        finally:
            self._tasks.discard(task)
            writer.close()


class TcpProxy:
    """Forwards a local port to the real Redis; `stop` cuts every connection and stops listening."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, REDIS_HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(REDIS_HOST, REDIS_PORT)
        self._writers.update((writer, upstream_writer))
        pumps = [
            asyncio.create_task(_pump(reader, upstream_writer)),
            asyncio.create_task(_pump(upstream_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
                self._tasks.discard(pump)
            for side in (writer, upstream_writer):
                side.transport.abort()
                self._writers.discard(side)


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
