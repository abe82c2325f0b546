"""Response serialisation: one bytes join for the head, one transport call per response."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from http import HTTPStatus
from time import time
from typing import Final, cast

from mecha.http1.dates import DATE
from mecha.http1.message import Response

CONNECTION_CLOSE = b"Connection: close\r\n"
CONNECTION_KEEP_ALIVE = b"Connection: keep-alive\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# Framing and connection management belong to this layer; a caller's copy would contradict it.
MANAGED_FIELDS: Final = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive"}
)
# Larger bodies go out by writelines (vectored on uvloop) rather than copied into the head.
_JOIN_LIMIT: Final = 64 * 1024
_LINE_CACHE_SIZE: Final = 256

_status_lines: Final[dict[int, bytes]] = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode("ascii"))
    for status in HTTPStatus
}
# "Name: " as bytes by name as given, b"" for MANAGED_FIELDS; bounded, as names come from peers.
_NAME_PREFIX_CACHE_SIZE: Final = 512
_name_prefixes: Final[dict[str, bytes]] = {}
# Ints, not b"\r": `int in bytes` is a plain byte search (see parse._FRAGMENT).
_CR: Final = 13
_LF: Final = 10
_CR_OR_LF: Final = "header name or value contains CR or LF"
# Ready lines for the small bodies most answers have (a thousand of them take ~70 KB).
_LENGTH_LINES: Final = 1024
_length_lines: Final = [b"Content-Length: %d\r\n" % size for size in range(_LENGTH_LINES)]


def status_line(status: int) -> bytes:
    line = _status_lines.get(status)
    if line is None:
        if type(status) is not int or not 100 <= status <= 999:
            raise ValueError(f"invalid HTTP status {status!r}")
        line = b"HTTP/1.1 %d \r\n" % status
    return line


def content_length_line(size: int) -> bytes:
    return _length_lines[size] if size < _LENGTH_LINES else b"Content-Length: %d\r\n" % size


def server_line(server_header: str) -> bytes:
    if not server_header:
        return b""
    return field_lines([("Server", server_header)])


def field_lines(fields: Sequence[tuple[str, str | bytes]]) -> bytes:
    """`Name: value` lines, leaving out MANAGED_FIELDS (whatever their case); ValueError if a
    name or value would break out of its line.

    Values are text (latin-1) or the bytes to send as they are.
    """
    parts: list[bytes] = []
    for name, value in fields:
        prefix = _name_prefixes.get(name)
        if prefix is None:
            prefix = _name_prefix(name)
        if prefix:
            parts.append(prefix)
            parts.append(_wire_value(value))
            parts.append(b"\r\n")
    return b"".join(parts)


def _wire_value(value: str | bytes) -> bytes:
    """A header value as it goes on the wire: text as latin-1, bytes as they are."""
    raw = value if type(value) is bytes else cast(str, value).encode("latin1")
    # A CR or LF would smuggle in a header or a body.
    if _CR in raw or _LF in raw:
        raise ValueError(_CR_OR_LF)
    return raw


def _name_prefix(name: str) -> bytes:
    if "\r" in name or "\n" in name:
        raise ValueError(_CR_OR_LF)
    prefix = b"" if name.lower() in MANAGED_FIELDS else f"{name}: ".encode("latin1")
    if len(_name_prefixes) < _NAME_PREFIX_CACHE_SIZE:
        _name_prefixes[name] = prefix
    return prefix


class LineCache:
    """The encoded `Name: value` lines of one header, for the values that repeat (app ids,
    content types): each checked and encoded once, bounded as values may come from callers.
    `once` encodes a value that will not come again (a traceparent) without keeping it."""

    __slots__ = ("_lines", "_prefix")

    def __init__(self, name: str) -> None:
        self._prefix = _name_prefix(name)
        if not self._prefix:
            raise ValueError(f"{name} is set by the HTTP layer itself")
        self._lines: dict[str, bytes] = {}

    def line(self, value: str) -> bytes:
        line = self._lines.get(value)
        if line is None:
            line = self.once(value)
            if len(self._lines) >= _LINE_CACHE_SIZE:
                self._lines.clear()
            self._lines[value] = line
        return line

    def once(self, value: str) -> bytes:
        return b"".join((self._prefix, _wire_value(value), b"\r\n"))


CONTENT_TYPE_LINES: Final = LineCache("Content-Type")


def _extra_fields(response: Response) -> bytes:
    content_type = response.content_type
    fields = b"" if content_type is None else CONTENT_TYPE_LINES.line(content_type)
    if response.headers:
        fields += field_lines(response.headers)
    return fields


def write_response(
    transport: asyncio.WriteTransport,
    response: Response,
    head_only: bool,
    connection: bytes,
    server: bytes,
    dated: bool = True,
) -> None:
    """Serialises `response` and hands it to `transport` in one call.

    `connection` is a ready `Connection:` line or b""; `server` the `Server:` line or b"";
    `dated` adds the `Date:` line. Raises ValueError (before writing anything) for an invalid
    status or header.
    """
    status = response.status
    first = _status_lines.get(status) or status_line(status)
    date = b""
    if dated:
        date = DATE.line if time() < DATE.expires else DATE.refresh()
    if response.headers:
        fields = _extra_fields(response)
    elif response.content_type is None:
        fields = b""
    else:
        content_type = response.content_type
        fields = CONTENT_TYPE_LINES.line(content_type)
    if status < 200 or status == 204 or status == 304:
        transport.write(b"".join((first, server, date, fields, connection, b"\r\n")))
        return
    body = response.body
    size = len(body)
    length = _length_lines[size] if size < _LENGTH_LINES else b"Content-Length: %d\r\n" % size
    if head_only or not size:
        transport.write(b"".join((first, server, date, length, fields, connection, b"\r\n")))
    elif size <= _JOIN_LIMIT:
        transport.write(b"".join((first, server, date, length, fields, connection, b"\r\n", body)))
    else:
        head = b"".join((first, server, date, length, fields, connection, b"\r\n"))
        transport.writelines((head, body))


def fallback_error(status: int, message: str) -> Response:
    """A plain-text error response for when the configured renderer itself fails."""
    return Response(
        status, message.encode("utf-8", "replace"), content_type="text/plain; charset=utf-8"
    )
