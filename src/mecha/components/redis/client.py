"""RedisClient: commands, pipelines and Lua scripts over one pipelined connection that heals itself.

All callers share one `RespConnection`. When it breaks, the commands in flight fail with
`RedisConnectionError` and the next call opens a new connection (one attempt, bounded by the
dial timeout, shared by every caller waiting for it). Reads that were in flight are retried on
the new connection; writes are not, since they may already have been applied.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

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
    password: str = field(default="", repr=False)
    db: int = 0
    # None waits forever; Dapr's defaults are 5 s to connect and 3 s per command.
    dial_timeout: float | None = 5.0
    command_timeout: float | None = 3.0
    # How often a read that was in flight on a lost connection is tried again.
    read_retries: int = 3
    # TLS when set; the server's name is checked against `host`.
    tls: ssl.SSLContext | None = None

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

    @property
    def closed(self) -> bool:
        return self._closed

    async def execute(self, *args: Arg) -> Reply:
        """Run one command; an error reply raises ResponseError."""
        connection = self._connection
        if connection is None or not connection.usable:
            connection = await self._reconnect()
        return await connection.send(encode_command(args))

    async def read(self, *args: Arg) -> Reply:
        """Run a command that is safe to repeat, retrying it once the connection is back."""
        return await self._retrying(encode_command(args), 0)

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
        assert isinstance(replies, list)
        return replies

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
            except RedisConnectionError:  # lost in flight; failing to reconnect is raised above
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
            if self.closed:  # while connecting
                await connection.close()
                raise RedisConnectionError(f"the client for Redis at {self.address} is closed")
            self._connection = connection
            return connection

    async def _open(self) -> RespConnection:
        options = self.options
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(options.dial_timeout):
                _, protocol = await loop.create_connection(
                    lambda: cast(
                        asyncio.BaseProtocol,
                        RespConnection(options.address, options.command_timeout),
                    ),
                    options.host,
                    options.port,
                    ssl=options.tls,
                    server_hostname=options.host if options.tls else None,
                )
        except TimeoutError:
            raise RedisConnectError(
                f"cannot connect to Redis at {options.address}: "
                f"no answer within {options.dial_timeout:g}s"
            ) from None
        except OSError as error:
            reason = str(error) if isinstance(error, ssl.SSLError) else error.strerror or str(error)
            raise RedisConnectError(
                f"cannot connect to Redis at {options.address}: {reason}"
            ) from None
        connection = cast(RespConnection, protocol)
        try:
            await self._handshake(connection)
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _handshake(self, connection: RespConnection) -> None:
        options = self.options
        commands: dict[str, tuple[Arg, ...]] = {}
        if options.password:
            credentials = (options.username, options.password) if options.username else ()
            commands["AUTH"] = (b"AUTH", *(credentials or (options.password,)))
        if options.db:
            commands["SELECT"] = (b"SELECT", options.db)
        if not commands:
            return
        payload = b"".join([encode_command(command) for command in commands.values()])
        try:
            replies = await connection.send(payload, len(commands))
        except RedisConnectionError as error:
            raise RedisConnectError(str(error)) from None
        assert isinstance(replies, list)
        for name, reply in zip(commands, replies, strict=True):
            if isinstance(reply, ResponseError):
                raise RedisConnectError(f"Redis at {options.address} refused {name}: {reply}")


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


async def connect_checked(options: ConnectionOptions) -> RedisClient:
    """A client whose server answered PING; closed again when it did not."""
    client = RedisClient(options)
    try:
        await client.execute(b"PING")
    except BaseException:
        await client.close()
        raise
    return client
