"""Fixtures: the test apps on free ports, and a port nothing listens on.

Every async test here runs twice: on asyncio's default loop and on uvloop, which the runtime uses.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

import pytest
import uvloop

from mecha.blocks.invocation.models import CallContext, Header, text_of
from mecha.channel.health import AppHealth

from .apps import GrpcApp, HttpApp


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


# The longest a test waits for something that should happen well within it.
WAIT = 10.0


async def settled(health: AppHealth, healthy: bool) -> None:
    """Waits until `health` reports `healthy`, failing the test rather than hanging."""
    async with asyncio.timeout(WAIT):
        await health.wait(healthy=healthy)


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def texts(headers: Sequence[Header]) -> list[tuple[str, str]]:
    """Headers with every value as text, to compare with what a test expects."""
    return [(name, text_of(value)) for name, value in headers]


def call_context(timeout: float | None = 5.0, tracestate: str = "") -> CallContext:
    return CallContext(
        caller_app_id="caller",
        callee_app_id="callee",
        traceparent=TRACEPARENT,
        tracestate=tracestate,
        timeout=timeout,
    )


@pytest.fixture
async def http_app() -> AsyncIterator[HttpApp]:
    app = HttpApp()
    await app.start()
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
async def grpc_app() -> AsyncIterator[GrpcApp]:
    app = GrpcApp()
    await app.start()
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
def closed_port() -> int:
    """A port that was free a moment ago: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
