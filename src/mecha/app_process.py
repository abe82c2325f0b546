"""The app that `mecha run ... -- cmd` starts beside the runtime, as `dapr run` does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import IO, BinaryIO

log = logging.getLogger("mecha.app")

PREFIX = b"== APP == "


class AppProcess:
    """The app's process, its output shown line by line with a prefix, its exit awaited.

    Started with subprocess.Popen, which forks and execs in C, rather than the event loop's
    subprocess support: uvloop's fork runs Python's after-fork hooks in the child, which can
    spin there and never exec when the runtime has threads (MagicStack/uvloop#749,
    python/cpython#112788). The exit is watched through a pidfd on the loop.
    """

    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        self._command = list(command)
        self._env = dict(env)
        self._process: subprocess.Popen[bytes] | None = None
        self._exited: asyncio.Future[int] | None = None
        self._pumps: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            # A session of its own, so stopping it reaches every process it started.
            process = subprocess.Popen(  # noqa: ASYNC220 - returns once the child has exec-ed
                self._command,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            raise AppStartError(
                f"cannot start app {self._command[0]!r}: {error.strerror}"
            ) from None
        self._process = process
        self._exited = loop.create_future()
        pidfd = os.pidfd_open(process.pid)
        loop.add_reader(pidfd, self._on_exit, loop, pidfd)
        assert process.stdout is not None and process.stderr is not None
        self._pumps = [
            asyncio.create_task(_pump(await _reader(loop, process.stdout), sys.stdout.buffer)),
            asyncio.create_task(_pump(await _reader(loop, process.stderr), sys.stderr.buffer)),
        ]
        log.info("app started: %s (pid %d)", " ".join(self._command), process.pid)

    def _on_exit(self, loop: asyncio.AbstractEventLoop, pidfd: int) -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        assert self._process is not None and self._exited is not None
        code = self._process.wait()  # at once: the pidfd said it has exited
        if not self._exited.done():
            self._exited.set_result(code)

    async def wait(self) -> int:
        assert self._exited is not None
        code = await asyncio.shield(self._exited)
        await asyncio.gather(*self._pumps, return_exceptions=True)
        return code

    async def stop(self, grace: float) -> int | None:
        """SIGTERM the app's process group, then SIGKILL what is left after `grace` seconds."""
        exited = self._exited
        if exited is None:
            return None
        if not exited.done():
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(exited), grace)
            except TimeoutError:
                log.warning("app did not stop within %.1fs; killing it", grace)
                self._signal(signal.SIGKILL)
                await asyncio.shield(exited)
        await asyncio.gather(*self._pumps, return_exceptions=True)
        return exited.result()

    def _signal(self, sig: signal.Signals) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)


class AppStartError(Exception):
    pass


async def _reader(loop: asyncio.AbstractEventLoop, pipe: IO[bytes]) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return reader


async def _pump(source: asyncio.StreamReader, sink: BinaryIO) -> None:
    while True:
        line = await source.readline()
        if not line:
            return
        if not line.endswith(b"\n"):
            line += b"\n"
        sink.write(PREFIX + line)
        sink.flush()
