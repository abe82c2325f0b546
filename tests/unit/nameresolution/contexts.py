"""Creating resolvers as the runtime does, with a configuration as YAML gives it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mecha.components.base import ComponentContext


def context(
    type_: str, configuration: Mapping[str, object], data_dir: Path, namespace: str = ""
) -> ComponentContext:
    # Nested values and numbers travel as they are; a resolver also accepts them as text.
    metadata: Mapping[str, Any] = configuration
    return ComponentContext(
        name="nameresolution",
        type=type_,
        version="v1",
        metadata=metadata,
        namespace=namespace,
        data_dir=data_dir,
    )
