"""ServerCall: one gRPC call (one HTTP/2 stream) as its handler sees it, and its stream state.

The call object is also the stream's bookkeeping (windows, received messages, flags), so a
call costs one object. Received DATA is cut into messages here; sending goes through the
connection, which owns flow control and the transport.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mecha.http2.head import RequestHead
from mecha.http2.metadata import Metadata, MetadataValue, encode_metadata
from mecha.http2.responses import RESPONSE_HEAD, message_prefix
from mecha.http2.status import GrpcError, StatusCode

if TYPE_CHECKING:
    from mecha.http2.connection import GrpcConnection

UnaryHandler = Callable[["ServerCall", bytes], Awaitable[bytes]]
StreamHandler = Callable[["ServerCall"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class UnaryMethod:
    """One request message in, one response message out."""

    handler: UnaryHandler


@dataclass(frozen=True, slots=True)
class StreamMethod:
    """Client, server or bidirectional streaming: the handler reads and writes messages."""

    handler: StreamHandler


Method = UnaryMethod | StreamMethod


class ServerCall:
    __slots__ = (
        "_conn",
        "_head",
        "_messages",
        "_partial",
        "_reader",
        "credit",
        "deadline",
        "done",
        "headers_sent",
        "id",
        "initial_block",
        "method",
        "remote_closed",
        "send_window",
        "target",
        "task",
        "timer",
        "trailing_block",
        "unacked",
        "unary",
        "waiter",
    )

    def __init__(
        self,
        conn: GrpcConnection,
        stream_id: int,
        head: RequestHead,
        target: Method | None,
        window: int,
    ) -> None:
        self._conn = conn
        self.id = stream_id
        self._head = head
        self.method = head.path
        """The called method's path, `/package.Service/Method`."""
        self.target = target
        self.unary = not isinstance(target, StreamMethod)
        self.deadline: float | None = None
        """Event loop time after which the call fails with DEADLINE_EXCEEDED; None: no limit."""
        self.send_window = window
        self.unacked = 0
        """Bytes received on the stream and not yet given back to the peer's window."""
        self.credit = 0
        """Of those, bytes the handler has consumed: given back once enough add up."""
        self._partial = b""
        self._messages: deque[bytes] = deque()
        self._reader: asyncio.Future[None] | None = None
        self.remote_closed = False
        self.done = False
        """The response is complete or the stream reset: nothing more is sent."""
        self.headers_sent = False
        self.initial_block = RESPONSE_HEAD
        self.trailing_block = b""
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.waiter: asyncio.Future[None] | None = None

    # What handlers use

    @property
    def metadata(self) -> Metadata:
        """Request metadata in arrival order; values of `-bin` keys are bytes."""
        return list(self._head.metadata)

    @property
    def peer(self) -> str:
        """The client's address, as `ipv4:127.0.0.1:5000` or `ipv6:[::1]:5000`."""
        return self._conn.peer

    def time_remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - self._conn.loop.time())

    def send_initial_metadata(self, metadata: Iterable[tuple[str, MetadataValue]]) -> None:
        """Sends the response headers now, with this metadata; at most once, before any
        message. Raises ValueError for names or values gRPC does not allow."""
        if self.headers_sent:
            raise RuntimeError("initial metadata was already sent")
        self.initial_block = RESPONSE_HEAD + encode_metadata(metadata)
        self._conn.send_headers(self)

    def set_trailing_metadata(self, metadata: Iterable[tuple[str, MetadataValue]]) -> None:
        """Metadata sent with the status when the call ends (replacing any set before)."""
        self.trailing_block = encode_metadata(metadata)

    async def read(self) -> bytes | None:
        """The next request message; None once the client has finished sending."""
        while not self._messages:
            if self.remote_closed or self.done:
                return None
            self._reader = self._conn.loop.create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        message = self._messages.popleft()
        self._conn.consumed(self, len(message) + 5)
        return message

    async def write(self, message: bytes) -> None:
        """Sends one response message, waiting while flow control or the socket hold it back."""
        if self.done:
            raise GrpcError(StatusCode.CANCELLED, "the call has ended")
        if not self.headers_sent:
            self._conn.send_headers(self)
        pending = self._conn.send_data(self, message_prefix(len(message)) + message)
        if pending is not None:
            await pending

    # What the connection uses

    def receive(self, data: bytes, limit: int) -> GrpcError | None:
        """Cuts received DATA into messages; returns the error that ends the call, if any."""
        if self._partial:
            data = self._partial + data
        offset = 0
        size = len(data)
        while size - offset >= 5:
            flag = data[offset]
            length = int.from_bytes(data[offset + 1 : offset + 5], "big")
            if length > limit:
                return GrpcError(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"received message larger than max ({length} vs. {limit})",
                )
            if flag:
                return _compression_error(self._head.encoding)
            end = offset + 5 + length
            if end > size:
                break
            self._messages.append(data[offset + 5 : end])
            offset = end
        self._partial = data[offset:] if offset < size else b""
        if self.unary and len(self._messages) > 1:
            return GrpcError(StatusCode.INTERNAL, "more than one request message")
        self.wake_reader()
        return None

    def end_of_input(self) -> GrpcError | bytes | None:
        """Marks the client's half-close; for a unary call returns its one request message."""
        self.remote_closed = True
        if self._partial:
            return GrpcError(StatusCode.INTERNAL, "incomplete message at end of stream")
        if self.unary:
            if len(self._messages) != 1:
                return GrpcError(StatusCode.INTERNAL, "expected one request message")
            return self._messages.popleft()
        self.wake_reader()
        return None

    def wake_reader(self) -> None:
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    def wake_writer(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _compression_error(encoding: bytes) -> GrpcError:
    if encoding in (b"", b"identity"):
        return GrpcError(StatusCode.INTERNAL, "compressed message without grpc-encoding")
    name = encoding.decode("latin-1")
    return GrpcError(StatusCode.UNIMPLEMENTED, f"message compression {name!r} not supported")
