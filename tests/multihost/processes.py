"""A multi-host test's processes, each on its host: the resolver's Redis and the runtimes."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from mecha.blocks.nameresolution.models import Address
from mecha.components.base import ComponentContext
from mecha.components.nameresolution.redis import RedisNameResolver
from tests.integration.mecha_process import RuntimeProcess
from tests.multihost.netns import Host, Lab

READY_TIMEOUT = 15.0
# Every host is a fresh namespace of this run's own, so the usual default ports are free in each.
HTTP_PORT = 3500
GRPC_PORT = 50001
REDIS_PORT = 6379
ECHO_APP_PORT = 8080
ECHO_APP = Path(__file__).parents[1] / "integration" / "apps" / "http_echo.py"
LEASE_SECONDS = 2

_MESH_CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: mesh
spec:
  nameResolution:
    component: redis
    configuration:
      redisHost: "{redis}"
      redisPassword: "{password}"
      leaseSeconds: {lease}
"""


class ResolverRedis:
    """The resolver's Redis, on a host of its own (so removing a crashed run's hosts ends it too).

    Redis refuses unauthenticated clients from other hosts, so it gets a password.
    """

    def __init__(self, host: Host, workdir: Path) -> None:
        self.host = host
        self.port = REDIS_PORT
        self.address = f"{host.address}:{self.port}"
        self.password = secrets.token_hex(16)
        self.log_path = workdir / "redis.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            host.command(
                [
                    *("redis-server", "--bind", host.address, "--port", str(self.port)),
                    *("--requirepass", self.password),
                    *("--save", "", "--appendonly", "no", "--dir", str(workdir)),
                ]
            ),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection((self.host.address, self.port), timeout=1.0) as conn:
                    conn.sendall(f"AUTH {self.password}\r\n".encode())
                    if conn.recv(64).startswith(b"+OK"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self._log.flush()
        raise RuntimeError(
            f"redis-server did not start on {self.address}:\n{self.log_path.read_text()}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._log.close()


class HostRuntime(RuntimeProcess):
    """`mecha run` inside a host's namespace, listening (and registered) on the host's address."""

    def __init__(
        self,
        host: Host,
        workdir: Path,
        *,
        app_id: str,
        config: Path,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        app_command: Sequence[str] = (),
    ) -> None:
        self.host = host
        self.app_id = app_id
        self.grpc_port = GRPC_PORT
        command = [
            *(sys.executable, "-m", "mecha", "run", "--app-id", app_id),
            *("--dapr-http-port", str(HTTP_PORT), "--dapr-grpc-port", str(self.grpc_port)),
            *("--dapr-listen-addresses", host.address, "--config", str(config)),
            *("--data-dir", str(workdir / f"data-{host.name}")),
            *args,
        ]
        if app_command:
            command += ["--", *app_command]
        super().__init__(
            host.command(command),
            address=host.address,
            http_port=HTTP_PORT,
            log_path=workdir / f"mecha-{host.name}-{app_id}.log",
            env={**os.environ, "DAPR_HOST_IP": host.address, **(env or {})},
            described=f"mecha on host {host.name}",
        )

    def kill(self) -> None:
        """Kill the runtime outright: it gets no chance to unregister (its app lives on)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


class Mesh:
    """The hosts, the resolver's Redis and the Configuration every runtime is given."""

    def __init__(self, lab: Lab, redis: ResolverRedis, workdir: Path) -> None:
        self.lab = lab
        self.redis = redis
        self.workdir = workdir
        self.config = workdir / "mesh.yaml"
        self.config.write_text(
            _MESH_CONFIG.format(redis=redis.address, password=redis.password, lease=LEASE_SECONDS)
        )

    def start_caller(self, host: Host) -> HostRuntime:
        """A runtime for app `caller`, which has no app process."""
        return HostRuntime(host, self.workdir, app_id="caller", config=self.config)

    def start_echo(self, host: Host, *args: str) -> HostRuntime:
        """A runtime for app `echo`: the HTTP echo app, its replies naming `host`."""
        return HostRuntime(
            host,
            self.workdir,
            app_id="echo",
            config=self.config,
            args=("--app-port", str(ECHO_APP_PORT), "--app-protocol", "http", *args),
            env={"ECHO_HOST": host.name},
            app_command=(sys.executable, str(ECHO_APP)),
        )

    def resolved_hosts(self, app_id: str) -> set[str]:
        """The addresses Redis holds live leases for, read as any runtime reads them."""

        async def resolve() -> list[Address]:
            resolver = RedisNameResolver()
            await resolver.init(
                ComponentContext(
                    name="redis",
                    type="nameresolution.redis",
                    version="v1",
                    metadata={
                        "redisHost": self.redis.address,
                        "redisPassword": self.redis.password,
                        "cacheSeconds": "0",
                    },
                    namespace="",
                    data_dir=self.workdir,
                )
            )
            try:
                return await resolver.resolve(app_id, "")
            finally:
                await resolver.close()

        return {address.host for address in asyncio.run(resolve())}
