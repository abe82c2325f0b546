import json
import logging
import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mecha.registry import ComponentRegistry
from mecha.resources import ResourceError, SourceRef, load_resources


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(path: str, text: str) -> None:
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(textwrap.dedent(text))


def component(name: str, type_: str = "state.in-memory", version: str = "v1") -> str:
    return (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\n"
        f"metadata: {{name: {name}}}\nspec: {{type: {type_}, version: {version}}}\n"
    )


def load_error(*folders: str) -> ResourceError:
    with pytest.raises(ResourceError) as caught:
        load_resources([Path(f) for f in folders or ("components",)])
    return caught.value


def test_files_load_in_name_order_and_documents_in_file_order() -> None:
    write("components/b.yaml", component("b1") + "---\n" + component("b2"))
    write("components/a.yml", component("a1"))
    write("components/c.YAML", component("c1"))
    write("more/z.yaml", component("z1"))
    resources = load_resources([Path("components"), "more"])
    assert [c.name for c in resources.components] == ["a1", "b1", "b2", "c1", "z1"]
    assert [str(c.source) for c in resources.components] == [
        "components/a.yml (document 1)",
        "components/b.yaml (document 1)",
        "components/b.yaml (document 2)",
        "components/c.YAML (document 1)",
        "more/z.yaml (document 1)",
    ]


def test_empty_documents_count_but_are_skipped() -> None:
    write("components/a.yaml", "---\n# only a comment\n---\n" + component("third"))
    (only,) = load_resources([Path("components")]).components
    assert only.source == SourceRef(Path("components/a.yaml"), 2)


def test_empty_file_and_folder_give_nothing() -> None:
    write("components/empty.yaml", "")
    assert load_resources([Path("components")]).components == ()


def test_other_files_and_sub_folders_are_not_read() -> None:
    write("components/readme.md", "not: yaml: at: all: [")
    write("components/nested/deep.yaml", component("deep"))
    write("components/top.yaml", component("top"))
    assert [c.name for c in load_resources([Path("components")]).components] == ["top"]


def test_other_kinds_and_api_groups_are_skipped_with_a_debug_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    write(
        "components/mixed.yaml",
        textwrap.dedent(
            """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: k8s}
        ---
        apiVersion: dapr.io/v1alpha1
        kind: MCPServer
        metadata: {name: mcp}
        ---
        apiVersion: dapr.io/v2alpha1
        kind: Component
        metadata: {name: future}
        ---
        just: a mapping
        ---
        """
        )
        + component("kept"),
    )
    with caplog.at_level(logging.DEBUG, logger="mecha.resources"):
        resources = load_resources([Path("components")])
    assert [c.name for c in resources.components] == ["kept"]
    skipped = [r.getMessage() for r in caplog.records if r.name == "mecha.resources"]
    assert len(skipped) == 4
    assert skipped[0] == (
        "skipping components/mixed.yaml (document 1): kind 'ConfigMap' of apiVersion 'v1' "
        "is not read"
    )
    assert "'MCPServer'" in skipped[1]
    assert "'dapr.io/v2alpha1'" in skipped[2]
    levels = [r.levelname for r in caplog.records if r.name == "mecha.resources"]
    # Only the near miss (a Component of an API version Dapr does not have) is a warning.
    assert levels == ["DEBUG", "DEBUG", "WARNING", "DEBUG"]


def test_all_kinds_are_collected_from_one_folder() -> None:
    write(
        "resources/all.yaml",
        component("store")
        + textwrap.dedent(
            """\
        ---
        apiVersion: dapr.io/v1alpha1
        kind: Configuration
        metadata: {name: config}
        spec: {}
        ---
        apiVersion: dapr.io/v1alpha1
        kind: Subscription
        metadata: {name: sub}
        spec: {pubsubname: ps, topic: t, route: /r}
        ---
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata: {name: res}
        spec: {}
        ---
        apiVersion: dapr.io/v1alpha1
        kind: HTTPEndpoint
        metadata: {name: ext}
        spec: {baseUrl: "http://example.test"}
        """
        ),
    )
    resources = load_resources(["resources"])
    assert [c.name for c in resources.components] == ["store"]
    assert [c.name for c in resources.configurations] == ["config"]
    assert [s.name for s in resources.subscriptions] == ["sub"]
    assert [r.name for r in resources.resiliencies] == ["res"]
    assert [e.name for e in resources.http_endpoints] == ["ext"]


def test_for_app_keeps_what_the_app_may_use() -> None:
    write(
        "components/a.yaml",
        component("shared")
        + "---\n"
        + component("mine")
        + "scopes: [me]\n---\n"
        + component("theirs")
        + "scopes: [them]\n",
    )
    resources = load_resources([Path("components")])
    assert [c.name for c in resources.for_app("me").components] == ["shared", "mine"]
    assert [c.name for c in resources.components] == ["shared", "mine", "theirs"]


def test_namespace_filter_skips_other_namespaces() -> None:
    write(
        "components/a.yaml",
        component("a")
        + "---\n"
        + component("a").replace("{name: a}", "{name: a, namespace: other}")
        + "---\n"
        + component("b").replace("{name: b}", "{name: b, namespace: prod}"),
    )
    names = [
        (c.name, c.namespace)
        for c in load_resources([Path("components")], namespace="prod").components
    ]
    assert names == [("a", ""), ("b", "prod")]
    error = load_error()
    assert 'Component "a" is already defined in' in str(error)


def test_a_registry_can_be_given() -> None:
    write("components/a.yaml", component("x", type_="bindings.cron"))
    registry = ComponentRegistry({"bindings.cron": {"v1": "nowhere:Cron"}})
    (loaded,) = load_resources([Path("components")], registry=registry).components
    assert loaded.type == "bindings.cron"
    assert "bindings.cron" in str(load_error())


def test_duplicate_component_names_name_both_sources() -> None:
    write("components/a.yaml", component("store"))
    write("components/b.yaml", component("other") + "---\n" + component("store"))
    error = load_error()
    assert str(error) == (
        "components/b.yaml (document 2): metadata.name: "
        'Component "store" is already defined in components/a.yaml (document 1)'
    )


def test_duplicates_are_per_kind() -> None:
    write(
        "components/a.yaml",
        component("same")
        + "---\napiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: same}\n",
    )
    resources = load_resources([Path("components")])
    assert len(resources.components) == len(resources.resiliencies) == 1


def test_duplicate_subscriptions_across_api_versions_are_refused() -> None:
    sub = "kind: Subscription\nmetadata: {name: s}\nspec: {pubsubname: p, topic: t}\n"
    write(
        "components/a.yaml",
        "apiVersion: dapr.io/v1alpha1\n" + sub + "---\napiVersion: dapr.io/v2alpha1\n" + sub,
    )
    assert str(load_error()) == (
        "components/a.yaml (document 2): metadata.name: "
        'Subscription "s" is already defined in components/a.yaml (document 1)'
    )


def test_missing_path_is_an_error() -> None:
    assert str(load_error("nope")) == 'resources path "nope" does not exist'


def test_a_file_as_path_is_an_error() -> None:
    write("file.yaml", component("x"))
    assert str(load_error("file.yaml")) == 'resources path "file.yaml" is not a folder'


def test_unreadable_file_is_an_error() -> None:
    Path("components").mkdir()
    os.symlink("missing-target.yaml", "components/dangling.yaml")
    assert str(load_error()) == (
        'cannot read "components/dangling.yaml": No such file or directory'
    )


def test_non_utf8_file_is_an_error() -> None:
    Path("components").mkdir()
    Path("components/latin1.yaml").write_bytes(b"name: caf\xe9\n")
    assert str(load_error()) == 'cannot read "components/latin1.yaml": not UTF-8 text (byte 9)'


def test_utf8_byte_order_mark_is_accepted() -> None:
    Path("components").mkdir()
    Path("components/bom.yaml").write_bytes(b"\xef\xbb\xbf" + component("bom").encode())
    assert [c.name for c in load_resources([Path("components")]).components] == ["bom"]


def test_invalid_yaml_reports_document_line_and_column() -> None:
    write(
        "components/bad.yaml",
        component("ok")
        + "---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: [unclosed\n",
    )
    error = load_error()
    assert error.source == SourceRef(Path("components/bad.yaml"), 2)
    assert str(error).startswith(
        "components/bad.yaml (document 2): invalid YAML at line 10, column 1: "
    )
    assert "\n" not in str(error)


def test_tab_indentation_is_invalid_yaml() -> None:
    write("components/tab.yaml", "metadata:\n\tname: x\n")
    assert str(load_error()) == (
        "components/tab.yaml (document 1): invalid YAML at line 2, column 1: "
        "found character '\\t' that cannot start any token (while scanning for the next token)"
    )


def test_duplicate_keys_are_invalid_yaml() -> None:
    write("components/dup.yaml", component("x") + "metadata: {name: y}\n")
    assert str(load_error()) == (
        "components/dup.yaml (document 1): invalid YAML at line 5, column 1: "
        "found duplicate key 'metadata' (while constructing a mapping)"
    )


def test_merge_keys_may_be_overridden() -> None:
    write(
        "components/merge.yaml",
        """\
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata: {name: m}
        spec:
          <<: {type: state.redis, version: v9}
          version: v1
        """,
    )
    (loaded,) = load_resources([Path("components")]).components
    assert (loaded.type, loaded.version) == ("state.redis", "v1")


def test_self_referencing_alias_is_refused() -> None:
    write("components/loop.yaml", "a: &loop [*loop]\n")
    assert str(load_error()) == (
        "components/loop.yaml (document 1): invalid YAML: an alias refers to itself"
    )


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        previous = f"*l{level - 1}"
        lines.append(f"l{level}: &l{level} [{', '.join([previous] * 10)}]")
    write("components/bomb.yaml", component("b") + "\n".join(lines) + "\n")
    assert "expands to more than" in str(load_error())


def test_deep_nesting_is_refused() -> None:
    write("components/deep.yaml", "a: " + "[" * 600 + "]" * 600 + "\n")
    assert str(load_error()) == "components/deep.yaml (document 1): invalid YAML: nested too deeply"


@pytest.mark.parametrize(
    ("text", "found"),
    [("- a\n- b\n", "a list"), ("just text\n", "a string"), ("42\n", "a number")],
)
def test_a_document_must_be_a_mapping(text: str, found: str) -> None:
    write("components/x.yaml", text)
    assert str(load_error()) == f"components/x.yaml (document 1): expected a mapping, found {found}"


def test_unsupported_tags_are_invalid_yaml() -> None:
    write("components/x.yaml", "a: !!python/object:os.system {}\n")
    assert "could not determine a constructor" in str(load_error())


# Any shape of value in any slot of a resource: the loader answers or raises ResourceError.
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "value", "type", "version", "metadata", "envRef", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
_kinds = st.sampled_from(
    ["Component", "Configuration", "Subscription", "Resiliency", "HTTPEndpoint"]
)


# Valid enough to get past the required fields, with any value in the optional ones.
_spec = _values | st.fixed_dictionaries(
    {
        "type": st.just("state.in-memory"),
        "version": st.just("v1"),
        "pubsubname": st.just("ps"),
        "topic": st.just("t"),
        "baseUrl": st.just("http://x.test"),
    },
    optional={
        key: _values
        for key in [
            "metadata",
            "initTimeout",
            "ignoreErrors",
            "route",
            "routes",
            "bulkSubscribe",
            "deadLetterTopic",
            "headers",
            "clientTLS",
            "policies",
            "targets",
            "features",
            "tracing",
            "api",
            "secrets",
            "nameResolution",
            "httpPipeline",
            "appHttpPipeline",
            "components",
            "accessControl",
        ]
    },
)
_metadata = _values | st.fixed_dictionaries({"name": st.just("n")}, optional={"namespace": _values})


@settings(
    max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=_kinds,
    api_version=st.sampled_from(["dapr.io/v1alpha1", "dapr.io/v2alpha1"]),
    metadata=_metadata,
    spec=_spec,
    scopes=_values,
    auth=_values,
)
def test_any_document_gives_resources_or_a_resource_error(
    tmp_path: Path,
    kind: str,
    api_version: str,
    metadata: object,
    spec: object,
    scopes: object,
    auth: object,
) -> None:
    folder = tmp_path / "fuzz"
    folder.mkdir(exist_ok=True)
    document = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
        "scopes": scopes,
        "auth": auth,
    }
    (folder / "doc.yaml").write_text(json.dumps(document))  # JSON is YAML
    try:
        load_resources([folder])
    except ResourceError as error:
        problem = error
    else:
        return
    assert problem.message


def test_a_misspelt_kind_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    write("components/typo.yaml", component("x").replace("kind: Component", "kind: component"))
    with caplog.at_level(logging.DEBUG, logger="mecha.resources"):
        assert load_resources([Path("components")]).components == ()
    (record,) = [r for r in caplog.records if r.name == "mecha.resources"]
    assert record.levelname == "WARNING"
    assert "kind 'component'" in record.getMessage()
