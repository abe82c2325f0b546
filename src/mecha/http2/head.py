"""Request header blocks: HPACK decoding, validation, and a cache for repeated blocks.

A gRPC client sends the same headers on every call of a method; once they are in its dynamic
table it sends them as a block of indexed fields only, byte for byte the same each time. A
block that leaves the dynamic table untouched decodes to the same headers for as long as the
table is unchanged, so its decoded form is kept keyed by the block's bytes, and the cache is
emptied whenever a block changes the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hpack import Decoder, HPACKError

from mecha.http2.metadata import Metadata, decode_binary
from mecha.http2.status import parse_timeout

_CACHE_LIMIT: Final = 256
_PSEUDO: Final = frozenset({b":method", b":scheme", b":path", b":authority"})
# Connection-specific fields are malformed in HTTP/2 (RFC 9113 §8.2.2).
_FORBIDDEN: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
_NOT_METADATA: Final = frozenset(
    {b"content-type", b"te", b"grpc-timeout", b"grpc-encoding", b"grpc-accept-encoding"}
)


class CompressionError(Exception):
    """The header block could not be decoded: the connection's HPACK state is lost."""


@dataclass(frozen=True, slots=True)
class RequestHead:
    """What a call's request headers say; `reset` or `http_status` mark a refused request."""

    path: str = ""
    timeout: float | None = None
    encoding: bytes = b""
    metadata: tuple[tuple[str, str | bytes], ...] = ()
    reset: bool = False
    """Malformed request: the stream is reset with PROTOCOL_ERROR."""
    http_status: int = 0
    """Not a gRPC request: answered with this HTTP status and no body."""


_MALFORMED: Final = RequestHead(reset=True)


class HeadDecoder:
    """One connection's HPACK decoder and its cache of decoded blocks."""

    __slots__ = ("_cache", "_decoder")

    def __init__(self, table_size: int, max_list_size: int) -> None:
        self._decoder = Decoder(max_header_list_size=max_list_size)
        self._decoder.header_table_size = table_size
        self._cache: dict[bytes, RequestHead] = {}

    def decode(self, block: bytes) -> RequestHead:
        """The request head of a block; raises CompressionError when HPACK decoding fails."""
        head = self._cache.get(block)
        if head is not None:
            return head
        try:
            fields = self._decoder.decode(block, raw=True)
        except (HPACKError, ValueError, IndexError) as error:
            raise CompressionError(str(error)) from error
        head = _request_head(fields)  # type: ignore[arg-type]
        if _keeps_table(block):
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[block] = head
        else:
            self._cache.clear()
        return head

    def decode_trailers(self, block: bytes) -> None:
        """Decodes and drops a block that carries nothing the server uses (request trailers,
        headers of a refused stream): HPACK state must still follow it."""
        if block in self._cache:
            return
        try:
            self._decoder.decode(block, raw=True)
        except (HPACKError, ValueError, IndexError) as error:
            raise CompressionError(str(error)) from error
        if not _keeps_table(block):
            self._cache.clear()


def _request_head(fields: list[tuple[bytes, bytes]]) -> RequestHead:
    method = path = content_type = None
    timeout: float | None = None
    encoding = b""
    metadata: Metadata = []
    regular = False
    for name, value in fields:
        if name[:1] == b":":
            if regular or name not in _PSEUDO:
                return _MALFORMED
            if name == b":method":
                method = value
            elif name == b":path":
                path = value
            continue
        regular = True
        if name in _FORBIDDEN or name != name.lower():
            return _MALFORMED
        if name == b"te" and value != b"trailers":
            return _MALFORMED
        if name in _NOT_METADATA:
            if name == b"content-type":
                content_type = value
            elif name == b"grpc-timeout":
                timeout = parse_timeout(value)
            elif name == b"grpc-encoding":
                encoding = value
            continue
        key = name.decode("latin-1")
        if key.endswith("-bin"):
            metadata.append((key, decode_binary(value)))
        else:
            metadata.append((key, value.decode("latin-1")))
    if method is None or not path:
        return _MALFORMED
    if method != b"POST":
        return RequestHead(http_status=405)
    if content_type is None or not (
        content_type == b"application/grpc"
        or content_type.startswith((b"application/grpc+", b"application/grpc;"))
    ):
        return RequestHead(http_status=415)
    return RequestHead(
        path=path.decode("latin-1"),
        timeout=timeout,
        encoding=encoding,
        metadata=tuple(metadata),
    )


def _keeps_table(block: bytes) -> bool:
    """Whether a (successfully decoded) block has no field that changes the dynamic table."""
    try:
        index = 0
        size = len(block)
        while index < size:
            first = block[index]
            if first & 0x80:  # indexed field
                index = _skip_int(block, index, 0x7F)
            elif first & 0x60:  # literal with incremental indexing, or table size update
                return False
            else:  # literal without indexing or never indexed
                index = _skip_int(block, index, 0x0F)
                if first & 0x0F == 0:
                    index = _skip_string(block, index)
                index = _skip_string(block, index)
        return True
    except IndexError:
        return False


def _skip_int(block: bytes, index: int, mask: int) -> int:
    if block[index] & mask != mask:
        return index + 1
    index += 1
    while block[index] & 0x80:
        index += 1
    return index + 1


def _skip_string(block: bytes, index: int) -> int:
    length = block[index] & 0x7F
    if length != 0x7F:
        return index + 1 + length
    shift = 0
    length = 0x7F
    index += 1
    while True:
        byte = block[index]
        length += (byte & 0x7F) << shift
        index += 1
        if not byte & 0x80:
            return index + length
        shift += 7
