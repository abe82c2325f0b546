"""Dapr's `state.postgresql` metadata (v1 and v2) turned into connection settings.

`connectionString` is libpq's `key=value ...` form or a `postgres://` URL; the fields `host`,
`hostaddr`, `port`, `database`, `user`, `password` and `sslRootCert` override its parts, as in
Dapr. Unknown connection string keys are passed to the server as run-time parameters (as pgx
does); `pool_*` keys are pgx pool settings and only `pool_max_conns` has a meaning here.
"""

from __future__ import annotations

import os
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mecha.components.state.sql_common import (
    MetadataError,
    go_duration_seconds,
    metadata_value,
    positive_int,
    table_name,
)

DEFAULT_TIMEOUT_SECONDS = 20.0
DEFAULT_CLEANUP_SECONDS = 3600.0
_EXEC_MODES = ("cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol")
# Modes that must not rely on server-side prepared statements (e.g. behind PgBouncer).
_UNPREPARED_MODES = frozenset({"describe_exec", "exec", "simple_protocol"})
_SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})


@dataclass(frozen=True, slots=True)
class PgSettings:
    connect: dict[str, Any]  # keyword arguments for asyncpg.create_pool
    address: str  # host:port, for messages
    version: str
    table: str  # v1: tableName; v2: tablePrefix + "state"
    table_prefix: str
    metadata_table: str
    timeout: float
    cleanup_interval: float | None
    max_conns: int
    idle_seconds: float | None
    prepare_statements: bool


def parse_settings(metadata: Mapping[str, str], version: str) -> PgSettings:
    conn_string = metadata_value(metadata, "connectionString", "url") or ""
    params = (
        _parse_url(conn_string)
        if conn_string.startswith(("postgres://", "postgresql://"))
        else _parse_keywords(conn_string)
    )
    for name, key in (
        ("host", "host"),
        ("hostaddr", "hostaddr"),
        ("port", "port"),
        ("database", "dbname"),
        ("user", "user"),
        ("password", "password"),
        ("sslRootCert", "sslrootcert"),
    ):
        value = metadata_value(metadata, name)
        if value:
            params[key] = value
    if not conn_string and not params.get("host") and not params.get("hostaddr"):
        raise MetadataError("missing 'connectionString' (e.g. 'host=localhost user=postgres')")

    timeout = DEFAULT_TIMEOUT_SECONDS
    timeout_text = metadata_value(metadata, "timeout", "timeoutInSeconds")
    if timeout_text:
        timeout = go_duration_seconds(timeout_text, "timeout")
        if timeout < 1:
            raise MetadataError(f"invalid 'timeout' {timeout_text!r}: must be at least 1s")

    cleanup: float | None = DEFAULT_CLEANUP_SECONDS
    cleanup_text = metadata_value(metadata, "cleanupInterval", "cleanupIntervalInSeconds")
    if cleanup_text:
        cleanup = go_duration_seconds(cleanup_text, "cleanupInterval")
        cleanup = cleanup if cleanup > 0 else None

    max_conns_text = metadata_value(metadata, "maxConns") or params.pop("pool_max_conns", "")
    max_conns = positive_int(max_conns_text, "maxConns") if max_conns_text else 0
    if max_conns <= 1:  # Dapr: 0 or less picks the default, the greater of 4 and the CPU count
        max_conns = max(4, os.cpu_count() or 1)

    idle_text = metadata_value(metadata, "connectionMaxIdleTime")
    idle = go_duration_seconds(idle_text, "connectionMaxIdleTime") if idle_text else None

    mode = metadata_value(metadata, "queryExecMode") or ""
    if mode and mode not in _EXEC_MODES:
        raise MetadataError(f"invalid 'queryExecMode' {mode!r}: one of {', '.join(_EXEC_MODES)}")

    metadata_table = table_name(
        metadata_value(metadata, "metadataTableName") or "dapr_metadata",
        "metadataTableName",
        allow_schema=True,
    )
    if version == "v2":
        prefix = metadata_value(metadata, "tablePrefix") or ""
        table = table_name(prefix + "state", "tablePrefix", allow_schema=True)
    else:
        prefix = ""
        table = table_name(
            metadata_value(metadata, "tableName") or "state", "tableName", allow_schema=True
        )

    connect, address = _connect_arguments(params, timeout)
    return PgSettings(
        connect=connect,
        address=address,
        version=version,
        table=table,
        table_prefix=prefix,
        metadata_table=metadata_table,
        timeout=timeout,
        cleanup_interval=cleanup,
        max_conns=max_conns,
        idle_seconds=idle,
        prepare_statements=mode not in _UNPREPARED_MODES,
    )


def _parse_keywords(text: str) -> dict[str, str]:
    """libpq's `key=value key='quoted \\' value'` connection string."""
    params: dict[str, str] = {}
    index, length = 0, len(text)
    while index < length:
        while index < length and text[index].isspace():
            index += 1
        if index >= length:
            break
        equals = text.find("=", index)
        if equals < 0:
            raise MetadataError(f"invalid 'connectionString': missing '=' after {text[index:]!r}")
        key = text[index:equals].strip()
        index = equals + 1
        while index < length and text[index] == " ":
            index += 1
        value_chars: list[str] = []
        if index < length and text[index] == "'":
            index += 1
            while index < length and text[index] != "'":
                if text[index] == "\\" and index + 1 < length:
                    index += 1
                value_chars.append(text[index])
                index += 1
            if index >= length:
                raise MetadataError("invalid 'connectionString': unterminated quoted value")
            index += 1
        else:
            while index < length and not text[index].isspace():
                if text[index] == "\\" and index + 1 < length:
                    index += 1
                value_chars.append(text[index])
                index += 1
        if not key:
            raise MetadataError("invalid 'connectionString': a value without a key")
        params["dbname" if key == "database" else key] = "".join(value_chars)
    return params


def _parse_url(text: str) -> dict[str, str]:
    try:
        url = urllib.parse.urlsplit(text)
        port = url.port
    except ValueError as error:
        raise MetadataError(f"invalid 'connectionString' URL: {error}") from None
    params: dict[str, str] = {}
    if url.hostname:
        params["host"] = url.hostname
    if port is not None:
        params["port"] = str(port)
    if url.username:
        params["user"] = urllib.parse.unquote(url.username)
    if url.password is not None:
        params["password"] = urllib.parse.unquote(url.password)
    if url.path.strip("/"):
        params["dbname"] = urllib.parse.unquote(url.path.lstrip("/"))
    for key, value in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
        params["dbname" if key == "database" else key] = value
    return params


def _connect_arguments(params: dict[str, str], timeout: float) -> tuple[dict[str, Any], str]:
    params = dict(params)
    host = params.pop("hostaddr", "") or params.pop("host", "") or "localhost"
    params.pop("host", None)
    port_text = params.pop("port", "") or "5432"
    try:
        port = int(port_text)
    except ValueError:
        raise MetadataError(f"invalid port {port_text!r} in 'connectionString'") from None
    connect: dict[str, Any] = {"host": host, "port": port, "timeout": timeout}
    for key, argument in (("user", "user"), ("password", "password"), ("dbname", "database")):
        if params.get(key):
            connect[argument] = params.pop(key)
        params.pop(key, None)
    if "connect_timeout" in params:
        seconds = positive_int(params.pop("connect_timeout"), "connect_timeout")
        if seconds > 0:
            connect["timeout"] = float(seconds)
    connect["ssl"] = _ssl(
        params.pop("sslmode", ""),
        params.pop("sslrootcert", ""),
        (params.pop("sslcert", ""), params.pop("sslkey", ""), params.pop("sslpassword", "")),
    )
    server_settings = {"application_name": params.pop("application_name", "mecha")}
    for key, value in params.items():
        if key.startswith("pool_") or key == "target_session_attrs":
            continue  # pgx pool knobs and a libpq client option with no runtime parameter
        server_settings[key] = value
    connect["server_settings"] = server_settings
    return connect, f"{host}:{port}"


def _ssl(mode: str, root_cert: str, client: tuple[str, str, str]) -> Any:
    """asyncpg's `ssl` argument for libpq's sslmode (pgx's default mode is `prefer`).

    A client certificate (`sslcert`, `sslkey`, `sslpassword`) makes TLS required.
    """
    mode = mode or ("verify-full" if root_cert else "prefer")
    if mode not in _SSL_MODES:
        raise MetadataError(f"invalid sslmode {mode!r}: one of {', '.join(sorted(_SSL_MODES))}")
    cert, key, password = client
    verify = mode in ("verify-ca", "verify-full") and bool(root_cert)
    if not verify and not cert:
        return mode
    try:
        if verify:
            context = ssl.create_default_context(cafile=root_cert)
            context.check_hostname = mode == "verify-full"
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if cert:
            context.load_cert_chain(cert, key or None, password or None)
    except (OSError, ssl.SSLError) as error:
        raise MetadataError(f"cannot use the TLS files of 'connectionString': {error}") from None
    return context
