"""The three ways the invocation benchmark reaches one app: directly, through two nginx reverse
proxies, and through two Mecha runtimes. Every process runs on free loopback ports, pinned.
"""

from __future__ import annotations

import http.client
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from benchmarks.harness import MECHA_READY_PATH, Server, free_port, mecha_command
from benchmarks.harness.probe import NotReadyError
from benchmarks.harness.servers import spawn, wait_ready

APP_METHOD = "echo"
APP_PATH = f"/{APP_METHOD}"
CALLEE_APP_ID = "app"
CALLER_APP_ID = "caller"
MECHA_PATH = f"/v1.0/invoke/{CALLEE_APP_ID}/method/{APP_METHOD}"
BODY_BYTES = 1024
REQUEST_BODY = b"y" * BODY_BYTES
CONTENT_TYPE = "application/octet-stream"
# A JSON reply of exactly BODY_BYTES: {"data":"xxx...x"}
APP_REPLY = '{"data":"' + "x" * (BODY_BYTES - len('{"data":""}')) + '"}'
READY_TIMEOUT_S = 15.0


@dataclass
class Setup:
    """One way to reach the app: where the client sends, and the processes on the way."""

    name: str
    port: int
    path: str
    # The processes whose CPU time is measured, by role ("app", "nginx 1", "runtime A", ...).
    processes: dict[str, Server] = field(default_factory=dict)

    def hops(self) -> dict[str, Server]:
        """The proxies or runtimes between client and app."""
        return {role: server for role, server in self.processes.items() if role != "app"}


_COMMON_HTTP = """\
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
"""

_NGINX_HEAD = """\
daemon off;
master_process off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
"""

_APP_CONF = (
    _NGINX_HEAD
    + """\
http {{
"""
    + _COMMON_HTTP
    + """\
    server {{
        listen 127.0.0.1:{port};
        location = {path} {{
            default_type application/json;
            return 200 '{reply}';
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""
)

_PROXY_CONF = (
    _NGINX_HEAD
    + """\
http {{
"""
    + _COMMON_HTTP
    + """\
    upstream next_hop {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://next_hop;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""
)


# A command prefix for some of the processes by role ("nginx 1", "runtime B"): a profiler.
Wrappers = Mapping[str, Sequence[str]]
NO_WRAPPERS: Wrappers = MappingProxyType({})
# Under a profiler a process starts many times slower.
WRAPPED_READY_TIMEOUT_S = 180.0


def _ready(server: Server, path: str, status: int, wrappers: Wrappers = NO_WRAPPERS) -> Server:
    timeout = WRAPPED_READY_TIMEOUT_S if server.name in wrappers else READY_TIMEOUT_S
    wait_ready(server, path, status, timeout)
    return server


def _nginx(
    nginx: str,
    name: str,
    template: str,
    cpus: Iterable[int] | None,
    wrappers: Wrappers = NO_WRAPPERS,
    **values: object,
) -> Server:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="invoke-bench-nginx-"))
    conf = workdir / "nginx.conf"
    conf.write_text(template.format(workdir=workdir, port=port, **values))
    argv = [nginx, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")]
    return spawn(name, [*wrappers.get(name, ()), *argv], port, workdir, cpus)


def start_app(stack: ExitStack, nginx: str, cpus: Iterable[int] | None) -> Server:
    """The app: nginx answering POST /echo with a 1 KiB JSON body, 404 elsewhere."""
    server = _nginx(nginx, "app", _APP_CONF, cpus, path=APP_PATH, reply=APP_REPLY)
    return stack.enter_context(_ready(server, APP_PATH, 200))


def direct(app: Server) -> Setup:
    return Setup("direct", app.port, APP_PATH, {"app": app})


def start_nginx_pair(
    stack: ExitStack,
    nginx: str,
    app: Server,
    cpus: Iterable[int] | None,
    wrappers: Wrappers = NO_WRAPPERS,
) -> Setup:
    """client → nginx 1 → nginx 2 → app, keep-alive upstreams on both hops."""
    second = _nginx(nginx, "nginx 2", _PROXY_CONF, cpus, wrappers, upstream_port=app.port)
    stack.enter_context(_ready(second, APP_PATH, 200, wrappers))
    first = _nginx(nginx, "nginx 1", _PROXY_CONF, cpus, wrappers, upstream_port=second.port)
    stack.enter_context(_ready(first, APP_PATH, 200, wrappers))
    return Setup(
        "nginx pair", first.port, APP_PATH, {"nginx 1": first, "nginx 2": second, "app": app}
    )


def _mecha(
    command: list[str],
    name: str,
    app_id: str,
    data_dir: Path,
    cpus: Iterable[int] | None,
    *extra: str,
) -> Server:
    http_port, grpc_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="invoke-bench-mecha-"))
    argv = [
        *command,
        "run",
        "--app-id",
        app_id,
        "--dapr-http-port",
        str(http_port),
        "--dapr-grpc-port",
        str(grpc_port),
        "--dapr-listen-addresses",
        "127.0.0.1",
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warn",
        *extra,
    ]
    server = spawn(name, argv, http_port, workdir, cpus)
    server.extra_ports["grpc"] = grpc_port
    return server


def start_mecha_pair(
    stack: ExitStack,
    command: list[str] | None,
    app: Server,
    cpus: Iterable[int] | None,
    wrappers: Wrappers = NO_WRAPPERS,
    name: str = "mecha pair",
) -> Setup:
    """client → runtime A (app id `caller`) → runtime B (app id `app`) → app.

    The two find each other through the default resolver, sharing a data directory (their
    own: a second pair, of another build, finds its own B).
    """
    data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="invoke-bench-data-")))
    argv = command or mecha_command()
    b_argv, a_argv = ([*wrappers.get(role, ()), *argv] for role in ("runtime B", "runtime A"))
    callee = _mecha(b_argv, "runtime B", CALLEE_APP_ID, data_dir, cpus, "--app-port", str(app.port))
    caller = _mecha(a_argv, "runtime A", CALLER_APP_ID, data_dir, cpus)
    stack.callback(caller.stop)
    stack.callback(callee.stop)
    _ready(callee, MECHA_READY_PATH, 204, wrappers)
    _ready(caller, MECHA_READY_PATH, 204, wrappers)
    return Setup(
        name,
        caller.port,
        MECHA_PATH,
        {"runtime A": caller, "runtime B": callee, "app": app},
    )


def check_answer(setup: Setup, timeout_s: float = 5.0) -> None:
    """One POST through the setup must come back 200 with the app's 1 KiB reply."""
    deadline = time.monotonic() + timeout_s
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", setup.port, timeout=timeout_s)
        try:
            conn.request("POST", setup.path, REQUEST_BODY, {"Content-Type": CONTENT_TYPE})
            response = conn.getresponse()
            status, body = response.status, response.read()
        finally:
            conn.close()
        if status == 200 and body == APP_REPLY.encode():
            return
        # Runtime A may not see B's registration the very first moment; anything else is fatal.
        if time.monotonic() > deadline:
            raise NotReadyError(f"{setup.name}: POST {setup.path} -> {status}: {body[:200]!r}")
        time.sleep(0.05)
