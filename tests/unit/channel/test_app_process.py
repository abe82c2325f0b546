"""The app as a real process that dies and comes back: calls in flight fail at once, health
turns unhealthy and calls fail fast, and all is well again once the app is back."""

from __future__ import annotations

import asyncio
import os
import subprocess
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
    """A test app (see apps.py) in a process of its own.

    Started with subprocess.Popen, not the loop's subprocess support: uvloop's fork runs
    Python's after-fork hooks in the child, which can spin there for good when the test
    process has many threads (MagicStack/uvloop#749, python/cpython#112788).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._output: asyncio.StreamReader | None = None
        self._pipe: asyncio.BaseTransport | None = None

    async def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(UNIT_TESTS))
        argv = [sys.executable, "-m", "channel.apps", self.kind, str(self.port)]
        # Popen on purpose (see the docstring); it returns as soon as the child has exec-ed.
        self._process = process = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)  # noqa: ASYNC220
        assert process.stdout is not None
        self._output = output = asyncio.StreamReader()
        self._pipe, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(output), process.stdout
        )
        self.port = int(await self._line())

    async def wait_entered(self, number: int) -> None:
        assert await self._line() == f"entered {number}"

    async def kill(self) -> None:
        process, self._process = self._process, None
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            pipe.close()
        if process is not None:
            process.kill()
            process.wait()  # at once: SIGKILL cannot be caught

    async def _line(self) -> str:
        assert self._output is not None
        async with asyncio.timeout(START_TIMEOUT):
            line = await self._output.readline()
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
