"""Resolved addresses kept briefly, so resolving stays off the network on the invocation path.

One lookup per name at a time: callers that miss while a lookup is under way wait for it rather
than starting their own. A lookup that started before `invalidate` does not fill the cache, so a
resolver's own register/unregister is visible to its next resolve at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from mecha.blocks.nameresolution.models import Address

Key = tuple[str, str]  # (namespace, app id)
Loader = Callable[[], Awaitable[list[Address]]]

# Past this many names, expired ones are dropped when a new one is stored.
_PURGE_ABOVE = 1024


class ResolveCache:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[Key, tuple[float, list[Address]]] = {}
        self._pending: dict[Key, asyncio.Task[list[Address]]] = {}
        self._generations: dict[Key, int] = {}

    async def get(self, key: Key, load: Loader) -> list[Address]:
        if self.ttl <= 0:
            return await load()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return list(entry[1])
        pending = self._pending.get(key)
        if pending is None:
            generation = self._generations.get(key, 0)
            pending = asyncio.get_running_loop().create_task(self._load(key, load, generation))
            pending.add_done_callback(_consume_exception)
            self._pending[key] = pending
        # Shielded: a caller that gives up does not cancel the lookup others wait for.
        return list(await asyncio.shield(pending))

    def peek(self, key: Key) -> list[Address] | None:
        """The cached addresses while they are fresh; None otherwise."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return list(entry[1])
        return None

    def invalidate(self, key: Key) -> None:
        self._generations[key] = self._generations.get(key, 0) + 1
        self._entries.pop(key, None)
        self._pending.pop(key, None)

    def close(self) -> None:
        for task in self._pending.values():
            task.cancel()
        self._pending.clear()
        self._entries.clear()

    async def _load(self, key: Key, load: Loader, generation: int) -> list[Address]:
        try:
            addresses = await load()
        finally:
            if self._pending.get(key) is asyncio.current_task():
                del self._pending[key]
        if self._generations.get(key, 0) == generation:
            self._store(key, addresses)
        return addresses

    def _store(self, key: Key, addresses: list[Address]) -> None:
        now = self._clock()
        if len(self._entries) >= _PURGE_ABOVE:
            for stale in [k for k, (expires, _) in self._entries.items() if expires <= now]:
                del self._entries[stale]
        self._entries[key] = (now + self.ttl, addresses)


def _consume_exception(task: asyncio.Task[list[Address]]) -> None:
    # Every waiter may have given up; the failure is theirs to see, not the loop's to log.
    if not task.cancelled():
        task.exception()
