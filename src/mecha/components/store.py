"""ComponentStore: the components a runtime has loaded, by building block and name."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mecha import registry
from mecha.components.base import Component, ComponentContext
from mecha.resources import Component as ComponentSpec
from mecha.resources import ResourceError

log = logging.getLogger("mecha.components")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class ComponentInitError(Exception):
    """A component that could not start; the message names it, its source and the cause."""


@dataclass(frozen=True, slots=True)
class LoadedComponent:
    spec: ComponentSpec
    instance: Component

    @property
    def name(self) -> str:
        return self.spec.name


def _seconds(text: str, default: float) -> float:
    match = _DURATION.match(text.strip()) if text else None
    if not match:
        return default
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


class ComponentStore:
    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._by_block: dict[str, dict[str, LoadedComponent]] = {}

    async def load(self, specs: Sequence[ComponentSpec]) -> None:
        """Create and initialise components concurrently; fail on the first that cannot start."""
        results = await asyncio.gather(*(self._start(spec) for spec in specs))
        for loaded in results:
            if loaded is not None:
                self._by_block.setdefault(loaded.spec.block, {})[loaded.name] = loaded

    async def _start(self, spec: ComponentSpec) -> LoadedComponent | None:
        try:
            cls = registry.load_class(spec.type, spec.version)
            instance: Component = cls()
            context = ComponentContext(
                name=spec.name,
                type=spec.type,
                version=spec.version,
                metadata=spec.resolve_metadata(os.environ, None),
                namespace=spec.namespace,
                data_dir=self._data_dir,
            )
            timeout = _seconds(spec.init_timeout, 5.0)
            await asyncio.wait_for(instance.init(context), timeout)
        except (TimeoutError, Exception) as error:
            cause = "timed out" if isinstance(error, asyncio.TimeoutError) else str(error)
            message = (
                f"component {spec.name} ({spec.type}/{spec.version}) from {spec.source}: {cause}"
            )
            if isinstance(error, ResourceError):
                message = str(error)
            if spec.ignore_errors:
                log.warning("ignoring component that failed to start: %s", message)
                return None
            raise ComponentInitError(message) from error
        log.info("component loaded: %s (%s/%s)", spec.name, spec.type, spec.version)
        return LoadedComponent(spec, instance)

    def get(self, block: str, name: str, app_id: str) -> LoadedComponent | None:
        loaded = self._by_block.get(block, {}).get(name)
        if loaded is None or not loaded.spec.in_scope(app_id):
            return None
        return loaded

    def of_block(self, block: str, app_id: str) -> list[LoadedComponent]:
        return [c for c in self._by_block.get(block, {}).values() if c.spec.in_scope(app_id)]

    def __iter__(self) -> Iterator[LoadedComponent]:
        for components in self._by_block.values():
            yield from components.values()

    async def close(self) -> None:
        for loaded in list(self):
            try:
                await loaded.instance.close()
            except Exception:
                log.exception("error closing component %s", loaded.name)
        self._by_block.clear()
