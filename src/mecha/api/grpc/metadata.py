"""gRPC `GetMetadata` and `SetMetadata`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dapr.proto.runtime.v1 import metadata_pb2
from google.protobuf import empty_pb2

if TYPE_CHECKING:
    from mecha.api.grpc.server import GrpcCall

_ACTOR_STATUS = {
    "INITIALIZING": metadata_pb2.ActorRuntime.INITIALIZING,
    "DISABLED": metadata_pb2.ActorRuntime.DISABLED,
    "RUNNING": metadata_pb2.ActorRuntime.RUNNING,
}


async def get_metadata(
    call: GrpcCall, request: metadata_pb2.GetMetadataRequest
) -> metadata_pb2.GetMetadataResponse:
    meta = call.runtime.describe(call.app)
    connection = meta.app_connection
    return metadata_pb2.GetMetadataResponse(
        id=meta.id,
        runtime_version=meta.runtime_version,
        enabled_features=meta.enabled_features,
        extended_metadata=meta.extended,
        registered_components=[
            metadata_pb2.RegisteredComponents(
                name=c.name, type=c.type, version=c.version, capabilities=c.capabilities
            )
            for c in meta.components
        ],
        http_endpoints=[metadata_pb2.MetadataHTTPEndpoint(name=n) for n in meta.http_endpoints],
        app_connection_properties=metadata_pb2.AppConnectionProperties(
            port=connection.port,
            protocol=connection.protocol,
            channel_address=connection.channel_address,
            max_concurrency=connection.max_concurrency,
        ),
        actor_runtime=metadata_pb2.ActorRuntime(
            runtime_status=_ACTOR_STATUS[meta.actor_runtime_status],
            host_ready=meta.actor_host_ready,
        ),
    )


async def set_metadata(call: GrpcCall, request: metadata_pb2.SetMetadataRequest) -> empty_pb2.Empty:
    call.runtime.set_extended_metadata(call.app, request.key, request.value)
    return empty_pb2.Empty()


METHODS: dict[str, Any] = {"GetMetadata": get_metadata, "SetMetadata": set_metadata}
