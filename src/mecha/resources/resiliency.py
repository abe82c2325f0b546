"""The Resiliency kind: named policies (timeouts, retries, circuit breakers) and their targets.

Durations stay as written ("5s", "1m30s"); the resiliency engine parses them when it builds
the policies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mecha.resources.models import SourceRef


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RetryMatching:
    """Which failures are retried: comma-separated codes and ranges ("500-599,429")."""

    http_status_codes: str = ""
    grpc_status_codes: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    policy: str = ""  # "constant" or "exponential"
    duration: str = ""
    max_interval: str = ""
    max_retries: int | None = None  # None: not set (daprd then retries without limit)
    matching: RetryMatching | None = None


@dataclass(frozen=True, slots=True)
class CircuitBreakerPolicy:
    max_requests: int = 0
    interval: str = ""
    timeout: str = ""
    trip: str = ""  # a CEL expression such as "consecutiveFailures > 5"


@dataclass(frozen=True, slots=True)
class PolicyNames:
    """The policies, by name, applied to one direction of a target."""

    timeout: str = ""
    retry: str = ""
    circuit_breaker: str = ""


@dataclass(frozen=True, slots=True)
class AppPolicyNames:
    timeout: str = ""
    retry: str = ""
    circuit_breaker: str = ""
    circuit_breaker_cache_size: int = 0


@dataclass(frozen=True, slots=True)
class ActorPolicyNames:
    timeout: str = ""
    retry: str = ""
    circuit_breaker: str = ""
    circuit_breaker_scope: str = ""
    circuit_breaker_cache_size: int = 0


@dataclass(frozen=True, slots=True)
class ComponentPolicyNames:
    inbound: PolicyNames = PolicyNames()
    outbound: PolicyNames = PolicyNames()


@dataclass(frozen=True, slots=True)
class ResiliencyTargets:
    apps: Mapping[str, AppPolicyNames] = field(default_factory=_empty)
    actors: Mapping[str, ActorPolicyNames] = field(default_factory=_empty)
    components: Mapping[str, ComponentPolicyNames] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class Resiliency:
    name: str
    source: SourceRef
    namespace: str = ""
    timeouts: Mapping[str, str] = field(default_factory=_empty)
    retries: Mapping[str, RetryPolicy] = field(default_factory=_empty)
    circuit_breakers: Mapping[str, CircuitBreakerPolicy] = field(default_factory=_empty)
    targets: ResiliencyTargets = ResiliencyTargets()
    scopes: tuple[str, ...] = ()

    def in_scope(self, app_id: str) -> bool:
        return not self.scopes or app_id in self.scopes
