"""The app that `mecha run ... -- cmd` starts beside the runtime, as `dapr run` does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import BinaryIO

log = logging.getLogger("mecha.app")

PREFIX = b"== APP == "


class AppProcess:
    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        self._command = list(command)
        self._env = dict(env)
        self._process: asyncio.subprocess.Process | None = None
        self._pumps: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        try:
            # A session of its own, so stopping it reaches every process it started.
            self._process = await asyncio.create_subprocess_exec(
                *self._command,
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            raise AppStartError(
                f"cannot start app {self._command[0]!r}: {error.strerror}"
            ) from None
        assert self._process.stdout is not None
        assert self._process.stderr is not None
        self._pumps = [
            asyncio.create_task(_pump(self._process.stdout, sys.stdout.buffer)),
            asyncio.create_task(_pump(self._process.stderr, sys.stderr.buffer)),
        ]
        log.info("app started: %s (pid %d)", " ".join(self._command), self._process.pid)

    async def wait(self) -> int:
        assert self._process is not None
        code = await self._process.wait()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        return code

    async def stop(self, grace: float) -> int | None:
        """SIGTERM the app's process group, then SIGKILL what is left after `grace` seconds."""
        process = self._process
        if process is None:
            return None
        if process.returncode is None:
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                log.warning("app did not stop within %.1fs; killing it", grace)
                self._signal(signal.SIGKILL)
                await process.wait()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        return process.returncode

    def _signal(self, sig: signal.Signals) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)


class AppStartError(Exception):
    pass


async def _pump(source: asyncio.StreamReader, sink: BinaryIO) -> None:
    while True:
        line = await source.readline()
        if not line:
            return
        if not line.endswith(b"\n"):
            line += b"\n"
        sink.write(PREFIX + line)
        sink.flush()
