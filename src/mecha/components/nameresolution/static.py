"""nameresolution.static: fixed addresses for fixed deployments, written in the configuration.

    spec:
      nameResolution:
        component: static
        configuration:
          apps:                 # apps in the runtime's own namespace
            orders:
              - "10.0.0.5:50002:50001"          # host:internalPort:grpcPort
              - host: 10.0.0.6                  # the same, spelled out
                internalPort: 50002
                grpcPort: 50001
          namespaces:           # apps in other namespaces, by namespace
            payments:
              ledger: ["[fd00::7]:50002:50001"]  # an IPv6 host goes in brackets

`internalPort` is the peer runtime's runtime-to-runtime port, `grpcPort` its gRPC API port.
An app may list one address or several; `apps` and `namespaces` may also be given as YAML or
JSON text. Everything is checked at init. Resolving returns the addresses in the order written;
register and unregister do nothing, since the deployment is described here, not announced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mecha.blocks.nameresolution.models import Address, Instance
from mecha.components.base import ComponentContext
from mecha.components.nameresolution._settings import Settings, parse_port

_COMPONENT = "nameresolution.static"


class StaticNameResolver:
    def __init__(self) -> None:
        self._apps: dict[tuple[str, str], tuple[Address, ...]] = {}

    async def init(self, context: ComponentContext) -> None:
        settings = Settings(context.metadata, _COMPONENT)
        apps: dict[tuple[str, str], tuple[Address, ...]] = {}
        for app_id, addresses in _apps(settings, settings.structure("apps"), "apps").items():
            apps[(context.namespace, app_id)] = addresses
        namespaces = settings.structure("namespaces")
        for namespace, listing in _mapping(settings, namespaces, "namespaces").items():
            where = f"namespaces.{namespace}"
            for app_id, addresses in _apps(settings, listing, where).items():
                apps[(namespace, app_id)] = addresses
        self._apps = apps

    async def close(self) -> None:
        self._apps = {}

    def features(self) -> tuple[str, ...]:
        return ()

    async def register(self, instance: Instance) -> None:
        pass

    async def unregister(self, instance: Instance) -> None:
        pass

    async def resolve(self, app_id: str, namespace: str) -> list[Address]:
        return self.resolve_now(app_id, namespace)

    def resolve_now(self, app_id: str, namespace: str) -> list[Address]:
        return list(self._apps.get((namespace, app_id), ()))


def _apps(settings: Settings, value: object, where: str) -> dict[str, tuple[Address, ...]]:
    apps: dict[str, tuple[Address, ...]] = {}
    for app_id, addresses in _mapping(settings, value, where).items():
        if not app_id:
            raise settings.error(f"{where} has an empty app id")
        items: Sequence[object] = (
            addresses
            if isinstance(addresses, Sequence) and not isinstance(addresses, str)
            else (addresses,)
        )
        apps[app_id] = tuple(
            _address(settings, item, f"{where}.{app_id}[{index}]")
            for index, item in enumerate(items)
        )
    return apps


def _mapping(settings: Settings, value: object, where: str) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise settings.error(f"{where} must be a mapping, not {_kind(value)}")
    return {str(key): item for key, item in value.items()}


def _address(settings: Settings, value: object, where: str) -> Address:
    if isinstance(value, str):
        return _parse_address(settings, value, where)
    if isinstance(value, Mapping):
        fields = Settings({str(k): v for k, v in value.items()}, f"{_COMPONENT}: {where}")
        host = fields.text("host").strip()
        if not host:
            raise settings.error(f"{where} needs a host")
        return Address(
            host, _required_port(fields, "internalPort"), _required_port(fields, "grpcPort")
        )
    raise settings.error(
        f'{where} must be "host:internalPort:grpcPort" or a mapping with host, internalPort '
        f"and grpcPort, not {_kind(value)}"
    )


def _parse_address(settings: Settings, text: str, where: str) -> Address:
    stripped = text.strip()
    if stripped.startswith("["):  # [IPv6]:internalPort:grpcPort
        host, bracket, rest = stripped[1:].partition("]")
        parts = rest[1:].split(":") if bracket and rest.startswith(":") else []
    else:
        host, *parts = stripped.split(":")
    if not host or len(parts) != 2:
        raise settings.error(
            f'{where} must be "host:internalPort:grpcPort" (an IPv6 host in brackets), not "{text}"'
        )
    internal = parse_port(parts[0], f"{where}: internalPort", settings)
    grpc = parse_port(parts[1], f"{where}: grpcPort", settings)
    return Address(host, internal, grpc)


def _required_port(fields: Settings, name: str) -> int:
    text = fields.text(name).strip()
    if not text:
        raise fields.error(f"{name} is required")
    return parse_port(text, name, fields)


def _kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "a list"
    return f'"{value}"'
