"""ResolveCache: reuse within the TTL, one lookup per name at a time, invalidation that wins
over a lookup already under way. Time is a counter the tests move."""

from __future__ import annotations

import asyncio

import pytest

from mecha.blocks.nameresolution.models import Address
from mecha.components.nameresolution._cache import ResolveCache

KEY = ("", "orders")
ONE = Address("10.0.0.1", 50002, 50001)
TWO = Address("10.0.0.2", 50002, 50001)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Backend:
    """Answers lookups with `answer`; `gate`, when set, holds each lookup until opened."""

    def __init__(self, answer: list[Address]) -> None:
        self.answer = answer
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()
        self.failure: Exception | None = None

    async def load(self) -> list[Address]:
        self.calls += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        return list(self.answer)


async def test_answers_are_reused_until_the_ttl_passes() -> None:
    clock, backend = Clock(), Backend([ONE])
    cache = ResolveCache(1.0, clock)

    assert await cache.get(KEY, backend.load) == [ONE]
    backend.answer = [TWO]
    clock.now += 0.9
    assert await cache.get(KEY, backend.load) == [ONE]
    clock.now += 0.1
    assert await cache.get(KEY, backend.load) == [TWO]
    assert backend.calls == 2


async def test_a_zero_ttl_asks_every_time() -> None:
    backend = Backend([ONE])
    cache = ResolveCache(0.0, Clock())
    for _ in range(3):
        assert await cache.get(KEY, backend.load) == [ONE]
    assert backend.calls == 3


async def test_every_caller_gets_its_own_list() -> None:
    cache = ResolveCache(1.0, Clock())
    backend = Backend([ONE])
    first = await cache.get(KEY, backend.load)
    first.append(TWO)
    assert await cache.get(KEY, backend.load) == [ONE]


async def test_concurrent_misses_share_one_lookup() -> None:
    cache, backend = ResolveCache(1.0, Clock()), Backend([ONE])
    backend.gate = asyncio.Event()

    callers = [asyncio.create_task(cache.get(KEY, backend.load)) for _ in range(5)]
    await backend.started.wait()
    backend.gate.set()

    assert await asyncio.gather(*callers) == [[ONE]] * 5
    assert backend.calls == 1


async def test_a_caller_giving_up_does_not_cancel_the_lookup_for_others() -> None:
    cache, backend = ResolveCache(1.0, Clock()), Backend([ONE])
    backend.gate = asyncio.Event()
    impatient = asyncio.create_task(cache.get(KEY, backend.load))
    patient = asyncio.create_task(cache.get(KEY, backend.load))
    await backend.started.wait()

    impatient.cancel()
    backend.gate.set()

    assert await patient == [ONE]
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_invalidate_during_a_lookup_keeps_its_answer_out_of_the_cache() -> None:
    cache, backend = ResolveCache(60.0, Clock()), Backend([ONE])
    backend.gate = asyncio.Event()
    before = asyncio.create_task(cache.get(KEY, backend.load))
    await backend.started.wait()

    cache.invalidate(KEY)  # e.g. the resolver registered an instance meanwhile
    backend.gate.set()
    assert await before == [ONE]

    backend.gate = None
    backend.answer = [ONE, TWO]
    assert await cache.get(KEY, backend.load) == [ONE, TWO]
    assert backend.calls == 2


async def test_failures_reach_every_waiter_and_are_not_cached() -> None:
    cache, backend = ResolveCache(60.0, Clock()), Backend([ONE])
    backend.gate = asyncio.Event()
    backend.failure = ConnectionError("down")
    callers = [asyncio.create_task(cache.get(KEY, backend.load)) for _ in range(2)]
    await backend.started.wait()
    backend.gate.set()

    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)

    backend.failure = None
    assert await cache.get(KEY, backend.load) == [ONE]


async def test_names_are_cached_apart() -> None:
    cache = ResolveCache(60.0, Clock())
    assert await cache.get(("", "a"), Backend([ONE]).load) == [ONE]
    assert await cache.get(("", "b"), Backend([TWO]).load) == [TWO]
    assert await cache.get(("other", "a"), Backend([TWO]).load) == [TWO]
    assert await cache.get(("", "a"), Backend([TWO]).load) == [ONE]
