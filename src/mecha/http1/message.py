"""The values that cross the HTTP/1.1 layer: headers, requests, responses and limits."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import quote, unquote

_log: Final = logging.getLogger("mecha.http")

RAW_VALUES: Final[dict[str, str]] = {}
"""`Headers._index` while the values are still the bytes the parser received: they are decoded
on first use, as many requests are answered without reading a single header."""


# RFC 3986 path characters that stay as they are; everything else is percent-encoded.
_PATH_SAFE: Final = "/:@!$&'()*+,;=-._~"
_NOTHING_TO_ENCODE: Final = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=._~-]*")


def percent_decoded(text: str) -> str:
    """A path or a piece of one, percent-decoded (most have nothing to decode)."""
    return unquote(text) if "%" in text else text


def percent_encoded(path: str) -> str:
    """Decoded text as a URL path: what RFC 3986 does not allow there percent-encoded (a "%"
    too, as a literal). Most paths have nothing to encode."""
    return path if _NOTHING_TO_ENCODE.fullmatch(path) else quote(path, safe=_PATH_SAFE)


class TextCache:
    """Text worked out again and again from a few distinct inputs (request targets from method
    names): bounded, as the inputs come from callers. Emptied when full, so that the ones in use
    now soon fill it again; inputs longer than `max_key` are never kept."""

    __slots__ = ("_entries", "_max_key", "_size")

    def __init__(self, size: int = 256, max_key: int = 200) -> None:
        self._entries: dict[str, str] = {}
        self._size = size
        self._max_key = max_key

    def get(self, key: str) -> str | None:
        return self._entries.get(key)

    def put(self, key: str, value: str) -> str:
        """Keeps `value` for `key` (when it is short enough) and returns it."""
        if len(key) <= self._max_key:
            if len(self._entries) >= self._size:
                self._entries.clear()
            self._entries[key] = value
        return value


class Headers:
    """Request or response headers: ordered (name, value) pairs.

    Names are lower-cased str, values str (latin-1 decoded, so every byte round-trips).
    Lookups by name are case-insensitive and use an index built on the first lookup.
    """

    __slots__ = ("_index", "_items")

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] | list[tuple[str, bytes]] = (
            [(name.lower(), value) for name, value in items] if items else []
        )
        self._index: dict[str, str] | None = None

    @staticmethod
    def received(items: list[tuple[str, bytes]]) -> Headers:
        """Headers as a parser hands them over: names lower-cased, values the raw bytes."""
        headers = Headers()
        headers._items = items
        headers._index = RAW_VALUES
        return headers

    def _text_items(self) -> list[tuple[str, str]]:
        if self._index is RAW_VALUES:
            raw = cast("list[tuple[str, bytes]]", self._items)
            self._items = items = [(name, value.decode("latin1")) for name, value in raw]
            self._index = None
            return items
        return cast("list[tuple[str, str]]", self._items)

    def _build_index(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for name, value in self._text_items():
            if name not in index:
                index[name] = value
        self._index = index
        return index

    def pairs(self) -> list[tuple[str, str | bytes]]:
        """Every (name, value) pair as held: the values are the bytes received until
        something has read them as text. The list is the headers' own: do not change it."""
        # One list type, not a union of two: compiled callers then loop over it directly.
        return cast("list[tuple[str, str | bytes]]", self._items)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of `name`, or `default`."""
        index = self._index
        if index is None or index is RAW_VALUES:
            index = self._build_index()
        return index.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, in order."""
        wanted = name.lower()
        return [value for key, value in self._text_items() if key == wanted]

    def add(self, name: str, value: str) -> None:
        lowered = name.lower()
        self._text_items().append((lowered, value))
        index = self._index
        if index is not None and lowered not in index:
            index[lowered] = value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        index = self._index
        if index is None or index is RAW_VALUES:
            index = self._build_index()
        return name.lower() in index

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._text_items())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"


class Request:
    """One parsed request. `path` and `query` are the raw, still percent-encoded target parts."""

    __slots__ = ("body", "headers", "http_version", "keep_alive", "method", "path", "query")

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        headers: Headers,
        body: bytes,
        keep_alive: bool,
        http_version: str,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.http_version = http_version

    def __repr__(self) -> str:
        target = f"{self.path}?{self.query}" if self.query else self.path
        return f"<Request {self.method} {target} HTTP/{self.http_version} body={len(self.body)}B>"


class Response:
    """What a handler answers. The server adds Content-Length, Date, Server and Connection."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: Iterable[tuple[str, str | bytes]] = (),
        content_type: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers: list[tuple[str, str | bytes]] = list(headers)
        """Values are text (latin-1) or the bytes to send as they are."""
        self.content_type = content_type

    def __repr__(self) -> str:
        return f"<Response {self.status} body={len(self.body)}B>"


Sink = Callable[[Response], None]


class Deferred:
    """The answer of a handler that replies from a callback instead of a coroutine.

    The handler returns it at once and resolves it later, typically from inside the protocol
    callback that completed an outbound exchange; the connection writes the response right
    there. No task, no future, no extra turn of the event loop: the shape of the invocation
    path, where every request waits on another connection's response.
    """

    __slots__ = ("_response", "_settled", "_sink", "on_cancel")

    def __init__(self) -> None:
        self._sink: Sink | None = None
        self._response: Response | None = None
        self._settled = False
        self.on_cancel: Callable[[], None] | None = None
        """Set by the handler: stops its work when the answer is no longer wanted (the client
        went away). Not called once the Deferred is resolved."""

    def resolve(self, response: Response) -> None:
        """Hands over the answer; only the first call counts, and none after `cancel`."""
        if self._settled:
            return
        self._settled = True
        self.on_cancel = None
        sink = self._sink
        if sink is None:
            self._response = response  # resolved before anyone listened
            return
        self._sink = None
        try:
            sink(response)
        except Exception:
            # The sink is the server's own; this runs inside someone else's protocol callback.
            _log.exception("cannot deliver the response %r", response)

    def cancel(self) -> None:
        """The answer is no longer wanted; runs `on_cancel` if the work is still under way."""
        if self._settled:
            return
        self._settled = True
        self._sink = None
        on_cancel, self.on_cancel = self.on_cancel, None
        if on_cancel is not None:
            on_cancel()

    def take(self) -> Response | None:
        """The answer if it has come already (then nobody else gets it)."""
        response, self._response = self._response, None
        return response

    def listen(self, sink: Sink) -> None:
        """`sink` gets the answer when it comes: at once if it has come already."""
        response = self.take()
        if response is not None:
            sink(response)
        elif not self._settled:
            self._sink = sink


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep one connection from taking more than its share."""

    max_body_bytes: int = 4 * 1024 * 1024
    """Largest request body accepted (daprd's --max-body-size default, 4Mi); larger gets 413."""
    max_header_bytes: int = 16 * 1024
    """Largest request line + header section accepted; larger gets 431."""
    keepalive_timeout: float = 75.0
    """An idle keep-alive connection is closed after this many seconds."""
    max_pipelined: int = 64
    """Requests parsed ahead of the one being answered before the server stops reading."""

    def __post_init__(self) -> None:
        if self.max_body_bytes < 0:
            raise ValueError("max_body_bytes must be >= 0")
        if self.max_header_bytes < 64:
            raise ValueError("max_header_bytes must be >= 64")
        if self.keepalive_timeout <= 0:
            raise ValueError("keepalive_timeout must be > 0")
        if self.max_pipelined < 1:
            raise ValueError("max_pipelined must be >= 1")


Handler = Callable[[Request], Response | Deferred | Awaitable[Response]]
"""Answers one request: at once (a Response), from a callback (a Deferred), or from a coroutine."""

ProtocolErrorRenderer = Callable[[int, str], Response]
"""Builds the response for an error the server answers itself: (HTTP status, human message)."""
