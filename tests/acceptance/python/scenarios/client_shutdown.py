# Python SDK: DaprClient().shutdown() asks the runtime to stop; both API ports then close and
# the runner checks that mecha exits by itself with code 0.
#
# @mecha-exits
from dapr.clients import DaprClient
from tests.acceptance.python.support import (
    expect,
    grpc_port,
    http_call,
    http_port,
    port_accepts,
    wait_until,
)

status, _ = http_call("GET", "/v1.0/healthz")
expect("mecha is healthy before the shutdown", status == 204, status)

with DaprClient() as client:
    client.shutdown()

wait_until("the HTTP API port is closed", lambda: not port_accepts(http_port()))
wait_until("the gRPC API port is closed", lambda: not port_accepts(grpc_port()))
