"""gRPC `Shutdown`: answer first, then stop gracefully."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.protobuf import empty_pb2

if TYPE_CHECKING:
    from mecha.api.grpc.server import GrpcCall


async def shutdown(call: GrpcCall, request: Any) -> empty_pb2.Empty:
    call.runtime.request_shutdown(reason="shutdown API called over gRPC")
    return empty_pb2.Empty()


METHODS: dict[str, Any] = {"Shutdown": shutdown}
