import pickle
import textwrap
import uuid
from pathlib import Path

import pytest

from mecha.resources import (
    Component,
    MetadataItem,
    ResourceError,
    SecretKeyRef,
    SourceRef,
    load_resources,
)

HEADER = """\
apiVersion: dapr.io/v1alpha1
kind: Component
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths, so sources read as `components/x.yaml (document 1)`.
    monkeypatch.chdir(tmp_path)


def write(name: str, text: str, folder: str = "components") -> Path:
    Path(folder).mkdir(exist_ok=True)
    path = Path(folder) / name
    path.write_text(textwrap.dedent(text))
    return path


def load_component(body: str) -> Component:
    write("c.yaml", HEADER + textwrap.dedent(body))
    (component,) = load_resources([Path("components")]).components
    return component


def load_error(body: str) -> ResourceError:
    write("c.yaml", HEADER + textwrap.dedent(body))
    with pytest.raises(ResourceError) as caught:
        load_resources([Path("components")])
    return caught.value


def test_every_component_field_is_read() -> None:
    component = load_component(
        """\
        metadata:
          name: statestore
          namespace: prod
        spec:
          type: state.redis
          version: v1
          initTimeout: 10s
          ignoreErrors: true
          metadata:
          - name: redisHost
            value: localhost:6379
          - name: redisPassword
            secretKeyRef:
              name: redis-secret
              key: password
          - name: user
            envRef: REDIS_USER
        auth:
          secretStore: vault
        scopes:
        - app1
        - app2
        """
    )
    assert component == Component(
        name="statestore",
        namespace="prod",
        type="state.redis",
        version="v1",
        metadata=(
            MetadataItem("redisHost", value="localhost:6379"),
            MetadataItem("redisPassword", secret_key_ref=SecretKeyRef("redis-secret", "password")),
            MetadataItem("user", env_ref="REDIS_USER"),
        ),
        scopes=("app1", "app2"),
        init_timeout="10s",
        ignore_errors=True,
        secret_store="vault",
        source=SourceRef(Path("components/c.yaml"), 1),
    )
    assert component.block == "state"
    assert str(component.source) == "components/c.yaml (document 1)"


def test_optional_fields_have_defaults() -> None:
    component = load_component(
        """\
        metadata: {name: cache}
        spec: {type: state.in-memory, version: v1}
        """
    )
    assert component.metadata == ()
    assert component.scopes == ()
    assert component.namespace == ""
    assert component.init_timeout == ""
    assert component.ignore_errors is False
    assert component.secret_store is None


def test_scopes_decide_which_apps_may_use_a_component() -> None:
    scoped = load_component(
        """\
        metadata: {name: s}
        spec: {type: state.in-memory, version: v1}
        scopes: [app1]
        """
    )
    assert scoped.in_scope("app1")
    assert not scoped.in_scope("app2")
    unscoped = load_component("metadata: {name: s}\nspec: {type: state.in-memory, version: v1}\n")
    assert unscoped.in_scope("anything")


def test_metadata_values_become_strings_as_in_dapr() -> None:
    component = load_component(
        """\
        metadata: {name: s}
        spec:
          type: state.in-memory
          version: v1
          metadata:
          - {name: yes-bool, value: true}
          - {name: no-bool, value: false}
          - {name: int, value: 10}
          - {name: float, value: 1.0}
          - {name: small, value: 0.0000001}
          - {name: quoted, value: "010"}
          - {name: date, value: 2024-01-31}
          - {name: mapping, value: {b: 1, a: [x, 2]}}
          - {name: list, value: [1, two]}
          - {name: empty, value: ""}
          - {name: none, value: null}
          - {name: absent}
        """
    )
    assert {item.name: item.value for item in component.metadata} == {
        "yes-bool": "true",
        "no-bool": "false",
        "int": "10",
        "float": "1",
        "small": "1e-7",
        "quoted": "010",
        "date": "2024-01-31",
        "mapping": '{"a":["x",2],"b":1}',
        "list": '[1,"two"]',
        "empty": "",
        "none": None,
        "absent": None,
    }
    resolved = component.resolve_metadata({}, None)
    assert resolved["none"] == ""
    assert resolved["int"] == "10"


def test_secret_key_defaults_to_the_secret_name() -> None:
    component = load_component(
        """\
        metadata: {name: s}
        spec:
          type: state.in-memory
          version: v1
          metadata:
          - name: password
            secretKeyRef: {name: redis-password}
        """
    )
    assert component.metadata[0].secret_key_ref == SecretKeyRef("redis-password", "redis-password")


SECRETS = """\
metadata: {name: store}
spec:
  type: state.in-memory
  version: v1
  metadata:
  - {name: host, value: localhost}
  - {name: user, envRef: STORE_USER}
  - name: password
    secretKeyRef: {name: creds, key: pw}
"""


def test_env_refs_and_secret_refs_are_resolved() -> None:
    component = load_component(SECRETS + "auth: {secretStore: vault}\n")
    seen: list[tuple[str | None, SecretKeyRef]] = []

    def lookup(store: str | None, ref: SecretKeyRef) -> str:
        seen.append((store, ref))
        return "s3cret"

    resolved = component.resolve_metadata({"STORE_USER": "alice"}, lookup)
    assert resolved == {"host": "localhost", "user": "alice", "password": "s3cret"}
    assert seen == [("vault", SecretKeyRef("creds", "pw"))]
    assert component.secret_key_refs == (SecretKeyRef("creds", "pw"),)


def test_secret_lookup_gets_none_when_no_store_is_named() -> None:
    component = load_component(SECRETS)
    stores: list[str | None] = []

    def lookup(store: str | None, ref: SecretKeyRef) -> str:
        stores.append(store)
        return "x"

    component.resolve_metadata({"STORE_USER": "u"}, lookup)
    assert stores == [None]


def test_missing_env_var_is_an_error_naming_component_field_and_source() -> None:
    component = load_component(SECRETS)
    with pytest.raises(ResourceError) as caught:
        component.resolve_metadata({}, lambda store, ref: "x")
    assert str(caught.value) == (
        "components/c.yaml (document 1): spec.metadata[1].envRef: "
        'component "store": environment variable "STORE_USER" is not set'
    )
    assert caught.value.field == "spec.metadata[1].envRef"


@pytest.mark.parametrize("name", ["DAPR_API_TOKEN", "APP_API_TOKEN", "dapr_http_port"])
def test_runtime_variables_may_not_be_read(name: str) -> None:
    component = load_component(
        f"""\
        metadata: {{name: s}}
        spec:
          type: state.in-memory
          version: v1
          metadata:
          - {{name: token, envRef: {name}}}
        """
    )
    with pytest.raises(ResourceError, match="may not be read by resources"):
        component.resolve_metadata({name: "secret"}, None)


def test_env_allowlist_limits_which_variables_are_read() -> None:
    component = load_component(SECRETS)
    lookup = lambda store, ref: "x"  # noqa: E731
    allowed = {"STORE_USER": "u", "DAPR_ENV_KEYS": "OTHER STORE_USER"}
    assert component.resolve_metadata(allowed, lookup)["user"] == "u"
    with pytest.raises(ResourceError, match='"STORE_USER" may not be read'):
        component.resolve_metadata({"STORE_USER": "u", "DAPR_ENV_KEYS": "OTHER"}, lookup)


def test_secret_ref_without_a_lookup_is_an_error() -> None:
    component = load_component(SECRETS + "auth: {secretStore: vault}\n")
    with pytest.raises(ResourceError) as caught:
        component.resolve_metadata({"STORE_USER": "u"}, None)
    assert str(caught.value) == (
        "components/c.yaml (document 1): spec.metadata[2].secretKeyRef: "
        'component "store": secret "creds" key "pw" from secret store "vault" cannot be read: '
        "no secret store is available"
    )


def test_resource_errors_survive_pickling() -> None:
    component = load_component(SECRETS)
    with pytest.raises(ResourceError) as caught:
        component.resolve_metadata({}, None)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (str(copy), copy.field, copy.source) == (
        str(caught.value),
        caught.value.field,
        caught.value.source,
    )


def test_failing_secret_lookup_is_wrapped() -> None:
    component = load_component(SECRETS)

    def lookup(store: str | None, ref: SecretKeyRef) -> str:
        raise KeyError("pw")

    with pytest.raises(ResourceError) as caught:
        component.resolve_metadata({"STORE_USER": "u"}, lookup)
    assert str(caught.value).endswith('secret "creds" key "pw" cannot be read: \'pw\'')
    assert isinstance(caught.value.__cause__, KeyError)


PLACEHOLDERS = """\
metadata: {name: s}
spec:
  type: state.in-memory
  version: v1
  metadata:
  - {name: consumer, value: "{uuid}-{uuid}"}
  - {name: prefix, value: "{appID}"}
  - {name: ns, value: "{namespace}"}
"""


def test_placeholders_are_expanded_when_an_app_id_is_given() -> None:
    component = load_component(PLACEHOLDERS)
    resolved = component.resolve_metadata({}, None, app_id="orders", namespace="prod")
    first, second = resolved["consumer"][:36], resolved["consumer"][37:]
    assert uuid.UUID(first) != uuid.UUID(second)
    assert resolved["prefix"] == "orders"
    assert resolved["ns"] == "prod.orders"
    untouched = component.resolve_metadata({}, None)
    assert untouched["consumer"] == "{uuid}-{uuid}"


def test_pod_name_placeholder_needs_a_pod_name() -> None:
    component = load_component(
        """\
        metadata: {name: s}
        spec:
          type: state.in-memory
          version: v1
          metadata:
          - {name: id, value: "{podName}"}
        """
    )
    assert component.resolve_metadata({}, None, app_id="a", pod_name="p-1")["id"] == "p-1"
    with pytest.raises(ResourceError, match="no pod name is set"):
        component.resolve_metadata({}, None, app_id="a")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "metadata: {name: s}\nspec: {version: v1}\n",
            "spec.type: required field is missing",
        ),
        (
            "metadata: {name: s}\nspec: {type: state.in-memory}\n",
            "spec.version: required field is missing",
        ),
        (
            "metadata: {name: s}\nspec: {type: '', version: v1}\n",
            "spec.type: must not be empty",
        ),
        (
            "metadata: {namespace: x}\nspec: {type: state.in-memory, version: v1}\n",
            "metadata.name: required field is missing",
        ),
        (
            "spec: {type: state.in-memory, version: v1}\n",
            "metadata.name: required field is missing",
        ),
        ("metadata: {name: s}\n", "spec.type: required field is missing"),
        ("metadata: {name: s}\nspec: [1]\n", "spec: expected a mapping, found a list"),
        (
            "metadata: {name: s}\nspec: {type: [state], version: v1}\n",
            "spec.type: expected a string, found a list",
        ),
        (
            "metadata: {name: s}\nspec: {type: state.in-memory, version: v1, metadata: {a: b}}\n",
            "spec.metadata: expected a list, found a mapping",
        ),
        (
            "metadata: {name: s}\n"
            "spec: {type: state.in-memory, version: v1, metadata: [{value: x}]}\n",
            "spec.metadata[0].name: required field is missing",
        ),
        (
            "metadata: {name: s}\nspec: {type: state.in-memory, version: v1, metadata: [x]}\n",
            "spec.metadata[0]: expected a mapping, found a string",
        ),
        (
            "metadata: {name: s}\nspec:\n  type: state.in-memory\n  version: v1\n  metadata:\n"
            "  - {name: a, value: x}\n  - {name: pw, value: x, secretKeyRef: {name: s}}\n",
            'spec.metadata[1]: "pw" sets value and secretKeyRef: '
            "set only one of value, envRef, secretKeyRef",
        ),
        (
            "metadata: {name: s}\nspec:\n  type: state.in-memory\n  version: v1\n  metadata:\n"
            "  - {name: pw, envRef: X, secretKeyRef: {name: s}}\n",
            'spec.metadata[0]: "pw" sets envRef and secretKeyRef: '
            "set only one of value, envRef, secretKeyRef",
        ),
        (
            "metadata: {name: s}\nspec:\n  type: state.in-memory\n  version: v1\n  metadata:\n"
            "  - {name: pw, secretKeyRef: {key: k}}\n",
            "spec.metadata[0].secretKeyRef.name: required field is missing",
        ),
        (
            "metadata: {name: s}\nspec:\n  type: state.in-memory\n  version: v1\n  metadata:\n"
            "  - {name: pw, secretKeyRef: creds}\n",
            "spec.metadata[0].secretKeyRef: expected a mapping, found a string",
        ),
        (
            "metadata: {name: s}\nspec:\n  type: state.in-memory\n  version: v1\n  metadata:\n"
            "  - {name: n, value: .inf}\n",
            "spec.metadata[0].value: inf is not a finite number",
        ),
        (
            "metadata: {name: s}\nspec: {type: state.in-memory, version: v1}\nscopes: app1\n",
            "scopes: expected a list, found a string",
        ),
        (
            "metadata: {name: s}\nspec: {type: state.in-memory, version: v1}\nscopes: [[a]]\n",
            "scopes[0]: expected a string, found a list",
        ),
        (
            "metadata: {name: s}\nspec: {type: state.in-memory, version: v1}\nscopes: [a, null]\n",
            "scopes[1]: expected a string, found null",
        ),
        (
            "metadata: {name: s}\n"
            "spec: {type: state.in-memory, version: v1, ignoreErrors: yes-ish}\n",
            "spec.ignoreErrors: expected true or false, found a string",
        ),
        (
            "metadata: {name: s}\nspec: {type: state.in-memory, version: v1}\nauth: secret\n",
            "auth: expected a mapping, found a string",
        ),
    ],
)
def test_bad_components_are_refused_with_file_document_and_field(body: str, expected: str) -> None:
    error = load_error(body)
    assert str(error) == f"components/c.yaml (document 1): {expected}"
    assert error.source == SourceRef(Path("components/c.yaml"), 1)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("my store", "a name may not contain whitespace"),
        ("a/b", 'a name may not contain "/"'),
        ("50%", 'a name may not contain "%"'),
        ("..", 'a name may not be "." or ".."'),
    ],
)
def test_names_daprd_refuses_are_refused(name: str, problem: str) -> None:
    error = load_error(
        f"metadata: {{name: '{name}'}}\nspec: {{type: state.in-memory, version: v1}}\n"
    )
    assert (
        str(error)
        == f'components/c.yaml (document 1): metadata.name: invalid name "{name}": {problem}'
    )


def test_numeric_names_read_as_strings() -> None:
    component = load_component(
        "metadata: {name: 123}\nspec: {type: state.in-memory, version: v1}\n"
    )
    assert component.name == "123"


def test_field_names_match_ignoring_case_like_daprd() -> None:
    component = load_component(
        "metadata: {name: s}\nspec: {Type: state.in-memory, VERSION: v1, initTIMEOUT: 3s}\n"
    )
    assert (component.type, component.version, component.init_timeout) == (
        "state.in-memory",
        "v1",
        "3s",
    )


def test_unknown_type_lists_the_known_types() -> None:
    error = load_error("metadata: {name: s}\nspec: {type: state.foo, version: v1}\n")
    assert str(error).startswith(
        "components/c.yaml (document 1): spec.type: "
        'unknown component type "state.foo" (version v1); known types: state.in-memory, '
    )
    assert "state.sqlite" in str(error)
    assert error.field == "spec.type"


def test_unknown_version_lists_the_versions() -> None:
    error = load_error("metadata: {name: s}\nspec: {type: state.postgresql, version: v3}\n")
    assert str(error) == (
        "components/c.yaml (document 1): spec.version: "
        'unknown version "v3" for component type "state.postgresql"; known versions: v1, v2'
    )
