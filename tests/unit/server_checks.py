"""What the tests of Mecha's own servers (http1, http2) share: both event loops, and failing a
test on any error its server logged that the test did not expect."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
import uvloop

from mecha.listening import Listeners

THREAD_TIMEOUT = 10.0


def both_loops(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The `pytest_asyncio_loop_factories` hook: every async test runs on asyncio and uvloop."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


def _late_grpc_completion(record: logging.LogRecord) -> bool:
    """grpc.aio (the tests' client) delivering a cancelled call's last event to the closed loop
    of the test before: the client's own race between tests, nothing a server did."""
    error = record.exc_info[1] if record.exc_info else None
    return (
        isinstance(error, RuntimeError)
        and str(error) == "Event loop is closed"
        and "PollerCompletionQueue._handle_events" in record.getMessage()
    )


class LoggedErrors(logging.Handler):
    """ERROR records from the server and from asyncio; a test fails on any it did not expect."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.expected = False

    def emit(self, record: logging.LogRecord) -> None:
        if not _late_grpc_completion(record):
            self.records.append(record)

    def expect(self) -> list[logging.LogRecord]:
        """Marks errors as expected by this test; returns the live list of records."""
        self.expected = True
        return self.records


def errors_logged_by(server_logger: str) -> Any:
    """An autouse `logged_errors` fixture watching `server_logger` and asyncio's logger."""

    @pytest.fixture(autouse=True)
    def logged_errors() -> Iterator[LoggedErrors]:
        handler = LoggedErrors()
        loggers = [logging.getLogger(server_logger), logging.getLogger("asyncio")]
        for logger in loggers:
            logger.addHandler(handler)
        try:
            yield handler
        finally:
            for logger in loggers:
                logger.removeHandler(handler)
        if not handler.expected:
            messages = [record.getMessage() for record in handler.records]
            assert not messages, f"unexpected errors logged: {messages}"

    return logged_errors


@contextmanager
def served_in_a_thread(server: Listeners, loop: asyncio.AbstractEventLoop) -> Iterator[int]:
    """The server listening on 127.0.0.1 with `loop` running in a thread of its own, so that a
    test can talk to it with blocking sockets; the bound port."""
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    run = asyncio.run_coroutine_threadsafe
    bound = run(server.listen("127.0.0.1", 0), loop).result(THREAD_TIMEOUT)
    try:
        yield bound
    finally:
        run(server.close(grace=1.0), loop).result(THREAD_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(THREAD_TIMEOUT)
        loop.close()
