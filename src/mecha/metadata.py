"""What `GET /v1.0/metadata` and gRPC `GetMetadata` describe, built once for both front ends."""

from __future__ import annotations

from dataclasses import dataclass

import mecha

# daprd also reports its version under this extended-metadata key; some tools still read it.
RUNTIME_VERSION_KEY = "daprRuntimeVersion"


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    name: str
    type: str
    version: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AppConnection:
    port: int
    protocol: str
    channel_address: str
    max_concurrency: int


@dataclass(frozen=True, slots=True)
class Metadata:
    id: str
    runtime_version: str
    enabled_features: tuple[str, ...]
    components: tuple[ComponentInfo, ...]
    extended: dict[str, str]
    http_endpoints: tuple[str, ...]
    app_connection: AppConnection
    actor_runtime_status: str
    actor_host_ready: bool


def with_runtime_version(extended: dict[str, str]) -> dict[str, str]:
    return {**extended, RUNTIME_VERSION_KEY: mecha.__version__}
