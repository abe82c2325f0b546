"""MechaError → gRPC status: the one place an error becomes a status with rich details."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc.error_details_pb2 import BadRequest, ErrorInfo, ResourceInfo
from google.rpc.status_pb2 import Status

from mecha.errors import MechaError

_DETAILS_KEY = "grpc-status-details-bin"


def status_of(error: MechaError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    """The code, message and trailing metadata (google.rpc.Status with details) for an error."""
    code = error.error.grpc_status
    details: list[any_pb2.Any] = []
    if error.error_reason:
        info = ErrorInfo(reason=error.error_reason, domain="dapr.io", metadata=error.metadata)
        details.append(_pack(info))
    if error.resource is not None:
        resource = ResourceInfo(
            resource_type=error.resource.type,
            resource_name=error.resource.name,
            owner=error.resource.owner,
            description=error.resource.description,
        )
        details.append(_pack(resource))
    if error.violations:
        bad = BadRequest(
            field_violations=[
                BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in error.violations
            ]
        )
        details.append(_pack(bad))
    status = Status(code=code.value[0], message=error.message, details=details)
    return code, error.message, ((_DETAILS_KEY, status.SerializeToString()),)


def _pack(
    message: ErrorInfo | ResourceInfo | BadRequest,
) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
