"""InvocationService: calls an app by id — hosted here, behind a peer runtime, or an HTTP endpoint.

Every front end (HTTP invoke routes, the `dapr-app-id` header form, gRPC InvokeService) and the
mesh listener that peers call come through here, so routing, retries, tracing and error
translation live in one place.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mecha.blocks.invocation.errors import (
    AppChannelMissing,
    AppTimeout,
    AppUnhealthy,
    AppUnreachable,
    InvocationError,
)
from mecha.blocks.invocation.models import CallContext, InvokeRequest, InvokeResponse
from mecha.blocks.nameresolution.errors import ResolverUnavailable
from mecha.blocks.nameresolution.models import Address
from mecha.errors import ErrorCode, MechaError
from mecha.observability.tracing import next_traceparent

if TYPE_CHECKING:
    from mecha.apps import AppTable, HostedApp
    from mecha.blocks.nameresolution.protocols import NameResolver
    from mecha.mesh.client import PeerClient
    from mecha.mesh.external import ExternalClient

log = logging.getLogger("mecha.invocation")

# Dapr's built-in policy for reaching a peer runtime: 3 retries, 1 s apart, only when the call
# was certainly not delivered. A reply the app gave is never retried.
PEER_RETRIES = 3
PEER_RETRY_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An HTTPEndpoint resource as calls use it: its base URL and its resolved headers."""

    base_url: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Trace:
    traceparent: str | None = None
    tracestate: str = ""


def split_target(target: str, default_namespace: str) -> tuple[str, str]:
    """`app` or `app.namespace` → (app id, namespace)."""
    app_id, dot, namespace = target.partition(".")
    if not app_id or "." in namespace or (dot and not namespace):
        raise MechaError(ErrorCode.DIRECT_INVOKE, f"invalid app id {target!r}")
    return app_id, namespace or default_namespace


class InvocationService:
    def __init__(
        self,
        apps: AppTable,
        resolver: Callable[[], NameResolver | None],
        peers: PeerClient,
        external: ExternalClient,
        endpoints: Callable[[str], Mapping[str, Endpoint]],
        namespace: str = "",
    ) -> None:
        self._apps = apps
        self._resolver = resolver
        self._peers = peers
        self._external = external
        self._endpoints = endpoints
        self._namespace = namespace
        self._turns = itertools.count()
        self.retry_interval = PEER_RETRY_INTERVAL

    async def invoke(
        self,
        caller: HostedApp,
        target: str,
        request: InvokeRequest,
        trace: Trace,
        timeout: float | None = None,
    ) -> InvokeResponse:
        if not target:
            raise MechaError(
                ErrorCode.DIRECT_INVOKE_NO_APP_ID,
                "failed getting app id either from the URL path or the header dapr-app-id",
            )
        traceparent = next_traceparent(trace.traceparent)
        if target.startswith(("http://", "https://")):
            return await self._call_external(target, (), request, traceparent, trace, timeout)
        endpoint = self._endpoints(caller.id).get(target)
        if endpoint is not None:
            return await self._call_external(
                endpoint.base_url, endpoint.headers, request, traceparent, trace, timeout
            )
        app_id, namespace = split_target(target, self._namespace)
        context = CallContext(caller.id, app_id, traceparent, trace.tracestate, timeout)
        local = self._apps.get(app_id) if namespace == self._namespace else None
        if local is not None:
            return await self.call_app(local, request, context)
        return await self._call_peer(app_id, namespace, request, context)

    async def call_app(
        self, app: HostedApp, request: InvokeRequest, context: CallContext
    ) -> InvokeResponse:
        """Call an app hosted by this runtime through its app channel."""
        channel = app.channel
        try:
            if channel is None:
                raise AppChannelMissing("app channel is not initialized")
            return await channel.invoke(request, context)
        except InvocationError as error:
            raise _app_error(app.id, error) from None

    async def _call_peer(
        self, app_id: str, namespace: str, request: InvokeRequest, context: CallContext
    ) -> InvokeResponse:
        resolver = self._resolver()
        if resolver is None:
            raise _not_found(app_id)
        failed: set[Address] = set()
        for attempt in range(PEER_RETRIES + 1):
            address = await self._pick(resolver, app_id, namespace, avoid=failed)
            try:
                return await self._peers.invoke(address, request, context)
            except AppUnreachable as error:
                if attempt == PEER_RETRIES:
                    raise MechaError(
                        ErrorCode.DIRECT_INVOKE_UNREACHABLE,
                        f"failed to invoke, id: {app_id}, err: failed to invoke target {app_id} "
                        f"after {PEER_RETRIES} retries: {error}",
                    ) from None
                log.debug("peer for %s unreachable (%s); retrying", app_id, error)
                failed.add(address)
                # Another live instance is tried at once; the same one only after a pause.
                if address in await self._candidates(resolver, app_id, namespace, failed):
                    await asyncio.sleep(self.retry_interval)
            except InvocationError as error:
                raise _app_error(app_id, error) from None
        raise AssertionError("unreachable")

    async def resolve(self, app_id: str, namespace: str) -> Address:
        """One live instance of an app served by a peer runtime (round-robin)."""
        resolver = self._resolver()
        if resolver is None:
            raise _not_found(app_id)
        return await self._pick(resolver, app_id, namespace)

    async def _pick(
        self,
        resolver: NameResolver,
        app_id: str,
        namespace: str,
        avoid: set[Address] | None = None,
    ) -> Address:
        addresses = await self._candidates(resolver, app_id, namespace, avoid or set())
        return addresses[next(self._turns) % len(addresses)]

    async def _candidates(
        self, resolver: NameResolver, app_id: str, namespace: str, avoid: set[Address]
    ) -> list[Address]:
        """Live instances, without those that just failed unless nothing else is left."""
        try:
            addresses = await resolver.resolve(app_id, namespace)
        except ResolverUnavailable as error:
            raise MechaError(
                ErrorCode.DIRECT_INVOKE,
                f"failed to invoke, id: {app_id}, err: name resolution failed: {error}",
            ) from None
        if not addresses:
            raise _not_found(app_id)
        fresh = [a for a in addresses if a not in avoid]
        return fresh or addresses

    async def _call_external(
        self,
        base_url: str,
        headers: tuple[tuple[str, str], ...],
        request: InvokeRequest,
        traceparent: str,
        trace: Trace,
        timeout: float | None,
    ) -> InvokeResponse:
        try:
            return await self._external.invoke(
                base_url, headers, request, traceparent, trace.tracestate, timeout
            )
        except InvocationError as error:
            raise _app_error(base_url, error) from None


def _not_found(app_id: str) -> MechaError:
    return MechaError(
        ErrorCode.DIRECT_INVOKE_APP_NOT_FOUND,
        f"failed to invoke, id: {app_id}, err: couldn't find service: {app_id}",
    )


def _app_error(target: str, error: InvocationError) -> MechaError:
    prefix = f"failed to invoke, id: {target}, err: "
    if isinstance(error, AppTimeout):
        return MechaError(ErrorCode.DIRECT_INVOKE_TIMEOUT, f"{prefix}timed out: {error}")
    if isinstance(error, AppUnhealthy):
        return MechaError(
            ErrorCode.DIRECT_INVOKE_APP_UNHEALTHY, f"{prefix}app is not in a healthy state"
        )
    if isinstance(error, AppChannelMissing):
        return MechaError(ErrorCode.APP_CHANNEL_NIL, f"{prefix}{error}")
    if isinstance(error, AppUnreachable):
        return MechaError(ErrorCode.DIRECT_INVOKE_UNREACHABLE, f"{prefix}{error}")
    if isinstance(error, RemoteError):
        return error.error
    return MechaError(ErrorCode.DIRECT_INVOKE, f"{prefix}{error}")


class RemoteError(InvocationError):
    """A peer runtime refused the call with one of Mecha's errors; relayed as it is."""

    def __init__(self, error: MechaError) -> None:
        super().__init__(error.message)
        self.error = error
