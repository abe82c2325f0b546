"""Unary calls from real grpcio clients: echo, metadata, statuses, sizes, concurrency."""

from __future__ import annotations

import asyncio
from typing import cast

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from mecha.http2 import GrpcError, Limits, ServerCall, StatusCode, UnaryMethod
from tests.unit.server_checks import LoggedErrors

from .support import ECHO, pairs, serve, within

MIB = 1024 * 1024


async def test_unary_echo() -> None:
    async with serve(ECHO) as served:
        call = served.channel().unary_unary("/t.Echo/Unary", None, None)
        assert await call(b"hello") == b"hello"
        assert await call(b"") == b""
        assert await call(b"again") == b"again"


async def test_metadata_round_trip_with_binary_values() -> None:
    seen: list[tuple[str, str | bytes]] = []
    peers: list[str] = []

    async def handler(call: ServerCall, request: bytes) -> bytes:
        seen.extend(call.metadata)
        peers.append(call.peer)
        call.send_initial_metadata([("x-initial", "one"), ("x-raw-bin", b"\x00\xff\x10")])
        call.set_trailing_metadata([("x-trailing", "two"), ("x-tail-bin", b"\x01\x02")])
        return request

    async with serve({"/t.M/Echo": UnaryMethod(handler)}) as served:
        call = served.channel().unary_unary("/t.M/Echo", None, None)(
            b"x", metadata=(("x-text", "hello world"), ("x-data-bin", b"\x00\x01\xfe"))
        )
        assert await call == b"x"
        initial = pairs(await call.initial_metadata())
        trailing = pairs(await call.trailing_metadata())
    assert ("x-text", "hello world") in seen
    assert ("x-data-bin", b"\x00\x01\xfe") in seen
    assert all(not name.startswith(":") and name != "content-type" for name, _ in seen)
    assert ("x-initial", "one") in initial
    assert ("x-raw-bin", b"\x00\xff\x10") in initial
    assert ("x-trailing", "two") in trailing
    assert ("x-tail-bin", b"\x01\x02") in trailing
    assert peers[0].startswith("ipv4:127.0.0.1:")


async def test_error_with_message_details_and_trailers() -> None:
    info = error_details_pb2.ErrorInfo(reason="DAPR_STATE_NOT_FOUND", domain="dapr.io")
    status = status_pb2.Status(code=StatusCode.NOT_FOUND, message="clé absente: 100%")
    status.details.add().Pack(info)

    async def handler(call: ServerCall, request: bytes) -> bytes:
        call.set_trailing_metadata([("x-from-call", "a")])
        raise GrpcError(
            StatusCode.NOT_FOUND,
            "clé absente: 100%",
            status.SerializeToString(),
            trailers=[("x-from-error", "b")],
        )

    async with serve({"/t.E/Fail": UnaryMethod(handler)}) as served:
        call = served.channel().unary_unary("/t.E/Fail", None, None)(b"")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
    error = raised.value
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "clé absente: 100%"
    trailing = pairs(error.trailing_metadata())
    assert ("x-from-call", "a") in trailing
    assert ("x-from-error", "b") in trailing
    details = dict(trailing)["grpc-status-details-bin"]
    assert isinstance(details, bytes)
    decoded = status_pb2.Status.FromString(details)
    unpacked = error_details_pb2.ErrorInfo()
    assert decoded.details[0].Unpack(unpacked)
    assert unpacked.reason == "DAPR_STATE_NOT_FOUND"


async def test_sync_client_reads_the_rich_status() -> None:
    status = status_pb2.Status(code=StatusCode.INVALID_ARGUMENT, message="bad key")

    async def handler(call: ServerCall, request: bytes) -> bytes:
        raise GrpcError(StatusCode.INVALID_ARGUMENT, "bad key", status.SerializeToString())

    def call_sync(target: str) -> grpc.RpcError:
        with grpc.insecure_channel(target) as channel:
            try:
                channel.unary_unary("/t.E/Fail", None, None)(b"", timeout=10)
            except grpc.RpcError as error:
                return error
        raise AssertionError("the call did not fail")

    async with serve({"/t.E/Fail": UnaryMethod(handler)}) as served:
        error = await asyncio.to_thread(call_sync, served.target)
    call = cast(grpc.Call, error)
    assert call.code() == grpc.StatusCode.INVALID_ARGUMENT
    rich = rpc_status.from_call(call)
    assert rich is not None
    assert (rich.code, rich.message) == (StatusCode.INVALID_ARGUMENT, "bad key")


async def test_unknown_method_is_unimplemented() -> None:
    async with serve(ECHO) as served:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await served.channel().unary_unary("/t.Echo/Nope", None, None)(b"x")
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
        # The connection goes on serving.
        assert await served.channel().unary_unary("/t.Echo/Unary", None, None)(b"y") == b"y"


async def test_handler_exception_is_unknown_and_the_connection_survives(
    logged_errors: LoggedErrors,
) -> None:
    records = logged_errors.expect()

    async def broken(call: ServerCall, request: bytes) -> bytes:
        raise ValueError("boom")

    async with serve({**ECHO, "/t.B/Broken": UnaryMethod(broken)}) as served:
        channel = served.channel()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await channel.unary_unary("/t.B/Broken", None, None)(b"")
        assert raised.value.code() == grpc.StatusCode.UNKNOWN
        assert await channel.unary_unary("/t.Echo/Unary", None, None)(b"ok") == b"ok"
    assert len(records) == 1
    assert "/t.B/Broken" in records[0].getMessage()


async def test_four_mib_request_and_response() -> None:
    payload = bytes(range(256)) * (4 * MIB // 256)
    async with serve(ECHO) as served:
        call = served.channel().unary_unary("/t.Echo/Unary", None, None)
        assert await call(payload) == payload
        results = await asyncio.gather(*(call(payload) for _ in range(3)))
        assert all(result == payload for result in results)


async def test_sync_client_four_mib() -> None:
    payload = b"z" * (4 * MIB)

    def call_sync(target: str) -> bytes:
        with grpc.insecure_channel(target) as channel:
            reply: bytes = channel.unary_unary("/t.Echo/Unary", None, None)(payload, timeout=10)
            return reply

    async with serve(ECHO) as served:
        assert await asyncio.to_thread(call_sync, served.target) == payload


async def test_message_over_the_limit_is_resource_exhausted() -> None:
    async with serve(ECHO, limits=Limits(max_message_bytes=1000)) as served:
        call = served.channel().unary_unary("/t.Echo/Unary", None, None)
        assert len(await call(b"a" * 1000)) == 1000
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(b"a" * 1001)
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(b"a" * 300_000)
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await call(b"after") == b"after"


async def test_default_limit_refuses_more_than_four_mib() -> None:
    async with serve(ECHO) as served:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await served.channel().unary_unary("/t.Echo/Unary", None, None)(b"a" * (4 * MIB + 1))
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_compressed_request_is_unimplemented() -> None:
    async with serve(ECHO) as served:
        call = served.channel().unary_unary("/t.Echo/Unary", None, None)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(b"b" * 2000, compression=grpc.Compression.Gzip)
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert await call(b"plain") == b"plain"


async def test_two_hundred_concurrent_calls_on_one_channel() -> None:
    gate = asyncio.Event()
    running = 0
    peak = 0

    async def slow_echo(call: ServerCall, request: bytes) -> bytes:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 200:
            gate.set()
        await gate.wait()
        running -= 1
        return request

    async with serve({"/t.Echo/Unary": UnaryMethod(slow_echo)}) as served:
        call = served.channel().unary_unary("/t.Echo/Unary", None, None)
        replies = await within(asyncio.gather(*(call(b"%d" % n * 50) for n in range(200))))
    assert replies == [b"%d" % n * 50 for n in range(200)]
    assert peak == 200


async def test_handler_sees_the_deadline() -> None:
    remaining: list[float | None] = []

    async def handler(call: ServerCall, request: bytes) -> bytes:
        remaining.append(call.time_remaining())
        return request

    async with serve({"/t.Echo/Unary": UnaryMethod(handler)}) as served:
        call = served.channel().unary_unary("/t.Echo/Unary", None, None)
        await call(b"a", timeout=5)
        await call(b"b")
    first, second = remaining
    assert first is not None and 3 < first <= 5.1
    assert second is None
