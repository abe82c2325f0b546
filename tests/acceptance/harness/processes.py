"""Starting, probing and stopping the processes of a scenario: mecha, its app, the client."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

STOP_GRACE_S = 10.0
# Variables a `dapr run` would set; inherited ones must not leak into a scenario.
INHERITED_PREFIXES = ("DAPR_", "APP_", "ACCEPTANCE_", "PEER_")
# Set in mecha's environment so that whatever it starts (its app) inherits it and can be found
# after mecha exits, whichever process group or session it moved to.
RUN_MARKER = "ACCEPTANCE_MECHA_RUN"


def free_ports(count: int) -> list[int]:
    """Distinct ports the kernel just handed out (held together so none repeats)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def clean_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_process(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    # Its own session, so the whole tree (mecha and the app it launched) can be ended at once.
    return subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def marked_processes(marker: str) -> list[int]:
    """Running processes whose environment carries RUN_MARKER=marker (zombies have none)."""
    entry = f"{RUN_MARKER}={marker}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if entry in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue  # gone meanwhile
    return found


def kill_all(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def http_status(url: str, headers: Mapping[str, str], timeout_s: float) -> int | None:
    """The status of a GET, or None when nothing answered."""
    request = urllib.request.Request(url, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, TimeoutError):
        return None


def wait_until_ready(
    process: subprocess.Popen[bytes],
    http_port: int,
    token: str | None,
    has_app: bool,
    timeout_s: float,
    name: str = "mecha",
) -> str | None:
    """Poll a runtime's health endpoints; a description of what went wrong, or None when ready."""
    headers = {"dapr-api-token": token} if token else {}
    paths = ["/v1.0/healthz/outbound"] + (["/v1.0/healthz"] if has_app else [])
    deadline = time.monotonic() + timeout_s
    for path in paths:
        url = f"http://127.0.0.1:{http_port}{path}"
        while (status := http_status(url, headers, timeout_s=1.0)) != 204:
            if process.poll() is not None:
                return f"{name} exited with code {process.returncode} before it was ready"
            if time.monotonic() > deadline:
                answer = "no answer" if status is None else f"status {status}"
                return f"{name} not ready after {timeout_s:g} s: GET {path} got {answer}, not 204"
            time.sleep(0.05)
    return None


def stop_mecha(
    process: subprocess.Popen[bytes], marker: str, problems: list[str], name: str = "mecha"
) -> None:
    """SIGTERM, then SIGKILL after a grace; a graceful stop must exit 0 and leave nothing."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            problems.append(f"{name} did not stop within {STOP_GRACE_S:g} s of SIGTERM")
            kill_group(process.pid)
            process.wait()
        else:
            if process.returncode != 0:
                problems.append(f"{name} exited with code {process.returncode} after SIGTERM")
    leftovers = marked_processes(marker)
    if leftovers:
        problems.append(f"{name} exited but left processes it started running: {leftovers}")
        kill_all(leftovers)
