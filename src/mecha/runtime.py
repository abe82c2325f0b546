"""Runtime: owns the lifecycle — start, ready, serve, drain, stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import mecha
from mecha import defaults
from mecha.api.grpc.server import GrpcApi
from mecha.api.http.server import HttpApi
from mecha.apps import AppTable, HostedApp
from mecha.blocks.invocation.service import Endpoint, InvocationService
from mecha.blocks.state import service as state_service
from mecha.blocks.state.service import StateService
from mecha.components.store import ComponentInitError, ComponentStore, LoadedComponent
from mecha.config import RuntimeConfig
from mecha.http1 import HttpClient
from mecha.mesh.client import PeerClient
from mecha.mesh.external import ExternalClient
from mecha.mesh.node import MeshError, MeshNode
from mecha.metadata import AppConnection, ComponentInfo, Metadata, with_runtime_version
from mecha.resources.errors import ResourceError

if TYPE_CHECKING:
    # The YAML loader, the app channel and the app process are imported only when the
    # configuration asks for them: startup does no work that a request does not need.
    from mecha.app_process import AppProcess
    from mecha.resources import Configuration, Resources

log = logging.getLogger("mecha.runtime")

_APP_PROBE_INTERVAL = 0.05


class StartupError(Exception):
    """The runtime cannot start; the message says why in one line."""


class Runtime:
    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.apps = AppTable()
        self.components = ComponentStore(config.data_dir)
        self.state = StateService(self.components)
        self.namespace = config.namespace
        self.http_client = HttpClient()
        self.mesh = MeshNode(self)
        self._external = ExternalClient(self.http_client)
        self.invocation = InvocationService(
            self.apps, self.mesh, PeerClient(self.http_client), self._external, self.namespace
        )
        self._descriptions: dict[str, Metadata] = {}
        """`describe` answers by app id, until something they show changes."""
        self.configuration: Configuration | None = None
        self.resources: Resources | None = None
        self.outbound_ready = False
        self._stopping = asyncio.Event()
        self._stop_reason = ""
        self._http: list[HttpApi] = []
        self._grpc: list[GrpcApi] = []
        self._app_process: AppProcess | None = None
        self._http_port = self._grpc_port = 0
        self._background: set[asyncio.Task[None]] = set()
        self.exit_code = 0

    # ---- what the front ends ask -------------------------------------------------------------

    def describe(self, app: HostedApp) -> Metadata:
        described = self._descriptions.get(app.id)
        if described is None:
            described = self._descriptions[app.id] = self._describe(app)
        return described

    def _described_changed(self) -> None:
        """Forget what `describe` answered; call it whenever anything it shows changes."""
        self._descriptions.clear()

    def _describe(self, app: HostedApp) -> Metadata:
        features = self.configuration.features if self.configuration else ()
        endpoints = self.resources.http_endpoints if self.resources else ()
        return Metadata(
            id=app.id,
            runtime_version=mecha.__version__,
            enabled_features=tuple(f.name for f in features if f.enabled),
            components=tuple(
                ComponentInfo(
                    name=c.spec.name,
                    type=c.spec.type,
                    version=c.spec.version,
                    capabilities=self._capabilities(c),
                )
                for c in self.components
                if c.spec.in_scope(app.id)
            ),
            extended=with_runtime_version(app.extended_metadata),
            http_endpoints=tuple(e.name for e in endpoints if e.in_scope(app.id)),
            app_connection=AppConnection(
                port=app.app_port or 0,
                protocol=app.app_protocol,
                channel_address=app.app_channel_address,
                max_concurrency=0,
            ),
            actor_runtime_status="DISABLED",
            actor_host_ready=False,
        )

    @staticmethod
    def _capabilities(component: LoadedComponent) -> tuple[str, ...]:
        features = tuple(component.instance.features())
        if component.spec.block == "state":
            return state_service.capabilities(component.spec, features)
        return features

    def set_extended_metadata(self, app: HostedApp, key: str, value: str) -> None:
        if key:
            app.extended_metadata[key] = value
            self._described_changed()

    def request_shutdown(self, reason: str) -> None:
        if not self._stopping.is_set():
            self._stop_reason = reason
            self._stopping.set()

    # ---- lifecycle -----------------------------------------------------------------------------

    async def run(self) -> int:
        """Start, serve until asked to stop, stop gracefully; the process exit code."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_shutdown, f"received {sig.name}")
        try:
            try:
                await self._start()
            except (ResourceError, ComponentInitError, MeshError) as error:
                raise StartupError(str(error)) from None
            log.info(
                "mecha %s ready in %.0f ms: app %s, HTTP API on %d, gRPC API on %d",
                mecha.__version__,
                (time.perf_counter() - started) * 1000,
                self.config.app_id,
                self._http_port,
                self._grpc_port,
            )
            await self._stopping.wait()
            log.info("shutting down: %s", self._stop_reason)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            # A second Ctrl-C while draining stops at once.
            loop.add_signal_handler(signal.SIGINT, os._exit, 130)
            await self._stop()
        return self.exit_code

    async def _start(self) -> None:
        config = self.config
        for flag in config.ignored_flags:
            log.warning("flag %s is accepted but not acted on by this version of mecha", flag)
        if config.config_path:
            from mecha.resources.loader import load_configuration

            self.configuration = load_configuration(config.config_path)
        if config.resources_paths:
            from mecha.resources.loader import load_resources

            self.resources = load_resources(config.resources_paths)
        else:
            self.resources = defaults.resources(config)
            log.info(
                "no --resources-path given: serving embedded defaults from %s", config.data_dir
            )

        app = HostedApp(
            id=config.app_id,
            http_port=config.http_port,
            grpc_port=config.grpc_port,
            app_port=config.app_port,
            app_protocol=config.app_protocol,
            app_channel_address=config.app_channel_address,
            api_token=config.api_token,
            app_api_token=config.app_api_token,
        )
        self.apps.add(app)

        # Listen first, so health checks answer "not ready" rather than "refused" while loading.
        await self._listen(app)
        specs = [c for c in self.resources.components if any(c.in_scope(a.id) for a in self.apps)]
        await self.components.load(specs)
        self._described_changed()
        for component in self.components:
            try:
                self._capabilities(component)
                if component.spec.block == "state":
                    state_service.key_prefix_strategy(component.spec)
            except ValueError as error:
                raise StartupError(f"{component.spec.source}: {error}") from None
        self.invocation.endpoints = {app.id: self._resolve_endpoints(app.id) for app in self.apps}
        if app.app_port is not None:
            from mecha.channel.factory import (
                AppChannelSettings,
                UnsupportedAppProtocol,
                build_app_channel,
            )

            try:
                built = build_app_channel(
                    AppChannelSettings.from_config(config), http_client=self.http_client
                )
            except UnsupportedAppProtocol as error:
                raise StartupError(str(error)) from None
            app.channel, app.health = built.channel, built.health
        await self.mesh.start()
        await self.mesh.register(app)
        self.outbound_ready = True

        if config.app_command:
            await self._start_app(app)
        if app.app_port is None:
            app.channel_ready = True
        else:
            self._spawn(self._probe_app_port(app))

    async def _start_app(self, app: HostedApp) -> None:
        from mecha.app_process import AppProcess, AppStartError

        process = AppProcess(self.config.app_command, self._app_environment(app))
        self._app_process = process
        try:
            await process.start()
        except AppStartError as error:
            raise StartupError(str(error)) from None
        self._spawn(self._watch_app(process))

    async def _listen(self, app: HostedApp) -> None:
        addresses = self.config.listen_addresses
        http = HttpApi(self, app)
        self._http.append(http)
        try:
            app.http_port = await http.listen(addresses, app.http_port)
        except OSError as error:
            raise StartupError(
                f"cannot listen for HTTP on port {app.http_port}: {error.strerror}"
            ) from None
        grpc_api = GrpcApi(self, app)
        self._grpc.append(grpc_api)
        try:
            app.grpc_port = await grpc_api.listen(addresses, app.grpc_port)
        except Exception as error:
            raise StartupError(str(error)) from None
        self._http_port, self._grpc_port = app.http_port, app.grpc_port

    def _resolve_endpoints(self, app_id: str) -> dict[str, Endpoint]:
        endpoints = self.resources.http_endpoints if self.resources else ()
        return {
            e.name: Endpoint(e.base_url, tuple(e.resolve_headers(os.environ, None).items()))
            for e in endpoints
            if e.in_scope(app_id)
        }

    def _app_environment(self, app: HostedApp) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            APP_ID=app.id,
            DAPR_HTTP_PORT=str(app.http_port),
            DAPR_GRPC_PORT=str(app.grpc_port),
        )
        if app.app_port is not None:
            env["APP_PORT"] = str(app.app_port)
        if app.api_token:
            env["DAPR_API_TOKEN"] = app.api_token
        if app.app_api_token:
            env["APP_API_TOKEN"] = app.app_api_token
        return env

    async def _watch_app(self, process: AppProcess) -> None:
        code = await process.wait()
        if self._stopping.is_set():
            return  # stopped by us: its exit code is not the runtime's
        # Killed by a signal: the shell's convention, 128 + the signal number.
        self.exit_code = code if code >= 0 else 128 - code
        self.request_shutdown(f"app exited with code {code}")

    async def _probe_app_port(self, app: HostedApp) -> None:
        assert app.app_port is not None
        while not self._stopping.is_set():
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(app.app_channel_address, app.app_port), 1.0
                )
            except (TimeoutError, OSError):
                await asyncio.sleep(_APP_PROBE_INTERVAL)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            app.channel_ready = True
            log.info("app is listening on port %d", app.app_port)
            return

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _stop(self) -> None:
        grace = self.config.graceful_shutdown_seconds
        self.outbound_ready = False
        # Leave the mesh first so peers stop routing here, stop taking new calls and let
        # in-flight ones finish, then stop the app and components.
        await asyncio.gather(
            self.mesh.stop(grace),
            *(api.close(grace) for api in self._http),
            *(api.close(grace) for api in self._grpc),
            return_exceptions=True,
        )
        for app in self.apps:
            if app.channel is not None:
                await app.channel.close()
        await self._external.close()
        await self.http_client.close()
        if self._app_process is not None:
            await self._app_process.stop(grace)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.components.close()
        self._described_changed()
        log.info("mecha stopped")
