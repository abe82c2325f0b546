"""Callback-style calls, and their awaited and task-run forms.

The invocation path is written as calls that report their one outcome (a result, or the error
that ended them) to a callback and return a `Cancel`: answered from inside protocol callbacks,
they cost no task and no extra turn of the event loop. `awaited` turns such a call into a
coroutine for the code that wants one; `run_in_task` turns a coroutine into such a call, for
the parts that are naturally coroutines (gRPC apps, slow paths).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, Final, TypeVar

log: Final = logging.getLogger("mecha.callbacks")

T = TypeVar("T")
E = TypeVar("E", bound=Exception)

Cancel = Callable[[], None]
"""Stops a call in progress; its outcome is then never reported."""


def nothing_to_cancel() -> None:
    """The Cancel of a call that has ended already."""


async def awaited(start: Callable[[Callable[[T], None]], Cancel]) -> T:
    """Starts a callback-style call and waits for its outcome; cancelling the wait cancels it."""
    outcome: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    cancel = start(partial(_fulfil, outcome))
    try:
        return await outcome
    except BaseException:
        cancel()
        raise


def run_in_task(
    coroutine: Coroutine[Any, Any, T],
    done: Callable[[T | E], None],
    errors: type[E],
) -> Cancel:
    """Runs `coroutine` in a task; `done` gets its result, or the `errors` it raised. Any other
    exception is a fault: logged, and reported as an `errors` with its description."""
    task = asyncio.get_running_loop().create_task(coroutine)
    task.add_done_callback(partial(_report, done, errors))

    def cancel() -> None:
        task.cancel()

    return cancel


def _fulfil(outcome: asyncio.Future[T], value: T) -> None:
    if not outcome.done():
        outcome.set_result(value)


def _report(done: Callable[[T | E], None], errors: type[E], task: asyncio.Task[T]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is None:
        done(task.result())
    elif isinstance(error, errors):
        done(error)
    else:
        log.error("call failed", exc_info=error)
        done(errors(f"internal error: {error!r}"))
