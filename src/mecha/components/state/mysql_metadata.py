"""Dapr's `state.mysql` metadata turned into connection settings.

`connectionString` is the Go driver's DSN, `user:password@tcp(host:port)/dbname?param=value`,
also `unix(/path/to/socket)`. The database the store uses is `schemaName` (created if missing),
not the DSN's. Of the DSN parameters, `tls` (`true`, `skip-verify`, `preferred`, `custom` with
`pemPath`, `false`) and `timeout` (connect) are honoured; the others are the Go driver's own
knobs and are ignored.
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


@dataclass(frozen=True, slots=True)
class MySQLSettings:
    connect: dict[str, Any]  # keyword arguments for asyncmy.connect / create_pool, without `db`
    address: str  # host:port or the socket path, for messages
    schema: str
    table: str
    metadata_table: str
    timeout: float
    cleanup_interval: float | None
    max_conns: int


def parse_settings(metadata: Mapping[str, str]) -> MySQLSettings:
    dsn = metadata_value(metadata, "connectionString") or ""
    if not dsn:
        raise MetadataError("missing 'connectionString' (e.g. 'root:@tcp(127.0.0.1:3306)/')")
    connect, address, tls = _parse_dsn(dsn)

    timeout = DEFAULT_TIMEOUT_SECONDS
    timeout_text = metadata_value(metadata, "timeoutInSeconds")
    if timeout_text:
        seconds = positive_int(timeout_text, "timeoutInSeconds")
        timeout = float(seconds) if seconds > 0 else DEFAULT_TIMEOUT_SECONDS
    connect.setdefault("connect_timeout", timeout)

    cleanup: float | None = DEFAULT_CLEANUP_SECONDS
    cleanup_text = metadata_value(metadata, "cleanupInterval", "cleanupIntervalInSeconds")
    if cleanup_text:
        cleanup = go_duration_seconds(cleanup_text, "cleanupInterval")
        cleanup = cleanup if cleanup > 0 else None

    pem_path = metadata_value(metadata, "pemPath") or ""
    if pem_path or tls not in ("", "false"):
        connect["ssl"] = _ssl_context(tls, pem_path)

    return MySQLSettings(
        connect=connect,
        address=address,
        schema=table_name(
            metadata_value(metadata, "schemaName") or "dapr_state_store",
            "schemaName",
            allow_schema=False,
        ),
        table=table_name(
            metadata_value(metadata, "tableName") or "state", "tableName", allow_schema=False
        ),
        metadata_table=table_name(
            metadata_value(metadata, "metadataTableName") or "dapr_metadata",
            "metadataTableName",
            allow_schema=False,
        ),
        timeout=timeout,
        cleanup_interval=cleanup,
        max_conns=max(4, os.cpu_count() or 1),
    )


def _parse_dsn(dsn: str) -> tuple[dict[str, Any], str, str]:
    """Connect arguments, the address for messages, and the `tls` parameter, from a Go DSN."""
    # The last '/' separates the database: the password and the address may contain '/'.
    slash = dsn.rfind("/")
    if slash < 0:
        raise MetadataError(
            "invalid 'connectionString': expected 'user:password@tcp(host:port)/dbname'"
        )
    head, tail = dsn[:slash], dsn[slash + 1 :]
    _database, _, query = tail.partition("?")
    connect: dict[str, Any] = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
    at = head.rfind("@")
    if at >= 0:
        user, _, password = head[:at].partition(":")
        connect["user"], connect["password"] = user, password
        head = head[at + 1 :]
    network, _, rest = head.partition("(")
    address = rest.removesuffix(")") if rest else ""
    if rest and not rest.endswith(")"):
        raise MetadataError(f"invalid 'connectionString': unclosed address in {head!r}")
    if network in ("", "tcp", "tcp4", "tcp6"):
        host, port = _host_port(address)
        connect["host"], connect["port"] = host, port
        shown = f"{host}:{port}"
    elif network == "unix":
        connect["unix_socket"] = address or "/tmp/mysql.sock"
        shown = connect["unix_socket"]
    else:
        raise MetadataError(f"invalid 'connectionString': unsupported network {network!r}")
    tls = ""
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key == "tls":
            tls = value.lower()
        elif key == "timeout":
            connect["connect_timeout"] = go_duration_seconds(value, "connectionString timeout")
    return connect, shown, tls


def _host_port(address: str) -> tuple[str, int]:
    if not address:
        return "127.0.0.1", 3306
    if address.startswith("["):  # [ipv6]:port
        host, _, port_text = address[1:].partition("]")
        port_text = port_text.removeprefix(":")
    else:
        host, _, port_text = address.rpartition(":") if ":" in address else (address, "", "")
    try:
        return host or "127.0.0.1", int(port_text) if port_text else 3306
    except ValueError:
        raise MetadataError(f"invalid port in 'connectionString' address {address!r}") from None


def _ssl_context(tls: str, pem_path: str) -> ssl.SSLContext:
    if tls not in ("", "true", "custom", "skip-verify", "preferred"):
        raise MetadataError(f"unsupported tls={tls!r} in 'connectionString'")
    try:
        context = ssl.create_default_context(cafile=pem_path or None)
    except (OSError, ssl.SSLError) as error:
        raise MetadataError(f"cannot use 'pemPath' {pem_path!r}: {error}") from None
    if tls in ("skip-verify", "preferred"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
