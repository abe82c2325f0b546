"""Loading resources from `--resources-path` folders and the `--config` file.

Like daprd: every `*.yaml` / `*.yml` file directly inside each folder (not sub-folders), files
in name order, several `---` documents per file. Documents of other kinds or other API groups
are skipped. Unlike daprd, a file that cannot be read or parsed is an error, not a warning.
Scopes are not applied here: one runtime may host several apps (see `Resources.for_app`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from mecha.registry import ComponentRegistry, default_registry
from mecha.resources.configuration import Configuration
from mecha.resources.documents import parse_documents, read_text
from mecha.resources.errors import ResourceError
from mecha.resources.fields import Node
from mecha.resources.models import Component, HTTPEndpoint, Resources, SourceRef, Subscription
from mecha.resources.parsing import (
    SUBSCRIPTION_V1,
    SUBSCRIPTION_V2,
    namespace_of,
    parse_component,
    parse_configuration,
    parse_http_endpoint,
    parse_resiliency,
    parse_subscription,
)
from mecha.resources.resiliency import Resiliency
from mecha.resources.values import expand_env, kind_of

log = logging.getLogger("mecha.resources")

V1 = "dapr.io/v1alpha1"
_YAML_SUFFIXES = (".yaml", ".yml")

Resource = Component | Configuration | Subscription | Resiliency | HTTPEndpoint

# (apiVersion, kind) -> parser. Anything else is skipped.
_PARSERS: dict[tuple[str, str], Callable[[Node], Resource]] = {
    (V1, "Component"): parse_component,
    (V1, "Configuration"): parse_configuration,
    (V1, "HTTPEndpoint"): parse_http_endpoint,
    (V1, "Resiliency"): parse_resiliency,
    (SUBSCRIPTION_V1, "Subscription"): lambda doc: parse_subscription(doc, SUBSCRIPTION_V1),
    (SUBSCRIPTION_V2, "Subscription"): lambda doc: parse_subscription(doc, SUBSCRIPTION_V2),
}

_KINDS = frozenset(kind.casefold() for _, kind in _PARSERS)


def load_resources(
    paths: Iterable[Path | str],
    *,
    registry: ComponentRegistry | None = None,
    namespace: str | None = None,
) -> Resources:
    """Read every resource in `paths`; component types are checked against `registry`.

    With `namespace`, documents that name another namespace are skipped (daprd does so when
    its NAMESPACE variable is set); documents that name none are always kept.
    """
    collector = _Collector(registry or default_registry, namespace)
    for folder in paths:
        for file in yaml_files(Path(folder)):
            for source, data in parse_documents(read_text(file), file):
                collector.add(source, data)
    return collector.resources()


def load_configuration(
    path: Path | str, *, environ: Mapping[str, str] | None = None
) -> Configuration:
    """Read the `--config` file: one Configuration document.

    As daprd does, `$NAME` and `${NAME}` in the file are replaced from the environment first.
    """
    path = Path(path)
    if not path.exists():
        raise ResourceError(f'configuration file "{path}" does not exist')
    if path.is_dir():
        raise ResourceError(f'configuration file "{path}" is a folder, not a file')
    text = expand_env(read_text(path), os.environ if environ is None else environ)
    documents = [(source, data) for source, data in parse_documents(text, path) if data is not None]
    if len(documents) != 1:
        raise ResourceError(
            f'configuration file "{path}" must hold one Configuration document, '
            f"found {len(documents)}"
        )
    source, data = documents[0]
    doc = _document(source, data)
    api_version, kind = doc["apiVersion"].text(), doc["kind"].text()
    if (api_version, kind) != (V1, "Configuration"):
        raise ResourceError(
            f'expected kind Configuration of apiVersion {V1}, found kind "{kind}" '
            f'of apiVersion "{api_version}"',
            source=source,
        )
    return parse_configuration(doc)


def yaml_files(folder: Path) -> Iterator[Path]:
    """The YAML files directly inside `folder`, by name."""
    if not folder.exists():
        raise ResourceError(f'resources path "{folder}" does not exist')
    if not folder.is_dir():
        raise ResourceError(f'resources path "{folder}" is not a folder')
    try:
        entries = sorted(folder.iterdir(), key=lambda entry: entry.name)
    except OSError as error:
        raise ResourceError(f'cannot list resources path "{folder}": {error.strerror}') from None
    for entry in entries:
        if entry.is_dir():
            continue
        if not entry.name.lower().endswith(_YAML_SUFFIXES):
            log.debug("skipping %s: not a YAML file", entry)
            continue
        yield entry


def _document(source: SourceRef, data: object) -> Node:
    if not isinstance(data, dict):
        raise ResourceError(f"expected a mapping, found {kind_of(data)}", source=source)
    return Node(data, "", source)


class _Collector:
    """Accumulates parsed resources, refusing duplicate names and unknown component types."""

    def __init__(self, registry: ComponentRegistry, namespace: str | None) -> None:
        self._registry = registry
        self._namespace = namespace
        self._components: list[Component] = []
        self._configurations: list[Configuration] = []
        self._subscriptions: list[Subscription] = []
        self._resiliencies: list[Resiliency] = []
        self._http_endpoints: list[HTTPEndpoint] = []
        self._names: dict[tuple[str, str], SourceRef] = {}

    def add(self, source: SourceRef, data: object) -> None:
        if data is None:
            return
        doc = _document(source, data)
        api_version, kind = doc["apiVersion"].text(), doc["kind"].text()
        parser = _PARSERS.get((api_version, kind))
        if parser is None:
            # A Dapr document that is almost one we read is likely a typo: say so louder.
            near_miss = api_version.startswith("dapr.io/") and kind.casefold() in _KINDS
            log.log(
                logging.WARNING if near_miss else logging.DEBUG,
                "skipping %s: kind %r of apiVersion %r is not read",
                source,
                kind,
                api_version,
            )
            return
        doc_namespace = namespace_of(doc)
        if self._namespace is not None and doc_namespace and doc_namespace != self._namespace:
            log.debug("skipping %s: namespace %r is not %r", source, doc_namespace, self._namespace)
            return
        resource = parser(doc)
        first = self._names.setdefault((kind, resource.name), source)
        if first is not source:
            raise ResourceError(
                f'{kind} "{resource.name}" is already defined in {first}',
                source=source,
                field="metadata.name",
            )
        self._keep(resource)

    def _keep(self, resource: Resource) -> None:
        if isinstance(resource, Component):
            self._check_type(resource)
            self._components.append(resource)
        elif isinstance(resource, Configuration):
            self._configurations.append(resource)
        elif isinstance(resource, Subscription):
            self._subscriptions.append(resource)
        elif isinstance(resource, Resiliency):
            self._resiliencies.append(resource)
        else:
            self._http_endpoints.append(resource)

    def _check_type(self, component: Component) -> None:
        if self._registry.is_known(component.type, component.version):
            return
        field = "spec.version" if self._registry.versions(component.type) else "spec.type"
        raise ResourceError(
            self._registry.describe_unknown(component.type, component.version),
            source=component.source,
            field=field,
        )

    def resources(self) -> Resources:
        return Resources(
            components=tuple(self._components),
            configurations=tuple(self._configurations),
            subscriptions=tuple(self._subscriptions),
            resiliencies=tuple(self._resiliencies),
            http_endpoints=tuple(self._http_endpoints),
        )
