"""What an app channel does, whatever the app's protocol."""

from __future__ import annotations

from typing import Protocol

from mecha.blocks.invocation.models import CallContext, InvokeRequest, InvokeResponse


class AppChannel(Protocol):
    async def invoke(self, request: InvokeRequest, context: CallContext) -> InvokeResponse:
        """Call the app's method; the app's own non-2xx answers come back as responses.

        Raises AppUnreachable (not delivered: connection refused/reset before a byte of answer),
        AppTimeout (no answer within context.timeout), AppUnhealthy (health checks failing).
        """
        ...

    async def probe(self, timeout: float) -> bool:
        """One health probe: HTTP GET on the health path, or gRPC AppCallbackHealthCheck."""
        ...

    async def close(self) -> None: ...
