"""Running a handler's awaitable without a task until it really has to wait."""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeAlias

from mecha.http1.message import Response

Steps: TypeAlias = Coroutine[Any, Any, Any] | Generator[Any, Any, Any]


class Suspended:
    """A handler's awaitable that yielded on its first step: `resume(steps, yielded)` goes on."""

    __slots__ = ("steps", "yielded")

    def __init__(self, steps: Steps, yielded: Any) -> None:
        self.steps = steps
        self.yielded = yielded


def checked(result: object) -> Response:
    if not isinstance(result, Response):
        raise TypeError(f"handler returned {type(result).__name__}, not a Response")
    return result


def first_step(result: object) -> Response | Suspended:
    """Steps an awaitable once: its Response if it finished, else what it waits on."""
    steps: Steps
    if type(result) is types.CoroutineType:
        steps = result
    else:
        await_ = getattr(result, "__await__", None)
        if await_ is None:
            raise TypeError(f"handler returned {type(result).__name__}, not a Response")
        steps = await_()
    try:
        yielded = steps.send(None)
    except StopIteration as done:
        return checked(done.value)
    return Suspended(steps, yielded)


@types.coroutine
def resume(suspended: Suspended) -> Generator[Any, Any, Any]:
    """Carries on an awaitable stepped once outside any task, exactly as `await` would.

    The first step's yield (the future it waits on) is handed to the running task, then
    every later step, value and exception (cancellation included) is relayed.
    """
    steps = suspended.steps
    yielded = suspended.yielded
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            steps.close()
            raise
        except BaseException as exc:
            try:
                yielded = steps.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                yielded = steps.send(sent)
            except StopIteration as done:
                return done.value
