"""Response and trailer header blocks, mostly encoded once at import.

Every OK unary call answers with the same two blocks (`:status 200` + `content-type`, then
`grpc-status: 0`), so they are constants; only metadata and error statuses are encoded per call.
"""

from __future__ import annotations

import base64
import struct
from typing import Final

from mecha.http2.metadata import encode_int, literal
from mecha.http2.status import encode_message

# `:status: 200` is entry 8 of the HPACK static table; `content-type` is entry 31's name.
_STATUS_200 = b"\x88"
_CONTENT_TYPE = b"\x0f\x10" + encode_int(16, 7, 0) + b"application/grpc"

RESPONSE_HEAD = _STATUS_200 + _CONTENT_TYPE
TRAILERS_OK: Final = literal(b"grpc-status", b"0")

_PREFIX: Final = struct.Struct(">BL")


def message_prefix(size: int) -> bytes:
    """The 5-byte length prefix of an uncompressed gRPC message."""
    return _PREFIX.pack(0, size)


def status_block(code: int, message: str = "", details: bytes = b"") -> bytes:
    if code == 0 and not message and not details:
        return TRAILERS_OK
    parts = [literal(b"grpc-status", b"%d" % code)]
    if message:
        parts.append(literal(b"grpc-message", encode_message(message)))
    if details:
        parts.append(literal(b"grpc-status-details-bin", base64.b64encode(details).rstrip(b"=")))
    return b"".join(parts)


def http_status_block(status: int) -> bytes:
    """`:status` alone, for requests that are not gRPC (static entry 8's name, literal value)."""
    value = b"%d" % status
    return b"\x08" + encode_int(len(value), 7, 0) + value
