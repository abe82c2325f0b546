"""Dapr's Redis connection metadata (shared by every Redis component) as ConnectionOptions.

Field names, defaults and value formats follow components-contrib's common Redis settings:
`redisHost` (`host:port`, or a host with `redisPort`), `redisUsername`, `redisPassword`,
`redisDB`, `redisMaxRetries` (legacy `maxRetries`), `dialTimeout` and `readTimeout` (Go
durations, or integers meaning milliseconds; `-1` for no read timeout), `enableTLS` with
`insecureSkipTLSVerify` and `clientCert`/`clientKey` (PEM). Pool tuning fields (`poolSize`,
`idleTimeout`, ...) do not apply to one pipelined connection and are ignored. What Mecha does not
support yet (cluster, Sentinel failover, Entra ID / OIDC tokens) is refused with a message that
says so.
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mecha.components.metadata import Fields, MetadataError, parse_seconds
from mecha.components.redis.client import ConnectionOptions

DEFAULT_PORT = 6379
_DEFAULT_DIAL_TIMEOUT = 5.0
_DEFAULT_READ_TIMEOUT = 3.0
_DEFAULT_RETRIES = 3

# A metadata value that is malformed or asks for something unsupported.
SettingsError = MetadataError


def connection_options(metadata: Mapping[str, str], component: str) -> ConnectionOptions:
    """Parse the connection fields; `component` (e.g. "state.redis") prefixes error messages."""
    fields = Fields(metadata, component=component, case_sensitive=True)
    _refuse_if_set(fields, "failover", "Redis Sentinel failover")
    _refuse_if_set(fields, "useEntraID", "Microsoft Entra ID authentication")
    _refuse_if_set(fields, "useAzureAD", "Microsoft Entra ID authentication")
    _refuse_if_set(fields, "useOIDC", "OIDC authentication")
    redis_type = fields.text("redisType").lower()
    if redis_type == "cluster":
        raise fields.error('redisType "cluster" is not supported by Mecha yet')
    if redis_type not in ("", "node"):
        raise fields.error(f'redisType must be "node" or "cluster", not "{redis_type}"')
    host, port = _address(fields)
    db = fields.integer("redisDB", default=0)
    if db < 0:
        raise fields.error(f"redisDB must be 0 or more, not {db}")
    retries = fields.integer("redisMaxRetries", "maxRetries", default=_DEFAULT_RETRIES)
    # Connecting always has a limit, so a black-holed address can't hang a caller.
    dial_timeout = _timeout(fields, "dialTimeout", _DEFAULT_DIAL_TIMEOUT) or _DEFAULT_DIAL_TIMEOUT
    return ConnectionOptions(
        host=host,
        port=port,
        username=fields.text("redisUsername"),
        password=fields.text("redisPassword"),
        db=db,
        dial_timeout=dial_timeout,
        command_timeout=_timeout(fields, "readTimeout", _DEFAULT_READ_TIMEOUT),
        # go-redis reads -1 as "no retries".
        read_retries=max(retries, 0),
        tls=_tls_context(fields) if fields.boolean("enableTLS", lenient=True) else None,
    )


def parse_duration(text: str) -> float | None:
    """A Go duration ("1m30s", "250ms") or integer milliseconds, in seconds; None if malformed."""
    return parse_seconds(text, bare="milliseconds")


def _refuse_if_set(fields: Fields, name: str, what: str) -> None:
    if fields.boolean(name, lenient=True):
        raise fields.error(f"{name} is set, but {what} is not supported by Mecha yet")


def _timeout(fields: Fields, name: str, default: float) -> float | None:
    """Seconds; None for "no limit" (a negative value). 0 or missing means the default."""
    seconds = fields.seconds(name, default=default, bare="milliseconds")
    if seconds < 0:
        return None
    return seconds or default


def _tls_context(fields: Fields) -> ssl.SSLContext:
    """Verified against the system's CAs unless insecureSkipTLSVerify; an optional client cert."""
    context = ssl.create_default_context()
    if fields.boolean("insecureSkipTLSVerify", lenient=True):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert, key = fields.text("clientCert").strip(), fields.text("clientKey").strip()
    if bool(cert) != bool(key):
        raise fields.error("clientCert and clientKey must be given together")
    if cert:
        _load_client_certificate(context, cert, key, fields)
    return context


def _load_client_certificate(context: ssl.SSLContext, cert: str, key: str, fields: Fields) -> None:
    # The ssl module reads certificates only from files: a private temporary one, removed at once.
    with tempfile.TemporaryDirectory(prefix="mecha-redis-tls-") as folder:
        path = Path(folder, "client.pem")
        path.touch(mode=0o600)
        path.write_text(f"{cert}\n{key}\n")
        try:
            context.load_cert_chain(path)
        except ssl.SSLError as error:
            raise fields.error(
                f"clientCert/clientKey are not a PEM certificate and its key: {error}"
            ) from None


def _address(fields: Fields) -> tuple[str, int]:
    text = fields.text("redisHost").strip()
    if not text:
        raise fields.error("redisHost is required (host:port)")
    if "," in text:
        raise fields.error(
            "redisHost lists several hosts, which only Redis cluster or Sentinel use, and Mecha "
            "supports neither yet"
        )
    separate_port = fields.integer("redisPort", default=0)
    host, port = _split_host_port(text, fields)
    if port is None:
        return host, separate_port or DEFAULT_PORT
    if separate_port and separate_port != port:
        raise fields.error(
            f'redisHost "{text}" already contains port {port}, but redisPort is '
            f"{separate_port}; remove one of them"
        )
    return host, port


def _split_host_port(text: str, fields: Fields) -> tuple[str, int | None]:
    if text.startswith("["):  # [IPv6]:port
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise fields.error(f'redisHost "{text}" is not a valid address')
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:  # a bare host name, or a bare IPv6 address
        return text, None
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise fields.error(f'redisHost "{text}" has an invalid port')
    return host, int(port_text)
