"""`mecha run ... -- cmd`: the app runs beside the runtime, as with `dapr run`."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.integration.conftest import StartMecha
from tests.integration.mecha_process import free_port

APP = textwrap.dedent(
    """
    import http.server, os, signal, sys
    for name in ("APP_ID", "APP_PORT", "DAPR_HTTP_PORT", "DAPR_GRPC_PORT", "DAPR_API_TOKEN"):
        print(f"{name}={os.environ.get(name, '')}", flush=True)
    def stop(*_):
        print("app got SIGTERM", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    address = ("127.0.0.1", int(os.environ["APP_PORT"]))
    server = http.server.HTTPServer(address, http.server.BaseHTTPRequestHandler)
    server.serve_forever()
    """
)


def test_app_gets_the_environment_and_stops_with_the_runtime(
    start_mecha: StartMecha, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    app_port = free_port()
    process = start_mecha(
        args=("--app-port", str(app_port)),
        env={"DAPR_API_TOKEN": "tok"},
        app_command=(sys.executable, str(app)),
    )
    # /v1.0/healthz turns 204 only once the app answers on its port.
    process.wait_ready("/v1.0/healthz")
    output = process.output
    assert "== APP == APP_ID=orders" in output
    assert f"== APP == APP_PORT={app_port}" in output
    assert f"== APP == DAPR_HTTP_PORT={process.http_port}" in output
    assert f"== APP == DAPR_GRPC_PORT={process.grpc_port}" in output
    assert "== APP == DAPR_API_TOKEN=tok" in output

    assert process.request("POST", "/v1.0/shutdown", headers={"dapr-api-token": "tok"})[0] == 204
    assert process.wait_exit() == 0
    assert "== APP == app got SIGTERM" in process.output


def test_healthz_waits_for_the_app_port(start_mecha: StartMecha) -> None:
    process = start_mecha(args=("--app-port", str(free_port()))).wait_ready()
    status, _, body = process.request("GET", "/v1.0/healthz")
    assert status == 500
    assert b"ERR_HEALTH_NOT_READY" in body
    assert b"app channel" in body  # names what it waits for


def test_runtime_exits_with_the_app(start_mecha: StartMecha) -> None:
    process = start_mecha(app_command=(sys.executable, "-c", "print('bye'); raise SystemExit(3)"))
    assert process.wait_exit() == 3
    assert "== APP == bye" in process.output
    assert "app exited with code 3" in process.output


def test_app_that_cannot_start_is_a_clear_error(start_mecha: StartMecha) -> None:
    process = start_mecha(app_command=("/nonexistent/app",))
    assert process.wait_exit() == 1
    assert "cannot start app" in process.output
    assert "Traceback" not in process.output


def test_an_app_that_ignores_sigterm_is_killed_after_the_grace(start_mecha: StartMecha) -> None:
    app = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print(f'pid {os.getpid()}', flush=True)\n"
        "time.sleep(60)\n"
    )
    process = start_mecha(
        args=("--dapr-graceful-shutdown-seconds", "1"), app_command=(sys.executable, "-c", app)
    ).wait_ready()
    deadline = time.monotonic() + 10
    while "== APP == pid " not in process.output and time.monotonic() < deadline:
        time.sleep(0.05)
    app_pid = int(process.output.split("== APP == pid ")[1].split()[0])
    assert process.request("POST", "/v1.0/shutdown")[0] == 204
    assert process.wait_exit() == 0
    assert "app did not stop within 1.0s; killing it" in process.output
    with pytest.raises(ProcessLookupError):
        os.kill(app_pid, 0)
