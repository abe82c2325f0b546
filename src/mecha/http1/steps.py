"""An async handler's pending answer, run in a task of its own.

Handlers run inside a task from their first line: code under them (`asyncio.timeout`,
driver libraries) relies on `asyncio.current_task()`, so stepping a coroutine outside a task
to save the task's cost is not safe.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from mecha.http1.message import Response


class Pending:
    """The awaitable a handler returned, and whether its task has accounted for it."""

    __slots__ = ("awaitable", "settled")

    def __init__(self, awaitable: Awaitable[Any]) -> None:
        self.awaitable = awaitable
        self.settled = False

    def close(self) -> None:
        """Run the handler's finally blocks now, not at garbage collection."""
        close = getattr(self.awaitable, "close", None)
        if close is not None:
            close()


def checked(result: object) -> Response:
    if not isinstance(result, Response):
        raise TypeError(f"handler returned {type(result).__name__}, not a Response")
    return result
