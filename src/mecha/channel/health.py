"""App health: probe the app on an interval, and fail calls to it fast while it is unhealthy.

The app starts unhealthy and is probed at once: it becomes healthy on its first successful probe,
unhealthy after `threshold` consecutive failed probes, and healthy again after one success.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mecha.blocks.invocation.errors import AppUnhealthy
from mecha.blocks.invocation.models import CallContext, InvokeRequest
from mecha.callbacks import Cancel, nothing_to_cancel
from mecha.channel.protocols import AppChannel, ChannelDone

log = logging.getLogger("mecha.channel.health")

Probe = Callable[[float], Awaitable[bool]]
"""One health probe with a timeout in seconds: True when the app answered healthy."""

HealthListener = Callable[[bool], None]
"""Told the new state on every transition between healthy and unhealthy."""


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """--app-health-check-path, --app-health-probe-interval (s), -timeout (ms), -threshold."""

    path: str = "/healthz"
    interval: float = 5.0
    # Seconds (the flag is in milliseconds).
    timeout: float = 0.5
    threshold: int = 3

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError("app health probe interval must be > 0")
        if self.timeout <= 0:
            raise ValueError("app health probe timeout must be > 0")
        if self.timeout > self.interval:
            raise ValueError("app health probe timeout must not be longer than the interval")
        if self.threshold < 1:
            raise ValueError("app health threshold must be >= 1")


class AppHealth:
    """Runs `probe` every `settings.interval` seconds in a background task; see the module doc."""

    def __init__(self, probe: Probe, settings: HealthSettings) -> None:
        self._probe = probe
        self._settings = settings
        self._healthy = False
        self._failures = 0
        self._reason = "not probed yet"
        self._listeners: list[HealthListener] = []
        self._healthy_event = asyncio.Event()
        self._unhealthy_event = asyncio.Event()
        self._unhealthy_event.set()
        self._probe_soon = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def reason(self) -> str:
        """Why the app is unhealthy ("" while healthy)."""
        return "" if self._healthy else self._reason

    @property
    def settings(self) -> HealthSettings:
        return self._settings

    def add_listener(self, listener: HealthListener) -> None:
        self._listeners.append(listener)

    async def wait(self, healthy: bool) -> None:
        """Returns once the app's state is `healthy` (at once if it already is)."""
        await (self._healthy_event if healthy else self._unhealthy_event).wait()

    def start(self) -> None:
        """Starts probing: the first probe runs at once. Call from within the running loop."""
        if self._closed:
            raise RuntimeError("app health is closed")
        if self._task is None:
            log.info(
                "app health probes starting (every %ss, timeout %ss, threshold %d)",
                self._settings.interval,
                self._settings.timeout,
                self._settings.threshold,
            )
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="mecha-app-health"
            )

    def probe_soon(self) -> None:
        """Asks for a probe now rather than at the next interval (requests coalesce)."""
        self._probe_soon.set()

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.info("app health probes stopped")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self._settings.interval
        while True:
            next_probe = loop.time() + interval
            self._probe_soon.clear()
            self._record(*await self._probe_once())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_probe):
                    await self._probe_soon.wait()

    async def _probe_once(self) -> tuple[bool, str]:
        timeout = self._settings.timeout
        try:
            # The probe has its own timeout; this one also bounds a probe that ignores it.
            async with asyncio.timeout(timeout):
                healthy = await self._probe(timeout)
        except TimeoutError:
            return False, f"health probe timed out after {timeout}s"
        except Exception as error:
            log.warning("app health probe failed with an error: %r", error)
            return False, f"health probe error: {error!r}"
        return healthy, "" if healthy else "health probe failed"

    def _record(self, healthy: bool, reason: str) -> None:
        if healthy:
            self._failures = 0
            if not self._healthy:
                log.info("app entered healthy status")
                self._set_state(True)
            return
        self._failures += 1
        self._reason = f"{reason} ({self._failures} consecutive failures)"
        log.debug("app health probe failed: %s", self._reason)
        # From the start the app is unhealthy already, so only a healthy app can cross over.
        if self._healthy and self._failures >= self._settings.threshold:
            log.warning("app entered unhealthy status: %s", self._reason)
            self._set_state(False)

    def _set_state(self, healthy: bool) -> None:
        self._healthy = healthy
        (self._healthy_event if healthy else self._unhealthy_event).set()
        (self._unhealthy_event if healthy else self._healthy_event).clear()
        for listener in list(self._listeners):
            try:
                listener(healthy)
            except Exception:
                log.exception("app health listener failed")


class HealthCheckedChannel:
    """An AppChannel whose calls fail fast with AppUnhealthy while its app is unhealthy.

    Closing it stops the health probes and closes the channel it wraps.
    """

    def __init__(self, channel: AppChannel, health: AppHealth) -> None:
        self._channel = channel
        self.health = health

    @property
    def inner(self) -> AppChannel:
        return self._channel

    def call(self, request: InvokeRequest, context: CallContext, done: ChannelDone) -> Cancel:
        if not self.health.healthy:
            done(AppUnhealthy(f"app {context.callee_app_id!r} is unhealthy: {self.health.reason}"))
            return nothing_to_cancel
        return self._channel.call(request, context, done)

    async def probe(self, timeout: float) -> bool:
        return await self._channel.probe(timeout)

    async def close(self) -> None:
        await self.health.close()
        await self._channel.close()
