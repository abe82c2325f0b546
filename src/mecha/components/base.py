"""What every component has, whatever its building block: a lifecycle and declared features."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ComponentContext:
    """What a component is given at init: identity, resolved metadata, a folder for files."""

    name: str
    type: str
    version: str
    metadata: Mapping[str, str]
    namespace: str
    data_dir: Path


class Component(Protocol):
    """Constructed with no arguments, then initialised once, then closed once."""

    async def init(self, context: ComponentContext) -> None: ...

    async def close(self) -> None: ...

    def features(self) -> tuple[str, ...]:
        """Capabilities it declares (e.g. ETAG, TRANSACTIONAL), reported by the metadata API."""
        ...
