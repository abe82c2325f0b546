"""MechaError → gRPC status: the one place an error becomes a status with rich details."""

from __future__ import annotations

from google.protobuf import any_pb2
from google.rpc.error_details_pb2 import BadRequest, ErrorInfo, ResourceInfo
from google.rpc.status_pb2 import Status

from mecha.errors import MechaError
from mecha.http2 import GrpcError


def grpc_error(error: MechaError) -> GrpcError:
    """The status a call ends with: code, message and a google.rpc.Status with Dapr's details."""
    code = int(error.error.grpc_status)
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
    status = Status(code=code, message=error.message, details=details)
    return GrpcError(code, error.message, status.SerializeToString())


def _pack(
    message: ErrorInfo | ResourceInfo | BadRequest,
) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
