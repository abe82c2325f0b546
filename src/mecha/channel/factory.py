"""Builds an app's channel from its settings: the protocol's channel, a bound on calls in flight
(--app-max-concurrency) and fail-fast health checks (--enable-app-health-check).

Protocols: http, https (HTTP/1.1 over TLS), h2c (HTTP/2 cleartext), grpc and grpcs (gRPC over
TLS). As the app is local, https does not verify the app's certificate. gRPC's TLS cannot skip
verification: grpcs trusts the system's roots, plus the CA certificates in the PEM file named by
APP_TLS_CA_FILE (a self-signed app certificate can be named there itself); the certificate must
name the app's address (--app-channel-address, 127.0.0.1 by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mecha.blocks.invocation.errors import AppTimeout, InvocationError
from mecha.blocks.invocation.models import CallContext, InvokeRequest, InvokeResponse
from mecha.callbacks import Cancel
from mecha.channel.health import AppHealth, HealthCheckedChannel, HealthSettings
from mecha.channel.http import HttpAppChannel
from mecha.channel.protocols import AppChannel, ChannelDone

if TYPE_CHECKING:
    from mecha.config import RuntimeConfig
    from mecha.http1 import HttpClient

# The gRPC envelope around a body (method, type URL, metadata) needs room beyond the body limit.
_GRPC_ENVELOPE_BYTES = 64 << 10
# A PEM file of CA certificates that grpcs trusts besides the system's roots.
APP_TLS_CA_FILE_ENV = "APP_TLS_CA_FILE"


class UnsupportedAppProtocol(ValueError):
    """The app's protocol is one this runtime cannot speak to yet."""


@dataclass(frozen=True, slots=True)
class AppChannelSettings:
    """How to reach one app: what `mecha run` was told about it."""

    port: int
    protocol: str = "http"
    address: str = "127.0.0.1"
    app_api_token: str | None = None
    # At most this many calls in flight into the app; <= 0 for no limit.
    max_concurrency: int = -1
    # None: no health checks.
    health: HealthSettings | None = None
    # Largest request or response body; sizes the gRPC channel's message limit.
    max_body_bytes: int = 4 << 20
    # grpcs: a PEM file of CA certificates to trust besides the system's roots.
    tls_ca_file: str | None = None

    @classmethod
    def from_config(cls, config: RuntimeConfig) -> AppChannelSettings:
        if config.app_port is None:
            raise ValueError("the app has no port")
        health = None
        if config.app_health_check:
            health = HealthSettings(
                path=config.app_health_check_path,
                interval=config.app_health_probe_interval,
                timeout=config.app_health_probe_timeout,
                threshold=config.app_health_threshold,
            )
        return cls(
            port=config.app_port,
            protocol=config.app_protocol,
            address=config.app_channel_address,
            app_api_token=config.app_api_token,
            max_concurrency=config.app_max_concurrency,
            health=health,
            max_body_bytes=config.max_body_bytes,
            tls_ca_file=os.environ.get(APP_TLS_CA_FILE_ENV) or None,
        )


@dataclass(frozen=True, slots=True)
class BuiltChannel:
    """The channel to call the app through, and its health when it is checked.

    Closing `channel` also stops the health probes.
    """

    channel: AppChannel
    health: AppHealth | None


def build_app_channel(
    settings: AppChannelSettings, *, http_client: HttpClient | None = None
) -> BuiltChannel:
    """The app's channel, with health probes started when they are enabled.

    Call from within the running loop. `http_client` is shared when given (the channel does
    not close it); otherwise an HTTP channel makes and owns its own.
    """
    channel: AppChannel
    protocol = settings.protocol
    if protocol == "http":
        channel = _http_channel(settings, http_client, owns_client=http_client is None)
    elif protocol == "https":
        channel = _http_channel(settings, _https_client(), owns_client=True)
    elif protocol == "h2c":
        from mecha.channel.h2c import H2cAppChannel

        channel = H2cAppChannel(
            settings.address,
            settings.port,
            app_api_token=settings.app_api_token,
            health_check_path=settings.health.path if settings.health else "/healthz",
        )
    elif protocol in ("grpc", "grpcs"):
        # grpcio (~10 MB resident) is loaded only for an app that speaks gRPC.
        import grpc

        from mecha.channel.grpc import GrpcAppChannel

        credentials = None
        if protocol == "grpcs":
            credentials = grpc.ssl_channel_credentials(_trusted_roots(settings.tls_ca_file))
        channel = GrpcAppChannel(
            f"{_host_for_target(settings.address)}:{settings.port}",
            app_api_token=settings.app_api_token,
            max_message_bytes=settings.max_body_bytes + _GRPC_ENVELOPE_BYTES,
            credentials=credentials,
        )
    else:
        raise UnsupportedAppProtocol(
            f"app protocol {protocol!r} is not supported; use http, https, h2c, grpc or grpcs"
        )
    if settings.max_concurrency > 0:
        channel = ConcurrencyLimitedChannel(channel, settings.max_concurrency)
    if settings.health is None:
        return BuiltChannel(channel, None)
    health = AppHealth(channel.probe, settings.health)
    health.start()
    return BuiltChannel(HealthCheckedChannel(channel, health), health)


def _http_channel(
    settings: AppChannelSettings, client: HttpClient | None, *, owns_client: bool
) -> HttpAppChannel:
    if client is None:
        from mecha.http1 import HttpClient

        client = HttpClient()
    return HttpAppChannel(
        client,
        settings.address,
        settings.port,
        app_api_token=settings.app_api_token,
        health_check_path=settings.health.path if settings.health else "/healthz",
        owns_client=owns_client,
    )


def _https_client() -> HttpClient:
    """A client for an app's HTTPS: encrypted, but with the app's certificate taken on trust."""
    from mecha.http1 import HttpClient

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return HttpClient(ssl=context)


def _trusted_roots(ca_file: str | None) -> bytes | None:
    """The PEM roots for grpcs: None for gRPC's default roots, or those of `ca_file` with the
    system's bundle (when it has one as a file)."""
    if ca_file is None:
        return None
    roots = Path(ca_file).read_bytes()
    system_bundle = ssl.get_default_verify_paths().cafile
    if system_bundle and Path(system_bundle).is_file():
        roots += b"\n" + Path(system_bundle).read_bytes()
    return roots


def _host_for_target(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


class ConcurrencyLimitedChannel:
    """At most `limit` calls in flight through `channel`; the others wait their turn (FIFO).

    Time spent waiting counts against the call's timeout. Health probes are not limited.
    """

    def __init__(self, channel: AppChannel, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._channel = channel
        self.limit = limit
        self._in_flight = 0
        self._waiting: deque[_Turn] = deque()

    def call(self, request: InvokeRequest, context: CallContext, done: ChannelDone) -> Cancel:
        turn = _Turn(self, request, context, done)
        if self._in_flight < self.limit:
            self._in_flight += 1
            turn.run(context)
        else:
            turn.wait()
        return turn.cancel

    async def probe(self, timeout: float) -> bool:
        return await self._channel.probe(timeout)

    async def close(self) -> None:
        await self._channel.close()

    def start(self, request: InvokeRequest, context: CallContext, done: ChannelDone) -> Cancel:
        return self._channel.call(request, context, done)

    def release(self) -> None:
        """A call ended: its slot passes to the first caller waiting, or is free again."""
        while self._waiting:
            if self._waiting.popleft().admit():
                return
        self._in_flight -= 1

    def enqueue(self, turn: _Turn) -> None:
        self._waiting.append(turn)

    def dequeue(self, turn: _Turn) -> None:
        with contextlib.suppress(ValueError):
            self._waiting.remove(turn)


_WAITING, _RUNNING, _ENDED = range(3)


class _Turn:
    """One call through a ConcurrencyLimitedChannel: waiting for a slot, then in flight."""

    __slots__ = (
        "_cancel",
        "_context",
        "_deadline",
        "_done",
        "_gate",
        "_request",
        "_state",
        "_timer",
    )

    def __init__(
        self,
        gate: ConcurrencyLimitedChannel,
        request: InvokeRequest,
        context: CallContext,
        done: ChannelDone,
    ) -> None:
        self._gate = gate
        self._request = request
        self._context = context
        self._done = done
        self._state = _WAITING
        self._cancel: Cancel | None = None
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def run(self, context: CallContext) -> None:
        self._state = _RUNNING
        cancel = self._gate.start(self._request, context, self._finished)
        if self._state == _RUNNING:
            self._cancel = cancel

    def wait(self) -> None:
        self._gate.enqueue(self)
        timeout = self._context.timeout
        if timeout is not None:
            loop = asyncio.get_running_loop()
            self._deadline = loop.time() + timeout
            self._timer = loop.call_at(self._deadline, self._expire)

    def admit(self) -> bool:
        """Takes the slot a call gave up; False when this turn no longer waits for one."""
        if self._state != _WAITING:
            return False
        context = self._context
        if self._timer is not None and self._deadline is not None:
            self._timer.cancel()
            remaining = max(self._deadline - asyncio.get_running_loop().time(), 0.0)
            context = context.with_timeout(remaining)
        self.run(context)
        return True

    def cancel(self) -> None:
        state, self._state = self._state, _ENDED
        if state == _WAITING:
            self._gate.dequeue(self)
            if self._timer is not None:
                self._timer.cancel()
        elif state == _RUNNING:
            cancel, self._cancel = self._cancel, None
            if cancel is not None:
                cancel()
            self._gate.release()

    def _finished(self, outcome: InvokeResponse | InvocationError) -> None:
        if self._state != _RUNNING:
            return
        self._state = _ENDED
        self._cancel = None
        self._gate.release()
        self._done(outcome)

    def _expire(self) -> None:
        if self._state != _WAITING:
            return
        self._state = _ENDED
        self._gate.dequeue(self)
        self._done(
            AppTimeout(
                f"no free slot to call the app within {self._context.timeout}s "
                f"(--app-max-concurrency {self._gate.limit})"
            )
        )
