import subprocess
import sys
from pathlib import Path

import pytest

from mecha import registry
from mecha.registry import ComponentRegistry, RegistryError

STATE_TYPES = [
    "state.in-memory",
    "state.mysql",
    "state.postgres",
    "state.postgresql",
    "state.redis",
    "state.sqlite",
    "state.sqlite3",
]


def test_table_is_sorted_and_points_at_component_classes() -> None:
    assert list(registry.TABLE) == sorted(registry.TABLE)
    for versions in registry.TABLE.values():
        for path in versions.values():
            module, _, cls = path.partition(":")
            assert module.startswith("mecha.components.")
            assert cls.isidentifier()


def test_known_types_lists_the_state_stores() -> None:
    assert registry.known_types() == STATE_TYPES


def test_postgresql_has_two_versions_and_daprs_alias() -> None:
    assert registry.versions("state.postgresql") == ["v1", "v2"]
    assert registry.versions("state.postgres") == ["v1", "v2"]
    assert registry.is_known("state.postgres", "v2")
    assert not registry.is_known("state.postgresql", "v3")


def test_lookups_ignore_case_and_treat_v0_and_empty_as_v1() -> None:
    assert registry.is_known("state.Redis", "V1")
    assert registry.is_known("state.redis", "v0")
    assert registry.is_known("state.redis", "")
    assert not registry.is_known("state.redis", "v2")
    assert not registry.is_known("state.foo", "v1")
    assert registry.versions("state.foo") == []


def test_checking_types_imports_no_component() -> None:
    # A fresh interpreter: other tests in this session may have imported components.
    probe = (
        "import sys\n"
        "from mecha import registry\n"
        "registry.known_types(); registry.is_known('state.redis', 'v1')\n"
        "print(sorted(m for m in sys.modules if m.startswith('mecha.components')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_unknown_type_and_version_are_described() -> None:
    reg = registry.default_registry
    assert reg.describe_unknown("state.foo", "v1") == (
        'unknown component type "state.foo" (version v1); known types: ' + ", ".join(STATE_TYPES)
    )
    assert reg.describe_unknown("state.postgresql", "v9") == (
        'unknown version "v9" for component type "state.postgresql"; known versions: v1, v2'
    )
    with pytest.raises(RegistryError, match=r'unknown component type "state\.foo"'):
        registry.load_class("state.foo", "v1")


def test_load_class_imports_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lazy_component_mod.py").write_text("class Store:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = ComponentRegistry({"state.lazy": {"v1": "lazy_component_mod:Store"}})
    assert "lazy_component_mod" not in sys.modules
    try:
        cls = reg.load_class("state.lazy", "v1")
        assert cls.__name__ == "Store"
        assert cls.__module__ == "lazy_component_mod"
    finally:
        sys.modules.pop("lazy_component_mod", None)


def test_missing_component_module_is_a_clear_error() -> None:
    reg = ComponentRegistry({"state.ghost": {"v1": "mecha.components.state.ghost_store:Ghost"}})
    with pytest.raises(RegistryError) as caught:
        reg.load_class("state.ghost", "v1")
    assert str(caught.value) == (
        "component type state.ghost/v1: its module mecha.components.state.ghost_store "
        "is not available"
    )


def test_missing_class_is_a_clear_error() -> None:
    reg = ComponentRegistry({"state.odd": {"v1": "collections:NoSuchStore"}})
    with pytest.raises(RegistryError, match="collections has no class NoSuchStore"):
        reg.load_class("state.odd", "v1")


def test_missing_driver_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "needs_driver_mod.py").write_text("import not_installed_driver_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = ComponentRegistry(
        {"state.fancy": {"v1": "needs_driver_mod:Store"}}, extras={"state.fancy": "fancy"}
    )
    with pytest.raises(RegistryError) as caught:
        reg.load_class("state.fancy", "v1")
    assert str(caught.value) == (
        "component type state.fancy/v1 needs the driver library not_installed_driver_xyz, "
        "which is not installed; install it with: pip install 'mecha[fancy]'"
    )
    assert isinstance(caught.value.__cause__, ImportError)


def test_import_error_without_an_extra_is_reported_as_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_dep_mod.py").write_text("import also_not_installed_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = ComponentRegistry({"state.plain": {"v1": "broken_dep_mod:Store"}})
    with pytest.raises(RegistryError, match="cannot be loaded: No module named"):
        reg.load_class("state.plain", "v1")


def test_default_extras_name_the_driver_packages() -> None:
    assert registry.EXTRAS["state.redis"] == "redis"
    assert registry.EXTRAS["state.postgresql"] == "postgresql"
    assert registry.EXTRAS["state.postgres"] == "postgresql"
    assert registry.EXTRAS["state.mysql"] == "mysql"
    assert set(registry.EXTRAS) <= set(registry.TABLE) | set(registry.NAME_RESOLVERS)
