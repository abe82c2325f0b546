"""Instructions per request, counted by callgrind: Mecha against nginx, and against another build.

Timed benchmarks on a shared VM move by 10-20 % from one minute to the next; an instruction count
does not. Each process is run under callgrind in turn while the others run normally, warmed up,
then sent the same sequential keep-alive requests:

- spine: nginx `GET /` (static 200) and mecha `GET /v1.0/healthz`;
- invocation, 1 KiB bodies: each nginx proxy of the pair, and runtime A and runtime B of the pair
  (client → A → B → app), each against the nginx hop in its place.

Run by hand from the repository root: `.venv/bin/python -m benchmarks.instructions` (about 3
minutes; `--against "command"` adds another build, e.g. an older checkout's). User space only:
the kernel's socket work is not counted, and a count says nothing of cache misses.
"""

from __future__ import annotations

import argparse
import http.client
import shlex
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.harness import (
    NGINX_PATH,
    Server,
    ensure_programs,
    mecha_command,
    start_mecha,
    start_nginx,
)
from benchmarks.harness.callgrind import Counter
from benchmarks.invoke_setups import (
    CONTENT_TYPE,
    REQUEST_BODY,
    WRAPPED_READY_TIMEOUT_S,
    Setup,
    check_answer,
    start_app,
    start_mecha_pair,
    start_nginx_pair,
)

WARMUP_REQUESTS = 300


def send(port: int, path: str, count: int, body: bytes | None) -> None:
    """`count` requests one after another on one keep-alive connection; each must succeed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for _ in range(count):
            if body is None:
                conn.request("GET", path)
            else:
                conn.request("POST", path, body, {"Content-Type": CONTENT_TYPE})
            response = conn.getresponse()
            response.read()
            if response.status >= 300:
                raise RuntimeError(f"{path} answered {response.status}")
    finally:
        conn.close()


def per_request(
    counter: Counter, server: Server, port: int, path: str, count: int, body: bytes | None
) -> float:
    """Instructions `server` executes per request sent to `port` (it may be another process)."""
    send(port, path, WARMUP_REQUESTS, body)
    counter.zero(server.pid)
    send(port, path, count, body)
    return counter.count(server.pid) / count


def spine(
    counter: Counter, nginx: str, builds: dict[str, list[str]], count: int
) -> dict[str, float]:
    figures: dict[str, float] = {}
    started = start_nginx(nginx, wrapper=counter.wrapper, ready_timeout_s=WRAPPED_READY_TIMEOUT_S)
    with started[0] as server:
        figures["nginx GET /"] = per_request(counter, server, server.port, NGINX_PATH, count, None)
    for build, command in builds.items():
        started = start_mecha(
            command=[*counter.wrapper, *command], ready_timeout_s=WRAPPED_READY_TIMEOUT_S
        )
        with started[0] as server:
            path = "/v1.0/healthz"
            figures[f"{build} GET {path}"] = per_request(
                counter, server, server.port, path, count, None
            )
    return figures


def _hop(counter: Counter, setup: Setup, role: str, count: int) -> float:
    check_answer(setup, timeout_s=WRAPPED_READY_TIMEOUT_S)
    return per_request(counter, setup.processes[role], setup.port, setup.path, count, REQUEST_BODY)


def invocation(
    counter: Counter, nginx: str, builds: dict[str, list[str]], count: int
) -> dict[str, float]:
    figures: dict[str, float] = {}
    for role in ("nginx 1", "nginx 2"):
        with ExitStack() as stack:
            app = start_app(stack, nginx, None)
            setup = start_nginx_pair(stack, nginx, app, None, {role: counter.wrapper})
            figures[role] = _hop(counter, setup, role, count)
    for build, command in builds.items():
        for role in ("runtime A", "runtime B"):
            with ExitStack() as stack:
                app = start_app(stack, nginx, None)
                setup = start_mecha_pair(stack, command, app, None, {role: counter.wrapper})
                figures[f"{build} {role}"] = _hop(counter, setup, role, count)
    return figures


def _rows(figures: dict[str, float], baseline_of: dict[str, str]) -> list[list[str]]:
    rows = []
    for name, value in figures.items():
        baseline = baseline_of.get(name)
        ratio = f"{value / figures[baseline]:.2f}" if baseline else "-"
        rows.append([name, f"{value:,.0f}", ratio, baseline or ""])
    return rows


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per process")
    parser.add_argument("--mecha", help="command that runs mecha (default: venv's)")
    parser.add_argument("--against", help="command that runs another mecha build, to compare")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    nginx = ensure_programs({"nginx": "nginx"})["nginx"]
    builds = {"mecha": shlex.split(args.mecha) if args.mecha else mecha_command()}
    if args.against:
        builds["against"] = shlex.split(args.against)
    when = report.now_utc()
    print(f"counting instructions, {args.requests} requests per process ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="callgrind-") as out:
        counter = Counter(Path(out))
        spine_figures = spine(counter, nginx, builds, args.requests)
        hop_figures = invocation(counter, nginx, builds, args.requests)
    spine_baselines = {name: "nginx GET /" for name in spine_figures if name != "nginx GET /"}
    hop_baselines = {
        name: "nginx 1" if name.endswith("runtime A") else "nginx 2"
        for name in hop_figures
        if not name.startswith("nginx")
    }
    headers = ["process", "instructions/request", "ratio", "to"]
    print(f"\nInstructions per request (callgrind, user space), {when}")
    print(report.table(headers, _rows(spine_figures, spine_baselines)))
    print()
    print(report.table(headers, _rows(hop_figures, hop_baselines)))
    data: dict[str, Any] = {
        "when": when,
        "machine": report.machine_info(),
        "requests": args.requests,
        "builds": {name: shlex.join(command) for name, command in builds.items()},
        "spine": spine_figures,
        "invocation": hop_figures,
    }
    print(f"\nwritten: {report.write_json('instructions', data, when)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
