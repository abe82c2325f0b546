"""The app as a real process that dies and comes back: calls in flight fail at once, health
turns unhealthy and calls fail fast, and all is well again once the app is back."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mecha.blocks.invocation.errors import AppTimeout, AppUnhealthy, InvocationError
from mecha.blocks.invocation.models import InvokeRequest
from mecha.channel.factory import AppChannelSettings, build_app_channel
from mecha.channel.health import HealthSettings
from mecha.channel.protocols import invoke

from .conftest import call_context, settled

UNIT_TESTS = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0


class AppProcess:
    """A test app (see apps.py) in a process of its own."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = 0
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(UNIT_TESTS))
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "channel.apps",
            self.kind,
            str(self.port),
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        self.port = int(await self._line())

    async def wait_entered(self, number: int) -> None:
        assert await self._line() == f"entered {number}"

    async def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()

    async def _line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        async with asyncio.timeout(START_TIMEOUT):
            line = await self._process.stdout.readline()
        assert line, "the app process ended"
        return line.decode().strip()


@pytest.fixture(params=["http", "grpc"])
async def app(request: pytest.FixtureRequest) -> AsyncIterator[AppProcess]:
    app = AppProcess(request.param)
    await app.start()
    try:
        yield app
    finally:
        await app.kill()


async def test_app_dies_and_comes_back(app: AppProcess) -> None:
    health_settings = HealthSettings(interval=0.1, timeout=0.1, threshold=3)
    settings = AppChannelSettings(port=app.port, protocol=app.kind, health=health_settings)
    built = build_app_channel(settings)
    assert built.health is not None
    channel = built.channel
    try:
        await settled(built.health, True)
        held = asyncio.create_task(
            invoke(channel, InvokeRequest(method="held/0"), call_context(timeout=60.0))
        )
        await app.wait_entered(0)
        await app.kill()
        # The call in flight fails as soon as the connection drops, not at its timeout.
        async with asyncio.timeout(START_TIMEOUT):
            with pytest.raises(InvocationError) as caught:
                await held
        assert not isinstance(caught.value, AppTimeout)

        await settled(built.health, False)
        with pytest.raises(AppUnhealthy):
            await invoke(channel, InvokeRequest(method="m"), call_context())

        await app.start()
        await settled(built.health, True)
        reply = await invoke(channel, InvokeRequest(method="m", body=b"back"), call_context())
        assert reply.body == b"back"
    finally:
        await channel.close()
