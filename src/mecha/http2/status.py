"""gRPC status codes, the error a handler raises to fail a call, and the status wire forms.

`grpc-message` is percent-encoded UTF-8 (gRPC over HTTP/2, "Responses"): bytes outside the
printable ASCII range, and '%' itself, become %XX.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Final

from mecha.http2.metadata import MetadataValue


class StatusCode(IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class GrpcError(Exception):
    """Raised by a handler to end its call with a status other than OK.

    `details` is a serialized google.rpc.Status sent as `grpc-status-details-bin`; `trailers`
    are extra trailing metadata sent with the status.
    """

    def __init__(
        self,
        code: int,
        message: str = "",
        details: bytes = b"",
        trailers: Sequence[tuple[str, MetadataValue]] = (),
    ) -> None:
        super().__init__(code, message)
        self.code = int(code)
        self.message = message
        self.details = details
        self.trailers = tuple(trailers)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


_UNRESERVED: Final = frozenset(range(0x20, 0x7F)) - {ord("%")}


def encode_message(message: str) -> bytes:
    raw = message.encode("utf-8", "replace")
    if all(byte in _UNRESERVED for byte in raw):
        return raw
    return b"".join(bytes((byte,)) if byte in _UNRESERVED else b"%%%02X" % byte for byte in raw)


_TIMEOUT_UNITS: Final = {
    ord("H"): 3600.0,
    ord("M"): 60.0,
    ord("S"): 1.0,
    ord("m"): 1e-3,
    ord("u"): 1e-6,
    ord("n"): 1e-9,
}


def parse_timeout(value: bytes) -> float | None:
    """Seconds from a `grpc-timeout` value (1 to 8 digits and a unit); None when malformed."""
    if not 2 <= len(value) <= 9 or not value[:-1].isdigit():
        return None
    unit = _TIMEOUT_UNITS.get(value[-1])
    if unit is None:
        return None
    return int(value[:-1]) * unit
