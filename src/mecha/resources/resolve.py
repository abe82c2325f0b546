"""Turning `value | envRef | secretKeyRef` items into plain strings, as daprd does at init."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mecha.resources.errors import ResourceError

if TYPE_CHECKING:
    from mecha.resources.models import MetadataItem, SecretKeyRef, SecretLookup, SourceRef

# daprd never lets a resource read its own secrets or the runtime's settings through envRef.
_DENIED_ENV = frozenset({"APP_API_TOKEN"})
_DENIED_ENV_PREFIX = "DAPR_"
# When set (space-separated names), only these variables may be read.
_ENV_ALLOWLIST = "DAPR_ENV_KEYS"


def resolve_items(
    items: Sequence[MetadataItem],
    field_prefix: str,
    *,
    owner: str,
    source: SourceRef,
    environ: Mapping[str, str],
    secrets: SecretLookup | None,
    secret_store: str | None,
    placeholders: tuple[str, str, str] | None = None,
) -> dict[str, str]:
    """Resolve each item; a later item with the same name wins, as in daprd."""
    resolved: dict[str, str] = {}
    for index, item in enumerate(items):
        field = f"{field_prefix}[{index}]"
        if item.env_ref is not None:
            value = _from_env(item.env_ref, environ, owner, source, f"{field}.envRef")
        elif item.secret_key_ref is not None:
            value = _from_secret(
                item.secret_key_ref, secrets, secret_store, owner, source, f"{field}.secretKeyRef"
            )
        else:
            value = item.value or ""
        if placeholders is not None:
            value = _expand(value, *placeholders, owner, source, f"{field}.value")
        resolved[item.name] = value
    return resolved


def env_allowed(name: str, environ: Mapping[str, str]) -> bool:
    key = name.upper()
    if not key or key in _DENIED_ENV or key.startswith(_DENIED_ENV_PREFIX) or " " in key:
        return False
    allowlist = environ.get(_ENV_ALLOWLIST, "")
    return not allowlist or key in allowlist.split(" ")


def _from_env(
    name: str, environ: Mapping[str, str], owner: str, source: SourceRef, field: str
) -> str:
    if not env_allowed(name, environ):
        raise ResourceError(
            f'{owner}: environment variable "{name}" may not be read by resources',
            source=source,
            field=field,
        )
    value = environ.get(name)
    if value is None:
        raise ResourceError(
            f'{owner}: environment variable "{name}" is not set', source=source, field=field
        )
    return value


def _from_secret(
    ref: SecretKeyRef,
    secrets: SecretLookup | None,
    store: str | None,
    owner: str,
    source: SourceRef,
    field: str,
) -> str:
    what = f'secret "{ref.name}" key "{ref.key}"'
    if store:
        what += f' from secret store "{store}"'
    if secrets is None:
        raise ResourceError(
            f"{owner}: {what} cannot be read: no secret store is available",
            source=source,
            field=field,
        )
    try:
        return secrets(store, ref)
    except Exception as error:
        raise ResourceError(
            f"{owner}: {what} cannot be read: {error}", source=source, field=field
        ) from error


def _expand(
    value: str,
    app_id: str,
    namespace: str,
    pod_name: str,
    owner: str,
    source: SourceRef,
    field: str,
) -> str:
    while "{uuid}" in value:
        value = value.replace("{uuid}", str(uuid.uuid4()), 1)  # a fresh one each time
    if "{podName}" in value:
        if not pod_name:
            raise ResourceError(
                f"{owner}: {{podName}} is used but no pod name is set", source=source, field=field
            )
        value = value.replace("{podName}", pod_name)
    value = value.replace("{namespace}", f"{namespace}.{app_id}")
    return value.replace("{appID}", app_id)
