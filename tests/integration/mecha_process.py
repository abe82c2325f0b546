"""Start a real `mecha` process for a test, on free ports, with inline resource YAML."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import grpc
from dapr.proto.runtime.v1 import dapr_pb2_grpc

READY_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RuntimeProcess:
    """A started `mecha run`: its output (kept in a file for assertions and failure reports),
    readiness, plain HTTP requests to its API, and stopping it."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        address: str,
        http_port: int,
        log_path: Path,
        env: Mapping[str, str],
        described: str = "mecha",
    ) -> None:
        self.address = address
        self.http_port = http_port
        self.log_path = log_path
        self.described = described
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            list(command), stdout=self._log, stderr=subprocess.STDOUT, env=dict(env)
        )

    @property
    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, path: str = "/v1.0/healthz/outbound") -> Self:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.described} exited with {self.process.returncode}:\n{self.output}"
                )
            try:
                status, _, _ = self.request("GET", path, timeout=1.0)
            except OSError:
                status = 0
            if status == 204:
                return self
            time.sleep(0.02)
        raise AssertionError(
            f"{self.described} not ready on {path} in {READY_TIMEOUT}s:\n{self.output}"
        )

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.address, self.http_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            conn.close()

    def wait_exit(self, timeout: float = 15.0) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class MechaProcess(RuntimeProcess):
    """One runtime on this host's loopback, on free ports."""

    def __init__(
        self,
        workdir: Path,
        *,
        app_id: str = "orders",
        resources: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        app_command: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.app_id = app_id
        http_port = free_port()
        self.grpc_port = free_port()
        command = [
            *(sys.executable, "-m", "mecha", "run", "--app-id", app_id),
            *("--dapr-http-port", str(http_port), "--dapr-grpc-port", str(self.grpc_port)),
            *("--dapr-listen-addresses", "127.0.0.1", "--data-dir", str(workdir / "data")),
            *args,
        ]
        if resources is not None:
            folder = workdir / f"resources-{http_port}"
            folder.mkdir()
            for name, text in resources.items():
                (folder / name).write_text(text)
            command += ["--resources-path", str(folder)]
        if app_command:
            command += ["--", *app_command]
        super().__init__(
            command,
            address="127.0.0.1",
            http_port=http_port,
            log_path=workdir / f"mecha-{http_port}.log",
            env={**os.environ, **(env or {})},
        )


def dapr_stub(channel: grpc.Channel) -> Any:
    """A `dapr.proto.runtime.v1.Dapr` client stub (the generated stub module is untyped)."""
    return dapr_pb2_grpc.DaprStub(channel)  # type: ignore[no-untyped-call]


def run_to_exit(args: Sequence[str], timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run `mecha ...` expecting it to exit by itself (bad input), with its output."""
    return subprocess.run(
        [sys.executable, "-m", "mecha", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
