"""What `mecha run` serves with no --resources-path: embedded components for each block."""

from __future__ import annotations

from pathlib import Path

from mecha.config import RuntimeConfig
from mecha.resources.models import Component, MetadataItem, Resources, SourceRef

_SOURCE = Path("<embedded defaults>")


def _component(index: int, name: str, type_: str, metadata: dict[str, str]) -> Component:
    return Component(
        name=name,
        namespace="",
        type=type_,
        version="v1",
        metadata=tuple(
            MetadataItem(name=k, value=v, env_ref=None, secret_key_ref=None)
            for k, v in metadata.items()
        ),
        scopes=(),
        init_timeout="5s",
        ignore_errors=False,
        secret_store=None,
        source=SourceRef(_SOURCE, index),
    )


def resources(config: RuntimeConfig) -> Resources:
    """The embedded components, keeping their files under the data directory."""
    components = (
        _component(
            1,
            "statestore",
            "state.sqlite",
            {
                "connectionString": "state.db",
                "actorStateStore": "true",
                # Expired rows read as missing at once; this only reclaims their space.
                "cleanupInterval": "1h",
            },
        ),
    )
    return Resources(components=components)
