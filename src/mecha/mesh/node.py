"""MeshNode: this runtime's place among its peers — the listener they call, the name resolver,
and the registration of every app it hosts.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from mecha import registry
from mecha.blocks.nameresolution.errors import ResolverUnavailable
from mecha.blocks.nameresolution.models import Instance
from mecha.blocks.nameresolution.protocols import NameResolver
from mecha.components.base import ComponentContext
from mecha.mesh.server import MeshServer

if TYPE_CHECKING:
    from mecha.apps import HostedApp
    from mecha.runtime import Runtime

log = logging.getLogger("mecha.mesh")

DEFAULT_RESOLVER = "local"
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


class MeshError(Exception):
    """The mesh cannot start (resolver misconfigured, port taken); the message says why."""


def _plain(value: Any) -> Any:
    """Read-only mappings and tuples from the parsed Configuration as plain JSON-able values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _metadata(configuration: Mapping[str, Any]) -> dict[str, str]:
    """A resolver's configuration map as component metadata: nested values as JSON text."""
    return {
        key: value if isinstance(value, str) else orjson.dumps(_plain(value)).decode()
        for key, value in configuration.items()
    }


class MeshNode:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.server = MeshServer(runtime)
        self.resolver: NameResolver | None = None
        self.resolver_type = ""
        self.port = 0
        self.host = ""
        self._registered: list[Instance] = []

    async def start(self) -> None:
        config = self._runtime.config
        try:
            self.port = await self.server.listen(config.listen_addresses, config.internal_port)
        except OSError as error:
            raise MeshError(
                f"cannot listen for peers on port {config.internal_port}: {error.strerror}"
            ) from None
        self.resolver = await self._start_resolver()
        self.host = self._host()

    async def _start_resolver(self) -> NameResolver:
        runtime = self._runtime
        spec = runtime.configuration.name_resolution if runtime.configuration else None
        name = (spec.component if spec else "") or DEFAULT_RESOLVER
        version = (spec.version if spec else "") or "v1"
        self.resolver_type = f"nameresolution.{name}"
        try:
            cls = registry.name_resolvers.load_class(self.resolver_type, version)
        except Exception as error:
            raise MeshError(f"name resolution: {error}") from None
        resolver: NameResolver = cls()
        context = ComponentContext(
            name=name,
            type=self.resolver_type,
            version=version,
            metadata=_metadata(spec.configuration if spec else {}),
            namespace=runtime.namespace,
            data_dir=runtime.config.data_dir,
        )
        try:
            await resolver.init(context)
        except Exception as error:
            raise MeshError(f"name resolution ({self.resolver_type}): {error}") from None
        log.info("name resolution: %s", self.resolver_type)
        return resolver

    def _host(self) -> str:
        """The address peers reach this runtime on."""
        config = self._runtime.config
        if config.host_ip:
            return config.host_ip
        specific = [a for a in config.listen_addresses if a not in _WILDCARDS]
        if specific:
            return specific[0]
        if self.resolver_type == f"nameresolution.{DEFAULT_RESOLVER}":
            return "127.0.0.1"
        try:
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return "127.0.0.1"

    async def register(self, app: HostedApp) -> None:
        assert self.resolver is not None
        instance = Instance(
            app_id=app.id,
            namespace=self._runtime.namespace,
            host=self.host,
            internal_port=self.port,
            grpc_port=app.grpc_port,
            http_port=app.http_port,
            pid=os.getpid(),
        )
        self._registered.append(instance)
        try:
            await self.resolver.register(instance)
        except ResolverUnavailable as error:
            # The resolver keeps the registration and retries it; peers find us once it is back.
            log.warning(
                "registering %s with %s failed for now: %s", app.id, self.resolver_type, error
            )
        except Exception as error:
            raise MeshError(
                f"cannot register app {app.id} with {self.resolver_type}: {error}"
            ) from None

    async def stop(self, grace: float) -> None:
        resolver, self.resolver = self.resolver, None
        if resolver is not None:
            for instance in self._registered:
                try:
                    await resolver.unregister(instance)
                except Exception as error:
                    log.warning("could not unregister %s: %s", instance.app_id, error)
            self._registered.clear()
            try:
                await resolver.close()
            except Exception:
                log.exception("error closing the name resolver")
        await self.server.close(grace)
