"""grpcio's metadata as Mecha handles it, for the places that call apps with grpcio's client
(the gRPC app channel, gRPC proxying). Imports nothing of grpcio itself."""

from __future__ import annotations

STATUS_DETAILS_KEY = "grpc-status-details-bin"


def pairs(metadata: object) -> list[tuple[str, str | bytes]]:
    """Metadata as (key, value) pairs, whatever container grpcio handed back."""
    return [(str(item[0]), item[1]) for item in metadata or ()]  # type: ignore[attr-defined]


def status_details(metadata: list[tuple[str, str | bytes]]) -> bytes:
    """The serialized google.rpc.Status an error's trailers carry; b"" when there is none."""
    for key, value in metadata:
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return value
    return b""
