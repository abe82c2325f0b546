"""Small blocking HTTP probes: one request on a fresh connection, and polling until a status."""

from __future__ import annotations

import http.client
import subprocess
import time


class NotReadyError(RuntimeError):
    """The server exited or did not answer the expected status in time."""


def get(port: int, path: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    """GET 127.0.0.1:port/path on a fresh connection; returns (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_for_status(
    process: subprocess.Popen[bytes],
    port: int,
    path: str,
    status: int,
    *,
    timeout_s: float = 10.0,
    interval_s: float = 0.002,
) -> float:
    """Poll until GET path answers `status`; returns the perf_counter() reading when it did."""
    deadline = time.perf_counter() + timeout_s
    last = "no answer"
    while True:
        try:
            got, _ = get(port, path, timeout_s=1.0)
            now = time.perf_counter()
            if got == status:
                return now
            last = f"status {got}"
        except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
            now = time.perf_counter()
            last = type(exc).__name__
        if process.poll() is not None:
            raise NotReadyError(f"exited with code {process.returncode} before {path} -> {status}")
        if now > deadline:
            raise NotReadyError(f"{path} did not answer {status} within {timeout_s} s ({last})")
        time.sleep(interval_s)
