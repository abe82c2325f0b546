"""One server-side HTTP/1.1 connection: parse, answer in order, apply back-pressure both ways.

Requests of a connection are handled one at a time, in arrival order (RFC 9112 §9.3.2 allows
parallel handling of pipelined requests only for safe methods), so responses leave in order by
construction. A handler that returns a Response is answered inside the parser callback; one that
returns a Deferred is answered inside the callback that resolves it. Neither costs a task. A
handler that returns an awaitable gets a task, which then also works through the requests
queued behind it.

A client that closes (or half-closes) while its handler is suspended is taken as gone, as daprd
does: the handler is cancelled. Answers that need no waiting still reach a half-closed client.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from functools import partial
from typing import Final, cast

from httptools import HttpParserCallbackError, HttpParserError, HttpParserUpgrade

from mecha.http1.context import ServerContext
from mecha.http1.message import Deferred, Request, Response
from mecha.http1.parse import ProtocolViolationError, RequestAssembler, StopParsingError
from mecha.http1.steps import Pending, checked
from mecha.http1.wire import (
    CONNECTION_CLOSE,
    CONNECTION_KEEP_ALIVE,
    CONTINUE,
    fallback_error,
    write_response,
)

_log: Final = logging.getLogger("mecha.http")

# The shortest request llhttp accepts is 18 bytes ("GET / HTTP/1.1\r\n\r\n"), so a slice of
# n * 16 bytes completes at most n requests: that is how parsing stays within max_pipelined.
# Every request head ends in a blank line, so input with fewer than n of them (bodies may hold
# more) completes fewer than n requests too, however long: it is parsed whole.
_MIN_REQUEST_BYTES: Final = 16
# After an error response the client may still be sending; reading and dropping it for a while
# keeps the kernel from answering with a reset that could destroy the response in flight.
_LINGER_SECONDS: Final = 2.0
_LINGER_MAX_BYTES: Final = 1024 * 1024


class HttpConnection:
    """An asyncio protocol (duck-typed: a compiled class cannot derive from asyncio's)."""

    __slots__ = (
        "_assembler",
        "_busy",
        "_closing",
        "_ctx",
        "_dated",
        "_deferred",
        "_deferred_request",
        "_draining",
        "_eof",
        "_failure",
        "_fast_limit",
        "_feed_parser",
        "_handler",
        "_held",
        "_input_done",
        "_last_active",
        "_lingered",
        "_lingering",
        "_loop",
        "_max_pipelined",
        "_max_stall",
        "_now",
        "_owes_continue",
        "_queue",
        "_read_paused",
        "_server_line",
        "_task",
        "_timeout",
        "_timer",
        "_transport",
        "_write_paused",
    )

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx
        self._handler = ctx.handler
        self._server_line = ctx.server_line
        self._dated = ctx.dated
        limits = ctx.limits
        self._max_pipelined = limits.max_pipelined
        self._fast_limit = limits.max_pipelined * _MIN_REQUEST_BYTES
        self._max_stall = limits.max_header_bytes
        self._timeout = limits.keepalive_timeout
        self._assembler = RequestAssembler(limits, self._on_request, self._on_expect_continue)
        self._feed_parser = self._assembler.parser.feed_data
        self._loop = asyncio.get_running_loop()  # protocol factories run inside the loop
        self._now = self._loop.time
        self._transport: asyncio.Transport | None = None
        self._queue: deque[Request] = deque()
        """Requests parsed and waiting for the one being answered."""
        self._busy = False
        """A handler has suspended and its task will answer it."""
        self._task: asyncio.Task[None] | None = None
        self._deferred: Deferred | None = None
        """The Deferred answer being waited for, and its request."""
        self._deferred_request: Request | None = None
        self._held: bytes | memoryview | None = None
        """Input received but not parsed yet (back-pressure); reading is paused meanwhile."""
        self._read_paused = False
        self._write_paused = False
        self._input_done = False
        """No more input is parsed: the connection is ending."""
        self._closing = False
        """No more responses are written."""
        self._failure: tuple[int, str] | None = None
        self._draining = False
        self._eof = False
        self._lingering = False
        self._lingered = 0
        self._owes_continue = False
        self._last_active = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._ctx.connections.add(self)
        if self._ctx.closing:
            self._close()
            return
        self._last_active = self._now()
        self._timer = self._loop.call_at(self._last_active + self._timeout, self._on_timer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._closing = self._input_done = True
        self._queue.clear()
        self._held = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()  # the client is gone, and with it the reason to finish
        deferred = self._deferred
        if deferred is not None:
            self._deferred = self._deferred_request = None
            self._ctx.in_flight -= 1
            deferred.cancel()
        self._ctx.forget(self)

    def data_received(self, data: bytes) -> None:
        self._last_active = self._now()
        if self._input_done:
            if self._lingering:
                self._lingered += len(data)
                if self._lingered > _LINGER_MAX_BYTES:
                    self._close()
        elif self._held is not None:
            self._held = b"".join((self._held, data))
        elif (
            self._queue
            or self._write_paused
            or (len(data) > self._fast_limit and self._may_hold_too_many(data))
        ):
            self._feed(data)
        else:
            consumed = self._feed_piece(data)  # the usual case: no slicing needed
            if consumed < len(data) and not self._input_done:
                self._feed(memoryview(data)[consumed:])

    def eof_received(self) -> bool:
        self._eof = True
        if self._lingering or self._busy:
            # As with daprd, a client that stops sending while its request is being handled
            # has gone away: closing cancels the handler.
            return False
        # Otherwise keep the write side open to answer what was asked before a half-close.
        return bool(self._queue or self._held is not None)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._pause_input()

    def resume_writing(self) -> None:
        self._write_paused = False
        # Deferred: this may be called from inside a write made by a parser callback.
        self._loop.call_soon(self._advance)

    # used by HttpServer

    def shutdown(self) -> None:
        """Graceful close: finish the request in progress (answered with close), drop the rest."""
        self._draining = True
        self._assembler.accept_more = False
        if self._closing:
            return
        self._queue.clear()
        if not self._busy:
            if self._assembler.in_message:
                self._advance()  # its remaining bytes may be held back
            else:
                self._close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # input

    def _may_hold_too_many(self, data: bytes) -> bool:
        """Whether `data` may complete max_pipelined requests: as many blank lines as that."""
        if self._max_pipelined > 1:
            # The usual input, one head and its body: past the first blank line there is no
            # CR at all. Finding the head's end and then memchr over the body costs less than
            # counting the pattern over the whole body.
            first = data.find(b"\r\n\r\n")
            if first < 0 or data.find(b"\r", first + 4) < 0:
                return False
        return data.count(b"\r\n\r\n") >= self._max_pipelined

    def _feed(self, data: bytes | memoryview) -> bool:
        """Parses `data` in slices that keep the queue within max_pipelined.

        Returns False if some of it had to be held back or the connection is ending.
        """
        assembler = self._assembler
        view: memoryview | None = None
        start = 0
        end = len(data)
        while start < end and not self._input_done:
            room = self._max_pipelined - len(self._queue)
            if room <= 0 or self._write_paused:
                if start:
                    data = (view if view is not None else memoryview(data))[start:]
                self._held = data
                self._pause_input()
                return False
            limit = room * _MIN_REQUEST_BYTES
            if assembler.in_message and not assembler.in_head and assembler.content_length > 0:
                limit += assembler.content_length - assembler.body_size
            if start == 0 and end <= limit:
                start = self._feed_piece(data)
            else:
                if view is None:
                    view = memoryview(data)
                start += self._feed_piece(view[start : min(end, start + limit)])
        return not self._closing

    def _feed_piece(self, piece: bytes | memoryview) -> int:
        """Parses `piece`; returns how many of its bytes were consumed."""
        assembler = self._assembler
        seq, head, body = assembler.seq, assembler.head_size, assembler.body_size
        try:
            self._feed_parser(piece)
        except HttpParserUpgrade as upgrade:
            return self._after_upgrade(int(upgrade.args[0]))
        except HttpParserCallbackError as exc:
            self._parse_aborted(exc.__context__)
            return len(piece)
        except HttpParserError as exc:
            if assembler.accept_more:
                self._fail(400, f"malformed request: {exc}")
            else:
                self._input_done = True  # bytes after a request that ended the connection
            return len(piece)
        if assembler.in_message:
            if seq == assembler.seq and head == assembler.head_size and body == assembler.body_size:
                # A header (or chunk trailer) in progress, which httptools buffers whole.
                assembler.stalled += len(piece)
                if assembler.stalled > self._max_stall:
                    self._fail(431, "request header fields too large")
            elif assembler.in_head:
                # Progress, but the piece may end in a header line still in progress: the
                # bytes after its last line feed.
                tail = bytes(piece) if isinstance(piece, memoryview) else piece
                assembler.stalled = len(tail) - 1 - tail.rfind(b"\n")
                if assembler.stalled > self._max_stall:
                    self._fail(431, "request header fields too large")
            else:
                assembler.stalled = 0
        return len(piece)

    def _after_upgrade(self, offset: int) -> int:
        """llhttp stopped after an Upgrade (or CONNECT) request; no protocol switch is made."""
        assembler = self._assembler
        if assembler.held is not None:
            try:
                self._feed_parser(assembler.body_only_head())
            except HttpParserCallbackError as exc:
                self._parse_aborted(exc.__context__)
        if offset < 1:  # cannot happen: the request's head ended in this piece
            self._fail(400, "malformed request")
        return offset

    def _parse_aborted(self, cause: BaseException | None) -> None:
        if isinstance(cause, ProtocolViolationError):
            self._fail(cause.status, cause.message)
        elif isinstance(cause, StopParsingError):
            self._input_done = True
        elif cause is None:
            self._fail(400, "malformed request")
        elif isinstance(cause, Exception):
            _log.error("request processing failed", exc_info=cause)
            self._fail(500, "internal server error")
        else:
            raise cause

    def _fail(self, status: int, message: str) -> None:
        """Stops parsing; answers `status` after the requests before it, then closes."""
        _log.debug("answering %d and closing: %s", status, message)
        self._input_done = True
        self._assembler.accept_more = False
        self._held = None
        if self._failure is None:
            self._failure = (status, message)
        if not self._busy and not self._queue:
            self._write_failure()

    def _pause_input(self) -> None:
        if not self._read_paused and self._transport is not None and not self._closing:
            self._read_paused = True
            self._transport.pause_reading()

    def _resume_input(self) -> None:
        if (
            self._read_paused
            and self._transport is not None
            and not self._eof
            and (self._lingering or not self._input_done)
        ):
            self._read_paused = False
            self._transport.resume_reading()

    # requests and responses

    def _on_request(self, request: Request) -> None:
        if self._owes_continue:
            self._owes_continue = False
        if self._busy or self._queue or self._write_paused or self._closing:
            if not self._closing:
                self._queue.append(request)
        else:
            self._dispatch(request)

    def _on_expect_continue(self) -> None:
        if self._busy or self._queue:
            self._owes_continue = True  # sent once the responses before it are out
        elif self._transport is not None:
            self._transport.write(CONTINUE)

    def _dispatch(self, request: Request) -> None:
        ctx = self._ctx
        ctx.in_flight += 1
        response: Response | None
        try:
            result = self._handler(request)
            if isinstance(result, Response):
                response = result
            elif isinstance(result, Deferred):
                answer = result.take()
                if answer is None:
                    self._await_deferred(result, request)
                    return  # answered from the callback that resolves it
                response = answer
            else:
                self._await_response(result, request)
                return  # its task answers
        except Exception:
            _log.exception("handler failed: %s %s", request.method, request.path)
            response = ctx.error_response(500, "internal server error")
        ctx.in_flight -= 1
        self._respond(request, response)

    def _await_deferred(self, deferred: Deferred, request: Request) -> None:
        self._busy = True
        self._deferred = deferred
        self._deferred_request = request
        deferred.listen(self._on_deferred)

    def _on_deferred(self, response: Response) -> None:
        request = self._deferred_request
        self._deferred = self._deferred_request = None
        self._ctx.in_flight -= 1
        self._busy = False
        if self._transport is None or request is None:
            return
        self._last_active = self._now()
        self._respond(request, response)
        self._advance()

    def _await_response(self, result: object, request: Request) -> None:
        """Hands an awaitable answer to a task, which also works through the queue behind it."""
        if not hasattr(result, "__await__"):
            raise TypeError(f"handler returned {type(result).__name__}, not a Response")
        pending = Pending(result)
        self._busy = True
        task = self._loop.create_task(self._finish(pending, request))
        task.add_done_callback(partial(self._settle_unstarted, pending))
        self._task = task

    def _settle_unstarted(self, pending: Pending, task: asyncio.Task[None]) -> None:
        """Accounts for a task cancelled before `_finish` could even start."""
        if pending.settled:
            return
        pending.settled = True
        self._ctx.in_flight -= 1
        if self._task is task:
            self._task = None
            self._busy = False
        pending.close()

    async def _finish(self, pending: Pending, request: Request) -> None:
        ctx = self._ctx
        try:
            response = checked(await pending.awaitable)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
            _log.error("handler cancelled from inside: %s %s", request.method, request.path)
            response = ctx.error_response(500, "internal server error")
        except Exception:
            _log.exception("handler failed: %s %s", request.method, request.path)
            response = ctx.error_response(500, "internal server error")
        finally:
            pending.settled = True
            ctx.in_flight -= 1
            self._task = None
            self._busy = False
        if self._transport is None:
            return
        self._last_active = self._now()
        self._respond(request, response)
        self._advance()

    def _respond(self, request: Request, response: Response) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        if request.keep_alive and not self._draining:
            connection = b"" if request.http_version == "1.1" else CONNECTION_KEEP_ALIVE
        else:
            connection = CONNECTION_CLOSE
        head_only = request.method == "HEAD"
        try:
            write_response(
                transport, response, head_only, connection, self._server_line, self._dated
            )
        except Exception:
            _log.exception("cannot write response %r", response)
            self._write_fallback(transport, head_only, connection)
        if connection is CONNECTION_CLOSE:
            self._linger()

    def _write_fallback(
        self, transport: asyncio.Transport, head_only: bool, connection: bytes
    ) -> None:
        for fallback in (
            self._ctx.error_response(500, "invalid response"),
            fallback_error(500, "invalid response"),
        ):
            try:
                write_response(
                    transport, fallback, head_only, connection, self._server_line, self._dated
                )
                return
            except Exception:
                _log.exception("cannot write error response %r", fallback)

    def _write_failure(self) -> None:
        failure = self._failure
        transport = self._transport
        if transport is None or self._closing or failure is None:
            return
        response = self._ctx.error_response(*failure)
        try:
            write_response(
                transport, response, False, CONNECTION_CLOSE, self._server_line, self._dated
            )
        except Exception:
            _log.exception("cannot write error response %r", response)
            self._write_fallback(transport, False, CONNECTION_CLOSE)
        self._linger()

    def _advance(self) -> None:
        """After a response: answer what is queued, then take up held-back input."""
        while not self._busy and not self._write_paused and not self._closing:
            if self._queue:
                self._dispatch(self._queue.popleft())
            elif self._failure is not None:
                self._write_failure()
            else:
                break
        if self._closing or self._busy or self._write_paused or self._queue:
            return
        if self._owes_continue and self._transport is not None:
            self._owes_continue = False
            self._transport.write(CONTINUE)
        held = self._held
        if held is not None:
            self._held = None
            if not self._feed(held):
                return
        if self._eof and not self._busy and not self._queue:
            self._close()
            return
        self._resume_input()

    # closing

    def _close(self) -> None:
        self._closing = self._input_done = True
        self._queue.clear()
        self._held = None
        if self._transport is not None:
            self._transport.close()

    def _linger(self) -> None:
        """Closes after a final response: half-closes, then reads and drops what the client
        still sends until it closes too (or for a short while), so that a reset does not
        destroy the response before the client has read it."""
        transport = self._transport
        self._closing = self._input_done = True
        if transport is None:
            return
        if self._eof or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._lingering = True
        self._resume_input()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(_LINGER_SECONDS, self._close)

    def _on_timer(self) -> None:
        self._timer = None
        if self._transport is None or self._closing:
            return
        now = self._now()
        if self._busy or self._queue:
            deadline = now + self._timeout  # a handler is at work: not idle
        else:
            deadline = self._last_active + self._timeout
            if deadline <= now:
                _log.debug("closing idle connection")
                self._close()
                return
        self._timer = self._loop.call_at(deadline, self._on_timer)
