"""Dapr resource YAML (Component, Configuration, Subscription, Resiliency, HTTPEndpoint)
read into frozen dataclasses, with clear errors for anything that cannot be used.

Each name is imported on first use, so a runtime that reads no YAML never loads the loader
or PyYAML: `from mecha.resources import Component` costs only the models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mecha.resources.configuration import (
        APIAccessRule,
        Configuration,
        Feature,
        NameResolutionSpec,
        OtelSpec,
        PipelineHandler,
        SecretScope,
        TracingSpec,
    )
    from mecha.resources.errors import ResourceError
    from mecha.resources.loader import load_configuration, load_resources
    from mecha.resources.models import (
        BulkSubscribe,
        Component,
        HTTPEndpoint,
        MetadataItem,
        Resources,
        RouteRule,
        SecretKeyRef,
        SecretLookup,
        SourceRef,
        Subscription,
    )
    from mecha.resources.resiliency import (
        ActorPolicyNames,
        AppPolicyNames,
        CircuitBreakerPolicy,
        ComponentPolicyNames,
        PolicyNames,
        Resiliency,
        ResiliencyTargets,
        RetryMatching,
        RetryPolicy,
    )

# Exported name -> the submodule that defines it.
_HOMES = {
    **dict.fromkeys(
        (
            "APIAccessRule",
            "Configuration",
            "Feature",
            "NameResolutionSpec",
            "OtelSpec",
            "PipelineHandler",
            "SecretScope",
            "TracingSpec",
        ),
        "configuration",
    ),
    "ResourceError": "errors",
    "load_configuration": "loader",
    "load_resources": "loader",
    **dict.fromkeys(
        (
            "BulkSubscribe",
            "Component",
            "HTTPEndpoint",
            "MetadataItem",
            "Resources",
            "RouteRule",
            "SecretKeyRef",
            "SecretLookup",
            "SourceRef",
            "Subscription",
        ),
        "models",
    ),
    **dict.fromkeys(
        (
            "ActorPolicyNames",
            "AppPolicyNames",
            "CircuitBreakerPolicy",
            "ComponentPolicyNames",
            "PolicyNames",
            "Resiliency",
            "ResiliencyTargets",
            "RetryMatching",
            "RetryPolicy",
        ),
        "resiliency",
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


__all__ = [
    "APIAccessRule",
    "ActorPolicyNames",
    "AppPolicyNames",
    "BulkSubscribe",
    "CircuitBreakerPolicy",
    "Component",
    "ComponentPolicyNames",
    "Configuration",
    "Feature",
    "HTTPEndpoint",
    "MetadataItem",
    "NameResolutionSpec",
    "OtelSpec",
    "PipelineHandler",
    "PolicyNames",
    "Resiliency",
    "ResiliencyTargets",
    "ResourceError",
    "Resources",
    "RetryMatching",
    "RetryPolicy",
    "RouteRule",
    "SecretKeyRef",
    "SecretLookup",
    "SecretScope",
    "SourceRef",
    "Subscription",
    "TracingSpec",
    "load_configuration",
    "load_resources",
]
