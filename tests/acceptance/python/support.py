"""Small helpers shared by the Python acceptance scenarios.

Scenarios read the environment `dapr run` gives an app (DAPR_HTTP_PORT, DAPR_GRPC_PORT,
APP_ID, ...), talk to Mecha through the SDK, and use these helpers to make raw calls and to fail
with a message that says what was expected and what came back.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2

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


def run_token() -> str:
    """A short id unique to this run, so keys and query filters never see earlier runs' data."""
    return uuid.uuid4().hex[:12]


def expect_failure(what: str, call: Callable[[], object]) -> Exception:
    """Run `call`, which must raise; return what it raised."""
    try:
        result = call()
    except Exception as error:  # the caller checks the kind and code of the failure
        print(f"ok: {what} fails ({type(error).__name__}: {error})")
        return error
    raise AssertionError(f"{what}: expected a failure, got {result!r}")


def expect_grpc_code(
    what: str, call: Callable[[], object], *codes: grpc.StatusCode
) -> grpc.RpcError:
    """Run `call`, which must fail with an RPC error of one of `codes`; return that error."""
    error = expect_failure(what, call)
    if not isinstance(error, grpc.RpcError):
        raise AssertionError(f"{what}: expected an RPC error, got {error!r}") from error
    if len(codes) == 1:
        expect_equal(f"{what}: status code", error.code(), codes[0])
    else:
        expect(f"{what}: status code is one of {codes}", error.code() in codes, error.code())
    return error


class StoreMatrix:
    """Runs a scenario's steps against several stores, so that one broken store hides no other.

    A store whose step fails is skipped in later steps; `finish` prints one line per store and
    fails the scenario if any store failed.
    """

    def __init__(self, stores: Iterable[str]) -> None:
        self.stores = tuple(stores)
        self.failures: dict[str, str] = {}

    def step(self, what: str, check: Callable[[str], None], stores: Iterable[str] = ()) -> None:
        """Run `check(store)` for each store still passing (only `stores`, when given)."""
        chosen = set(stores)
        for store in self.stores:
            if store in self.failures or (chosen and store not in chosen):
                continue
            print(f"--- [{store}] {what}")
            try:
                check(store)
            except Exception as error:  # recorded per store; `finish` fails the scenario
                self.failures[store] = f"{what}: {type(error).__name__}: {error}"
                print(f"FAILED [{store}] {self.failures[store]}")

    def finish(self) -> None:
        print("=== per store")
        for store in self.stores:
            print(f"{'FAIL' if store in self.failures else 'PASS'} {store}")
            if store in self.failures:
                print(f"     {self.failures[store]}")
        if self.failures:
            raise SystemExit(f"failed on {len(self.failures)} store(s): {', '.join(self.failures)}")


JS_DIR = Path(__file__).resolve().parents[1] / "js"


def run_js(source: str, env_extra: Mapping[str, str] | None = None, timeout_s: float = 20) -> Any:
    """Run an ES module with the JS SDK resolvable; return the JSON its last output line holds."""
    completed = subprocess.run(
        [shutil.which("node") or "node", "--input-type=module", "-e", source],
        cwd=JS_DIR,
        env={**os.environ, **(env_extra or {})},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(
            f"node exited with {completed.returncode}: {completed.stderr.strip()[-2000:]}"
        )
    lines = completed.stdout.strip().splitlines()
    if not lines:
        raise AssertionError(f"node printed nothing (stderr: {completed.stderr.strip()[-2000:]})")
    return json.loads(lines[-1])


def peer_app_id() -> str:
    """The app id of the scenario's `@peer` runtime."""
    return env("PEER_APP_ID")


def header(headers: Mapping[str, Sequence[str | bytes]], name: str) -> list[str]:
    """The values of one header or metadata key, whatever its case; `-bin` values as text."""
    return [
        value.decode(errors="replace") if isinstance(value, bytes) else value
        for key, values in headers.items()
        if key.lower() == name.lower()
        for value in values
    ]


class Steps:
    """Runs a scenario's independent checks one after another, so that one failure hides no
    other; `finish` prints one line per step and fails the scenario if any step failed."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str | None] = {}

    def step(self, what: str, check: Callable[[], None]) -> None:
        print(f"--- {what}")
        try:
            check()
        except Exception as error:  # recorded; `finish` fails the scenario
            self.outcomes[what] = f"{type(error).__name__}: {error}"
            print(f"FAILED {what}: {self.outcomes[what]}")
        else:
            self.outcomes[what] = None

    def finish(self) -> None:
        print("=== per step")
        for what, failure in self.outcomes.items():
            print(f"{'FAIL' if failure else 'PASS'} {what}")
            if failure:
                print(f"     {failure}")
        failed = [what for what, failure in self.outcomes.items() if failure]
        if failed:
            raise SystemExit(f"{len(failed)} step(s) failed: {', '.join(failed)}")


def error_infos(error: grpc.RpcError) -> list[error_details_pb2.ErrorInfo]:
    """The google.rpc.ErrorInfo details of a failed call's rich status (grpc-status-details-bin)."""
    trailers = error.trailing_metadata() or ()
    raw = next((m.value for m in trailers if m.key == "grpc-status-details-bin"), b"")
    infos = []
    for detail in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            infos.append(info)
    return infos
