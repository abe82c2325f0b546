"""InvocationService: calls an app by id — hosted here, behind a peer runtime, or an HTTP endpoint.

Every front end (HTTP invoke routes, the `dapr-app-id` header form, gRPC InvokeService) and the
mesh listener that peers call come through here, so routing, retries, tracing and error
translation live in one place.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Final, Protocol

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
from mecha.callbacks import Cancel, awaited, nothing_to_cancel, run_in_task
from mecha.errors import ErrorCode, MechaError
from mecha.observability.tracing import next_traceparent

if TYPE_CHECKING:
    from mecha.apps import AppTable, HostedApp
    from mecha.blocks.nameresolution.protocols import NameResolver
    from mecha.mesh.client import PeerClient
    from mecha.mesh.external import ExternalClient

log: Final = logging.getLogger("mecha.invocation")

# Dapr's built-in policy for reaching a peer runtime: 3 retries, 1 s apart, only when the call
# was certainly not delivered. A reply the app gave is never retried.
PEER_RETRIES: Final = 3
PEER_RETRY_INTERVAL: Final = 1.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An HTTPEndpoint resource as calls use it: its base URL and its resolved headers."""

    base_url: str
    headers: tuple[tuple[str, str], ...] = ()


class Trace:
    """The caller's W3C trace context, as received (a plain class: one is made per call)."""

    __slots__ = ("traceparent", "tracestate")

    def __init__(self, traceparent: str | None = None, tracestate: str = "") -> None:
        self.traceparent = traceparent
        self.tracestate = tracestate


def split_target(target: str, default_namespace: str) -> tuple[str, str]:
    """`app` or `app.namespace` → (app id, namespace)."""
    app_id, dot, namespace = target.partition(".")
    if not app_id or "." in namespace or (dot and not namespace):
        raise MechaError(ErrorCode.DIRECT_INVOKE, f"invalid app id {target!r}")
    return app_id, namespace or default_namespace


Done = Callable[[InvokeResponse | MechaError], None]
"""Hears how an invocation ended: the app's answer (whatever its status), or the MechaError
to give the caller."""


class ResolverHolder(Protocol):
    """Where the name resolver in use is found (the mesh node, which sets it as it starts)."""

    resolver: NameResolver | None


_NO_ENDPOINTS: Final[dict[str, Endpoint]] = {}
# Instances a call has found unreachable: none, for almost every call (shared, never changed).
_NONE_FAILED: Final[frozenset[Address]] = frozenset()


class InvocationService:
    def __init__(
        self,
        apps: AppTable,
        mesh: ResolverHolder,
        peers: PeerClient,
        external: ExternalClient,
        namespace: str = "",
    ) -> None:
        self._apps = apps
        self._mesh = mesh
        self.peers = peers
        self._external = external
        self.endpoints: dict[str, dict[str, Endpoint]] = {}
        """HTTPEndpoint resources by name, by the app id whose scope they are in."""
        self._namespace = namespace
        self._turns = itertools.count()
        self.retry_interval = PEER_RETRY_INTERVAL

    def start(
        self,
        caller: HostedApp,
        target: str,
        request: InvokeRequest,
        trace: Trace,
        done: Done,
        timeout: float | None = None,
    ) -> Cancel:
        """Starts one invocation; `done` hears its outcome, maybe before this returns."""
        if not target:
            done(
                MechaError(
                    ErrorCode.DIRECT_INVOKE_NO_APP_ID,
                    "failed getting app id either from the URL path or the header dapr-app-id",
                )
            )
            return nothing_to_cancel
        traceparent = next_traceparent(trace.traceparent)
        if target.startswith(("http://", "https://")):
            return self._call_external(target, (), request, traceparent, trace, timeout, done)
        endpoint = self.endpoints.get(caller.id, _NO_ENDPOINTS).get(target)
        if endpoint is not None:
            return self._call_external(
                endpoint.base_url, endpoint.headers, request, traceparent, trace, timeout, done
            )
        try:
            app_id, namespace = split_target(target, self._namespace)
        except MechaError as error:
            done(error)
            return nothing_to_cancel
        context = CallContext(caller.id, app_id, traceparent, trace.tracestate, timeout)
        local = self._apps.get(app_id) if namespace == self._namespace else None
        if local is not None:
            return self.call_app(local, request, context, done)
        resolver = self._mesh.resolver
        if resolver is None:
            done(_not_found(app_id))
            return nothing_to_cancel
        return _PeerCall(self, resolver, namespace, request, context, done).start()

    async def invoke(
        self,
        caller: HostedApp,
        target: str,
        request: InvokeRequest,
        trace: Trace,
        timeout: float | None = None,
    ) -> InvokeResponse:
        """`start`, awaited: returns the app's answer, raises the MechaError."""
        outcome: InvokeResponse | MechaError = await awaited(
            lambda done: self.start(caller, target, request, trace, done, timeout)
        )
        if isinstance(outcome, MechaError):
            raise outcome
        return outcome

    def call_app(
        self, app: HostedApp, request: InvokeRequest, context: CallContext, done: Done
    ) -> Cancel:
        """Calls an app hosted by this runtime through its app channel."""
        channel = app.channel
        if channel is None:
            done(_app_error(app.id, AppChannelMissing("app channel is not initialized")))
            return nothing_to_cancel
        return channel.call(request, context, partial(_translated, app.id, done))

    async def resolve(self, app_id: str, namespace: str) -> Address:
        """One live instance of an app served by a peer runtime (round-robin)."""
        resolver = self._mesh.resolver
        if resolver is None:
            raise _not_found(app_id)
        return self.pick(await self.candidates(resolver, app_id, namespace, _NONE_FAILED))

    def pick(self, addresses: list[Address]) -> Address:
        return addresses[next(self._turns) % len(addresses)]

    async def candidates(
        self, resolver: NameResolver, app_id: str, namespace: str, avoid: frozenset[Address]
    ) -> list[Address]:
        """Live instances, without those that just failed unless nothing else is left."""
        try:
            addresses = await resolver.resolve(app_id, namespace)
        except ResolverUnavailable as error:
            raise _resolution_failed(app_id, error) from None
        return _fresh(addresses, app_id, avoid)

    def _call_external(
        self,
        base_url: str,
        headers: tuple[tuple[str, str], ...],
        request: InvokeRequest,
        traceparent: str,
        trace: Trace,
        timeout: float | None,
        done: Done,
    ) -> Cancel:
        return run_in_task(
            self._external.invoke(
                base_url, headers, request, traceparent, trace.tracestate, timeout
            ),
            partial(_translated, base_url, done),
            InvocationError,
        )


class _PeerCall:
    """One invocation of an app behind a peer runtime: pick a live instance and send; when the
    call certainly was not delivered, try again as Dapr's built-in policy does — another live
    instance at once, the same one only after a pause.

    The first attempt runs in the caller's callback when the resolver knows the instances
    without waiting (the usual case); resolving that must wait, and every retry, run in a task.
    """

    __slots__ = (
        "_address",
        "_attempt",
        "_cancel",
        "_context",
        "_done",
        "_failed",
        "_namespace",
        "_request",
        "_resolver",
        "_service",
        "_task",
        "_waiting",
    )

    def __init__(
        self,
        service: InvocationService,
        resolver: NameResolver,
        namespace: str,
        request: InvokeRequest,
        context: CallContext,
        done: Done,
    ) -> None:
        self._service = service
        self._resolver = resolver
        self._namespace = namespace
        self._request = request
        self._context = context
        self._done: Done | None = done
        self._failed = _NONE_FAILED
        self._attempt = 0
        self._address: Address | None = None
        self._cancel: Cancel | None = None
        self._waiting = False
        """A peer call is in flight."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Cancel:
        app_id = self._context.callee_app_id
        try:
            addresses = self._resolver.resolve_now(app_id, self._namespace)
            if addresses is None:
                self._task = asyncio.get_running_loop().create_task(self._send_later(False))
            else:
                self._send(_fresh(addresses, app_id, self._failed))
        except ResolverUnavailable as error:
            self._end(_resolution_failed(app_id, error))
        except MechaError as error:
            self._end(error)
        return self.cancel

    def cancel(self) -> None:
        self._done = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        cancel, self._cancel = self._cancel, None
        if cancel is not None:
            cancel()

    def _send(self, addresses: list[Address]) -> None:
        address = self._address = self._service.pick(addresses)
        self._waiting = True
        cancel = self._service.peers.call(address, self._request, self._context, self._replied)
        if self._waiting:  # no answer yet (retries never start from inside `call`)
            self._cancel = cancel

    def _replied(self, outcome: InvokeResponse | InvocationError) -> None:
        self._waiting = False
        self._cancel = None
        app_id = self._context.callee_app_id
        if not isinstance(outcome, AppUnreachable):
            self._end(_translated_outcome(app_id, outcome))
        elif self._attempt == PEER_RETRIES:
            self._end(
                MechaError(
                    ErrorCode.DIRECT_INVOKE_UNREACHABLE,
                    f"failed to invoke, id: {app_id}, err: failed to invoke target {app_id} "
                    f"after {PEER_RETRIES} retries: {outcome}",
                )
            )
        elif self._done is not None:
            log.debug("peer for %s unreachable (%s); retrying", app_id, outcome)
            self._attempt += 1
            assert self._address is not None
            self._failed = self._failed | {self._address}
            self._task = asyncio.get_running_loop().create_task(self._send_later(True))

    async def _send_later(self, retrying: bool) -> None:
        app_id = self._context.callee_app_id
        service = self._service
        try:
            addresses = await service.candidates(
                self._resolver, app_id, self._namespace, self._failed
            )
            if retrying and self._address in addresses:
                # Only instances that just failed are left: the same one, after a pause.
                await asyncio.sleep(service.retry_interval)
                addresses = await service.candidates(
                    self._resolver, app_id, self._namespace, self._failed
                )
        except MechaError as error:
            self._task = None
            self._end(error)
            return
        except Exception as error:
            self._task = None
            log.exception("resolving %s failed", app_id)
            self._end(_resolution_failed(app_id, ResolverUnavailable(repr(error))))
            return
        self._task = None
        if self._done is not None:
            self._send(addresses)

    def _end(self, outcome: InvokeResponse | MechaError) -> None:
        done, self._done = self._done, None
        if done is not None:
            done(outcome)


def _fresh(addresses: list[Address], app_id: str, avoid: frozenset[Address]) -> list[Address]:
    """The addresses not in `avoid`, or all of them when every one is; never empty."""
    if not addresses:
        raise _not_found(app_id)
    if not avoid:
        return addresses
    return [a for a in addresses if a not in avoid] or addresses


def _translated(target: str, done: Done, outcome: InvokeResponse | InvocationError) -> None:
    done(_translated_outcome(target, outcome))


def _translated_outcome(
    target: str, outcome: InvokeResponse | InvocationError
) -> InvokeResponse | MechaError:
    return _app_error(target, outcome) if isinstance(outcome, InvocationError) else outcome


def _resolution_failed(app_id: str, error: ResolverUnavailable) -> MechaError:
    return MechaError(
        ErrorCode.DIRECT_INVOKE,
        f"failed to invoke, id: {app_id}, err: name resolution failed: {error}",
    )


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
