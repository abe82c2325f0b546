"""What a name resolution component implements (`nameresolution.*`).

The runtime creates one resolver, chosen by the Configuration's `spec.nameResolution` (the
same-host registry when none is named), registers each app it hosts once its listeners are up,
and unregisters them when it stops. Resolving returns every live instance of an app id; the
caller picks one (round-robin) and tries another when one cannot be reached.
"""

from __future__ import annotations

from typing import Protocol

from mecha.blocks.nameresolution.models import Address, Instance
from mecha.components.base import Component


class NameResolver(Component, Protocol):
    async def register(self, instance: Instance) -> None:
        """Announce an instance; keeps it alive (lease, heartbeat) until unregister or close."""
        ...

    async def unregister(self, instance: Instance) -> None: ...

    async def resolve(self, app_id: str, namespace: str) -> list[Address]:
        """Live instances of the app; an empty list when there is none (never raises for that).

        Raises ResolverUnavailable when the backing service cannot be asked.
        """
        ...

    def resolve_now(self, app_id: str, namespace: str) -> list[Address] | None:
        """What `resolve` would return, when it is known without waiting (from memory, or a
        glance at the local disk); None when only `resolve` can tell. Every invocation asks
        this first, so it must cost next to nothing."""
        ...
