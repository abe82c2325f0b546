"""Which component types exist, in which versions, and where their classes live.

One explicit table maps a component type (`state.redis`) to its versions and, for each, a
`"module:Class"` path. Nothing is imported until `load_class` asks for it, so a runtime that
uses only the in-memory store never imports a Redis driver.

Lookups follow daprd: type and version are matched case-insensitively, and a version of `""` or
`v0` means `v1` (daprd treats both as the initial version).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

# Component resources (`kind: Component`), sorted by type. Aliases are listed only where daprd
# registers the same name (`state.postgres` next to `state.postgresql`, `state.sqlite3`).
TABLE: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "state.in-memory": {"v1": "mecha.components.state.in_memory:InMemoryStateStore"},
        "state.mysql": {"v1": "mecha.components.state.mysql:MySQLStateStore"},
        "state.postgres": {
            "v1": "mecha.components.state.postgresql:PostgreSQLStateStore",
            "v2": "mecha.components.state.postgresql:PostgreSQLStateStore",
        },
        "state.postgresql": {
            "v1": "mecha.components.state.postgresql:PostgreSQLStateStore",
            "v2": "mecha.components.state.postgresql:PostgreSQLStateStore",
        },
        "state.redis": {"v1": "mecha.components.state.redis:RedisStateStore"},
        "state.sqlite": {"v1": "mecha.components.state.sqlite:SQLiteStateStore"},
        "state.sqlite3": {"v1": "mecha.components.state.sqlite:SQLiteStateStore"},
    }
)

# Name resolvers are not Component resources: the Configuration's `spec.nameResolution` names one.
NAME_RESOLVERS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "nameresolution.dns": {"v1": "mecha.components.nameresolution.dns:DNSNameResolver"},
        "nameresolution.local": {"v1": "mecha.components.nameresolution.local:LocalNameResolver"},
        "nameresolution.redis": {"v1": "mecha.components.nameresolution.redis:RedisNameResolver"},
        "nameresolution.static": {
            "v1": "mecha.components.nameresolution.static:StaticNameResolver"
        },
    }
)

# The optional extra (`pip install 'mecha[<extra>]'`) that brings a type's driver library.
EXTRAS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "nameresolution.redis": "redis",
        "state.mysql": "mysql",
        "state.postgres": "postgresql",
        "state.postgresql": "postgresql",
        "state.redis": "redis",
    }
)

_INITIAL_VERSION = "v1"
_INITIAL_VERSION_SPELLINGS = frozenset({"", "v0", "v1"})


class RegistryError(Exception):
    """A component type that cannot be used: unknown, or its code or driver is not installed."""


class ComponentRegistry:
    """A read-only view over a type table; the module-level functions use the default one."""

    def __init__(
        self, table: Mapping[str, Mapping[str, str]], extras: Mapping[str, str] | None = None
    ) -> None:
        self._table = {
            type_.lower(): {version.lower(): path for version, path in versions.items()}
            for type_, versions in table.items()
        }
        self._extras = {type_.lower(): extra for type_, extra in (extras or {}).items()}

    def known_types(self) -> list[str]:
        return sorted(self._table)

    def versions(self, type_: str) -> list[str]:
        return sorted(self._table.get(type_.lower(), ()))

    def resolve_version(self, type_: str, version: str) -> str | None:
        """The table's spelling of `version` for `type_`, or None when there is no such pair."""
        versions = self._table.get(type_.lower())
        if versions is None:
            return None
        wanted = version.lower()
        if wanted in versions:
            return wanted
        if wanted in _INITIAL_VERSION_SPELLINGS and _INITIAL_VERSION in versions:
            return _INITIAL_VERSION
        return None

    def is_known(self, type_: str, version: str) -> bool:
        return self.resolve_version(type_, version) is not None

    def describe_unknown(self, type_: str, version: str) -> str:
        """Why `type_`/`version` is not usable, naming what is: for error messages."""
        if type_.lower() not in self._table:
            known = ", ".join(self.known_types())
            return f'unknown component type "{type_}" (version {version}); known types: {known}'
        known_versions = ", ".join(self.versions(type_))
        return (
            f'unknown version "{version}" for component type "{type_}"; '
            f"known versions: {known_versions}"
        )

    def class_path(self, type_: str, version: str) -> str:
        resolved = self.resolve_version(type_, version)
        if resolved is None:
            raise RegistryError(self.describe_unknown(type_, version))
        return self._table[type_.lower()][resolved]

    def load_class(self, type_: str, version: str) -> type[Any]:
        """Import the component's module now and return its class."""
        path = self.class_path(type_, version)
        module_name, _, class_name = path.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise RegistryError(self._import_failure(type_, version, module_name, error)) from error
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            raise RegistryError(
                f"component type {type_}/{version}: {module_name} has no class {class_name}"
            )
        return cls

    def _import_failure(
        self, type_: str, version: str, module_name: str, error: ImportError
    ) -> str:
        missing = error.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            return f"component type {type_}/{version}: its module {module_name} is not available"
        extra = self._extras.get(type_.lower())
        if extra is None or not missing or missing.split(".")[0] == "mecha":
            return f"component type {type_}/{version} cannot be loaded: {error}"
        return (
            f"component type {type_}/{version} needs the driver library {missing}, "
            f"which is not installed; install it with: pip install 'mecha[{extra}]'"
        )


default_registry: Final = ComponentRegistry(TABLE, EXTRAS)
name_resolvers: Final = ComponentRegistry(NAME_RESOLVERS, EXTRAS)


def known_types() -> list[str]:
    return default_registry.known_types()


def versions(type_: str) -> list[str]:
    return default_registry.versions(type_)


def is_known(type_: str, version: str) -> bool:
    return default_registry.is_known(type_, version)


def load_class(type_: str, version: str) -> type[Any]:
    return default_registry.load_class(type_, version)
