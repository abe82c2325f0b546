"""Logging setup: human-readable lines by default, one JSON object per line with --log-as-json."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

import mecha

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
}

_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "fatal",
}


def _timestamp(created: float) -> str:
    millis = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """The shape daprd uses for JSON logs, so log pipelines built for it keep working."""

    def __init__(self, app_id: str) -> None:
        super().__init__()
        self._app_id = app_id

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": _LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
            "type": "log",
            "msg": record.getMessage(),
            "scope": record.name,
            "app_id": self._app_id,
            "ver": mecha.__version__,
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = _LEVEL_NAMES.get(record.levelno, record.levelname.lower())
        line = f"{_timestamp(record.created)} {level:<7} [{record.name}] {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup(level: str, *, as_json: bool, app_id: str) -> None:
    """Configure the root logger once, at startup."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(app_id) if as_json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    # Driver libraries are chatty at debug level; our own loggers follow --log-level.
    for noisy in ("asyncio", "grpc"):
        logging.getLogger(noisy).setLevel(max(LEVELS[level], logging.WARNING))
