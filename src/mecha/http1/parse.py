"""Turns llhttp (httptools) callbacks into `Request`s, enforcing the header and body limits.

These callbacks run for every request, so they are written for speed: header names and request
targets go through small caches instead of being decoded each time, header values are decoded
only when a handler reads them, and the few headers that affect framing are found with one set
lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from httptools import HttpParserInvalidURLError, HttpRequestParser, parse_url

from mecha.http1.message import Headers, Limits, Request

_METHODS: Final = {
    method.encode("ascii"): method
    for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
}
_NAME_CACHE_SIZE: Final = 512
header_names: Final[dict[bytes, str]] = {}
"""Header names as received -> lower-cased str, for server and client alike; bounded, as
names come from peers."""
_TARGET_CACHE_SIZE: Final = 256
_TARGET_CACHE_MAX_BYTES: Final = 200
_targets: Final[dict[bytes, tuple[str, str]]] = {}
"""Short origin-form request targets -> (path, query): the same few paths are asked for again
and again. Emptied when full, so that the paths in use now soon fill it again."""

_FRAMING: Final = frozenset(
    {"content-length", "transfer-encoding", "connection", "expect", "upgrade"}
)
_CHUNKED: Final = 1
_EXPECT_CONTINUE: Final = 2
_UPGRADE: Final = 4
_CONNECTION: Final = 8
# An int, not b"#": `int in bytes` is a plain byte search, while `bytes in bytes` first tries
# (and fails) to read its operand as an int, raising and clearing a TypeError each time.
_FRAGMENT: Final = ord("#")


class ProtocolViolationError(Exception):
    """Raised inside a parser callback to abort parsing; the server answers `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


class StopParsingError(Exception):
    """Raised inside a parser callback when no further request on this connection is wanted."""


def split_target(target: bytes) -> tuple[str, str]:
    """(path, query) of a request target, both still percent-encoded."""
    if target[:1] != b"/":
        if target == b"*":
            return "*", ""
        try:
            url = parse_url(target)  # absolute-form, as sent to proxies
        except HttpParserInvalidURLError:
            return target.decode("latin1"), ""  # authority-form (CONNECT)
        return (url.path or b"/").decode("latin1"), (url.query or b"").decode("latin1")
    text = target.decode("latin1")
    if "#" in text:
        text = text.partition("#")[0]
    path, _, query = text.partition("?")
    return path, query


def _split_new_target(target: bytes) -> tuple[str, str]:
    if target[:1] != b"/" or _FRAGMENT in target:
        return split_target(target)
    path, _, query = target.decode("latin1").partition("?")
    if len(target) <= _TARGET_CACHE_MAX_BYTES:
        if len(_targets) >= _TARGET_CACHE_SIZE:
            _targets.clear()
        _targets[target] = (path, query)
    return path, query


def header_name(raw: bytes) -> str:
    name = raw.decode("latin1").lower()
    if len(header_names) < _NAME_CACHE_SIZE:
        header_names[raw] = name
    return name


class RequestAssembler:
    """The httptools callback target of one connection.

    Complete requests go to `on_request`; `on_continue` is called when a request asks for
    `100 Continue` and may send a body. Limit breaches raise `ProtocolViolationError`, which
    httptools re-raises as the context of an `HttpParserCallbackError`.
    """

    __slots__ = (
        "_alive",
        "_body",
        "_body_parts",
        "_flags",
        "_get_method",
        "_get_version",
        "_headers",
        "_keep_alive",
        "_max_body",
        "_max_head",
        "_on_continue",
        "_on_request",
        "_url",
        "_version",
        "accept_more",
        "body_size",
        "content_length",
        "head_size",
        "held",
        "in_head",
        "in_message",
        "parser",
        "seq",
        "stalled",
    )

    def __init__(
        self,
        limits: Limits,
        on_request: Callable[[Request], None],
        on_continue: Callable[[], None],
    ) -> None:
        self._max_body = limits.max_body_bytes
        self._max_head = limits.max_header_bytes
        self._on_request = on_request
        self._on_continue = on_continue
        self.parser = parser = HttpRequestParser(self)
        self._get_method = parser.get_method
        self._get_version = parser.get_http_version
        self._keep_alive = parser.should_keep_alive
        self.accept_more = True
        """False once no further request should begin: parsing stops at the next one."""
        self.held: Request | None = None
        """An Upgrade request whose body llhttp skipped; completed by `body_only_head`."""
        self.seq = 0
        """Counts messages begun, so the feeder can tell one message's bytes from the next."""
        self.stalled = 0
        """Bytes fed to the current message without progress (the feeder keeps this count)."""
        self.in_message = False
        self.in_head = False
        self._url = b""
        self._headers: list[tuple[str, bytes]] = []
        self._body: bytes | None = None
        self._body_parts: list[bytes] | None = None
        self.body_size = 0
        self.head_size = 0
        self.content_length = -1
        self._flags = 0
        self._version = "1.1"
        self._alive = True

    def body_only_head(self) -> bytes:
        """A request head that makes the parser read the held request's body as a plain body."""
        if self._flags & _CHUNKED:
            return b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        return b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % self.content_length

    # httptools callbacks (no on_message_begin: one callback fewer per request; on_url is
    # always the first callback of a request and starts it)

    def on_url(self, url: bytes) -> None:
        if self.in_message:
            self._url += url
            size = self.head_size + len(url)
        else:
            if not self.accept_more and self.held is None:
                raise StopParsingError
            self.seq += 1
            self.in_message = self.in_head = True
            self._url = url
            self._headers = []
            self.body_size = self._flags = 0
            self.content_length = -1
            size = len(url)
        self.head_size = size
        if size > self._max_head:
            raise ProtocolViolationError(431, "request header fields too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        size = self.head_size + len(name) + len(value) + 4
        self.head_size = size
        if size > self._max_head:
            raise ProtocolViolationError(431, "request header fields too large")
        if self.in_head:  # trailers of a chunked body are not kept
            key = header_names.get(name) or header_name(name)
            self._headers.append((key, value))
            if key in _FRAMING:
                self._framing_header(key, value)

    def _framing_header(self, key: str, value: bytes) -> None:
        if key == "content-length":
            self.content_length = int(value)  # llhttp has checked it is digits
        elif key == "transfer-encoding":
            self._flags |= _CHUNKED  # llhttp has checked that chunked is the final coding
        elif key == "connection":
            self._flags |= _CONNECTION
        elif key == "upgrade":
            self._flags |= _UPGRADE
        elif value.lower() == b"100-continue":
            self._flags |= _EXPECT_CONTINUE

    def on_headers_complete(self) -> None:
        self.in_head = False
        if self.held is not None:
            return
        keep_alive = self._keep_alive()
        flags = self._flags
        if keep_alive and not flags & _CONNECTION:
            # llhttp keeps HTTP/1.0 alive only when asked to by a Connection header.
            version = "1.1"
        else:
            version = self._get_version()
            if version != "1.1" and version != "1.0":
                raise ProtocolViolationError(505, f"HTTP version {version} not supported")
        self._version = version
        self._alive = keep_alive
        if self.content_length > self._max_body:
            raise ProtocolViolationError(413, "request body too large")
        if (
            flags & _EXPECT_CONTINUE
            and version == "1.1"
            and (self.content_length > 0 or flags & _CHUNKED)
        ):
            self._on_continue()

    def on_body(self, body: bytes) -> None:
        size = self.body_size + len(body)
        if size > self._max_body:
            raise ProtocolViolationError(413, "request body too large")
        self.body_size = size
        if self._body is None:
            self._body = body
        elif self._body_parts is None:
            self._body_parts = [self._body, body]
        else:
            self._body_parts.append(body)

    def on_message_complete(self) -> None:
        self.in_message = False
        body = self._body
        if body is None:
            body = b""
        else:
            if self._body_parts is not None:
                body = b"".join(self._body_parts)
                self._body_parts = None
            self._body = None  # an idle connection keeps no body alive
        request = self.held
        if request is not None:
            self.held = None
            request.body = body
        else:
            raw_method = self._get_method()
            method = _METHODS.get(raw_method) or raw_method.decode("latin1")
            target = self._url
            path, query = _targets.get(target) or _split_new_target(target)
            request = Request(
                method,
                path,
                query,
                Headers.received(self._headers),
                body,
                self._alive,
                self._version,
            )
            if (method == "CONNECT" or self._flags & _UPGRADE) and self._hold_upgrade(request):
                return
        if not request.keep_alive:
            self.accept_more = False
        self._on_request(request)

    def _hold_upgrade(self, request: Request) -> bool:
        """True if `request` must wait for its body, which llhttp skipped as it saw an upgrade."""
        if request.method == "CONNECT":
            request.keep_alive = False  # answered, never tunnelled: the connection ends with it
            return False
        if (self.content_length > 0 or self._flags & _CHUNKED) and self.parser.should_upgrade():
            self.held = request  # the body is parsed after HttpParserUpgrade, see body_only_head
            return True
        return False
