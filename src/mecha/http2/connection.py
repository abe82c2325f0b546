"""One server-side HTTP/2 connection carrying gRPC calls: frame parsing and stream lifecycle.

Input is parsed straight from the bytes the transport hands over; a frame split across reads
waits in a small leftover buffer. Any violation of RFC 9113 that concerns the connection ends
it with GOAWAY and the matching error code, after which input is read and dropped until the
client closes (or a short linger passes), so the GOAWAY is not destroyed by a reset.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Coroutine
from typing import Any, Final, cast

from mecha.http2 import frames as f
from mecha.http2.call import ServerCall, StreamMethod, UnaryMethod
from mecha.http2.context import ServerContext
from mecha.http2.dispatch import run_stream, run_unary, status_response
from mecha.http2.head import CompressionError, HeadDecoder
from mecha.http2.responses import TRAILERS_OK, http_status_block, message_prefix
from mecha.http2.sending import Sender
from mecha.http2.status import GrpcError, StatusCode

_log: Final = logging.getLogger("mecha.http2")

_HEAD: Final = struct.Struct(">HBBBL")
_LINGER_SECONDS: Final = 2.0
_DEADLINE_EXCEEDED: Final = GrpcError(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")


class ProtocolFailure(Exception):
    """A connection error (RFC 9113 §5.4.1): GOAWAY with this code, then close."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class GrpcConnection(Sender):
    __slots__ = (
        "_continuing",
        "_ctx",
        "_decoder",
        "_ended",
        "_goaway_last",
        "_goaway_sent",
        "_last_stream_id",
        "_leftover",
        "_linger",
        "_lookup",
        "_max_block",
        "_max_message",
        "_max_streams",
        "_preface_seen",
        "_recv_unacked",
        "_recv_window",
        "_settings_seen",
        "_stream_window",
        "_streams",
        "peer",
    )

    def __init__(self, ctx: ServerContext) -> None:
        super().__init__()
        self._ctx = ctx
        self._lookup = ctx.lookup
        limits = ctx.limits
        self._max_message = limits.max_message_bytes
        self._max_streams = limits.max_concurrent_streams
        self._max_block = limits.max_header_list_bytes
        self._stream_window = limits.stream_window
        self._recv_window = limits.connection_window
        self._recv_unacked = 0
        self._decoder = HeadDecoder(limits.header_table_bytes, limits.max_header_list_bytes)
        self._leftover = b""
        self._preface_seen = False
        self._settings_seen = False
        self._continuing: tuple[int, bool, bytearray] | None = None
        self._streams: dict[int, ServerCall] = {}
        self._last_stream_id = 0
        self._goaway_sent = False
        self._goaway_last = 0
        """The last stream id the GOAWAY sent named: later streams are ignored."""
        self._ended = False
        """No more input is processed: the connection is going away."""
        self._linger: asyncio.TimerHandle | None = None
        self.peer = ""

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self.peer = _peer_name(transport.get_extra_info("peername"))
        self._ctx.connections.add(self)
        limits = self._ctx.limits
        self.write(
            f.settings(
                {
                    f.SETTINGS_MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
                    f.SETTINGS_INITIAL_WINDOW_SIZE: self._stream_window,
                    f.SETTINGS_MAX_HEADER_LIST_SIZE: limits.max_header_list_bytes,
                    f.SETTINGS_HEADER_TABLE_SIZE: limits.header_table_bytes,
                }
            )
            + f.window_update(0, self._recv_window - f.DEFAULT_WINDOW)
        )
        if self._ctx.closing:
            self.shutdown()

    def data_received(self, data: bytes) -> None:
        if self._ended:
            return
        if self._leftover:
            data = self._leftover + data
        self._holding = True
        try:
            used = self._parse(data)
            self._leftover = data[used:] if used < len(data) else b""
        except ProtocolFailure as error:
            self._fail(error.code, str(error))
        except Exception:
            _log.exception("unexpected error handling HTTP/2 input from %s", self.peer)
            self._fail(f.INTERNAL_ERROR, "internal error")
        finally:
            self._holding = False
            self.flush()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended = True
        if self._linger is not None:
            self._linger.cancel()
        streams = list(self._streams.values())
        self._streams.clear()
        for call in streams:
            self._drop(call)
        self._out.clear()
        self._ctx.forget(self)

    # Closing

    def shutdown(self) -> None:
        """Graceful close: GOAWAY now, close once the calls already started are done."""
        if not self._goaway_sent and not self._ended:
            self._goaway_sent = True
            self._goaway_last = self._last_stream_id
            self.write(f.goaway(self._goaway_last, f.NO_ERROR))
        if not self._streams:
            self._close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _close(self) -> None:
        """Stops reading input into calls and half-closes; input still arriving is read and
        dropped until the client closes too, so that a reset cannot destroy what was sent."""
        self._ended = True
        self.flush()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        try:
            if transport.can_write_eof():
                transport.write_eof()
                self._linger = self.loop.call_later(_LINGER_SECONDS, transport.close)
                return
        except OSError:  # the peer is gone already
            pass
        transport.close()

    def _fail(self, code: int, message: str) -> None:
        if self._ended:
            return
        last = self._goaway_last if self._goaway_sent else self._last_stream_id
        self._goaway_sent = True
        self.write(f.goaway(last, code, message.encode()[:256]))
        streams = list(self._streams.values())
        self._streams.clear()
        for call in streams:
            self._drop(call)
        self._close()

    # Frames

    def _parse(self, data: bytes) -> int:
        position = 0
        end = len(data)
        if not self._preface_seen:
            if end < len(f.PREFACE):
                if not f.PREFACE.startswith(data):
                    raise ProtocolFailure(f.PROTOCOL_ERROR, "invalid connection preface")
                return 0
            if not data.startswith(f.PREFACE):
                raise ProtocolFailure(f.PROTOCOL_ERROR, "invalid connection preface")
            self._preface_seen = True
            position = len(f.PREFACE)
        unpack = _HEAD.unpack_from
        while end - position >= f.HEADER_SIZE and not self._ended:
            high, low, kind, flags, stream_id = unpack(data, position)
            size = (high << 8) | low
            if size > f.DEFAULT_MAX_FRAME:
                raise ProtocolFailure(f.FRAME_SIZE_ERROR, "frame larger than SETTINGS_MAX_FRAME")
            start = position + f.HEADER_SIZE
            if start + size > end:
                break
            payload = data[start : start + size]
            position = start + size
            stream_id &= 0x7FFFFFFF
            if self._continuing is not None and kind != f.CONTINUATION:
                raise ProtocolFailure(f.PROTOCOL_ERROR, "expected CONTINUATION")
            if not self._settings_seen and kind != f.SETTINGS:
                raise ProtocolFailure(f.PROTOCOL_ERROR, "first frame is not SETTINGS")
            if kind == f.DATA:
                self._on_data(flags, stream_id, payload)
            elif kind == f.HEADERS:
                self._on_headers(flags, stream_id, payload)
            elif kind == f.WINDOW_UPDATE:
                self._on_window_update(stream_id, payload)
            elif kind == f.PING:
                self._on_ping(flags, stream_id, payload)
            elif kind == f.SETTINGS:
                self._on_settings(flags, stream_id, payload)
            elif kind == f.RST_STREAM:
                self._on_rst_stream(stream_id, payload)
            elif kind == f.CONTINUATION:
                self._on_continuation(flags, stream_id, payload)
            elif kind == f.PRIORITY:
                if stream_id == 0:
                    raise ProtocolFailure(f.PROTOCOL_ERROR, "PRIORITY on stream 0")
            elif kind == f.GOAWAY:
                self._on_goaway(stream_id, payload)
            elif kind == f.PUSH_PROMISE:
                raise ProtocolFailure(f.PROTOCOL_ERROR, "PUSH_PROMISE from a client")
            # Unknown frame types are ignored (RFC 9113 §4.1).
        return position

    def _on_data(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0:
            raise ProtocolFailure(f.PROTOCOL_ERROR, "DATA on stream 0")
        size = len(payload)
        self._recv_window -= size
        if self._recv_window < 0:
            raise ProtocolFailure(f.FLOW_CONTROL_ERROR, "connection window exceeded")
        # The connection window is given back on receipt; per-stream windows bound buffering.
        self._recv_unacked += size
        if self._recv_unacked >= self._ctx.limits.connection_window >> 2:
            self.write(f.window_update(0, self._recv_unacked))
            self._recv_window += self._recv_unacked
            self._recv_unacked = 0
        if flags & f.PADDED:
            payload = _unpad(payload)
        call = self._streams.get(stream_id)
        if call is None:
            if stream_id > self._last_stream_id:
                raise ProtocolFailure(f.PROTOCOL_ERROR, "DATA on an idle stream")
            return  # a stream already closed or reset: dropped
        if call.remote_closed:
            self.reset(call, f.STREAM_CLOSED)
            return
        call.unacked += size
        if call.unacked > self._stream_window:
            self.reset(call, f.FLOW_CONTROL_ERROR)
            return
        if size != len(payload):
            self.consumed(call, size - len(payload))
        error = call.receive(payload, self._max_message) if payload else None
        if error is not None:
            self.end_with_error(call, error)
        elif flags & f.END_STREAM:
            self._end_of_input(call)

    def _on_headers(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0 or stream_id % 2 == 0:
            raise ProtocolFailure(f.PROTOCOL_ERROR, "HEADERS on a stream a client cannot open")
        if flags & f.PADDED:
            payload = _unpad(payload)
        if flags & f.PRIORITY_FLAG:
            if len(payload) < 5:
                raise ProtocolFailure(f.FRAME_SIZE_ERROR, "HEADERS too short for its priority")
            payload = payload[5:]
        end_stream = bool(flags & f.END_STREAM)
        if flags & f.END_HEADERS:
            self._on_header_block(stream_id, end_stream, payload)
        else:
            self._continuing = (stream_id, end_stream, bytearray(payload))

    def _on_continuation(self, flags: int, stream_id: int, payload: bytes) -> None:
        continuing = self._continuing
        if continuing is None or continuing[0] != stream_id:
            raise ProtocolFailure(f.PROTOCOL_ERROR, "unexpected CONTINUATION")
        block = continuing[2]
        block += payload
        if len(block) > self._max_block:
            raise ProtocolFailure(f.ENHANCE_YOUR_CALM, "header block too large")
        if flags & f.END_HEADERS:
            self._continuing = None
            self._on_header_block(stream_id, continuing[1], bytes(block))

    def _on_header_block(self, stream_id: int, end_stream: bool, block: bytes) -> None:
        try:
            self._open_or_continue(stream_id, end_stream, block)
        except CompressionError as error:
            raise ProtocolFailure(f.COMPRESSION_ERROR, str(error)) from error

    def _open_or_continue(self, stream_id: int, end_stream: bool, block: bytes) -> None:
        call = self._streams.get(stream_id)
        if call is not None:  # request trailers
            self._decoder.decode_trailers(block)
            if not end_stream:
                self.reset(call, f.PROTOCOL_ERROR)
            elif not call.remote_closed:
                self._end_of_input(call)
            return
        if stream_id <= self._last_stream_id or self._goaway_sent:
            # A stream already finished, or one opened after GOAWAY: only HPACK state matters.
            self._decoder.decode_trailers(block)
            self._last_stream_id = max(stream_id, self._last_stream_id)
            return
        self._last_stream_id = stream_id
        head = self._decoder.decode(block)
        if len(self._streams) >= self._max_streams:
            self.write(f.rst_stream(stream_id, f.REFUSED_STREAM))
            return
        if head.reset:
            self.write(f.rst_stream(stream_id, f.PROTOCOL_ERROR))
            return
        if head.http_status:
            reply = f.header_frames(
                stream_id, http_status_block(head.http_status), True, self.peer_max_frame
            )
            self.write(reply if end_stream else reply + f.rst_stream(stream_id, f.NO_ERROR))
            return
        method = self._lookup(head.path)
        call = ServerCall(self, stream_id, head, method, self.peer_initial_window)
        if method is None:
            call.remote_closed = end_stream
            self._streams[stream_id] = call
            self.end_with_error(call, GrpcError(StatusCode.UNIMPLEMENTED, "unknown method"))
            return
        self._streams[stream_id] = call
        if head.timeout is not None:
            call.deadline = self.loop.time() + head.timeout
            call.timer = self.loop.call_at(call.deadline, self._expire, call)
        if isinstance(method, StreamMethod):
            call.task = self.loop.create_task(run_stream(self, call, method.handler))
        if end_stream:
            self._end_of_input(call)

    def _end_of_input(self, call: ServerCall) -> None:
        result = call.end_of_input()
        if isinstance(result, GrpcError):
            self.end_with_error(call, result)
        elif result is not None and isinstance(call.target, UnaryMethod):
            call.task = self.loop.create_task(run_unary(self, call, call.target.handler, result))

    def _on_window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ProtocolFailure(f.FRAME_SIZE_ERROR, "WINDOW_UPDATE of a wrong size")
        increment = f.u32(payload) & 0x7FFFFFFF
        if stream_id == 0:
            if increment == 0:
                raise ProtocolFailure(f.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self.send_window += increment
            if self.send_window > f.MAX_WINDOW:
                raise ProtocolFailure(f.FLOW_CONTROL_ERROR, "connection window overflow")
            self.wake_blocked()
            return
        call = self._streams.get(stream_id)
        if call is None:
            if stream_id > self._last_stream_id:
                raise ProtocolFailure(f.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream")
            return
        if increment == 0:
            self.reset(call, f.PROTOCOL_ERROR)
            return
        call.send_window += increment
        if call.send_window > f.MAX_WINDOW:
            self.reset(call, f.FLOW_CONTROL_ERROR)
            return
        call.wake_writer()

    def _on_ping(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id != 0:
            raise ProtocolFailure(f.PROTOCOL_ERROR, "PING on a stream")
        if len(payload) != 8:
            raise ProtocolFailure(f.FRAME_SIZE_ERROR, "PING of a wrong size")
        if not flags & f.ACK:
            self.write(f.ping_ack(payload))

    def _on_settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id != 0:
            raise ProtocolFailure(f.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & f.ACK:
            if not self._settings_seen:
                raise ProtocolFailure(f.PROTOCOL_ERROR, "first frame is not SETTINGS")
            if payload:
                raise ProtocolFailure(f.FRAME_SIZE_ERROR, "SETTINGS ack with a payload")
            return
        if len(payload) % 6:
            raise ProtocolFailure(f.FRAME_SIZE_ERROR, "SETTINGS of a wrong size")
        self._settings_seen = True
        for key, value in f.parse_settings(payload):
            if key == f.SETTINGS_INITIAL_WINDOW_SIZE:
                self._set_initial_window(value)
            elif key == f.SETTINGS_MAX_FRAME_SIZE:
                if not f.DEFAULT_MAX_FRAME <= value <= f.MAX_FRAME_LIMIT:
                    raise ProtocolFailure(f.PROTOCOL_ERROR, "invalid SETTINGS_MAX_FRAME_SIZE")
                self.peer_max_frame = value
            elif key == f.SETTINGS_ENABLE_PUSH and value > 1:
                raise ProtocolFailure(f.PROTOCOL_ERROR, "invalid SETTINGS_ENABLE_PUSH")
            # HEADER_TABLE_SIZE needs nothing: responses never use the peer's dynamic table.
        self.write(f.SETTINGS_ACK)

    def _set_initial_window(self, value: int) -> None:
        if value > f.MAX_WINDOW:
            raise ProtocolFailure(f.FLOW_CONTROL_ERROR, "invalid SETTINGS_INITIAL_WINDOW_SIZE")
        delta = value - self.peer_initial_window
        self.peer_initial_window = value
        for call in self._streams.values():
            call.send_window += delta
            if call.send_window > f.MAX_WINDOW:
                raise ProtocolFailure(f.FLOW_CONTROL_ERROR, "stream window overflow")
            if delta > 0:
                call.wake_writer()

    def _on_rst_stream(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ProtocolFailure(f.FRAME_SIZE_ERROR, "RST_STREAM of a wrong size")
        if stream_id == 0 or stream_id > self._last_stream_id:
            raise ProtocolFailure(f.PROTOCOL_ERROR, "RST_STREAM on an idle stream")
        call = self._streams.pop(stream_id, None)
        if call is not None:
            self._drop(call)
            self._after_stream_end()

    def _on_goaway(self, stream_id: int, payload: bytes) -> None:
        if stream_id != 0:
            raise ProtocolFailure(f.PROTOCOL_ERROR, "GOAWAY on a stream")
        if len(payload) < 8:
            raise ProtocolFailure(f.FRAME_SIZE_ERROR, "GOAWAY too short")
        # The client opens no more streams; the ones running finish, then it closes.

    # Streams

    def consumed(self, call: ServerCall, size: int) -> None:
        """The handler has taken `size` bytes of the stream: give window back in batches of
        a quarter of it, so a stream of small messages costs few WINDOW_UPDATEs."""
        call.credit += size
        if call.credit >= self._stream_window >> 2 and not call.remote_closed and not call.done:
            self.write(f.window_update(call.id, call.credit))
            call.unacked -= call.credit
            call.credit = 0

    def reply(self, call: ServerCall, message: bytes) -> Coroutine[Any, Any, None] | None:
        """Sends a unary call's response and OK status, in one write when the windows allow;
        otherwise returns what to await for the message (the caller then sends the status)."""
        if call.done:
            return None
        payload = message_prefix(len(message)) + message
        size = len(payload)
        if self._write_paused or size > self.send_window or size > call.send_window:
            self.send_headers(call)
            return self.send_data(call, payload)
        self.send_window -= size
        call.send_window -= size
        max_frame = self.peer_max_frame
        frames = self.data_frames(call.id, payload) + f.header_frames(
            call.id, TRAILERS_OK + call.trailing_block, True, max_frame
        )
        if not call.headers_sent:
            call.headers_sent = True
            frames = f.header_frames(call.id, call.initial_block, False, max_frame) + frames
        if not call.remote_closed:
            frames += f.rst_stream(call.id, f.NO_ERROR)
        self.write_now(frames)
        self._forget(call)
        return None

    def finish(self, call: ServerCall, block: bytes) -> None:
        """Ends a call with this status block (and trailing metadata): trailers, or a
        trailers-only response when nothing was sent yet."""
        if call.done:
            return
        if call.headers_sent:
            frames = f.header_frames(
                call.id, block + call.trailing_block, True, self.peer_max_frame
            )
        else:
            frames = f.header_frames(
                call.id, call.initial_block + block + call.trailing_block, True, self.peer_max_frame
            )
            call.headers_sent = True
        if not call.remote_closed:
            frames += f.rst_stream(call.id, f.NO_ERROR)
        self.write(frames)
        self._forget(call)

    def end_with_error(self, call: ServerCall, error: GrpcError) -> None:
        self.finish(call, status_response(call, error))
        task = call.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _expire(self, call: ServerCall) -> None:
        call.timer = None
        self.end_with_error(call, _DEADLINE_EXCEEDED)

    def reset(self, call: ServerCall, code: int) -> None:
        """A stream error: RST_STREAM, and the handler cancelled."""
        if not call.done:
            self.write(f.rst_stream(call.id, code))
        self._streams.pop(call.id, None)
        self._drop(call)
        self._after_stream_end()

    def _forget(self, call: ServerCall) -> None:
        call.done = True
        self._streams.pop(call.id, None)
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        self._blocked.pop(call, None)
        call.wake_reader()
        self._after_stream_end()

    def _drop(self, call: ServerCall) -> None:
        """Ends a call locally without sending anything: its stream is gone."""
        call.done = True
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        self._blocked.pop(call, None)
        call.wake_reader()
        task = call.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _after_stream_end(self) -> None:
        if self._goaway_sent and not self._streams and not self._ended:
            self._close()


def _unpad(payload: bytes) -> bytes:
    if not payload:
        raise ProtocolFailure(f.FRAME_SIZE_ERROR, "padded frame without a pad length")
    pad = payload[0]
    if pad >= len(payload):
        raise ProtocolFailure(f.PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1 : len(payload) - pad]


def _peer_name(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        if ":" in str(host):
            return f"ipv6:[{host}]:{port}"
        return f"ipv4:{host}:{port}"
    return str(address or "")
