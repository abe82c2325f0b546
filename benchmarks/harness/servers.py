"""Starting the servers under test on free loopback ports: Mecha and a baseline nginx."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from benchmarks.harness import procfs
from benchmarks.harness.probe import NotReadyError, wait_for_status

MECHA_READY_PATH = "/v1.0/healthz/outbound"
NGINX_PATH = "/"
NGINX_BODY = '{"status":"ok"}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A running server process with its own scratch directory; stop() removes both."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    spawned_at: float
    extra_ports: dict[str, int] = field(default_factory=dict)
    # CPU seconds the process tree had used when it first answered ready: the cost of starting,
    # which unlike the wall time barely moves when other work shares the machine.
    ready_cpu_s: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def output(self) -> str:
        """What the process wrote to stdout and stderr so far."""
        log = self.workdir / "output.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def stop(self, timeout_s: float = 5.0) -> float:
        """SIGTERM, wait (SIGKILL after timeout_s); returns seconds until it exited.

        Calling it again is harmless.
        """
        started = time.perf_counter()
        procfs.stop(self.process, timeout_s)
        took = time.perf_counter() - started
        shutil.rmtree(self.workdir, ignore_errors=True)
        return took

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def spawn(
    name: str, argv: list[str], port: int, workdir: Path, cpus: Iterable[int] | None
) -> Server:
    log = (workdir / "output.log").open("wb")
    spawned_at = time.perf_counter()
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir
    )
    log.close()
    if cpus is not None:
        procfs.pin(process.pid, cpus)
    return Server(name, process, port, workdir, spawned_at)


def wait_ready(server: Server, path: str, status: int, timeout_s: float) -> float:
    """Wait for readiness; returns seconds from spawn. Stops the server if it never gets there."""
    try:
        ready_at = wait_for_status(server.process, server.port, path, status, timeout_s=timeout_s)
    except NotReadyError as exc:
        tail = server.log_tail()  # read before stop() removes the scratch directory
        server.stop()
        raise NotReadyError("\n".join(filter(None, [f"{server.name}: {exc}", tail]))) from exc
    except BaseException:  # interrupted: leave no process behind
        server.stop()
        raise
    server.ready_cpu_s = procfs.cpu_seconds(server.pid)
    return ready_at - server.spawned_at


def mecha_command() -> list[str]:
    """The `mecha` console script of the running interpreter's environment."""
    script = Path(sys.executable).parent / "mecha"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mecha"]


def start_mecha(
    *,
    command: list[str] | None = None,
    app_id: str = "bench",
    cpus: Iterable[int] | None = None,
    extra_args: Iterable[str] = (),
    ready_timeout_s: float = 10.0,
) -> tuple[Server, float]:
    """Start `mecha run` on free ports; returns the server once ready and its startup seconds."""
    http_port, grpc_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="mecha-bench-"))
    argv = [
        *(command or mecha_command()),
        "run",
        f"--app-id={app_id}",
        f"--dapr-http-port={http_port}",
        f"--dapr-grpc-port={grpc_port}",
        f"--data-dir={workdir / 'data'}",
        "--log-level=warn",
        *extra_args,
    ]
    server = spawn("mecha", argv, http_port, workdir, cpus)
    server.extra_ports["grpc"] = grpc_port
    startup_s = wait_ready(server, MECHA_READY_PATH, 204, ready_timeout_s)
    return server, startup_s


_NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = {path} {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""


def start_nginx(
    nginx: str = "nginx",
    *,
    cpus: Iterable[int] | None = None,
    ready_timeout_s: float = 10.0,
    wrapper: Sequence[str] = (),
) -> tuple[Server, float]:
    """One single-process nginx in the foreground answering `GET /` with a short 200 body;
    `wrapper` is a command prefix (a profiler)."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="nginx-bench-"))
    conf = workdir / "nginx.conf"
    conf.write_text(
        _NGINX_CONF.format(workdir=workdir, port=port, path=NGINX_PATH, body=NGINX_BODY)
    )
    argv = [*wrapper, nginx, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")]
    server = spawn("nginx", argv, port, workdir, cpus)
    startup_s = wait_ready(server, NGINX_PATH, 200, ready_timeout_s)
    return server, startup_s
