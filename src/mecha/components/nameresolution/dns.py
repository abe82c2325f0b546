"""nameresolution.dns: peers found by DNS name, as in Kubernetes (one Service per app id).

An app id and namespace become a host name through a template; every address the name resolves
to is one instance, reached on the same ports:

    spec:
      nameResolution:
        component: dns
        configuration:
          template: "{app_id}.{namespace}.svc.{cluster_domain}"   # the default
          clusterDomain: cluster.local     # default
          internalPort: 50002              # peers' runtime-to-runtime port (default 50002)
          grpcPort: 50001                  # peers' gRPC API port (default 50001)
          addressFamily: ipv4              # ipv4, ipv6, or "" for both (default)
          cacheSeconds: 5                  # how long an answer is reused (default 5; 0: never)
          timeoutSeconds: 3                # a lookup slower than this fails (default 3)

The template's fields are `{app_id}` (or `{appid}`, as Dapr's nameformat resolver spells it),
`{namespace}` (`default` for the empty namespace) and `{cluster_domain}`; it must use the app
id. An app id or namespace that is not one DNS label (letters, digits, `-`, `_`) resolves to
nothing, so a caller cannot point the template at another domain. Lookups use the system
resolver (`getaddrinfo`) off the event loop. A name that does not exist resolves to no instance;
a resolver that cannot answer raises ResolverUnavailable. Register and unregister do nothing:
DNS records are managed elsewhere.
"""

from __future__ import annotations

import asyncio
import re
import socket
import string

from mecha.blocks.nameresolution.errors import ResolverUnavailable
from mecha.blocks.nameresolution.models import Address, Instance
from mecha.components.base import ComponentContext
from mecha.components.nameresolution._cache import ResolveCache
from mecha.components.nameresolution._settings import Settings

_COMPONENT = "nameresolution.dns"
DEFAULT_TEMPLATE = "{app_id}.{namespace}.svc.{cluster_domain}"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
DEFAULT_INTERNAL_PORT = 50002
DEFAULT_GRPC_PORT = 50001
DEFAULT_CACHE_SECONDS = 5.0
DEFAULT_TIMEOUT_SECONDS = 3.0
DEFAULT_NAMESPACE = "default"

# `appid` is the spelling of Dapr's nameformat resolver, accepted for `app_id`.
_TEMPLATE_FIELDS = frozenset({"app_id", "appid", "namespace", "cluster_domain"})
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,63}")
_FAMILIES = {"": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}
# Answers meaning "no such name" rather than "cannot ask".
_NO_SUCH_NAME = frozenset(
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
)


class DNSNameResolver:
    def __init__(self) -> None:
        self._template = DEFAULT_TEMPLATE
        self._cluster_domain = DEFAULT_CLUSTER_DOMAIN
        self._internal_port = DEFAULT_INTERNAL_PORT
        self._grpc_port = DEFAULT_GRPC_PORT
        self._family = socket.AF_UNSPEC
        self._timeout = DEFAULT_TIMEOUT_SECONDS
        self._cache = ResolveCache(DEFAULT_CACHE_SECONDS)

    async def init(self, context: ComponentContext) -> None:
        settings = Settings(context.metadata, _COMPONENT)
        self._template = _checked_template(settings, settings.text("template", DEFAULT_TEMPLATE))
        self._cluster_domain = settings.text("clusterDomain").strip() or DEFAULT_CLUSTER_DOMAIN
        self._internal_port = settings.port("internalPort", DEFAULT_INTERNAL_PORT)
        self._grpc_port = settings.port("grpcPort", DEFAULT_GRPC_PORT)
        family = settings.text("addressFamily").strip().lower()
        if family not in _FAMILIES:
            raise settings.error(f'addressFamily must be ipv4, ipv6 or empty, not "{family}"')
        self._family = _FAMILIES[family]
        self._timeout = settings.seconds("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)
        cache_seconds = settings.seconds("cacheSeconds", DEFAULT_CACHE_SECONDS, allow_zero=True)
        self._cache = ResolveCache(cache_seconds)

    async def close(self) -> None:
        self._cache.close()

    def features(self) -> tuple[str, ...]:
        return ()

    async def register(self, instance: Instance) -> None:
        pass

    async def unregister(self, instance: Instance) -> None:
        pass

    def host_name(self, app_id: str, namespace: str) -> str | None:
        """The name looked up for an app; None when the app id or namespace is not a label."""
        namespace = namespace or DEFAULT_NAMESPACE
        if not _LABEL.fullmatch(app_id) or not _LABEL.fullmatch(namespace):
            return None
        return self._template.format(
            app_id=app_id, appid=app_id, namespace=namespace, cluster_domain=self._cluster_domain
        )

    async def resolve(self, app_id: str, namespace: str) -> list[Address]:
        name = self.host_name(app_id, namespace)
        if name is None:
            return []
        return await self._cache.get((namespace, app_id), lambda: self._look_up(name))

    def resolve_now(self, app_id: str, namespace: str) -> list[Address] | None:
        if self.host_name(app_id, namespace) is None:
            return []
        return self._cache.peek((namespace, app_id))

    async def _look_up(self, name: str) -> list[Address]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                answers = await loop.getaddrinfo(
                    name, None, family=self._family, type=socket.SOCK_STREAM
                )
        except socket.gaierror as error:
            if error.errno in _NO_SUCH_NAME:
                return []
            raise ResolverUnavailable(f"{_COMPONENT}: cannot resolve {name}: {error}") from None
        except UnicodeError:  # not a valid host name (an empty or overlong label)
            return []
        except TimeoutError:
            raise ResolverUnavailable(
                f"{_COMPONENT}: no answer for {name} within {self._timeout:g}s"
            ) from None
        hosts = dict.fromkeys(str(sockaddr[0]) for _, _, _, _, sockaddr in answers)
        return [Address(host, self._internal_port, self._grpc_port) for host in hosts]


def _checked_template(settings: Settings, template: str) -> str:
    try:
        fields = {
            field for _, field, _, _ in string.Formatter().parse(template) if field is not None
        }
    except ValueError as error:
        raise settings.error(f'template "{template}" is malformed: {error}') from None
    unknown = fields - _TEMPLATE_FIELDS
    if unknown or not fields & {"app_id", "appid"}:
        raise settings.error(
            f'template "{template}" must use {{app_id}} and only {{app_id}} (or {{appid}}), '
            f"{{namespace}} and {{cluster_domain}}"
        )
    return template
