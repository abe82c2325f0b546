"""The metadata of `state.sqlite`, read the way daprd reads it.

Field names match case-insensitively and accept daprd's aliases (`url`, `timeoutInSeconds`,
`cleanupIntervalInSeconds`). Durations are Go durations (`20s`, `1h30m`, `500ms`) or a whole
number of seconds. A relative database path is relative to the runtime's data folder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode

from mecha.components.metadata import Fields, MetadataError, parse_seconds

DEFAULT_TIMEOUT_SECONDS = 20.0
DEFAULT_BUSY_TIMEOUT_SECONDS = 2.0

_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]+$")
# `_pragma=name(value)` in the connection string, as daprd's driver takes it.
_PRAGMA = re.compile(r"^([A-Za-z_]+)\(([A-Za-z0-9_.+-]*)\)$")
# Pragmas the metadata controls; setting them in the connection string is refused, as daprd does.
_RESERVED_PRAGMAS = {
    "busy_timeout": "busyTimeout",
    "journal_mode": "disableWAL",
    "foreign_keys": "",
}

# Metadata that does not describe a usable SQLite database.
SQLiteSettingsError = MetadataError


@dataclass(frozen=True, slots=True)
class SQLiteSettings:
    database: str  # what sqlite3.connect opens: ":memory:" or a `file:` URI
    folder: Path | None  # the database file's folder, created when missing
    in_memory: bool
    read_only: bool
    pragmas: tuple[tuple[str, str], ...]  # from `_pragma=` in the connection string
    table: str
    metadata_table: str
    timeout: float  # seconds an operation may take, waiting included
    busy_timeout: float  # seconds to wait for another connection's lock; 0: fail at once
    disable_wal: bool
    cleanup_interval: float  # seconds between removals of expired rows; 0: never
    described: str  # how messages name the database


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration (`1h30m`, `-1s`) or a whole number of seconds (`20`)."""
    seconds = parse_seconds(text.strip(), bare="whole seconds")
    if seconds is None:
        raise SQLiteSettingsError(f"invalid duration {text!r}")
    return seconds


def parse_settings(metadata: Mapping[str, str], data_dir: Path) -> SQLiteSettings:
    fields = Fields(metadata)
    connection_string = fields.text("connectionString", "url")
    if not connection_string:
        raise SQLiteSettingsError("missing metadata 'connectionString' (the database file path)")
    timeout, busy_timeout, cleanup_interval, disable_wal = _tuning(fields)
    if timeout < 1:
        raise SQLiteSettingsError(f"invalid value for 'timeout': {timeout} s, must be 1 s or more")
    location = _Location.parse(connection_string, data_dir)
    return SQLiteSettings(
        database=location.database,
        folder=location.folder,
        in_memory=location.in_memory,
        read_only=location.read_only,
        pragmas=location.pragmas,
        table=_identifier(fields, "tableName", "state"),
        metadata_table=_identifier(fields, "metadataTableName", "metadata"),
        timeout=timeout,
        busy_timeout=max(int(busy_timeout * 1000) / 1000, 0.0),
        disable_wal=disable_wal,
        cleanup_interval=max(cleanup_interval, 0.0),
        described=location.described,
    )


def _tuning(fields: Fields) -> tuple[float, float, float, bool]:
    """The timeouts, cleanup interval and WAL switch, a bad one named as the other fields are."""
    try:
        return (
            fields.seconds(
                "timeout", "timeoutInSeconds", default=DEFAULT_TIMEOUT_SECONDS, bare="whole seconds"
            ),
            fields.seconds(
                "busyTimeout", default=DEFAULT_BUSY_TIMEOUT_SECONDS, bare="whole seconds"
            ),
            fields.seconds(
                "cleanupInterval", "cleanupIntervalInSeconds", default=0.0, bare="whole seconds"
            ),
            fields.boolean("disableWAL"),
        )
    except MetadataError as error:
        raise SQLiteSettingsError(f"invalid value for {error.field!r}: {error}") from None


def _identifier(fields: Fields, name: str, default: str) -> str:
    value = fields.text(name, default=default)
    if not _IDENTIFIER.match(value):
        raise SQLiteSettingsError(
            f"invalid value for {name!r}: {value!r} (letters, digits and '_' only)"
        )
    return value


@dataclass(frozen=True, slots=True)
class _Location:
    database: str
    folder: Path | None
    in_memory: bool
    read_only: bool
    pragmas: tuple[tuple[str, str], ...]
    described: str

    @classmethod
    def parse(cls, connection_string: str, data_dir: Path) -> _Location:
        """Where the database is: a path or `file:` URI (relative to `data_dir`), or memory."""
        path_part, _, query = connection_string.partition("?")
        is_uri = path_part.lower().startswith("file:")
        path_text = path_part[len("file:") :] if is_uri else path_part
        in_memory = path_text.lower() == ":memory:"
        described = "sqlite in-memory database"
        if in_memory and not query and not is_uri:
            return cls(":memory:", None, True, False, (), described)

        params: list[tuple[str, str]] = []
        pragmas: list[tuple[str, str]] = []
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name == "_pragma":
                pragmas.append(_pragma(value))
            elif not name.startswith("_"):  # `_txlock` and the like are daprd driver options
                params.append((name, value))
        options = dict(params)
        read_only = options.get("mode") == "ro" or options.get("immutable") == "1"
        suffix = f"?{urlencode(params)}" if params else ""

        if in_memory:
            return cls(f"file::memory:{suffix}", None, True, read_only, tuple(pragmas), described)
        if is_uri and path_text.startswith("//"):  # file://host/path: only a local host
            host, slash, rest = path_text[2:].partition("/")
            if host not in ("", "localhost"):
                raise SQLiteSettingsError(f"invalid connectionString: remote host {host!r}")
            path_text = slash + rest
        path = Path(unquote(path_text) if is_uri else path_text)
        if not path.is_absolute():
            path = data_dir / path
        database = f"file:{quote(str(path), safe='/')}{suffix}"
        return cls(database, path.parent, False, read_only, tuple(pragmas), f"sqlite {path}")


def _pragma(text: str) -> tuple[str, str]:
    match = _PRAGMA.match(text)
    if match is None:
        raise SQLiteSettingsError(f"invalid _pragma {text!r} in connectionString: use name(value)")
    name = match.group(1).lower()
    if name in _RESERVED_PRAGMAS:
        instead = _RESERVED_PRAGMAS[name]
        hint = f"; use the {instead!r} metadata instead" if instead else ""
        raise SQLiteSettingsError(f"_pragma={name} is not allowed in connectionString{hint}")
    return name, match.group(2)
