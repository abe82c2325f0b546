"""One YAML document (already known to be a mapping of a supported kind) -> its dataclass.

Field names and meanings follow Dapr's resource types. Every problem raises ResourceError with
the field's dotted path.
"""

from __future__ import annotations

from mecha.resources.configuration import (
    DEFAULT_SAMPLING_RATE,
    APIAccessRule,
    Configuration,
    Feature,
    NameResolutionSpec,
    OtelSpec,
    PipelineHandler,
    SecretScope,
    TracingSpec,
)
from mecha.resources.fields import Node
from mecha.resources.models import (
    BulkSubscribe,
    Component,
    HTTPEndpoint,
    MetadataItem,
    RouteRule,
    SecretKeyRef,
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
from mecha.resources.values import UnsupportedValueError, dynamic_text, freeze

SUBSCRIPTION_V1 = "dapr.io/v1alpha1"
SUBSCRIPTION_V2 = "dapr.io/v2alpha1"


def resource_name(doc: Node) -> str:
    """`metadata.name`, refused where daprd refuses it, and where it could not be a URL segment."""
    node = doc["metadata"]["name"]
    name = node.required_text()
    if name in (".", ".."):
        raise node.error(f'invalid name "{name}": a name may not be "." or ".."')
    bad = sorted({c for c in name if c in "/%" or c.isspace()})
    if bad:
        shown = ", ".join("whitespace" if c.isspace() else f'"{c}"' for c in bad)
        raise node.error(f'invalid name "{name}": a name may not contain {shown}')
    return name


def namespace_of(doc: Node) -> str:
    return doc["metadata"]["namespace"].text()


def metadata_items(node: Node) -> tuple[MetadataItem, ...]:
    """A list of `name` + one of `value`, `envRef`, `secretKeyRef`."""
    result = []
    for item in node.items():
        item.mapping()
        name = item["name"].required_text()
        value_node = item["value"]
        value = None if value_node.is_null else _dynamic(value_node)
        env_ref = item["envRef"].optional_text()
        secret_ref = _secret_key_ref(item["secretKeyRef"])
        given = [
            label
            for label, present in (
                ("value", value is not None),
                ("envRef", env_ref is not None),
                ("secretKeyRef", secret_ref is not None),
            )
            if present
        ]
        if len(given) > 1:
            raise item.error(
                f'"{name}" sets {" and ".join(given)}: set only one of value, envRef, secretKeyRef'
            )
        result.append(MetadataItem(name, value, env_ref, secret_ref))
    return tuple(result)


def _dynamic(node: Node) -> str:
    try:
        return dynamic_text(node.value)
    except UnsupportedValueError as error:
        raise node.error(str(error)) from None


def _secret_key_ref(node: Node) -> SecretKeyRef | None:
    if node.is_null:
        return None
    node.mapping()
    name = node["name"].required_text()
    # daprd reads the key named like the secret when no key is given.
    return SecretKeyRef(name=name, key=node["key"].text() or name)


def parse_component(doc: Node) -> Component:
    name = resource_name(doc)
    spec = doc["spec"]
    spec.mapping()
    return Component(
        name=name,
        namespace=namespace_of(doc),
        type=spec["type"].required_text(),
        version=spec["version"].required_text(),
        metadata=metadata_items(spec["metadata"]),
        scopes=doc["scopes"].texts(),
        init_timeout=spec["initTimeout"].text(),
        ignore_errors=spec["ignoreErrors"].boolean(),
        secret_store=doc["auth"]["secretStore"].optional_text(),
        source=doc.source,
    )


def parse_subscription(doc: Node, api_version: str) -> Subscription:
    name = resource_name(doc)
    spec = doc["spec"]
    spec.mapping()
    pubsub_name = spec["pubsubname"].required_text()
    topic = spec["topic"].required_text()
    rules: tuple[RouteRule, ...] = ()
    if api_version == SUBSCRIPTION_V1:
        default_route = spec["route"].text()
    else:
        routes = spec["routes"]
        rules = tuple(
            RouteRule(match=rule["match"].text(), path=rule["path"].required_text())
            for rule in routes["rules"].items()
        )
        default_route = routes["default"].text()
    bulk = spec["bulkSubscribe"]
    return Subscription(
        name=name,
        namespace=namespace_of(doc),
        api_version=api_version,
        pubsub_name=pubsub_name,
        topic=topic,
        rules=rules,
        default_route=default_route,
        metadata=freeze(spec["metadata"].text_map()),
        dead_letter_topic=spec["deadLetterTopic"].text(),
        bulk_subscribe=BulkSubscribe(
            enabled=bulk["enabled"].boolean(),
            max_messages_count=bulk["maxMessagesCount"].integer(),
            max_await_duration_ms=bulk["maxAwaitDurationMs"].integer(),
        ),
        scopes=doc["scopes"].texts(),
        source=doc.source,
    )


def parse_http_endpoint(doc: Node) -> HTTPEndpoint:
    name = resource_name(doc)
    spec = doc["spec"]
    spec.mapping()
    client_tls = spec["clientTLS"]
    return HTTPEndpoint(
        name=name,
        namespace=namespace_of(doc),
        base_url=spec["baseUrl"].required_text(),
        headers=metadata_items(spec["headers"]),
        client_tls=None if client_tls.is_null else freeze(client_tls.mapping()),
        secret_store=doc["auth"]["secretStore"].optional_text(),
        scopes=doc["scopes"].texts(),
        source=doc.source,
    )


def parse_configuration(doc: Node) -> Configuration:
    name = resource_name(doc)
    spec = doc["spec"]
    raw = spec.mapping()
    return Configuration(
        name=name,
        namespace=namespace_of(doc),
        spec=freeze(raw),
        features=tuple(
            Feature(name=f["name"].required_text(), enabled=f["enabled"].boolean())
            for f in spec["features"].items()
        ),
        name_resolution=_name_resolution(spec["nameResolution"]),
        tracing=_tracing(spec["tracing"]),
        api_allowlist=_api_rules(spec["api"]["allowed"]),
        api_denylist=_api_rules(spec["api"]["denied"]),
        http_pipeline=_pipeline(spec["httpPipeline"]),
        app_http_pipeline=_pipeline(spec["appHttpPipeline"]),
        access_control=None
        if spec["accessControl"].is_null
        else freeze(spec["accessControl"].mapping()),
        secret_scopes=_secret_scopes(spec["secrets"]["scopes"]),
        components_deny=spec["components"]["deny"].texts(),
        source=doc.source,
    )


def _name_resolution(node: Node) -> NameResolutionSpec | None:
    if node.is_null:
        return None
    node.mapping()
    return NameResolutionSpec(
        component=node["component"].required_text(),
        version=node["version"].text(),
        configuration=freeze(node["configuration"].mapping()),
    )


def _tracing(node: Node) -> TracingSpec | None:
    if node.is_null:
        return None
    node.mapping()
    rate_node = node["samplingRate"]
    rate_text = rate_node.text().strip()
    try:
        rate = float(rate_text) if rate_text else DEFAULT_SAMPLING_RATE
    except ValueError:
        raise rate_node.error(f'"{rate_text}" is not a number such as "1" or "0.25"') from None
    otel = node["otel"]
    return TracingSpec(
        sampling_rate=rate,
        stdout=node["stdout"].boolean(),
        zipkin_endpoint=node["zipkin"]["endpointAddress"].text(),
        otel=None
        if otel.is_null
        else OtelSpec(
            endpoint_address=otel["endpointAddress"].text(),
            protocol=otel["protocol"].text(),
            is_secure=otel["isSecure"].boolean(default=True),
            headers=metadata_items(otel["headers"]),
            timeout=otel["timeout"].text(),
        ),
    )


def _api_rules(node: Node) -> tuple[APIAccessRule, ...]:
    rules = []
    for rule in node.items():
        protocol_node = rule["protocol"]
        protocol = protocol_node.text().lower()
        if protocol not in ("", "http", "grpc"):
            raise protocol_node.error(f'expected "http" or "grpc", found "{protocol}"')
        rules.append(
            APIAccessRule(
                name=rule["name"].required_text(),
                version=rule["version"].required_text(),
                protocol=protocol,
            )
        )
    return tuple(rules)


def _pipeline(node: Node) -> tuple[PipelineHandler, ...]:
    return tuple(
        PipelineHandler(
            name=handler["name"].required_text(),
            type=handler["type"].required_text(),
            version=handler["version"].text(),
        )
        for handler in node["handlers"].items()
    )


def _secret_scopes(node: Node) -> tuple[SecretScope, ...]:
    scopes: dict[str, SecretScope] = {}
    for scope in node.items():
        store_node = scope["storeName"]
        store = store_node.required_text()
        if store in scopes:
            raise store_node.error(f'secret store "{store}" already has a scope')
        access_node = scope["defaultAccess"]
        access = access_node.text().lower() or "allow"
        if access not in ("allow", "deny"):
            raise access_node.error(f'expected "allow" or "deny", found "{access_node.text()}"')
        scopes[store] = SecretScope(
            store_name=store,
            default_access=access,
            allowed_secrets=scope["allowedSecrets"].texts(),
            denied_secrets=scope["deniedSecrets"].texts(),
        )
    return tuple(scopes.values())


def parse_resiliency(doc: Node) -> Resiliency:
    name = resource_name(doc)
    spec = doc["spec"]
    spec.mapping()
    policies = spec["policies"]
    targets = spec["targets"]
    return Resiliency(
        name=name,
        namespace=namespace_of(doc),
        timeouts=freeze(policies["timeouts"].text_map()),
        retries=freeze({key: _retry(node) for key, node in policies["retries"].entries()}),
        circuit_breakers=freeze(
            {key: _circuit_breaker(node) for key, node in policies["circuitBreakers"].entries()}
        ),
        targets=ResiliencyTargets(
            apps=freeze({key: _app_policies(node) for key, node in targets["apps"].entries()}),
            actors=freeze(
                {key: _actor_policies(node) for key, node in targets["actors"].entries()}
            ),
            components=freeze(
                {
                    key: ComponentPolicyNames(
                        inbound=_policy_names(node["inbound"]),
                        outbound=_policy_names(node["outbound"]),
                    )
                    for key, node in targets["components"].entries()
                }
            ),
        ),
        scopes=doc["scopes"].texts(),
        source=doc.source,
    )


def _retry(node: Node) -> RetryPolicy:
    node.mapping()
    matching = node["matching"]
    return RetryPolicy(
        policy=node["policy"].text(),
        duration=node["duration"].text(),
        max_interval=node["maxInterval"].text(),
        max_retries=node["maxRetries"].optional_integer(),
        matching=None
        if matching.is_null
        else RetryMatching(
            http_status_codes=matching["httpStatusCodes"].text(),
            grpc_status_codes=matching["gRPCStatusCodes"].text(),
        ),
    )


def _circuit_breaker(node: Node) -> CircuitBreakerPolicy:
    node.mapping()
    return CircuitBreakerPolicy(
        max_requests=node["maxRequests"].integer(),
        interval=node["interval"].text(),
        timeout=node["timeout"].text(),
        trip=node["trip"].text(),
    )


def _policy_names(node: Node) -> PolicyNames:
    node.mapping()
    return PolicyNames(
        timeout=node["timeout"].text(),
        retry=node["retry"].text(),
        circuit_breaker=node["circuitBreaker"].text(),
    )


def _app_policies(node: Node) -> AppPolicyNames:
    names = _policy_names(node)
    return AppPolicyNames(
        timeout=names.timeout,
        retry=names.retry,
        circuit_breaker=names.circuit_breaker,
        circuit_breaker_cache_size=node["circuitBreakerCacheSize"].integer(),
    )


def _actor_policies(node: Node) -> ActorPolicyNames:
    names = _policy_names(node)
    return ActorPolicyNames(
        timeout=names.timeout,
        retry=names.retry,
        circuit_breaker=names.circuit_breaker,
        circuit_breaker_scope=node["circuitBreakerScope"].text(),
        circuit_breaker_cache_size=node["circuitBreakerCacheSize"].integer(),
    )
