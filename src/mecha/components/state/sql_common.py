"""What the SQL state stores (PostgreSQL, MySQL) share: metadata parsing and the value codec.

Dapr's PostgreSQL v1 and MySQL stores keep a value in a JSON column: JSON values as themselves,
anything else as a base64 JSON string with `isbinary` set. Mecha writes the same layout so that
data written by daprd reads back here and the other way round.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson

from mecha.components.metadata import Fields, read_integer, read_seconds
from mecha.components.metadata import MetadataError as MetadataError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TTL_EXPIRE_TIME = "ttlExpireTime"


# ---- metadata (the shared readers, in the shape the SQL stores' settings call them) ----------


def metadata_value(metadata: Mapping[str, str], *names: str) -> str | None:
    """The first of `names` present in `metadata`, even if empty, matched case-insensitively."""
    return Fields(metadata).get(*names)


def go_duration_seconds(text: str, field: str) -> float:
    """A Go duration (`20s`, `1h30m`, `-1`, `500ms`) in seconds; a bare number means seconds."""
    return read_seconds(text.strip(), field)


def positive_int(text: str, field: str) -> int:
    """An integer of any sign; callers check the range they need."""
    return read_integer(text.strip(), field)


def table_name(text: str, field: str, *, allow_schema: bool) -> str:
    """A table name safe to put in SQL unquoted: letters, digits, `_`, optionally `schema.`."""
    parts = text.split(".")
    if len(parts) > (2 if allow_schema else 1) or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        shape = "[schema.]name" if allow_schema else "name"
        raise MetadataError(
            f"invalid {field!r}: {text!r} (expected {shape} of letters, digits and '_')"
        )
    return text


# ---- values in a JSON column ----------------------------------------------------------------


def is_json(value: bytes) -> bool:
    """Whether a value can live in a JSON column as itself (else it is stored as base64)."""
    if not value or b"\\u0000" in value:  # JSON columns refuse an escaped NUL
        return False
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    return True


def encode_json_column(value: bytes) -> tuple[str, bool]:
    """The JSON text to store and whether it is Dapr's base64 `isbinary` form."""
    if is_json(value):
        return value.decode(), False
    return '"' + base64.b64encode(value).decode() + '"', True


def decode_json_column(text: str, is_binary: bool) -> bytes:
    if is_binary:
        body = orjson.loads(text)
        if not isinstance(body, str):
            raise ValueError("a binary value is not a base64 JSON string")
        return base64.b64decode(body)
    return text.encode()


def ttl_metadata(expires_at: datetime | None) -> Mapping[str, str]:
    """`ttlExpireTime` in RFC 3339 UTC, whole seconds, as daprd reports it."""
    if expires_at is None:
        return {}
    if expires_at.tzinfo is None:  # MySQL answers in the session's zone, which we set to UTC
        expires_at = expires_at.replace(tzinfo=UTC)
    return {TTL_EXPIRE_TIME: expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def ttl_seconds(ttl: int | None) -> int:
    """Seconds until expiry to write, 0 for none (None, -1 and 0 all mean no expiry)."""
    return ttl if ttl is not None and ttl > 0 else 0
