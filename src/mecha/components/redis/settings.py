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

import re
import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mecha.components.redis.client import ConnectionOptions

DEFAULT_PORT = 6379
_DEFAULT_DIAL_TIMEOUT = 5.0
_DEFAULT_READ_TIMEOUT = 3.0
_DEFAULT_RETRIES = 3

_TRUE = frozenset({"1", "t", "true"})
_FALSE = frozenset({"", "0", "f", "false"})
_INTEGER = re.compile(r"^[+-]?\d+$")
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


class SettingsError(ValueError):
    """A metadata value that is malformed or asks for something unsupported."""


def connection_options(metadata: Mapping[str, str], component: str) -> ConnectionOptions:
    """Parse the connection fields; `component` (e.g. "state.redis") prefixes error messages."""
    fields = _Fields(metadata, component)
    fields.refuse_if_true("failover", "Redis Sentinel failover")
    fields.refuse_if_true("useEntraID", "Microsoft Entra ID authentication")
    fields.refuse_if_true("useAzureAD", "Microsoft Entra ID authentication")
    fields.refuse_if_true("useOIDC", "OIDC authentication")
    redis_type = fields.text("redisType").lower()
    if redis_type == "cluster":
        raise SettingsError(f'{component}: redisType "cluster" is not supported by Mecha yet')
    if redis_type not in ("", "node"):
        raise SettingsError(
            f'{component}: redisType must be "node" or "cluster", not "{redis_type}"'
        )
    host, port = _address(fields)
    db = fields.integer("redisDB", 0)
    if db < 0:
        raise SettingsError(f"{component}: redisDB must be 0 or more, not {db}")
    retries_field = "redisMaxRetries" if fields.text("redisMaxRetries") else "maxRetries"
    retries = fields.integer(retries_field, _DEFAULT_RETRIES)
    return ConnectionOptions(
        host=host,
        port=port,
        username=fields.text("redisUsername"),
        password=fields.text("redisPassword"),
        db=db,
        # Connecting always has a limit, so a black-holed address can't hang a caller.
        dial_timeout=fields.duration("dialTimeout", _DEFAULT_DIAL_TIMEOUT) or _DEFAULT_DIAL_TIMEOUT,
        command_timeout=fields.duration("readTimeout", _DEFAULT_READ_TIMEOUT),
        # go-redis reads -1 as "no retries".
        read_retries=max(retries, 0),
        tls=_tls_context(fields) if fields.boolean("enableTLS") else None,
    )


def _tls_context(fields: _Fields) -> ssl.SSLContext:
    """Verified against the system's CAs unless insecureSkipTLSVerify; an optional client cert."""
    context = ssl.create_default_context()
    if fields.boolean("insecureSkipTLSVerify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert, key = fields.text("clientCert").strip(), fields.text("clientKey").strip()
    if bool(cert) != bool(key):
        raise SettingsError(f"{fields.component}: clientCert and clientKey must be given together")
    if cert:
        _load_client_certificate(context, cert, key, fields.component)
    return context


def _load_client_certificate(context: ssl.SSLContext, cert: str, key: str, component: str) -> None:
    # The ssl module reads certificates only from files: a private temporary one, removed at once.
    with tempfile.TemporaryDirectory(prefix="mecha-redis-tls-") as folder:
        path = Path(folder, "client.pem")
        path.touch(mode=0o600)
        path.write_text(f"{cert}\n{key}\n")
        try:
            context.load_cert_chain(path)
        except ssl.SSLError as error:
            raise SettingsError(
                f"{component}: clientCert/clientKey are not a PEM certificate and its key: {error}"
            ) from None


def _address(fields: _Fields) -> tuple[str, int]:
    text = fields.text("redisHost").strip()
    if not text:
        raise SettingsError(f"{fields.component}: redisHost is required (host:port)")
    if "," in text:
        raise SettingsError(
            f"{fields.component}: redisHost lists several hosts, which only Redis cluster or "
            "Sentinel use, and Mecha supports neither yet"
        )
    separate_port = fields.integer("redisPort", 0)
    host, port = _split_host_port(text, fields.component)
    if port is None:
        return host, separate_port or DEFAULT_PORT
    if separate_port and separate_port != port:
        raise SettingsError(
            f'{fields.component}: redisHost "{text}" already contains port {port}, but '
            f"redisPort is {separate_port}; remove one of them"
        )
    return host, port


def _split_host_port(text: str, component: str) -> tuple[str, int | None]:
    if text.startswith("["):  # [IPv6]:port
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise SettingsError(f'{component}: redisHost "{text}" is not a valid address')
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:  # a bare host name, or a bare IPv6 address
        return text, None
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SettingsError(f'{component}: redisHost "{text}" has an invalid port')
    return host, int(port_text)


class _Fields:
    def __init__(self, metadata: Mapping[str, str], component: str) -> None:
        self.metadata = metadata
        self.component = component

    def text(self, name: str) -> str:
        return self.metadata.get(name, "")

    def boolean(self, name: str) -> bool:
        value = self.text(name).strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise SettingsError(f'{self.component}: {name} must be true or false, not "{value}"')

    def refuse_if_true(self, name: str, what: str) -> None:
        if self.boolean(name):
            raise SettingsError(
                f"{self.component}: {name} is set, but {what} is not supported by Mecha yet"
            )

    def integer(self, name: str, default: int) -> int:
        value = self.text(name).strip()
        if not value:
            return default
        if not _INTEGER.match(value):
            raise SettingsError(f'{self.component}: {name} must be an integer, not "{value}"')
        return int(value)

    def duration(self, name: str, default: float) -> float | None:
        """Seconds; None for "no limit" (a negative value). 0 or missing means the default."""
        value = self.text(name).strip()
        if not value:
            return default
        seconds = parse_duration(value)
        if seconds is None:
            raise SettingsError(
                f'{self.component}: {name} must be a duration such as "5s" or "500ms", '
                f'or milliseconds, not "{value}"'
            )
        if seconds < 0:
            return None
        return seconds or default


def parse_duration(text: str) -> float | None:
    """A Go duration ("1m30s", "250ms") or integer milliseconds, in seconds; None if malformed."""
    if _INTEGER.match(text):
        return int(text) / 1000
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    position = 0
    total = 0.0
    for match in _GO_DURATION_PART.finditer(body):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position == 0 or position != len(body):
        return None
    return sign * total
