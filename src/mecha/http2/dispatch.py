"""Running handlers: each call's handler in a task of its own, and its outcome as a status.

A handler's failure ends its call only: GrpcError becomes its status (trailers-only when
nothing was sent yet), any other exception is logged and answered UNKNOWN. Cancellation comes
from the connection (client reset, deadline, connection lost) and ends the task quietly.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

from mecha.http2.call import ServerCall, StreamHandler, UnaryHandler
from mecha.http2.frames import CANCEL
from mecha.http2.metadata import encode_metadata
from mecha.http2.responses import TRAILERS_OK, status_block
from mecha.http2.status import GrpcError, StatusCode

if TYPE_CHECKING:
    from mecha.http2.connection import GrpcConnection

_log: Final = logging.getLogger("mecha.http2")


async def run_unary(
    conn: GrpcConnection, call: ServerCall, handler: UnaryHandler, request: bytes
) -> None:
    try:
        response = await handler(call, request)
        # A tuple: compiled, a `bytes | ...` union would be built on every call.
        if not isinstance(response, (bytes, bytearray, memoryview)):
            raise TypeError(f"handler returned {type(response).__name__}, not bytes")
    except BaseException as error:
        _failed(conn, call, error)
        return
    pending = conn.reply(call, response)
    if pending is not None:
        try:
            await pending
        except BaseException as error:
            _failed(conn, call, error)
            return
        conn.finish(call, TRAILERS_OK)


async def run_stream(conn: GrpcConnection, call: ServerCall, handler: StreamHandler) -> None:
    try:
        await handler(call)
    except BaseException as error:
        _failed(conn, call, error)
        return
    conn.finish(call, TRAILERS_OK)


def _failed(conn: GrpcConnection, call: ServerCall, error: BaseException) -> None:
    if isinstance(error, GrpcError):
        conn.finish(call, status_response(call, error))
    elif isinstance(error, asyncio.CancelledError):
        if not call.done:
            conn.reset(call, CANCEL)
        raise error
    elif isinstance(error, Exception):
        if not call.done:
            _log.error("handler of %s failed", call.method, exc_info=error)
            conn.finish(call, status_block(StatusCode.UNKNOWN, "unexpected error in the handler"))
    else:
        raise error


def status_response(call: ServerCall, error: GrpcError) -> bytes:
    """The status block of a failed call, with the error's own trailing metadata."""
    block = status_block(error.code, error.message, error.details)
    if error.trailers:
        try:
            block += encode_metadata(error.trailers)
        except ValueError:
            _log.error("invalid trailing metadata in the error of %s", call.method)
    return block
