"""One client-side HTTP/1.1 connection: sends a request, assembles its response with llhttp.

A connection carries one exchange at a time. The response is completed inside
`data_received`, and a connection that may carry another request goes straight back to its
pool from there, before the exchange's owner hears of the response (so that it may send its
next request on the same connection at once). Anything that leaves the connection in an
unknown state (a timeout, a cancelled caller, a malformed or unsolicited byte, an early answer
to a request still being sent) closes it instead.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final, cast

from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserUpgrade,
    HttpResponseParser,
)

from mecha.http1.client_message import (
    ClientError,
    ClientResponse,
    ClientTimeout,
    NotSentError,
    UnansweredError,
)
from mecha.http1.message import Headers
from mecha.http1.parse import header_name, header_names

if TYPE_CHECKING:
    from mecha.http1.client import Outgoing
    from mecha.http1.client_pool import HostPool

# Bodies up to this size are joined to the head and go out in one write; larger ones are
# written in slices of this size, each only once the transport has room for it.
BODY_SLICE: Final = 64 * 1024
_MAX_HEAD_BYTES: Final = 256 * 1024
# llhttp ends these interim responses at their head; other 1xx codes it would read to EOF.
_INTERIM: Final = frozenset({100, 102, 103})
_FRAMING: Final = frozenset({"content-length", "transfer-encoding", "connection"})


class _Abort(Exception):
    """Raised inside a parser callback to stop parsing.

    With an error, the exchange fails with it; without one, the response is complete but
    more bytes followed it, so it is delivered and the connection closed.
    """

    def __init__(self, error: ClientError | None) -> None:
        super().__init__(error)
        self.error = error


class ClientConnection:
    """An asyncio protocol (duck-typed: a compiled class cannot derive from asyncio's)."""

    __slots__ = (
        "_body",
        "_body_parts",
        "_body_size",
        "_chunked",
        "_connection_field",
        "_content_length",
        "_done",
        "_feed",
        "_head_bytes",
        "_head_fed",
        "_head_request",
        "_headers",
        "_in_head",
        "_keep_alive",
        "_max_body",
        "_outgoing",
        "_parser",
        "_reason",
        "_received",
        "_status",
        "_timer",
        "_unsent",
        "_unsent_from",
        "_until_close",
        "_write_paused",
        "closed",
        "idle_since",
        "in_idle",
        "owns_slot",
        "pool",
        "transport",
    )

    def __init__(self, pool: HostPool) -> None:
        self.pool = pool
        self._max_body = pool.max_response_bytes
        self._parser = HttpResponseParser(self)
        self._feed = self._parser.feed_data
        self.transport: asyncio.Transport | None = None
        self.closed = False
        """Closing, closed, or seen closed by the server: never to carry another request."""
        self.owns_slot = False
        """Counted in its pool's size: set once the pool has handed it out."""
        self.in_idle = False
        self.idle_since = 0.0
        self._outgoing: Outgoing | None = None
        """The current exchange; None while idle or once settled."""
        self._timer: asyncio.TimerHandle | None = None
        self._write_paused = False
        self._unsent: memoryview | None = None
        """A large body still being written, from `_unsent_from` on."""
        self._unsent_from = 0
        self._head_request = False
        self._received = False
        self._done = False
        self._in_head = False
        self._head_bytes = 0
        self._head_fed = 0
        self._status = 0
        self._reason = b""
        self._headers: list[tuple[str, bytes]] = []
        self._content_length = -1
        self._connection_field = ""
        self._chunked = False
        self._keep_alive = False
        self._until_close = False
        self._body: bytes | None = None
        self._body_parts: list[bytes] | None = None
        self._body_size = 0

    @property
    def usable(self) -> bool:
        return not self.closed and self.transport is not None

    # one exchange

    def start(self, outgoing: Outgoing) -> None:
        """Sends the request of `outgoing`, which hears the outcome from this connection's
        callbacks (at once if the connection turns out closed). The connection is then back
        in its pool, or closed, before `outgoing` hears of it."""
        transport = self.transport
        if transport is None or self.closed:
            outgoing.settle(
                NotSentError(f"connection to {self.pool.address} closed before the request")
            )
            return
        self._outgoing = outgoing
        outgoing.connection = self
        self._head_request = outgoing.head_request
        self._received = self._done = False
        deadline = outgoing.deadline
        if deadline is not None:
            self._timer = self.pool.loop.call_at(deadline, self._on_deadline)
        head, body = outgoing.head, outgoing.body
        if len(body) <= BODY_SLICE:
            transport.write(head + body if body else head)
        else:
            self._unsent = memoryview(body)
            self._unsent_from = 0
            transport.write(head)
            self._write_body()

    def abandon(self, outgoing: Outgoing) -> None:
        """`outgoing` no longer wants its answer: a connection left mid-exchange cannot carry
        another request."""
        if self._outgoing is outgoing:
            self._outgoing = None
            self._close(abort=True)

    def _write_body(self) -> None:
        """Writes the rest of a large body a slice at a time while the transport takes it."""
        transport = self.transport
        view = self._unsent
        while view is not None and transport is not None and not self._write_paused:
            start = self._unsent_from
            transport.write(view[start : start + BODY_SLICE])
            start += BODY_SLICE
            if start >= len(view):
                view = self._unsent = None
            self._unsent_from = start

    def _settle(self) -> None:
        """The response is complete: pool or close the connection, then hand the response over."""
        outgoing = self._outgoing
        self._outgoing = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        body = self._body
        if body is None:
            body = b""
        elif self._body_parts is not None:
            body = b"".join(self._body_parts)
            self._body_parts = None
        self._body = None
        response = ClientResponse(
            self._status,
            self._reason.decode("latin1"),
            Headers.received(self._headers),
            body,
        )
        # An answer that came while the body was still going out ends the connection.
        if self._keep_alive and self._unsent is None and not self._until_close:
            self.pool.release(self)
        else:
            self._close()
        if outgoing is not None:
            outgoing.settle(response)

    def _fail(self, error: ClientError, *, abort: bool = True) -> None:
        outgoing = self._outgoing
        self._outgoing = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._close(abort=abort)
        if outgoing is not None:
            outgoing.settle(error)

    def _on_deadline(self) -> None:
        self._timer = None
        self._fail(ClientTimeout(f"no complete response from {self.pool.address} in time"))

    def close(self, *, abort: bool = False) -> None:
        """Closes the connection; an exchange in progress fails."""
        if self._outgoing is not None:
            self._fail(ClientError(f"connection to {self.pool.address} closed by the client"))
        else:
            self._close(abort=abort)

    def discard_unclaimed(self) -> None:
        """The connect was cancelled after the transport was made. uvloop then closes the
        transport without calling connection_lost, so its bookkeeping is done here."""
        self.closed = True
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.abort()
        self.pool.connection_lost(self)

    def _close(self, *, abort: bool = False) -> None:
        if not self.closed:
            self.closed = True
            self.pool.forget(self)
        transport = self.transport
        if transport is not None:
            if abort:
                transport.abort()
            else:
                transport.close()
        self._unsent = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.pool.connection_made(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._outgoing is not None:
            self._fail(self._lost_error(exc))
        elif not self.closed:
            self._close()
        self.pool.connection_lost(self)

    def eof_received(self) -> bool:
        if self._outgoing is not None:
            if self._until_close:
                self._settle()  # the body ends with the connection
            else:
                self._fail(self._lost_error(None), abort=False)
        elif not self.closed:
            self._close()
        return False

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._unsent is not None:
            self._write_body()

    def data_received(self, data: bytes) -> None:
        if self._outgoing is None:
            # Nothing was asked: a server that talks out of turn has lost track of the exchange.
            self._close(abort=True)
            return
        self._received = True
        error = self._parse(data)
        if error is not None:
            self._fail(error)
        elif self._done:
            if self._head_request:
                self._renew_parser()
            self._settle()
        elif self._in_head:
            # Every byte fed since the head began belongs to it: a lower bound of its size
            # while httptools buffers a field that is not complete yet.
            self._head_fed += len(data)
            if self._head_fed > _MAX_HEAD_BYTES:
                self._fail(self._head_too_large())

    def _parse(self, data: bytes) -> ClientError | None:
        try:
            self._feed(data)
        except HttpParserCallbackError as exc:
            cause = exc.__context__
            if not isinstance(cause, _Abort):
                return ClientError(f"cannot read the response from {self.pool.address}: {cause!r}")
            if cause.error is not None:
                return cause.error
            self._keep_alive = False
        except HttpParserUpgrade:
            return ClientError(f"{self.pool.address} switched protocols unasked")
        except HttpParserError as exc:
            return ClientError(f"malformed response from {self.pool.address}: {exc}")
        return None

    def _renew_parser(self) -> None:
        """After a HEAD response: llhttp still expects the body its Content-Length announced."""
        self._parser = HttpResponseParser(self)
        self._feed = self._parser.feed_data

    def _lost_error(self, exc: Exception | None) -> ClientError:
        how = "closed" if exc is None else f"lost ({exc})"
        if not self._received:
            return UnansweredError(
                f"connection to {self.pool.address} {how} before any response byte"
            )
        return ClientError(f"connection to {self.pool.address} {how} mid-response")

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._done:
            raise _Abort(None)  # bytes after the response: not a connection to reuse
        self._in_head = True
        self._head_bytes = self._head_fed = 0
        self._status = 0
        self._reason = b""
        self._headers = []
        self._content_length = -1
        self._connection_field = ""
        self._chunked = self._keep_alive = self._until_close = False
        self._body_size = 0

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            return  # trailers of a chunked body are not kept
        size = self._head_bytes + len(name) + len(value) + 4
        self._head_bytes = size
        if size > _MAX_HEAD_BYTES:
            raise _Abort(self._head_too_large())
        key = header_names.get(name) or header_name(name)
        self._headers.append((key, value))
        if key in _FRAMING:
            if key == "content-length":
                self._content_length = int(value)  # llhttp has checked it is digits
            elif key == "transfer-encoding":
                self._chunked = value.rpartition(b",")[2].strip().lower() == b"chunked"
            else:
                self._connection_field = value.decode("latin1")

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self._parser
        status = parser.get_status_code()
        self._status = status
        keep_alive = parser.should_keep_alive()
        if status < 200:
            if status == 101:
                raise _Abort(ClientError(f"{self.pool.address} switched protocols unasked"))
            if status not in _INTERIM:
                raise _Abort(ClientError(f"unsupported interim response {status}"))
            return
        if self._head_request:
            # The message ends here whatever its head announces; llhttp cannot be told so.
            self._keep_alive = self._head_keep_alive(keep_alive)
            self._done = True
            return
        if self._content_length > self._max_body:
            raise _Abort(self._too_large())
        self._keep_alive = keep_alive
        self._until_close = (
            self._content_length < 0 and not self._chunked and status != 204 and status != 304
        )

    def on_body(self, body: bytes) -> None:
        if self._done:
            raise _Abort(None)  # a body after a HEAD response: not a connection to reuse
        size = self._body_size + len(body)
        if size > self._max_body:
            raise _Abort(self._too_large())
        self._body_size = size
        if self._body is None:
            self._body = body
        elif self._body_parts is None:
            self._body_parts = [self._body, body]
        else:
            self._body_parts.append(body)

    def on_message_complete(self) -> None:
        if self._status >= 200:
            self._done = True

    # helpers of the callbacks

    def _head_keep_alive(self, parser_keeps_alive: bool) -> bool:
        tokens = {token.strip().lower() for token in self._connection_field.split(",")}
        if "close" in tokens:
            return False
        if "keep-alive" in tokens:
            return True
        # llhttp keeps an HTTP/1.0 response alive only when a Connection header asks it to, so
        # one kept alive without that header is HTTP/1.1: no version string to build.
        return parser_keeps_alive or self._parser.get_http_version() == "1.1"

    def _head_too_large(self) -> ClientError:
        return ClientError(
            f"response head from {self.pool.address} larger than {_MAX_HEAD_BYTES} bytes"
        )

    def _too_large(self) -> ClientError:
        return ClientError(f"response from {self.pool.address} larger than {self._max_body} bytes")
