"""The Configuration kind: typed fields for what the runtime reads, the raw spec for the rest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mecha.resources.models import MetadataItem, SourceRef

# daprd samples this share of traces when a tracing section gives no samplingRate.
DEFAULT_SAMPLING_RATE = 1e-4


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class NameResolutionSpec:
    component: str
    version: str
    configuration: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class APIAccessRule:
    """One entry of `spec.api.allowed` / `spec.api.denied` (protocol is "http", "grpc" or "")."""

    name: str
    version: str
    protocol: str = ""


@dataclass(frozen=True, slots=True)
class PipelineHandler:
    """A middleware in `spec.httpPipeline` / `spec.appHttpPipeline`, by component name."""

    name: str
    type: str
    version: str = ""


@dataclass(frozen=True, slots=True)
class OtelSpec:
    endpoint_address: str = ""
    protocol: str = ""
    is_secure: bool = True
    headers: tuple[MetadataItem, ...] = ()
    timeout: str = ""


@dataclass(frozen=True, slots=True)
class TracingSpec:
    sampling_rate: float = DEFAULT_SAMPLING_RATE
    stdout: bool = False
    zipkin_endpoint: str = ""
    otel: OtelSpec | None = None


@dataclass(frozen=True, slots=True)
class SecretScope:
    """Which secrets of one store the app may read (`spec.secrets.scopes`)."""

    store_name: str
    default_access: str = "allow"
    allowed_secrets: tuple[str, ...] = ()
    denied_secrets: tuple[str, ...] = ()

    def allows(self, key: str) -> bool:
        """daprd's rule: an allow list decides alone; else a denied key; else the default."""
        if self.allowed_secrets:
            return key in self.allowed_secrets
        if key in self.denied_secrets:
            return False
        return self.default_access == "allow"


@dataclass(frozen=True, slots=True)
class Configuration:
    name: str
    source: SourceRef
    namespace: str = ""
    # The whole spec as written, read-only (mappings are MappingProxyType, lists are tuples).
    spec: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    features: tuple[Feature, ...] = ()
    name_resolution: NameResolutionSpec | None = None
    tracing: TracingSpec | None = None
    api_allowlist: tuple[APIAccessRule, ...] = ()
    api_denylist: tuple[APIAccessRule, ...] = ()
    http_pipeline: tuple[PipelineHandler, ...] = ()
    app_http_pipeline: tuple[PipelineHandler, ...] = ()
    access_control: Mapping[str, Any] | None = None
    secret_scopes: tuple[SecretScope, ...] = ()
    # Component types that may not be created (`spec.components.deny`, "type" or "type/version").
    components_deny: tuple[str, ...] = ()

    def feature_enabled(self, name: str) -> bool:
        """Whether the configuration turns `name` on (the last entry for a name wins)."""
        enabled = False
        for feature in self.features:
            if feature.name == name:
                enabled = feature.enabled
        return enabled
