"""Every async test here runs twice: on asyncio's default loop and on uvloop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping

import pytest
import uvloop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


class LoggedErrors(logging.Handler):
    """ERROR records from the server and from asyncio; a test fails on any it did not expect."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.expected = False

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def expect(self) -> list[logging.LogRecord]:
        """Marks errors as expected by this test; returns the live list of records."""
        self.expected = True
        return self.records


@pytest.fixture(autouse=True)
def logged_errors() -> Iterator[LoggedErrors]:
    handler = LoggedErrors()
    loggers = [logging.getLogger("mecha.http"), logging.getLogger("asyncio")]
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
