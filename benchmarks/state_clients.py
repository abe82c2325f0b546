"""The callers of the state benchmark: one GET and one SAVE of a fixed key, four ways.

- `redis-py`: what an app writes without Mecha, redis-py's asyncio client (hiredis parser), one
  client shared by every caller as an app would share it; plain GET and SET.
- `resp`: the floor, hand-built RESP commands on one raw socket per caller, replies read by
  hiredis. It shows what the Redis round trip itself costs.
- `http`: Mecha's HTTP API on one raw keep-alive socket per caller, prebuilt requests, responses
  read by httptools (llhttp), so the client costs little next to the server.
- `grpc`: Mecha's gRPC API on one raw HTTP/2 connection per caller (`benchmarks.grpc_caller`),
  prebuilt requests, so the client costs little next to the server. (grpcio's own client costs
  about 200 µs of CPU per call: through it the client, not the server, is what is measured.)

Every caller writes and reads the same bytes: a 1 KiB JSON string (1,024 bytes with its quotes).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Protocol, cast

import hiredis
import httptools
import redis.asyncio
from dapr.proto.common.v1.common_pb2 import StateItem
from dapr.proto.runtime.v1.state_pb2 import GetStateRequest, GetStateResponse, SaveStateRequest

from benchmarks.grpc_caller import GrpcCaller
from benchmarks.state_settings import HOST, LoadSpec

_GET_STATE = "/dapr.proto.runtime.v1.Dapr/GetState"
_SAVE_STATE = "/dapr.proto.runtime.v1.Dapr/SaveState"


class Caller(Protocol):
    """One caller's two operations on its own key."""

    async def save(self) -> None: ...

    async def get(self) -> bytes | None: ...


class UnexpectedReply(RuntimeError):
    """The server answered, but not with success."""


# ---- redis-py ------------------------------------------------------------------------------------


@dataclass
class RedisPyCaller:
    client: redis.asyncio.Redis
    key: str
    value: bytes

    async def save(self) -> None:
        await self.client.set(self.key, self.value)

    async def get(self) -> bytes | None:
        value = await self.client.get(self.key)
        if value is not None and not isinstance(value, bytes):
            raise UnexpectedReply(f"GET answered {value!r}")
        return value


# ---- raw RESP ------------------------------------------------------------------------------------


def _resp_command(*parts: bytes) -> bytes:
    encoded = [b"*%d\r\n" % len(parts)]
    for part in parts:
        encoded.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(encoded)


class RespCaller(asyncio.Protocol):
    """One command in flight on one connection; hiredis splits the replies."""

    def __init__(self, key: str, value: bytes) -> None:
        self._get = _resp_command(b"GET", key.encode())
        self._set = _resp_command(b"SET", key.encode(), value)
        self._reader = hiredis.Reader()
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[object] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        reply = self._reader.gets()
        if reply is not False and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("Redis closed the connection"))

    async def _call(self, command: bytes) -> object:
        if self._transport is None:
            raise ConnectionError("not connected")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(command)
        return await self._waiter

    async def save(self) -> None:
        reply = await self._call(self._set)
        if reply != b"OK":
            raise UnexpectedReply(f"SET answered {reply!r}")

    async def get(self) -> bytes | None:
        reply = await self._call(self._get)
        if reply is not None and not isinstance(reply, bytes):
            raise UnexpectedReply(f"GET answered {reply!r}")
        return reply

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


# ---- raw HTTP/1.1 --------------------------------------------------------------------------------


class HttpCaller(asyncio.Protocol):
    """One request in flight on one keep-alive connection, responses parsed by httptools."""

    def __init__(self, store: str, key: str, value_json: bytes) -> None:
        body = json.dumps([{"key": key, "value": json.loads(value_json)}]).encode()
        self._get = f"GET /v1.0/state/{store}/{key} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        self._save = (
            f"POST /v1.0/state/{store} HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._body: list[bytes] = []
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("Mecha closed the connection"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        body, self._body = b"".join(self._body), []
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((self._parser.get_status_code(), body))

    async def _call(self, request: bytes) -> tuple[int, bytes]:
        if self._transport is None:
            raise ConnectionError("not connected")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._waiter

    async def save(self) -> None:
        status, body = await self._call(self._save)
        if status != 204:
            raise UnexpectedReply(f"POST state answered {status}: {body[:200]!r}")

    async def get(self) -> bytes | None:
        status, body = await self._call(self._get)
        if status == 204:
            return None
        if status != 200:
            raise UnexpectedReply(f"GET state answered {status}: {body[:200]!r}")
        return body

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


# ---- gRPC ----------------------------------------------------------------------------------------


class GrpcStateCaller:
    """GetState and SaveState through the lean caller, with prebuilt request messages."""

    def __init__(self, caller: GrpcCaller, store: str, key: str, value: bytes) -> None:
        self._caller = caller
        self._get = GetStateRequest(store_name=store, key=key).SerializeToString()
        self._save = SaveStateRequest(
            store_name=store, states=[StateItem(key=key, value=value)]
        ).SerializeToString()

    async def save(self) -> None:
        await self._caller.call(_SAVE_STATE, self._save)

    async def get(self) -> bytes | None:
        response = GetStateResponse.FromString(await self._caller.call(_GET_STATE, self._get))
        return response.data or None


# ---- opening them --------------------------------------------------------------------------------


@asynccontextmanager
async def open_callers(spec: LoadSpec) -> AsyncIterator[list[Caller]]:
    """One caller per key of the spec, connected; everything is closed on exit."""
    value = spec.value.encode()
    loop = asyncio.get_running_loop()
    async with AsyncExitStack() as stack:
        callers: list[Caller] = []
        if spec.target == "redis-py":
            client = redis.asyncio.Redis(host=HOST, port=spec.redis_port)
            stack.push_async_callback(client.aclose)
            callers = [RedisPyCaller(client, key, value) for key in spec.keys]
        elif spec.target == "resp":
            for key in spec.keys:
                _, resp = await loop.create_connection(
                    partial(RespCaller, key, value), HOST, spec.redis_port
                )
                stack.callback(resp.close)
                callers.append(resp)
        elif spec.target == "http":
            for key in spec.keys:
                _, http = await loop.create_connection(
                    partial(HttpCaller, spec.store, key, value), HOST, spec.http_port
                )
                stack.callback(http.close)
                callers.append(http)
        elif spec.target == "grpc":
            authority = f"{HOST}:{spec.grpc_port}"
            for key in spec.keys:
                _, grpc_caller = await loop.create_connection(
                    partial(GrpcCaller, authority), HOST, spec.grpc_port
                )
                stack.callback(grpc_caller.close)
                callers.append(GrpcStateCaller(grpc_caller, spec.store, key, value))
        else:
            raise ValueError(f"unknown target {spec.target!r}")
        yield callers
