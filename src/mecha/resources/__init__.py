"""Dapr resource YAML (Component, Configuration, Subscription, Resiliency, HTTPEndpoint)
read into frozen dataclasses, with clear errors for anything that cannot be used."""

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
