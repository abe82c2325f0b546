"""gRPC metadata in both directions: request headers to (name, value) pairs, and back.

Values of `-bin` keys travel base64-encoded (padding optional on receipt) and reach handlers
as bytes; other values are ASCII strings. Response headers are encoded as HPACK literals that
never enter the peer's dynamic table, so the peer's HEADER_TABLE_SIZE never constrains us.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Final

MetadataValue = str | bytes
Metadata = list[tuple[str, MetadataValue]]

# Headers gRPC itself owns: they are not metadata and handlers cannot send them.
RESERVED: Final = frozenset(
    {
        "content-type",
        "te",
        "grpc-timeout",
        "grpc-encoding",
        "grpc-accept-encoding",
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
    }
)
_NAME_CHARS: Final = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_.")


def decode_binary(value: bytes) -> bytes:
    try:
        return base64.b64decode(value + b"=" * (-len(value) % 4), validate=False)
    except (binascii.Error, ValueError):
        return value


def encode_int(value: int, prefix_bits: int, first: int) -> bytes:
    """An HPACK integer (RFC 7541 §5.1) with `first` holding the representation's flag bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name: bytes, value: bytes) -> bytes:
    """A literal header field without indexing, new name, no Huffman coding."""
    return b"\x00" + encode_int(len(name), 7, 0) + name + encode_int(len(value), 7, 0) + value


def encode_metadata(metadata: Iterable[tuple[str, MetadataValue]]) -> bytes:
    """HPACK literals for handler metadata; raises ValueError for names or values gRPC forbids."""
    out = []
    for name, value in metadata:
        key = name.lower()
        raw_name = key.encode("ascii", "replace")
        if not raw_name or not set(raw_name) <= _NAME_CHARS or key in RESERVED:
            raise ValueError(f"invalid metadata key {name!r}")
        if key.endswith("-bin"):
            data = value if isinstance(value, bytes) else value.encode()
            raw_value = base64.b64encode(data).rstrip(b"=")
        else:
            raw_value = value.encode("ascii") if isinstance(value, str) else value
            if any(byte < 0x20 or byte > 0x7E for byte in raw_value):
                raise ValueError(f"invalid metadata value for {name!r}")
        out.append(literal(raw_name, raw_value))
    return b"".join(out)
