"""The resource kinds as frozen dataclasses: Component, Subscription, HTTPEndpoint, Resources.

Configuration and Resiliency have their own modules; every kind is re-exported from
`mecha.resources`. Each resource remembers the file and document it came from (`source`) so
that any later error can point at it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from mecha.resources.resolve import resolve_items

if TYPE_CHECKING:
    from mecha.resources.configuration import Configuration
    from mecha.resources.resiliency import Resiliency


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a resource was read from: a file and the 1-based index of the YAML document."""

    file: Path
    document: int

    def __str__(self) -> str:
        return f"{self.file} (document {self.document})"


@dataclass(frozen=True, slots=True)
class SecretKeyRef:
    """A value kept in a secret store: the secret's name and the key inside it.

    When the YAML leaves `key` out, it is the secret's name, as daprd does.
    """

    name: str
    key: str


# (secret store name or None when the resource names none, reference) -> the secret's value.
SecretLookup = Callable[[str | None, SecretKeyRef], str]


@dataclass(frozen=True, slots=True)
class MetadataItem:
    """One `name` + `value | envRef | secretKeyRef` entry (component metadata, headers).

    `value` is None when the YAML gives none; scalars are already strings ("true", "10") and a
    structured value is its JSON text.
    """

    name: str
    value: str | None = None
    env_ref: str | None = None
    secret_key_ref: SecretKeyRef | None = None


def _secret_key_refs(items: tuple[MetadataItem, ...]) -> tuple[SecretKeyRef, ...]:
    return tuple(item.secret_key_ref for item in items if item.secret_key_ref is not None)


def _in_scope(scopes: tuple[str, ...], app_id: str) -> bool:
    # No scopes: every app may use the resource.
    return not scopes or app_id in scopes


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    type: str
    version: str
    source: SourceRef
    namespace: str = ""
    metadata: tuple[MetadataItem, ...] = ()
    scopes: tuple[str, ...] = ()
    init_timeout: str = ""
    ignore_errors: bool = False
    secret_store: str | None = None

    @property
    def block(self) -> str:
        """The building block, from the type's prefix: "state" for "state.redis"."""
        return self.type.partition(".")[0].lower()

    def in_scope(self, app_id: str) -> bool:
        return _in_scope(self.scopes, app_id)

    @property
    def secret_key_refs(self) -> tuple[SecretKeyRef, ...]:
        """The secrets its metadata needs, so they can be fetched before resolving."""
        return _secret_key_refs(self.metadata)

    def resolve_metadata(
        self,
        environ: Mapping[str, str],
        secrets: SecretLookup | None,
        *,
        app_id: str | None = None,
        namespace: str = "default",
        pod_name: str = "",
    ) -> dict[str, str]:
        """The metadata as plain strings, with `envRef` and `secretKeyRef` resolved.

        When `app_id` is given, daprd's placeholders in values are expanded too: `{uuid}`,
        `{appID}`, `{namespace}` (as `<namespace>.<app id>`) and `{podName}`.
        """
        return resolve_items(
            self.metadata,
            "spec.metadata",
            owner=f'component "{self.name}"',
            source=self.source,
            environ=environ,
            secrets=secrets,
            secret_store=self.secret_store,
            placeholders=(app_id, namespace, pod_name) if app_id is not None else None,
        )


@dataclass(frozen=True, slots=True)
class RouteRule:
    """Deliver events matching the CEL expression `match` to the app's `path`."""

    match: str
    path: str


@dataclass(frozen=True, slots=True)
class BulkSubscribe:
    enabled: bool = False
    max_messages_count: int = 0
    max_await_duration_ms: int = 0


@dataclass(frozen=True, slots=True)
class Subscription:
    """A declarative subscription; a v1alpha1 `route` becomes `default_route`."""

    name: str
    pubsub_name: str
    topic: str
    source: SourceRef
    namespace: str = ""
    api_version: str = "dapr.io/v2alpha1"
    rules: tuple[RouteRule, ...] = ()
    default_route: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    dead_letter_topic: str = ""
    bulk_subscribe: BulkSubscribe = BulkSubscribe()
    scopes: tuple[str, ...] = ()

    def in_scope(self, app_id: str) -> bool:
        return _in_scope(self.scopes, app_id)


@dataclass(frozen=True, slots=True)
class HTTPEndpoint:
    """An external HTTP service that apps invoke by name."""

    name: str
    base_url: str
    source: SourceRef
    namespace: str = ""
    headers: tuple[MetadataItem, ...] = ()
    # spec.clientTLS as written (rootCA / certificate / privateKey / renegotiation), read-only.
    client_tls: Mapping[str, object] | None = None
    secret_store: str | None = None
    scopes: tuple[str, ...] = ()

    def in_scope(self, app_id: str) -> bool:
        return _in_scope(self.scopes, app_id)

    @property
    def secret_key_refs(self) -> tuple[SecretKeyRef, ...]:
        return _secret_key_refs(self.headers)

    def resolve_headers(
        self, environ: Mapping[str, str], secrets: SecretLookup | None
    ) -> dict[str, str]:
        """The headers as plain strings, with `envRef` and `secretKeyRef` resolved."""
        return resolve_items(
            self.headers,
            "spec.headers",
            owner=f'HTTP endpoint "{self.name}"',
            source=self.source,
            environ=environ,
            secrets=secrets,
            secret_store=self.secret_store,
        )


@dataclass(frozen=True, slots=True)
class Resources:
    """Everything loaded from the resources folders, in file and document order."""

    components: tuple[Component, ...] = ()
    configurations: tuple[Configuration, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
    resiliencies: tuple[Resiliency, ...] = ()
    http_endpoints: tuple[HTTPEndpoint, ...] = ()

    def for_app(self, app_id: str) -> Resources:
        """Only what `app_id` may use, by each resource's `scopes`."""
        return Resources(
            components=tuple(c for c in self.components if c.in_scope(app_id)),
            configurations=self.configurations,
            subscriptions=tuple(s for s in self.subscriptions if s.in_scope(app_id)),
            resiliencies=tuple(r for r in self.resiliencies if r.in_scope(app_id)),
            http_endpoints=tuple(e for e in self.http_endpoints if e.in_scope(app_id)),
        )
