"""RedisClient: commands, pipelines and Lua scripts over one pipelined connection that heals itself.

All callers share one `RespConnection`. When it breaks, the commands in flight fail with
`RedisConnectionError` and the next call opens a new connection (one attempt, bounded by the
dial timeout, shared by every caller waiting for it). Reads that were in flight are retried on
the new connection; writes are not, since they may already have been applied.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from mecha.components.redis.resp import (
    Arg,
    RedisConnectionError,
    RedisError,
    Reply,
    RespConnection,
    ResponseError,
    encode_command,
)


class RedisConnectError(RedisConnectionError):
    """A new connection could not be opened (refused, timed out, or the handshake failed)."""


@dataclass(frozen=True, slots=True)
class ConnectionOptions:
    host: str
    port: int
    username: str = ""
    password: str = ""
    db: int = 0
    # None waits forever; Dapr's defaults are 5 s to connect and 3 s per command.
    dial_timeout: float | None = 5.0
    command_timeout: float | None = 3.0
    # How often a read that was in flight on a lost connection is tried again.
    read_retries: int = 3

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class Script:
    """A Lua script run with EVALSHA, falling back to EVAL when the server does not know it."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source.encode()
        self.sha = hashlib.sha1(self.source, usedforsecurity=False).hexdigest().encode()


class RedisClient:
    def __init__(self, options: ConnectionOptions) -> None:
        self.options = options
        self._connection: RespConnection | None = None
        self._connecting: asyncio.Lock | None = None
        self._closed = False

    @property
    def address(self) -> str:
        return self.options.address

    async def execute(self, *args: Arg) -> Reply:
        """Run one command; an error reply raises ResponseError."""
        connection = self._connection
        if connection is None or not connection.usable:
            connection = await self._reconnect()
        return await connection.send(encode_command(args))

    async def read(self, *args: Arg) -> Reply:
        """Run a command that is safe to repeat, retrying it once the connection is back."""
        return await self._retrying(encode_command(args), 1)

    async def pipeline(
        self, commands: Sequence[Sequence[Arg]], *, repeatable: bool = False
    ) -> list[Reply]:
        """Send commands in one write and return their replies; error replies are returned."""
        payload = b"".join([encode_command(command) for command in commands])
        if repeatable:
            replies = await self._retrying(payload, len(commands))
        else:
            connection = self._connection
            if connection is None or not connection.usable:
                connection = await self._reconnect()
            replies = await connection.send(payload, len(commands))
        return _as_list(replies, len(commands))

    async def run_script(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Reply:
        try:
            return await self.execute(b"EVALSHA", script.sha, len(keys), *keys, *args)
        except ResponseError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
        # EVAL also caches the script, so the next EVALSHA finds it.
        return await self.execute(b"EVAL", script.source, len(keys), *keys, *args)

    async def close(self) -> None:
        self._closed = True
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    # ---- connecting ----------------------------------------------------------------------------

    async def _retrying(self, payload: bytes, replies: int) -> Reply:
        attempts_left = self.options.read_retries
        while True:
            connection = self._connection
            if connection is None or not connection.usable:
                connection = await self._reconnect()
            try:
                return await connection.send(payload, replies)
            except RedisConnectError:
                raise
            except RedisConnectionError:
                if attempts_left <= 0 or self._closed:
                    raise
                attempts_left -= 1

    async def _reconnect(self) -> RespConnection:
        if self._closed:
            raise RedisConnectionError(f"the client for Redis at {self.address} is closed")
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            connection = self._connection
            if connection is not None and connection.usable:
                return connection  # another caller reconnected while this one waited
            self._connection = None
            if connection is not None:
                await connection.close()
            connection = await self._open()
            self._connection = connection
            return connection

    async def _open(self) -> RespConnection:
        options = self.options
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(options.dial_timeout):
                _, connection = await loop.create_connection(
                    lambda: RespConnection(options.address, options.command_timeout),
                    options.host,
                    options.port,
                )
        except TimeoutError:
            raise RedisConnectError(
                f"cannot connect to Redis at {options.address}: "
                f"no answer within {options.dial_timeout:g}s"
            ) from None
        except OSError as error:
            reason = error.strerror or str(error)
            raise RedisConnectError(
                f"cannot connect to Redis at {options.address}: {reason}"
            ) from None
        try:
            await self._handshake(connection)
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _handshake(self, connection: RespConnection) -> None:
        options = self.options
        commands: list[tuple[Arg, ...]] = []
        if options.password:
            if options.username:
                commands.append((b"AUTH", options.username, options.password))
            else:
                commands.append((b"AUTH", options.password))
        if options.db:
            commands.append((b"SELECT", options.db))
        if not commands:
            return
        payload = b"".join([encode_command(command) for command in commands])
        try:
            replies = _as_list(await connection.send(payload, len(commands)), len(commands))
        except RedisConnectionError as error:
            raise RedisConnectError(str(error)) from None
        for command, reply in zip(commands, replies, strict=True):
            if isinstance(reply, ResponseError):
                name = bytes(command[0]).decode() if isinstance(command[0], bytes) else command[0]
                raise RedisConnectError(f"Redis at {options.address} refused {name}: {reply}")


def _as_list(replies: Reply, count: int) -> list[Reply]:
    if count == 1:
        return [replies]
    assert isinstance(replies, list)
    return replies


__all__ = [
    "Arg",
    "ConnectionOptions",
    "RedisClient",
    "RedisConnectError",
    "RedisConnectionError",
    "RedisError",
    "Reply",
    "ResponseError",
    "Script",
]
