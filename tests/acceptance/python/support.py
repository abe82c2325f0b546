"""Small helpers shared by the Python acceptance scenarios.

Scenarios read the environment `dapr run` gives an app (DAPR_HTTP_PORT, DAPR_GRPC_PORT,
APP_ID, ...), talk to Mecha through the SDK, and use these helpers to make raw calls and to fail
with a message that says what was expected and what came back.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise AssertionError(f"the runner did not set {name}")
    return value


def app_id() -> str:
    return env("APP_ID")


def http_port() -> int:
    return int(env("DAPR_HTTP_PORT"))


def grpc_port() -> int:
    return int(env("DAPR_GRPC_PORT"))


def expect_equal(what: str, actual: T, expected: T) -> None:
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")
    print(f"ok: {what} = {actual!r}")


def expect(what: str, condition: bool, context: object = None) -> None:
    if not condition:
        raise AssertionError(f"{what} does not hold (context: {context!r})")
    print(f"ok: {what}")


def http_call(
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, bytes]:
    """A raw call to Mecha's HTTP API, bypassing the SDK: (status, body)."""
    url = f"http://127.0.0.1:{http_port()}{path}"
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, bytes(error.read())


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(what: str, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll an outside process's state until it holds; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not true after {timeout_s:g} s")
        time.sleep(0.05)
    print(f"ok: {what}")
