"""RuntimeConfig: everything `mecha run` was told, parsed once from daprd-compatible flags.

The flag table below is the one place that lists which daprd flags Mecha accepts, their
defaults, and which of them it does not act on yet (those are logged at startup when given).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

APP_PROTOCOLS = ("http", "https", "grpc", "grpcs", "h2c")
LOG_LEVELS = ("debug", "info", "warn", "warning", "error", "fatal")

_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|k|K|M|G|T)?\s*$")
_QUANTITY_UNITS = {
    None: 1,
    "Ki": 1 << 10,
    "Mi": 1 << 20,
    "Gi": 1 << 30,
    "Ti": 1 << 40,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
}


class ConfigError(Exception):
    """A flag or environment value that cannot be used; the message says which and why."""


def parse_quantity(text: str, *, flag: str) -> int:
    """Parse a resource quantity as daprd does for sizes: `4Mi`, `512Ki`, `1000`."""
    match = _QUANTITY.match(text)
    if not match:
        raise ConfigError(
            f"invalid value for '{flag}': {text!r} is not a size such as 4Mi or 512Ki"
        )
    number, unit = match.groups()
    value = float(number) * _QUANTITY_UNITS[unit]
    if value != int(value):
        raise ConfigError(f"invalid value for '{flag}': {text!r} is not a whole number of bytes")
    return int(value)


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    app_id: str
    app_port: int | None = None
    app_protocol: str = "http"
    app_channel_address: str = "127.0.0.1"
    http_port: int = 3500
    grpc_port: int = 50001
    listen_addresses: tuple[str, ...] = ("0.0.0.0",)
    resources_paths: tuple[Path, ...] = ()
    config_path: Path | None = None
    data_dir: Path = field(default_factory=lambda: Path.home() / ".mecha")
    log_level: str = "info"
    log_as_json: bool = False
    enable_api_logging: bool = False
    max_body_bytes: int = 4 << 20
    max_header_bytes: int = 4 << 10
    graceful_shutdown_seconds: float = 5.0
    api_token: str | None = None
    app_api_token: str | None = None
    app_command: tuple[str, ...] = ()
    internal_port: int = 0
    app_max_concurrency: int = -1
    app_health_check: bool = False
    app_health_check_path: str = "/healthz"
    app_health_probe_interval: float = 5.0
    app_health_probe_timeout: float = 0.5
    app_health_threshold: int = 3
    # The address peers reach this runtime on (DAPR_HOST_IP); found out at startup when empty.
    host_ip: str = ""
    namespace: str = ""
    # daprd flags that were given but that this version accepts without acting on them.
    ignored_flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Flag:
    name: str
    help: str
    default: str | None = None
    is_bool: bool = False
    repeatable: bool = False
    acted_on: bool = True
    env: str | None = None


# daprd's flags, with daprd's names and defaults. `acted_on=False`: accepted, logged, not yet used.
FLAGS: tuple[_Flag, ...] = (
    _Flag("app-id", "a unique id for this app, used for service discovery and state keys"),
    _Flag("app-port", "the port the application listens on", env="APP_PORT"),
    _Flag("app-protocol", "protocol of the app: http, https, grpc, grpcs, h2c", "http"),
    _Flag("app-channel-address", "the network address the application listens on", "127.0.0.1"),
    _Flag("dapr-http-port", "HTTP port for the API", "3500", env="DAPR_HTTP_PORT"),
    _Flag("dapr-grpc-port", "gRPC port for the API", "50001", env="DAPR_GRPC_PORT"),
    _Flag("dapr-listen-addresses", "comma-separated addresses for the API to listen on", ""),
    _Flag("resources-path", "folder of resource YAML files (repeatable)", repeatable=True),
    _Flag("components-path", "deprecated alias for --resources-path", repeatable=True),
    _Flag("config", "path to a Configuration YAML file"),
    _Flag("data-dir", "folder for embedded state (default ~/.mecha)", env="MECHA_DATA_DIR"),
    _Flag("log-level", "debug, info, warn, error or fatal", "info"),
    _Flag("log-as-json", "print logs as JSON", is_bool=True),
    _Flag("enable-api-logging", "log one line per API call", is_bool=True),
    _Flag("max-body-size", "max request body size for the HTTP and gRPC APIs", "4Mi"),
    _Flag("read-buffer-size", "max size of HTTP request headers", "4Ki"),
    _Flag("dapr-graceful-shutdown-seconds", "graceful shutdown time in seconds", "5"),
    _Flag("dapr-http-max-request-size", "deprecated: max request body size in MB"),
    _Flag("dapr-http-read-buffer-size", "deprecated: max header size in KB"),
    _Flag("metrics-port", "port for the metrics server", "9090", acted_on=False),
    _Flag("enable-metrics", "enable the metrics server", is_bool=True, acted_on=False),
    _Flag("app-max-concurrency", "limit on concurrent calls into the app", "-1"),
    _Flag("enable-app-health-check", "probe the app's health", is_bool=True),
    _Flag("app-health-check-path", "path for app health checks", "/healthz"),
    _Flag("app-health-probe-interval", "seconds between app health probes", "5"),
    _Flag("app-health-probe-timeout", "app health probe timeout in ms", "500"),
    _Flag("app-health-threshold", "failures before the app is unhealthy", "3"),
    _Flag("mode", "runtime mode: standalone or kubernetes", "standalone", acted_on=False),
    _Flag("placement-host-address", "actor placement service addresses", acted_on=False),
    _Flag("scheduler-host-address", "scheduler service addresses", acted_on=False),
    _Flag("dapr-internal-grpc-port", "port peers call this runtime on (default: any free port)"),
    _Flag("dapr-public-port", "public port for health and metadata", acted_on=False),
    _Flag("profile-port", "port for the profiling server", "7777", acted_on=False),
    _Flag("enable-profiling", "enable profiling", is_bool=True, acted_on=False),
    _Flag("enable-mtls", "mTLS between runtimes", is_bool=True, acted_on=False),
    _Flag("sentry-address", "address of the certificate authority", acted_on=False),
    _Flag("control-plane-address", "address of a control plane", acted_on=False),
    _Flag("allowed-origins", "allowed HTTP origins", "*", acted_on=False),
    _Flag("unix-domain-socket", "folder for unix domain sockets", acted_on=False),
    _Flag(
        "dapr-block-shutdown-duration", "block shutdown until the app is unhealthy", acted_on=False
    ),
    _Flag("app-ssl", "deprecated: use --app-protocol https|grpcs", is_bool=True, acted_on=False),
)


def build_parser(parser: argparse.ArgumentParser) -> None:
    """Add daprd's flags to a `mecha run` parser."""
    for flag in FLAGS:
        dest = flag.name.replace("-", "_")
        if flag.is_bool:
            parser.add_argument(
                f"--{flag.name}",
                dest=dest,
                nargs="?",
                const="true",
                default=None,
                metavar="BOOL",
                help=flag.help,
            )
        elif flag.repeatable:
            parser.add_argument(f"--{flag.name}", dest=dest, action="append", help=flag.help)
        else:
            parser.add_argument(f"--{flag.name}", dest=dest, default=None, help=flag.help)


def _int(value: str, *, flag: str, minimum: int = 0, maximum: int = 65535) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(
            f"invalid value for '--{flag}': {value!r} is not a whole number"
        ) from None
    if not minimum <= number <= maximum:
        raise ConfigError(f"invalid value for '--{flag}': {number} is outside {minimum}..{maximum}")
    return number


def _bool(value: str | None, *, flag: str) -> bool:
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ConfigError(f"invalid value for '--{flag}': {value!r} is not true or false")


def from_args(
    args: argparse.Namespace, command: Sequence[str], environ: Mapping[str, str] = os.environ
) -> RuntimeConfig:
    """Turn parsed `mecha run` flags plus the environment into a RuntimeConfig."""
    values: dict[str, str | None] = {}
    for flag in FLAGS:
        given = getattr(args, flag.name.replace("-", "_"))
        if given is None and flag.env:
            given = environ.get(flag.env) or None
        values[flag.name] = given if not flag.repeatable else None

    ignored = tuple(
        f"--{flag.name}"
        for flag in FLAGS
        if not flag.acted_on and getattr(args, flag.name.replace("-", "_")) is not None
    )

    app_id = values["app-id"]
    if not app_id:
        raise ConfigError("--app-id is required")
    protocol = values["app-protocol"] or "http"
    if protocol not in APP_PROTOCOLS:
        raise ConfigError(
            f"invalid value for '--app-protocol': {protocol!r}; "
            f"use one of {', '.join(APP_PROTOCOLS)}"
        )
    log_level = (values["log-level"] or "info").lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(
            f"invalid value for '--log-level': {log_level!r}; use one of {', '.join(LOG_LEVELS)}"
        )

    app_port_text = values["app-port"]
    app_port = _int(app_port_text, flag="app-port", minimum=1) if app_port_text else None

    max_body = parse_quantity(values["max-body-size"] or "4Mi", flag="--max-body-size")
    if args.max_body_size is None and values["dapr-http-max-request-size"]:
        max_body = (
            _int(
                values["dapr-http-max-request-size"] or "4",
                flag="dapr-http-max-request-size",
                maximum=1 << 20,
            )
            << 20
        )
    max_header = parse_quantity(values["read-buffer-size"] or "4Ki", flag="--read-buffer-size")
    if args.read_buffer_size is None and values["dapr-http-read-buffer-size"]:
        max_header = (
            _int(
                values["dapr-http-read-buffer-size"] or "4",
                flag="dapr-http-read-buffer-size",
                maximum=1 << 20,
            )
            << 10
        )

    grace_text = values["dapr-graceful-shutdown-seconds"] or "5"
    try:
        grace = float(grace_text)
    except ValueError:
        raise ConfigError(
            f"invalid value for '--dapr-graceful-shutdown-seconds': {grace_text!r}"
        ) from None

    listen = tuple(
        a.strip() for a in (values["dapr-listen-addresses"] or "").split(",") if a.strip()
    )
    paths = [*(args.resources_path or ()), *(args.components_path or ())]
    config_path = values["config"]
    data_dir = values["data-dir"]

    return RuntimeConfig(
        app_id=app_id,
        app_port=app_port,
        app_protocol=protocol,
        app_channel_address=values["app-channel-address"] or "127.0.0.1",
        http_port=_int(values["dapr-http-port"] or "3500", flag="dapr-http-port"),
        grpc_port=_int(values["dapr-grpc-port"] or "50001", flag="dapr-grpc-port"),
        listen_addresses=listen or ("0.0.0.0",),
        resources_paths=tuple(Path(p).expanduser() for p in paths),
        config_path=Path(config_path).expanduser() if config_path else None,
        data_dir=Path(data_dir).expanduser() if data_dir else Path.home() / ".mecha",
        log_level=log_level,
        log_as_json=_bool(values["log-as-json"], flag="log-as-json"),
        enable_api_logging=_bool(values["enable-api-logging"], flag="enable-api-logging"),
        max_body_bytes=max_body,
        max_header_bytes=max_header,
        graceful_shutdown_seconds=grace,
        api_token=environ.get("DAPR_API_TOKEN") or None,
        app_api_token=environ.get("APP_API_TOKEN") or None,
        app_command=tuple(command),
        internal_port=_int(
            values["dapr-internal-grpc-port"] or "0", flag="dapr-internal-grpc-port"
        ),
        app_max_concurrency=_int(
            values["app-max-concurrency"] or "-1",
            flag="app-max-concurrency",
            minimum=-1,
            maximum=1 << 20,
        ),
        app_health_check=_bool(values["enable-app-health-check"], flag="enable-app-health-check"),
        app_health_check_path=values["app-health-check-path"] or "/healthz",
        app_health_probe_interval=float(
            _int(
                values["app-health-probe-interval"] or "5",
                flag="app-health-probe-interval",
                minimum=1,
                maximum=3600,
            )
        ),
        app_health_probe_timeout=_int(
            values["app-health-probe-timeout"] or "500",
            flag="app-health-probe-timeout",
            minimum=1,
            maximum=3_600_000,
        )
        / 1000,
        app_health_threshold=_int(
            values["app-health-threshold"] or "3",
            flag="app-health-threshold",
            minimum=1,
            maximum=1000,
        ),
        host_ip=environ.get("DAPR_HOST_IP", ""),
        namespace=environ.get("NAMESPACE", ""),
        ignored_flags=ignored,
    )
