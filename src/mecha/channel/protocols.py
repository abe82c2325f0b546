"""What an app channel does, whatever the app's protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from mecha.blocks.invocation.errors import InvocationError
from mecha.blocks.invocation.models import CallContext, InvokeRequest, InvokeResponse
from mecha.callbacks import Cancel, awaited

ChannelDone = Callable[[InvokeResponse | InvocationError], None]
"""Hears how a call into the app ended: the app's answer, or why there is none."""


class AppChannel(Protocol):
    def call(self, request: InvokeRequest, context: CallContext, done: ChannelDone) -> Cancel:
        """Calls the app's method; `done` hears the app's answer, its own non-2xx answers
        included, or the error that left it without one (maybe before `call` returns):

        AppUnreachable (not delivered: connection refused/reset before a byte of answer),
        AppTimeout (no answer within context.timeout), AppUnhealthy (health checks failing),
        InvocationError (delivered, perhaps processed, but no usable answer).
        """
        ...

    async def probe(self, timeout: float) -> bool:
        """One health probe: HTTP GET on the health path, or gRPC AppCallbackHealthCheck."""
        ...

    async def close(self) -> None: ...


async def invoke(
    channel: AppChannel, request: InvokeRequest, context: CallContext
) -> InvokeResponse:
    """One call through `channel`, awaited: returns the app's answer, raises the error."""
    outcome: InvokeResponse | InvocationError = await awaited(
        lambda done: channel.call(request, context, done)
    )
    if isinstance(outcome, InvocationError):
        raise outcome
    return outcome
