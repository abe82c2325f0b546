"""The spine benchmark: Mecha's startup, idle memory and HTTP hot path, against nginx.

Run by hand from the repository root: `scripts/bench` (or `.venv/bin/python -m benchmarks.spine`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks import report, spine_report
from benchmarks.harness import (
    NGINX_PATH,
    LoadResult,
    LoadSettings,
    NotReadyError,
    Server,
    ensure_programs,
    get,
    measure_load,
    mecha_command,
    procfs,
    program_version,
    start_mecha,
    start_nginx,
)

HEALTHZ = "/v1.0/healthz"
METADATA = "/v1.0/metadata"
STARTUP_TARGET_S = 0.3
IDLE_RSS_TARGET_BYTES = 50_000_000
HEALTHZ_THROUGHPUT_TARGET = 0.7  # of nginx's requests/s
SERVER_CPUS = frozenset({0})
CLIENT_CPUS = frozenset({1})


@dataclass(frozen=True)
class Startup:
    ready_s: list[float]
    stop_s: list[float]

    def summary(self) -> dict[str, Any]:
        return {
            "runs": len(self.ready_s),
            "ready_median_s": statistics.median(self.ready_s),
            "ready_max_s": max(self.ready_s),
            "stop_median_s": statistics.median(self.stop_s),
            "ready_s": self.ready_s,
            "stop_s": self.stop_s,
        }


@dataclass
class ServerFigures:
    """What one server measured; `error` says why the rest may be missing."""

    command: list[str]
    startup: Startup | None = None
    idle_rss_bytes: int | None = None
    loaded_rss_bytes: int | None = None
    loads: dict[str, LoadResult] = field(default_factory=dict)
    error: str | None = None


def measure_startup(start: Callable[[], tuple[Server, float]], runs: int) -> Startup:
    ready, stop = [], []
    for _ in range(runs):
        server, ready_s = start()
        ready.append(ready_s)
        stop.append(server.stop())
    return Startup(ready, stop)


def warm_and_read_idle_rss(server: Server, paths: Sequence[str]) -> int:
    """Serve a few requests on fresh connections (checking each is a success), then read RSS."""
    for _ in range(5):
        for path in paths:
            status, body = get(server.port, path)
            if status >= 300:
                raise NotReadyError(f"{server.name} GET {path} -> {status}: {body[:200]!r}")
    return procfs.rss_bytes(server.pid)


def measure_nginx(
    nginx: str, runs: int, settings: LoadSettings, cpus: frozenset[int] | None
) -> ServerFigures:
    figures = ServerFigures(command=[nginx])

    def start() -> tuple[Server, float]:
        return start_nginx(nginx, cpus=cpus)

    figures.startup = measure_startup(start, runs)
    with start()[0] as server:
        figures.idle_rss_bytes = warm_and_read_idle_rss(server, [NGINX_PATH])
        figures.loads["static"] = measure_load(server, NGINX_PATH, settings)
        figures.loaded_rss_bytes = procfs.rss_bytes(server.pid)
    return figures


def measure_mecha(
    command: list[str], runs: int, settings: LoadSettings, cpus: frozenset[int] | None
) -> ServerFigures:
    figures = ServerFigures(command=command)

    def start() -> tuple[Server, float]:
        return start_mecha(command=command, cpus=cpus)

    try:
        figures.startup = measure_startup(start, runs)
        with start()[0] as server:
            figures.idle_rss_bytes = warm_and_read_idle_rss(server, [HEALTHZ, METADATA])
            figures.loads["healthz"] = measure_load(server, HEALTHZ, settings)
            figures.loads["metadata"] = measure_load(server, METADATA, settings)
            figures.loaded_rss_bytes = procfs.rss_bytes(server.pid)
    except (NotReadyError, OSError, RuntimeError) as exc:
        figures.error = str(exc)
    return figures


def load_summary(load: LoadResult) -> dict[str, Any]:
    wrk = load.wrk
    return {
        "target": load.target,
        "requests": wrk.requests,
        "requests_per_s": wrk.requests_per_s,
        "latency_us": asdict(wrk.latency_us),
        "cpu_us_per_request": load.cpu_us_per_request,
        "server_cpu_utilisation": load.server_cpu_utilisation,
        "bytes_per_response": wrk.bytes_read / wrk.requests if wrk.requests else 0.0,
        "errors": wrk.errors,
    }


def ratios(mecha: LoadResult, nginx: LoadResult) -> dict[str, float]:
    def ratio(a: float, b: float) -> float:
        return a / b if b else float("nan")

    return {
        "requests_per_s": ratio(mecha.wrk.requests_per_s, nginx.wrk.requests_per_s),
        "p50": ratio(mecha.wrk.latency_us.p50, nginx.wrk.latency_us.p50),
        "p99": ratio(mecha.wrk.latency_us.p99, nginx.wrk.latency_us.p99),
        "cpu_us_per_request": ratio(mecha.cpu_us_per_request, nginx.cpu_us_per_request),
    }


def figures_summary(figures: ServerFigures) -> dict[str, Any]:
    return {
        "command": figures.command,
        "startup": figures.startup.summary() if figures.startup else None,
        "idle_rss_bytes": figures.idle_rss_bytes,
        "loaded_rss_bytes": figures.loaded_rss_bytes,
        "loads": {name: load_summary(load) for name, load in figures.loads.items()},
        "error": figures.error,
    }


def targets(mecha: ServerFigures, nginx: ServerFigures) -> dict[str, dict[str, Any]]:
    startup = mecha.startup.summary()["ready_median_s"] if mecha.startup else None
    rss = mecha.idle_rss_bytes
    healthz = mecha.loads.get("healthz")
    throughput = ratios(healthz, nginx.loads["static"])["requests_per_s"] if healthz else None

    def check(value: float | None, ok: Callable[[float], bool]) -> dict[str, Any]:
        return {"value": value, "ok": None if value is None else ok(value)}

    return {
        f"ready median < {STARTUP_TARGET_S} s": check(startup, lambda v: v < STARTUP_TARGET_S),
        f"idle RSS < {IDLE_RSS_TARGET_BYTES / 1e6:g} MB": check(
            rss, lambda v: v < IDLE_RSS_TARGET_BYTES
        ),
        f"healthz req/s >= {HEALTHZ_THROUGHPUT_TARGET}x nginx": check(
            throughput, lambda v: v >= HEALTHZ_THROUGHPUT_TARGET
        ),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="startup runs per server")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured wrk run")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="spine", help="results/<name>-<date>.json")
    parser.add_argument("--mecha", default=None, help="command that runs mecha (default: venv's)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    programs = ensure_programs({"nginx": "nginx", "wrk": "wrk"})
    pinned = len(os.sched_getaffinity(0) & (SERVER_CPUS | CLIENT_CPUS)) == 2
    server_cpus, client_cpus = (SERVER_CPUS, CLIENT_CPUS) if pinned else (None, None)
    if client_cpus is not None:
        os.sched_setaffinity(
            0, client_cpus
        )  # this process polls and spawns wrk: keep it off the server's core
    settings = LoadSettings(
        threads=args.threads,
        connections=args.connections,
        duration_s=args.duration,
        warmup_s=args.warmup,
        wrk=programs["wrk"],
        client_cpus=client_cpus,
    )
    command = shlex.split(args.mecha) if args.mecha else mecha_command()
    date = report.now_utc()
    print(f"measuring nginx and mecha ({args.runs} startups each, 3 wrk runs) ...", flush=True)
    nginx = measure_nginx(programs["nginx"], args.runs, settings, server_cpus)
    mecha = measure_mecha(command, args.runs, settings, server_cpus)

    baseline = nginx.loads["static"]
    result: dict[str, Any] = {
        "benchmark": args.name,
        "date": date,
        "machine": report.machine_info(
            nginx=program_version([programs["nginx"], "-v"]),
            wrk=program_version([programs["wrk"], "-v"]),
        ),
        "settings": {
            "placement": "server on CPU 0, wrk and harness on CPU 1" if pinned else "not pinned",
            "startup_runs": args.runs,
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
        },
        "nginx": figures_summary(nginx),
        "mecha": figures_summary(mecha),
        "ratios": {name: ratios(load, baseline) for name, load in mecha.loads.items()},
        "targets": targets(mecha, nginx),
    }
    print(spine_report.render(result))
    print(f"\nwritten: {report.write_json(args.name, result, date)}")
    return 1 if mecha.error else 0


if __name__ == "__main__":
    sys.exit(main())
