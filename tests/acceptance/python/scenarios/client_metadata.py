# Python SDK: DaprClient() waits for the sidecar over HTTP (GET /v1.0/healthz/outbound), then
# get_metadata() over gRPC reports this app's id, the runtime version and its components.
#
# @resource statestore.yaml
#   apiVersion: dapr.io/v1alpha1
#   kind: Component
#   metadata:
#     name: statestore
#   spec:
#     type: state.in-memory
#     version: v1
import json

from dapr.clients import DaprClient
from tests.acceptance.python.support import app_id, expect, expect_equal, http_call

with DaprClient() as client:
    metadata = client.get_metadata()

expect_equal("application id", metadata.application_id, app_id())
runtime_version = metadata.extended_metadata.get("daprRuntimeVersion", "")
expect("the runtime reports its version", bool(runtime_version), metadata.extended_metadata)
status, body = http_call("GET", "/v1.0/metadata")
expect_equal("HTTP GET /v1.0/metadata", status, 200)
expect_equal("version over HTTP", json.loads(body).get("runtimeVersion"), runtime_version)
components = {c.name: c for c in metadata.registered_components}
expect("component 'statestore' is registered", "statestore" in components, components)
expect_equal("statestore type", components["statestore"].type, "state.in-memory")
expect_equal("statestore version", components["statestore"].version, "v1")
