"""The h2c app channel: HTTP/2 in cleartext, with prior knowledge, to an HTTP app.

One connection carries every call as a stream of its own. A request body goes out as fast as
the app's flow-control windows allow; the windows for answers are given back as their data is
taken in. Calls map to the app as on the HTTP/1.1 channel (same target, same headers). A call
the app refused without processing it (REFUSED_STREAM, or a stream above a GOAWAY's last id)
is tried once more on a fresh connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import cast

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import H2Error
from h2.settings import SettingCodes

from mecha.blocks.invocation.errors import AppTimeout, AppUnreachable, InvocationError
from mecha.blocks.invocation.models import CallContext, Header, InvokeRequest, InvokeResponse
from mecha.callbacks import Cancel, run_in_task
from mecha.channel.http import app_request_headers, passed_back, request_target
from mecha.channel.protocols import ChannelDone

log = logging.getLogger("mecha.channel.h2c")

# The window the app may fill before it must wait for us, per stream and for the connection:
# a 4 MiB answer then arrives without a stall.
_RECEIVE_WINDOW = 4 << 20
_DEFAULT_WINDOW = 65_535
_BODY_VERBS = frozenset({"POST", "PUT", "PATCH"})
# Calls that may be sent again when a connection used before was lost under them: repeating
# them changes nothing.
_REPEATABLE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_Header = tuple[bytes, bytes]


class _Refused(Exception):
    """The app did not process the stream: safe to send again."""


class H2cAnswer:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _Stream:
    __slots__ = ("answer", "headers", "parts", "size", "status", "window")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.answer: asyncio.Future[H2cAnswer] = loop.create_future()
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.parts: list[bytes] = []
        self.size = 0
        self.window: asyncio.Future[None] | None = None
        """Set while the body waits for the app to open the stream's window."""

    def fail(self, error: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(error)
        self.wake()

    def wake(self) -> None:
        if self.window is not None and not self.window.done():
            self.window.set_result(None)


def _wake_all(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
    waiters.clear()


class H2cConnection(asyncio.Protocol):
    """One HTTP/2 connection to the app; streams are exchanged with `exchange`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_response_bytes: int) -> None:
        self._loop = loop
        self._max_response_bytes = max_response_bytes
        self._h2 = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self._transport: asyncio.Transport | None = None
        self._streams: dict[int, _Stream] = {}
        self._ended = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._slot_waiters: list[asyncio.Future[None]] = []

    @classmethod
    async def open(
        cls, host: str, port: int, *, connect_timeout: float, max_response_bytes: int
    ) -> H2cConnection:
        loop = asyncio.get_running_loop()
        connection = cls(loop, max_response_bytes)
        try:
            async with asyncio.timeout(connect_timeout):
                await loop.create_connection(lambda: connection, host, port)
        except TimeoutError:
            raise AppUnreachable(
                f"app at {host}:{port} is unreachable: no connection within {connect_timeout:g}s"
            ) from None
        except OSError as error:
            reason = error.strerror or str(error)
            raise AppUnreachable(f"app at {host}:{port} is unreachable: {reason}") from None
        return connection

    @property
    def usable(self) -> bool:
        return not self._ended and self._transport is not None

    async def exchange(self, headers: list[_Header], body: bytes) -> H2cAnswer:
        """Sends one request on a new stream and returns the whole answer.

        Raises _Refused (not processed), InvocationError (the answer was lost) and
        ValueError (headers HTTP/2 cannot carry).
        """
        h2 = self._h2
        while self.usable and h2.open_outbound_streams >= h2.remote_settings.max_concurrent_streams:
            await self._wait(self._slot_waiters)
        if not self.usable:
            raise _Refused("the connection closed before the call went out")
        stream_id = h2.get_next_available_stream_id()
        stream = _Stream(self._loop)
        self._streams[stream_id] = stream
        sent = False
        try:
            try:
                h2.send_headers(stream_id, headers, end_stream=not body)
            except H2Error as error:
                raise ValueError(f"HTTP/2 cannot carry this request: {error}") from None
            self._flush()
            if body:
                await self._send_body(stream_id, stream, body)
            sent = True
            return await stream.answer
        finally:
            del self._streams[stream_id]
            if not (sent and stream.answer.done()) and self.usable:
                self._reset(stream_id)
            _wake_all(self._slot_waiters)

    def close(self) -> None:
        self._ended = True
        if self._transport is not None:
            try:
                self._h2.close_connection()
                self._flush()
            except H2Error:
                pass
            self._transport.close()

    async def _send_body(self, stream_id: int, stream: _Stream, body: bytes) -> None:
        h2 = self._h2
        offset = 0
        while offset < len(body):
            if stream.answer.done():
                return  # answered (or failed) before the body was all sent
            if self._write_paused:
                await self._wait(self._drain_waiters)
                continue
            room = min(
                h2.local_flow_control_window(stream_id),
                h2.max_outbound_frame_size,
                len(body) - offset,
            )
            if room <= 0:
                stream.window = self._loop.create_future()
                await stream.window
                stream.window = None
                continue
            end = offset + room
            h2.send_data(stream_id, body[offset:end], end_stream=end == len(body))
            self._flush()
            offset = end

    async def _wait(self, waiters: list[asyncio.Future[None]]) -> None:
        waiter = self._loop.create_future()
        waiters.append(waiter)
        await waiter

    def _reset(self, stream_id: int) -> None:
        try:
            self._h2.reset_stream(stream_id, ErrorCodes.CANCEL)
        except H2Error:
            return  # already closed at both ends
        self._flush()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)

    # protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, whatever their type says.
        self._transport = cast(asyncio.Transport, transport)
        h2 = self._h2
        h2.initiate_connection()
        h2.update_settings(
            {SettingCodes.ENABLE_PUSH: 0, SettingCodes.INITIAL_WINDOW_SIZE: _RECEIVE_WINDOW}
        )
        h2.increment_flow_control_window(_RECEIVE_WINDOW - _DEFAULT_WINDOW)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._end(InvocationError(f"connection to the app was lost during the call: {exc}"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        _wake_all(self._drain_waiters)

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except H2Error as error:
            self._end(InvocationError(f"the app broke the HTTP/2 protocol: {error}"))
            if self._transport is not None:
                self._transport.abort()
            return
        for event in events:
            if isinstance(event, ConnectionTerminated):
                self._terminated(event)
                return
            self._on_event(event)
        self._flush()

    def _on_event(self, event: object) -> None:
        if isinstance(event, DataReceived):
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, WindowUpdated | RemoteSettingsChanged):
            # A window or the streams allowed grew: let every waiting sender look again.
            for waiting in self._streams.values():
                waiting.wake()
            _wake_all(self._slot_waiters)
            return
        stream = self._streams.get(getattr(event, "stream_id", 0) or 0)
        if stream is None or stream.answer.done():
            return
        if isinstance(event, ResponseReceived):
            stream.status, stream.headers = _answer_head(event.headers or [])
        elif isinstance(event, DataReceived):
            stream.size += len(event.data or b"")
            if stream.size > self._max_response_bytes:
                stream.fail(InvocationError("the app's answer is larger than allowed"))
            else:
                stream.parts.append(event.data or b"")
        elif isinstance(event, StreamEnded):
            stream.answer.set_result(
                H2cAnswer(stream.status, stream.headers, b"".join(stream.parts))
            )
            stream.wake()
        elif isinstance(event, StreamReset):
            if event.error_code == ErrorCodes.REFUSED_STREAM:
                stream.fail(_Refused("the app refused the stream"))
            else:
                stream.fail(InvocationError(f"the app reset the stream ({event.error_code!r})"))

    def _terminated(self, event: ConnectionTerminated) -> None:
        """GOAWAY: streams above its last id were not processed; the others are lost."""
        last = event.last_stream_id or 0
        for stream_id, stream in self._streams.items():
            if stream_id > last:
                stream.fail(_Refused("the app is going away"))
        self._end(InvocationError(f"the app closed the connection ({event.error_code!r})"))
        if self._transport is not None:
            self._transport.close()

    def _end(self, error: Exception) -> None:
        self._ended = True
        for stream in self._streams.values():
            stream.fail(error)
        _wake_all(self._slot_waiters)
        _wake_all(self._drain_waiters)


def _answer_head(headers: Iterable[tuple[bytes, bytes]]) -> tuple[int, list[tuple[str, str]]]:
    status = 0
    kept: list[tuple[str, str]] = []
    for name, value in headers:
        if name == b":status":
            status = int(value)
        elif not name.startswith(b":"):
            kept.append((name.decode("latin1"), value.decode("latin1")))
    return status, kept


class H2cAppChannel:
    """Calls an HTTP app at host:port over one HTTP/2 cleartext connection, made on first use
    and again whenever the last one closed."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        app_api_token: str | None = None,
        health_check_path: str = "/healthz",
        connect_timeout: float = 5.0,
        max_response_bytes: int = 64 << 20,
    ) -> None:
        self._host = host
        self._port = port
        self._authority = (f"[{host}]" if ":" in host else host) + f":{port}"
        self._token = app_api_token
        self._health_target = "/" + health_check_path.lstrip("/")
        self._connect_timeout = connect_timeout
        self._max_response_bytes = max_response_bytes
        self._connection: H2cConnection | None = None
        self._connecting = asyncio.Lock()
        self._closed = False

    def call(self, request: InvokeRequest, context: CallContext, done: ChannelDone) -> Cancel:
        return run_in_task(self._invoke(request, context), done, InvocationError)

    async def _invoke(self, request: InvokeRequest, context: CallContext) -> InvokeResponse:
        target = request_target(request.method, request.query)
        headers = app_request_headers(request, context, self._token)
        try:
            async with asyncio.timeout(context.timeout):
                answer = await self._call(request.verb, target, headers, request.body)
        except TimeoutError:
            raise AppTimeout(
                f"app at {self._authority} did not answer within {context.timeout}s"
            ) from None
        except ValueError as error:
            raise InvocationError(f"cannot send this call to the app: {error}") from error
        headers, content_type = passed_back(answer.headers)
        return InvokeResponse(answer.status, headers, answer.body, content_type)

    async def probe(self, timeout: float) -> bool:
        headers = [("dapr-api-token", self._token)] if self._token else []
        try:
            async with asyncio.timeout(timeout):
                answer = await self._call("GET", self._health_target, headers, b"")
        except (TimeoutError, InvocationError) as error:
            log.debug("health probe of %s failed: %r", self._authority, error)
            return False
        return 200 <= answer.status < 300

    async def close(self) -> None:
        self._closed = True
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def _call(
        self, verb: str, target: str, headers: Sequence[Header], body: bytes
    ) -> H2cAnswer:
        request_headers = self._request_headers(verb, target, headers, body)
        for attempt in range(2):
            connection, fresh = await self._open_connection()
            try:
                return await connection.exchange(request_headers, body)
            except _Refused as refused:
                if attempt:
                    raise AppUnreachable(
                        f"app at {self._authority} did not take the call: {refused}"
                    ) from None
            except InvocationError:
                # The app closed a connection it had served as this call went out on it.
                if attempt or fresh or verb.upper() not in _REPEATABLE:
                    raise
        raise AssertionError("unreachable")

    def _request_headers(
        self, verb: str, target: str, headers: Sequence[Header], body: bytes
    ) -> list[_Header]:
        pairs: list[_Header] = [
            (b":method", verb.upper().encode("ascii")),
            (b":scheme", b"http"),
            (b":authority", self._authority.encode("ascii")),
            (b":path", target.encode("ascii")),
        ]
        if body or verb.upper() in _BODY_VERBS:
            pairs.append((b"content-length", str(len(body)).encode("ascii")))
        try:
            pairs.extend(
                (
                    name.encode("latin1"),
                    value if isinstance(value, bytes) else value.encode("latin1"),
                )
                for name, value in headers
            )
        except UnicodeEncodeError as error:
            raise ValueError(f"a header HTTP cannot carry: {error}") from None
        return pairs

    async def _open_connection(self) -> tuple[H2cConnection, bool]:
        """The current connection, or a new one; and whether it is new."""
        async with self._connecting:
            if self._closed:
                raise InvocationError("the app channel is closed")
            connection = self._connection
            if connection is not None and connection.usable:
                return connection, False
            if connection is not None:
                connection.close()
            connection = await H2cConnection.open(
                self._host,
                self._port,
                connect_timeout=self._connect_timeout,
                max_response_bytes=self._max_response_bytes,
            )
            self._connection = connection
            return connection, True
