"""Service invocation through two real runtimes: caller → runtime A → runtime B → app.

Runs with an HTTP app and with a gRPC app behind B, and with HTTP and gRPC callers at A.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import invoke_pb2
from google.protobuf import any_pb2

from tests.integration.mecha_process import MechaProcess, dapr_stub, free_port

APPS = Path(__file__).parent / "apps"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _identity(data: bytes) -> bytes:
    return data


@pytest.fixture(scope="module", params=["http", "grpc"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, MechaProcess, MechaProcess]]:
    """Runtime A (app `caller`, no app) and runtime B (app `echo`), sharing a data directory."""
    protocol: str = request.param
    workdir = tmp_path_factory.mktemp(f"invoke-{protocol}")
    app_script = APPS / ("http_echo.py" if protocol == "http" else "grpc_echo.py")
    callee = MechaProcess(
        workdir,
        app_id="echo",
        args=("--app-port", str(free_port()), "--app-protocol", protocol),
        env={"APP_API_TOKEN": "app-secret"},
        app_command=(sys.executable, str(app_script)),
    )
    caller = MechaProcess(workdir, app_id="caller")
    try:
        callee.wait_ready("/v1.0/healthz")
        caller.wait_ready()
        yield protocol, caller, callee
    finally:
        caller.stop()
        callee.stop()


def _seen(protocol: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """What the echo app saw, in one shape for both app protocols."""
    if protocol == "http":
        return {
            "method": headers["x-echo-method"],
            "path": headers["x-echo-path"].lstrip("/"),
            "query": headers["x-echo-query"],
            "headers": orjson.loads(headers["x-echo-headers"]),
        }
    seen = orjson.loads(headers["x-echo-seen"])
    return {
        "method": seen["verb"],
        "path": seen["method"],
        "query": seen["query"],
        "headers": seen["metadata"],
    }


def test_http_caller_reaches_the_app(pair: tuple[str, MechaProcess, MechaProcess]) -> None:
    protocol, caller, _ = pair
    body = bytes(range(256)) * 4
    status, headers, reply = caller.request(
        "PUT",
        "/v1.0/invoke/echo/method/orders/42?expand=items&x=%20",
        body,
        {
            "x-custom": "yes",
            "content-type": "application/octet-stream",
            "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
        },
    )
    assert status == 200
    assert reply == body
    # The answer is the caller's runtime's: its Server line, not the app's (a repeat would win).
    assert headers["server"] == "mecha"
    seen = _seen(protocol, headers, reply)
    assert seen["method"] == "PUT"
    assert seen["path"] == "orders/42"
    assert seen["query"] == "expand=items&x=%20"
    assert seen["headers"]["x-custom"] == "yes"
    assert seen["headers"]["dapr-caller-app-id"] == "caller"
    assert seen["headers"]["dapr-callee-app-id"] == "echo"
    assert seen["headers"]["dapr-api-token"] == "app-secret"
    # The trace continues across both hops: same trace id, new span.
    traceparent = seen["headers"]["traceparent"]
    assert traceparent.split("-")[1] == TRACE_ID
    assert traceparent.split("-")[2] != "00f067aa0ba902b7"


def test_trace_is_started_when_absent(pair: tuple[str, MechaProcess, MechaProcess]) -> None:
    protocol, caller, _ = pair
    status, headers, reply = caller.request("POST", "/v1.0/invoke/echo/method/ping", b"{}")
    assert status == 200
    traceparent = _seen(protocol, headers, reply)["headers"]["traceparent"]
    assert len(traceparent.split("-")[1]) == 32


def test_dapr_app_id_header_form(pair: tuple[str, MechaProcess, MechaProcess]) -> None:
    protocol, caller, _ = pair
    status, headers, reply = caller.request("POST", "/inventory/7", b"hi", {"dapr-app-id": "echo"})
    assert status == 200
    assert reply == b"hi"
    assert _seen(protocol, headers, reply)["path"] == "inventory/7"


def test_large_bodies(pair: tuple[str, MechaProcess, MechaProcess]) -> None:
    _, caller, _ = pair
    body = b"z" * (4 * 1024 * 1024 - 4096)
    status, _, reply = caller.request("POST", "/v1.0/invoke/echo/method/big", body)
    assert status == 200
    assert reply == body


def test_app_errors_pass_through(pair: tuple[str, MechaProcess, MechaProcess]) -> None:
    protocol, caller, _ = pair
    status, _, reply = caller.request("GET", "/v1.0/invoke/echo/method/status/404")
    assert status == 404
    if protocol == "http":
        assert reply == b"app says no"


def test_unknown_app_id(pair: tuple[str, MechaProcess, MechaProcess]) -> None:
    _, caller, _ = pair
    status, _, reply = caller.request("GET", "/v1.0/invoke/nobody/method/x")
    assert status == 500
    error = orjson.loads(reply)
    assert error["errorCode"] == "ERR_DIRECT_INVOKE"
    assert "nobody" in error["message"]


def test_missing_app_id(pair: tuple[str, MechaProcess, MechaProcess]) -> None:
    _, caller, _ = pair
    status, _, reply = caller.request("GET", "/v1.0/invoke/echo/nomethod")
    assert status == 404
    assert orjson.loads(reply)["errorCode"] == "ERR_DIRECT_INVOKE"


def test_grpc_caller_reaches_the_app(pair: tuple[str, MechaProcess, MechaProcess]) -> None:
    _, caller, _ = pair
    with grpc.insecure_channel(f"127.0.0.1:{caller.grpc_port}") as channel:
        reply = dapr_stub(channel).InvokeService(
            invoke_pb2.InvokeServiceRequest(
                id="echo",
                message=common_pb2.InvokeRequest(
                    method="orders/9",
                    data=any_pb2.Any(value=b"\x00payload"),
                    content_type="application/octet-stream",
                    http_extension=common_pb2.HTTPExtension(
                        verb=common_pb2.HTTPExtension.Verb.PATCH, querystring="a=1"
                    ),
                ),
            ),
            metadata=(("x-custom", "grpc"),),
            timeout=10,
        )
    assert reply.data.value == b"\x00payload"
    assert reply.content_type == "application/octet-stream"


def test_grpc_caller_sees_app_errors_as_status(
    pair: tuple[str, MechaProcess, MechaProcess],
) -> None:
    _, caller, _ = pair
    with (
        grpc.insecure_channel(f"127.0.0.1:{caller.grpc_port}") as channel,
        pytest.raises(grpc.RpcError) as failed,
    ):
        dapr_stub(channel).InvokeService(
            invoke_pb2.InvokeServiceRequest(
                id="echo", message=common_pb2.InvokeRequest(method="status/404")
            ),
            timeout=10,
        )
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND


def test_slow_app_times_out_at_the_callers_deadline(
    pair: tuple[str, MechaProcess, MechaProcess],
) -> None:
    _, caller, _ = pair
    with (
        grpc.insecure_channel(f"127.0.0.1:{caller.grpc_port}") as channel,
        pytest.raises(grpc.RpcError) as failed,
    ):
        dapr_stub(channel).InvokeService(
            invoke_pb2.InvokeServiceRequest(
                id="echo", message=common_pb2.InvokeRequest(method="slow/5")
            ),
            timeout=1,
        )
    assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_grpc_proxying_carries_a_stream(pair: tuple[str, MechaProcess, MechaProcess]) -> None:
    protocol, caller, _ = pair
    if protocol != "grpc":
        pytest.skip("proxying reaches gRPC apps")
    with grpc.insecure_channel(f"127.0.0.1:{caller.grpc_port}") as channel:
        chat = channel.stream_stream(
            "/test.Echo/Chat", request_serializer=_identity, response_deserializer=_identity
        )
        replies = list(
            chat(iter([b"one", b"two", b"three"]), metadata=(("dapr-app-id", "echo"),), timeout=10)
        )
    assert replies == [b"echo:one", b"echo:two", b"echo:three"]


def test_app_down(tmp_path: Path) -> None:
    callee = MechaProcess(tmp_path, app_id="gone", args=("--app-port", str(free_port())))
    caller = MechaProcess(tmp_path, app_id="caller")
    try:
        callee.wait_ready()
        caller.wait_ready()
        status, _, reply = caller.request("POST", "/v1.0/invoke/gone/method/x", b"")
    finally:
        caller.stop()
        callee.stop()
    assert status == 500
    assert orjson.loads(reply)["errorCode"] == "ERR_DIRECT_INVOKE"


@pytest.fixture
def echo_app() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The HTTP echo app alone, not behind a runtime: an outside service."""
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, str(APPS / "http_echo.py")], env={**os.environ, "APP_PORT": str(port)}
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "echo app did not start"
                time.sleep(0.02)
        yield port, app
    finally:
        app.terminate()
        app.wait(5)


ENDPOINT = """\
apiVersion: dapr.io/v1alpha1
kind: HTTPEndpoint
metadata:
  name: outside
spec:
  baseUrl: http://127.0.0.1:{port}/base
  headers:
  - name: x-endpoint-key
    value: k-123
"""


def test_http_endpoint_resource_and_url_targets(
    tmp_path: Path, echo_app: tuple[int, subprocess.Popen[bytes]]
) -> None:
    port, _ = echo_app
    process = MechaProcess(
        tmp_path, app_id="caller", resources={"endpoint.yaml": ENDPOINT.format(port=port)}
    )
    try:
        process.wait_ready()
        status, headers, reply = process.request("POST", "/v1.0/invoke/outside/method/items", b"a")
        by_url = process.request("GET", f"/v1.0/invoke/http://127.0.0.1:{port}/method/direct?q=1")
    finally:
        process.stop()
    assert status == 200
    assert reply == b"a"
    assert headers["x-echo-path"] == "/base/items"
    assert orjson.loads(headers["x-echo-headers"])["x-endpoint-key"] == "k-123"
    url_status, url_headers, _ = by_url
    assert url_status == 200
    assert url_headers["x-echo-path"] == "/direct"
    assert url_headers["x-echo-query"] == "q=1"


def test_unhealthy_app_fails_fast_and_shows_in_healthz(
    tmp_path: Path, echo_app: tuple[int, subprocess.Popen[bytes]]
) -> None:
    port, app = echo_app
    process = MechaProcess(
        tmp_path,
        app_id="watched",
        args=(
            "--app-port",
            str(port),
            "--enable-app-health-check",
            "--app-health-probe-interval",
            "1",
            "--app-health-threshold",
            "1",
        ),
    )
    try:
        process.wait_ready("/v1.0/healthz")
        assert process.request("POST", "/v1.0/invoke/watched/method/x", b"")[0] == 200
        # Stop the app behind the runtime's back: probes fail, calls fail fast, healthz says so.
        app.terminate()
        app.wait(5)
        deadline = time.monotonic() + 10
        while process.request("GET", "/v1.0/healthz")[0] == 204:
            assert time.monotonic() < deadline, "healthz never reported the app unhealthy"
            time.sleep(0.1)
        status, _, body = process.request("POST", "/v1.0/invoke/watched/method/x", b"")
    finally:
        process.stop()
    assert status == 500
    assert "healthy" in orjson.loads(body)["message"]
