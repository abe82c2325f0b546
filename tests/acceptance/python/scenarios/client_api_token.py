# Python SDK with DAPR_API_TOKEN set in both mecha and the client: the SDK sends the token (HTTP
# health probe and gRPC metadata) and works; calls without it, or with a wrong one, are refused.
#
# @env DAPR_API_TOKEN=acceptance-secret-token
import grpc
from dapr.clients import DaprClient
from dapr.proto import api_v1
from tests.acceptance.python.support import app_id, env, expect_equal, grpc_port, http_call

token = env("DAPR_API_TOKEN")

with DaprClient() as client:
    expect_equal("application id (SDK, with token)", client.get_metadata().application_id, app_id())

status, _ = http_call("GET", "/v1.0/metadata", {"dapr-api-token": token})
expect_equal("HTTP GET /v1.0/metadata with the token", status, 200)
status, body = http_call("GET", "/v1.0/metadata")
expect_equal(f"HTTP GET /v1.0/metadata without a token (body {body!r})", status, 401)
status, body = http_call("GET", "/v1.0/metadata", {"dapr-api-token": "wrong-" + token})
expect_equal(f"HTTP GET /v1.0/metadata with a wrong token (body {body!r})", status, 401)
# Health probes stay open so that orchestrators can check the sidecar without the secret.
status, _ = http_call("GET", "/v1.0/healthz/outbound")
expect_equal("HTTP GET /v1.0/healthz/outbound without a token", status, 204)

with grpc.insecure_channel(f"127.0.0.1:{grpc_port()}") as channel:
    get_metadata = channel.unary_unary(
        "/dapr.proto.runtime.v1.Dapr/GetMetadata",
        request_serializer=api_v1.GetMetadataRequest.SerializeToString,
        response_deserializer=api_v1.GetMetadataResponse.FromString,
    )
    response = get_metadata(api_v1.GetMetadataRequest(), metadata=(("dapr-api-token", token),))
    expect_equal("gRPC GetMetadata with the token", response.id, app_id())
    for label, metadata in (
        ("without a token", ()),
        ("with a wrong token", (("dapr-api-token", "x"),)),
    ):
        try:
            get_metadata(api_v1.GetMetadataRequest(), metadata=metadata, timeout=5)
        except grpc.RpcError as error:
            expect_equal(f"gRPC GetMetadata {label}", error.code(), grpc.StatusCode.UNAUTHENTICATED)
        else:
            raise AssertionError(f"gRPC GetMetadata {label} succeeded; expected UNAUTHENTICATED")
