"""Request serialisation: the head in a few joins, validated before any byte is sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from mecha.http1.wire import content_length_line, field_lines

_KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}
)
# A request of these methods carries a body by definition, so its length is always stated
# (an empty POST without Content-Length is refused by some servers with 411).
_METHODS_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})
_TOKEN_PUNCTUATION: Final = frozenset("!#$%&'*+-.^_`|~")
# Checked request lines by method, then target: a runtime sends the same few again and again.
# Bounded per method, as targets come from callers; only known methods get an entry.
_REQUEST_LINE_CACHE_SIZE: Final = 256
_MAX_CACHED_TARGET: Final = 200
_request_lines: Final[dict[str, dict[str, bytes]]] = {}


def host_line(host: str, port: int) -> bytes:
    """The `Host:` line for an address; IPv6 literals are bracketed, port 80 is implied."""
    name = f"[{host}]" if ":" in host else host
    authority = name if port == 80 else f"{name}:{port}"
    return field_lines([("Host", authority)])


def _is_token(text: str) -> bool:
    return bool(text) and all(
        char.isascii() and (char.isalnum() or char in _TOKEN_PUNCTUATION) for char in text
    )


def _request_line(method: str, target: str) -> bytes:
    by_target = _request_lines.get(method)
    if by_target is not None:
        line = by_target.get(target)
        if line is not None:
            return line
    line = _checked_request_line(method, target)
    if len(target) <= _MAX_CACHED_TARGET and method in _KNOWN_METHODS:
        if by_target is None or len(by_target) >= _REQUEST_LINE_CACHE_SIZE:
            by_target = _request_lines[method] = {}
        by_target[target] = line
    return line


def _checked_request_line(method: str, target: str) -> bytes:
    if method not in _KNOWN_METHODS and not _is_token(method):
        raise ValueError(f"invalid HTTP method {method!r}")
    # Visible ASCII only: a space, CR or LF would let the target rewrite the request line.
    if not target or not target.isascii() or not target.isprintable() or " " in target:
        raise ValueError(f"invalid request target {target!r}")
    return f"{method} {target} HTTP/1.1\r\n".encode("ascii")


def encode_head(
    method: str,
    target: str,
    host: bytes,
    headers: Sequence[tuple[str, str | bytes]],
    body_size: int,
    lines: bytes = b"",
) -> bytes:
    """The request line and header section, ending with the blank line.

    `host` is the default `Host:` line; a Host among `headers` replaces it. Framing and
    connection fields of the caller are dropped: the client states its own. `lines` are
    header lines already encoded and checked (a LineCache's), sent after `headers`. Raises
    ValueError for a method, target, name or value that cannot go on the wire as given.
    """
    request_line = _request_line(method, target)
    fields = b""
    if headers:
        fields = field_lines(headers)
        if _names_host(headers):
            host = b""
    if body_size or method in _METHODS_WITH_BODY:
        length = content_length_line(body_size)
        return b"".join((request_line, host, fields, lines, length, b"\r\n"))
    return b"".join((request_line, host, fields, lines, b"\r\n"))


def _names_host(headers: Sequence[tuple[str, str | bytes]]) -> bool:
    return any(len(name) == 4 and name.lower() == "host" for name, _ in headers)
