import textwrap
from pathlib import Path
from types import MappingProxyType

import pytest

from mecha.resources import (
    ActorPolicyNames,
    APIAccessRule,
    AppPolicyNames,
    BulkSubscribe,
    CircuitBreakerPolicy,
    ComponentPolicyNames,
    Configuration,
    Feature,
    HTTPEndpoint,
    MetadataItem,
    NameResolutionSpec,
    OtelSpec,
    PipelineHandler,
    PolicyNames,
    Resiliency,
    ResourceError,
    Resources,
    RetryMatching,
    RetryPolicy,
    RouteRule,
    SecretKeyRef,
    SecretScope,
    SourceRef,
    Subscription,
    TracingSpec,
    load_configuration,
    load_resources,
)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def load(text: str) -> Resources:
    Path("resources").mkdir(exist_ok=True)
    Path("resources/r.yaml").write_text(textwrap.dedent(text))
    return load_resources([Path("resources")])


def load_error(text: str) -> str:
    with pytest.raises(ResourceError) as caught:
        load(text)
    return str(caught.value)


SOURCE = SourceRef(Path("resources/r.yaml"), 1)


def test_v2alpha1_subscription_is_read_with_all_fields() -> None:
    (sub,) = load(
        """\
        apiVersion: dapr.io/v2alpha1
        kind: Subscription
        metadata: {name: orders-sub, namespace: shop}
        spec:
          pubsubname: pubsub
          topic: orders
          routes:
            rules:
            - match: event.type == "order.created"
              path: /created
            - match: event.type == "order.paid"
              path: /paid
            default: /orders
          metadata: {rawPayload: true, maxRetries: 3}
          deadLetterTopic: orders-dead
          bulkSubscribe: {enabled: true, maxMessagesCount: 100, maxAwaitDurationMs: 40}
        scopes: [checkout]
        """
    ).subscriptions
    assert sub == Subscription(
        name="orders-sub",
        namespace="shop",
        api_version="dapr.io/v2alpha1",
        pubsub_name="pubsub",
        topic="orders",
        rules=(
            RouteRule('event.type == "order.created"', "/created"),
            RouteRule('event.type == "order.paid"', "/paid"),
        ),
        default_route="/orders",
        metadata=MappingProxyType({"rawPayload": "true", "maxRetries": "3"}),
        dead_letter_topic="orders-dead",
        bulk_subscribe=BulkSubscribe(
            enabled=True, max_messages_count=100, max_await_duration_ms=40
        ),
        scopes=("checkout",),
        source=SOURCE,
    )
    assert sub.in_scope("checkout")
    assert not sub.in_scope("billing")


def test_v1alpha1_subscription_route_is_the_default_route() -> None:
    (sub,) = load(
        """\
        apiVersion: dapr.io/v1alpha1
        kind: Subscription
        metadata: {name: s}
        spec: {pubsubname: ps, topic: t, route: /events}
        """
    ).subscriptions
    assert (sub.api_version, sub.rules, sub.default_route) == ("dapr.io/v1alpha1", (), "/events")
    assert sub.bulk_subscribe == BulkSubscribe()
    assert dict(sub.metadata) == {}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("{topic: t}", "spec.pubsubname: required field is missing"),
        ("{pubsubname: p}", "spec.topic: required field is missing"),
        (
            "{pubsubname: p, topic: t, routes: {rules: [{match: x}]}}",
            "spec.routes.rules[0].path: required field is missing",
        ),
        (
            "{pubsubname: p, topic: t, routes: [/a]}",
            "spec.routes: expected a mapping, found a list",
        ),
        (
            "{pubsubname: p, topic: t, metadata: {a: {b: c}}}",
            "spec.metadata.a: expected a string, found a mapping",
        ),
        (
            "{pubsubname: p, topic: t, bulkSubscribe: {maxMessagesCount: many}}",
            "spec.bulkSubscribe.maxMessagesCount: expected a whole number, found a string",
        ),
        (
            "{pubsubname: p, topic: t, bulkSubscribe: {enabled: 1}}",
            "spec.bulkSubscribe.enabled: expected true or false, found a number",
        ),
    ],
)
def test_bad_subscriptions_are_refused(spec: str, expected: str) -> None:
    text = (
        f"apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {{name: s}}\nspec: {spec}\n"
    )
    assert load_error(text) == f"resources/r.yaml (document 1): {expected}"


def test_http_endpoint_is_read_and_its_headers_resolved() -> None:
    (endpoint,) = load(
        """\
        apiVersion: dapr.io/v1alpha1
        kind: HTTPEndpoint
        metadata: {name: github}
        spec:
          baseUrl: https://api.github.test
          headers:
          - {name: Accept, value: application/json}
          - name: Authorization
            secretKeyRef: {name: gh, key: token}
          - {name: X-Region, envRef: REGION}
          clientTLS:
            rootCA: {value: "-----BEGIN CERTIFICATE-----"}
            renegotiation: OnceAsClient
        auth: {secretStore: local}
        scopes: [app]
        """
    ).http_endpoints
    assert endpoint == HTTPEndpoint(
        name="github",
        base_url="https://api.github.test",
        headers=(
            MetadataItem("Accept", value="application/json"),
            MetadataItem("Authorization", secret_key_ref=SecretKeyRef("gh", "token")),
            MetadataItem("X-Region", env_ref="REGION"),
        ),
        client_tls=MappingProxyType(
            {
                "rootCA": MappingProxyType({"value": "-----BEGIN CERTIFICATE-----"}),
                "renegotiation": "OnceAsClient",
            }
        ),
        secret_store="local",
        scopes=("app",),
        source=SOURCE,
    )
    assert endpoint.secret_key_refs == (SecretKeyRef("gh", "token"),)
    headers = endpoint.resolve_headers({"REGION": "eu"}, lambda store, ref: f"{store}/{ref.key}")
    assert headers == {
        "Accept": "application/json",
        "Authorization": "local/token",
        "X-Region": "eu",
    }
    with pytest.raises(ResourceError) as caught:
        endpoint.resolve_headers({}, None)
    assert str(caught.value) == (
        "resources/r.yaml (document 1): spec.headers[1].secretKeyRef: "
        'HTTP endpoint "github": secret "gh" key "token" from secret store "local" '
        "cannot be read: no secret store is available"
    )


def test_http_endpoint_needs_a_base_url() -> None:
    text = "apiVersion: dapr.io/v1alpha1\nkind: HTTPEndpoint\nmetadata: {name: e}\nspec: {}\n"
    assert (
        load_error(text) == "resources/r.yaml (document 1): spec.baseUrl: required field is missing"
    )


def test_resiliency_is_read_with_all_fields() -> None:
    (resiliency,) = load(
        """\
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata: {name: myresiliency}
        scopes: [app1]
        spec:
          policies:
            timeouts:
              general: 5s
              important: 60s
            retries:
              pubsubRetry:
                policy: constant
                duration: 5s
                maxRetries: 10
              retryForever:
                policy: exponential
                maxInterval: 15s
                maxRetries: -1
                matching:
                  httpStatusCodes: 429,500-599
                  gRPCStatusCodes: 1-4,8-11
            circuitBreakers:
              simpleCB:
                maxRequests: 1
                timeout: 30s
                trip: consecutiveFailures >= 5
          targets:
            apps:
              appB:
                timeout: general
                retry: important
                circuitBreaker: simpleCB
                circuitBreakerCacheSize: 1000
            actors:
              myActorType:
                timeout: general
                retry: important
                circuitBreaker: simpleCB
                circuitBreakerScope: both
                circuitBreakerCacheSize: 5000
            components:
              statestore1:
                outbound:
                  timeout: general
                  retry: retryForever
                  circuitBreaker: simpleCB
              pubsub1:
                inbound:
                  timeout: general
                  retry: pubsubRetry
        """
    ).resiliencies
    assert resiliency == Resiliency(
        name="myresiliency",
        scopes=("app1",),
        timeouts=MappingProxyType({"general": "5s", "important": "60s"}),
        retries=MappingProxyType(
            {
                "pubsubRetry": RetryPolicy(policy="constant", duration="5s", max_retries=10),
                "retryForever": RetryPolicy(
                    policy="exponential",
                    max_interval="15s",
                    max_retries=-1,
                    matching=RetryMatching(
                        http_status_codes="429,500-599", grpc_status_codes="1-4,8-11"
                    ),
                ),
            }
        ),
        circuit_breakers=MappingProxyType(
            {
                "simpleCB": CircuitBreakerPolicy(
                    max_requests=1, timeout="30s", trip="consecutiveFailures >= 5"
                )
            }
        ),
        targets=resiliency.targets,
        source=SOURCE,
    )
    targets = resiliency.targets
    assert dict(targets.apps) == {
        "appB": AppPolicyNames("general", "important", "simpleCB", circuit_breaker_cache_size=1000)
    }
    assert dict(targets.actors) == {
        "myActorType": ActorPolicyNames("general", "important", "simpleCB", "both", 5000)
    }
    assert dict(targets.components) == {
        "statestore1": ComponentPolicyNames(
            outbound=PolicyNames("general", "retryForever", "simpleCB")
        ),
        "pubsub1": ComponentPolicyNames(inbound=PolicyNames("general", "pubsubRetry")),
    }
    assert resiliency.retries["pubsubRetry"].matching is None
    assert resiliency.in_scope("app1")
    assert not resiliency.in_scope("app2")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "{policies: {retries: {r: {maxRetries: '3'}}}}",
            "spec.policies.retries.r.maxRetries: expected a whole number, found a string",
        ),
        (
            "{policies: {timeouts: [5s]}}",
            "spec.policies.timeouts: expected a mapping, found a list",
        ),
        (
            "{policies: {circuitBreakers: {cb: 3}}}",
            "spec.policies.circuitBreakers.cb: expected a mapping, found a number",
        ),
        (
            "{targets: {components: {s: {inbound: general}}}}",
            "spec.targets.components.s.inbound: expected a mapping, found a string",
        ),
    ],
)
def test_bad_resiliencies_are_refused(spec: str, expected: str) -> None:
    text = f"apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {{name: r}}\nspec: {spec}\n"
    assert load_error(text) == f"resources/r.yaml (document 1): {expected}"


CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: appconfig
  namespace: prod
spec:
  tracing:
    samplingRate: "0.5"
    stdout: true
    zipkin:
      endpointAddress: http://zipkin:9411/api/v2/spans
    otel:
      endpointAddress: ${OTEL_HOST}:4317
      protocol: grpc
      isSecure: false
      timeout: 10s
      headers:
      - {name: api-key, value: k}
  features:
  - {name: HotReload, enabled: false}
  - {name: ActorStateTTL, enabled: true}
  nameResolution:
    component: mdns
    version: v1
    configuration:
      selfRegister: true
  api:
    allowed:
    - {name: state, version: v1.0, protocol: HTTP}
    - {name: invoke, version: v1.0}
    denied:
    - {name: secrets, version: v1.0, protocol: grpc}
  httpPipeline:
    handlers:
    - {name: ratelimit, type: middleware.http.ratelimit}
  appHttpPipeline:
    handlers:
    - {name: upper, type: middleware.http.uppercase, version: v1}
  accessControl:
    defaultAction: deny
    policies:
    - appId: app1
      defaultAction: allow
  secrets:
    scopes:
    - storeName: vault
      defaultAccess: Deny
      allowedSecrets: [db-password]
    - storeName: local
      deniedSecrets: [root]
  components:
    deny: [state.redis/v1, bindings.smtp]
  metric:
    enabled: false
"""


def expected_configuration(source: SourceRef, otel_host: str) -> Configuration:
    return Configuration(
        name="appconfig",
        namespace="prod",
        features=(Feature("HotReload", False), Feature("ActorStateTTL", True)),
        name_resolution=NameResolutionSpec("mdns", "v1", MappingProxyType({"selfRegister": True})),
        tracing=TracingSpec(
            sampling_rate=0.5,
            stdout=True,
            zipkin_endpoint="http://zipkin:9411/api/v2/spans",
            otel=OtelSpec(
                endpoint_address=f"{otel_host}:4317",
                protocol="grpc",
                is_secure=False,
                headers=(MetadataItem("api-key", value="k"),),
                timeout="10s",
            ),
        ),
        api_allowlist=(
            APIAccessRule("state", "v1.0", "http"),
            APIAccessRule("invoke", "v1.0", ""),
        ),
        api_denylist=(APIAccessRule("secrets", "v1.0", "grpc"),),
        http_pipeline=(PipelineHandler("ratelimit", "middleware.http.ratelimit"),),
        app_http_pipeline=(PipelineHandler("upper", "middleware.http.uppercase", "v1"),),
        access_control=MappingProxyType(
            {
                "defaultAction": "deny",
                "policies": (MappingProxyType({"appId": "app1", "defaultAction": "allow"}),),
            }
        ),
        secret_scopes=(
            SecretScope("vault", "deny", allowed_secrets=("db-password",)),
            SecretScope("local", "allow", denied_secrets=("root",)),
        ),
        components_deny=("state.redis/v1", "bindings.smtp"),
        source=source,
    )


def without_spec(config: Configuration) -> Configuration:
    return Configuration(
        **{
            name: getattr(config, name)
            for name in Configuration.__dataclass_fields__
            if name != "spec"
        }
    )


def test_configuration_is_read_with_typed_fields_and_raw_spec() -> None:
    (config,) = load(CONFIG).configurations
    assert without_spec(config) == without_spec(expected_configuration(SOURCE, "${OTEL_HOST}"))
    assert config.spec["metric"]["enabled"] is False
    assert config.spec["tracing"]["samplingRate"] == "0.5"
    with pytest.raises(TypeError):
        config.spec["metric"] = {}  # type: ignore[index]
    assert config.feature_enabled("ActorStateTTL")
    assert not config.feature_enabled("HotReload")
    assert not config.feature_enabled("Unknown")


def test_secret_scopes_follow_daprs_rules() -> None:
    (config,) = load(CONFIG).configurations
    vault, local = config.secret_scopes
    assert vault.allows("db-password")
    assert not vault.allows("other")
    assert local.allows("anything")
    assert not local.allows("root")


def test_tracing_defaults() -> None:
    (config,) = load(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n"
        "spec: {tracing: {otel: {endpointAddress: 'localhost:4317'}}}\n"
    ).configurations
    assert config.tracing == TracingSpec(
        sampling_rate=1e-4, otel=OtelSpec(endpoint_address="localhost:4317", is_secure=True)
    )
    (bare,) = load(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n"
    ).configurations
    assert bare.tracing is None
    assert bare.name_resolution is None
    assert bare.access_control is None
    assert dict(bare.spec) == {}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "{tracing: {samplingRate: often}}",
            'spec.tracing.samplingRate: "often" is not a number such as "1" or "0.25"',
        ),
        (
            "{api: {allowed: [{name: state, version: v1, protocol: ftp}]}}",
            'spec.api.allowed[0].protocol: expected "http" or "grpc", found "ftp"',
        ),
        (
            "{api: {denied: [{name: state}]}}",
            "spec.api.denied[0].version: required field is missing",
        ),
        ("{features: [{enabled: true}]}", "spec.features[0].name: required field is missing"),
        (
            "{features: [{name: X, enabled: 'yes please'}]}",
            "spec.features[0].enabled: expected true or false, found a string",
        ),
        (
            "{secrets: {scopes: [{storeName: a}, {storeName: a}]}}",
            'spec.secrets.scopes[1].storeName: secret store "a" already has a scope',
        ),
        (
            "{secrets: {scopes: [{storeName: a, defaultAccess: maybe}]}}",
            'spec.secrets.scopes[0].defaultAccess: expected "allow" or "deny", found "maybe"',
        ),
        (
            "{nameResolution: {version: v1}}",
            "spec.nameResolution.component: required field is missing",
        ),
        (
            "{appHttpPipeline: {handlers: [{name: x}]}}",
            "spec.appHttpPipeline.handlers[0].type: required field is missing",
        ),
        ("[]", "spec: expected a mapping, found a list"),
    ],
)
def test_bad_configurations_are_refused(spec: str, expected: str) -> None:
    text = (
        f"apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {{name: c}}\nspec: {spec}\n"
    )
    assert load_error(text) == f"resources/r.yaml (document 1): {expected}"


def test_config_file_is_read_with_environment_expansion() -> None:
    Path("config.yaml").write_text(CONFIG)
    config = load_configuration(Path("config.yaml"), environ={"OTEL_HOST": "collector"})
    expected = expected_configuration(SourceRef(Path("config.yaml"), 1), "collector")
    assert without_spec(config) == without_spec(expected)


def test_config_file_uses_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_HOST", "from-env")
    Path("config.yaml").write_text("---\n" + CONFIG + "---\n")
    config = load_configuration("config.yaml")
    assert config.tracing is not None
    assert config.tracing.otel is not None
    assert config.tracing.otel.endpoint_address == "from-env:4317"


def config_error(text: str | None, path: str = "config.yaml") -> str:
    if text is not None:
        Path(path).write_text(text)
    with pytest.raises(ResourceError) as caught:
        load_configuration(Path(path), environ={})
    return str(caught.value)


def test_config_file_errors() -> None:
    assert config_error(None, "absent.yaml") == 'configuration file "absent.yaml" does not exist'
    Path("folder").mkdir()
    assert config_error(None, "folder") == 'configuration file "folder" is a folder, not a file'
    assert config_error("# nothing\n") == (
        'configuration file "config.yaml" must hold one Configuration document, found 0'
    )
    assert config_error(CONFIG + "---\n" + CONFIG) == (
        'configuration file "config.yaml" must hold one Configuration document, found 2'
    )
    component = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: c}\n"
    assert config_error(component) == (
        "config.yaml (document 1): expected kind Configuration of apiVersion dapr.io/v1alpha1, "
        'found kind "Component" of apiVersion "dapr.io/v1alpha1"'
    )
    assert config_error("- a\n") == "config.yaml (document 1): expected a mapping, found a list"
    assert config_error("spec: {tracing: [\n").startswith(
        "config.yaml (document 1): invalid YAML at line 2, column 1:"
    )


def test_unset_variables_in_the_config_file_expand_to_nothing() -> None:
    Path("config.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n"
        "spec: {tracing: {samplingRate: '$RATE'}}\n"
    )
    unset = load_configuration("config.yaml", environ={}).tracing
    assert unset is not None
    assert unset.sampling_rate == 1e-4
    given = load_configuration("config.yaml", environ={"RATE": "1"}).tracing
    assert given is not None
    assert given.sampling_rate == 1.0
