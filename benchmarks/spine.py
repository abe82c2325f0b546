"""The spine benchmark: Mecha's startup, idle memory and HTTP hot path, against nginx.

Run by hand from the repository root: `scripts/bench` (or `.venv/bin/python -m benchmarks.spine`).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import signal
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks import report, spine_report
from benchmarks.harness import (
    NGINX_PATH,
    LoadResult,
    LoadSettings,
    LoadSummary,
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
    summarise,
)

HEALTHZ = "/v1.0/healthz"
METADATA = "/v1.0/metadata"
STARTUP_TARGET_S = 0.3
IDLE_RSS_TARGET_BYTES = 50_000_000
HEALTHZ_THROUGHPUT_TARGET = 0.7  # of nginx's requests/s
SERVER_CPUS = frozenset({0})
CLIENT_CPUS = frozenset({1})
IDLE_SAMPLE_S = 1.0
# What can go wrong with the server under test; the baseline is expected to work.
MECHA_FAILURES = (NotReadyError, OSError, RuntimeError)


@dataclass(frozen=True)
class Startup:
    ready_s: list[float]
    ready_cpu_s: list[float]
    stop_s: list[float]

    def summary(self) -> dict[str, Any]:
        return {
            "runs": len(self.ready_s),
            "ready_median_s": statistics.median(self.ready_s),
            "ready_max_s": max(self.ready_s),
            "ready_cpu_median_s": statistics.median(self.ready_cpu_s),
            "stop_median_s": statistics.median(self.stop_s),
            "ready_s": self.ready_s,
            "ready_cpu_s": self.ready_cpu_s,
            "stop_s": self.stop_s,
        }


@dataclass
class ServerFigures:
    """What one server measured; `error` says why the rest may be missing."""

    command: list[str]
    startup: Startup | None = None
    idle_rss_bytes: int | None = None
    idle_private_bytes: int | None = None
    idle_cpu_utilisation: float | None = None
    loaded_rss_bytes: int | None = None
    loads: dict[str, list[LoadResult]] = field(default_factory=dict)
    error: str | None = None

    def summaries(self) -> dict[str, LoadSummary]:
        return {name: summarise(rounds) for name, rounds in self.loads.items() if rounds}


@dataclass(frozen=True)
class LoadTarget:
    figures: ServerFigures
    server: Server
    name: str
    path: str


def measure_startup(start: Callable[[], tuple[Server, float]], runs: int) -> Startup:
    ready: list[float] = []
    ready_cpu: list[float] = []
    stop: list[float] = []
    for _ in range(runs):
        server, ready_s = start()
        with server:  # stopped even if this run is interrupted
            ready.append(ready_s)
            ready_cpu.append(server.ready_cpu_s or 0.0)
            stop.append(server.stop())
    return Startup(ready, ready_cpu, stop)


def read_idle_memory(figures: ServerFigures, server: Server, paths: Sequence[str]) -> None:
    """Serve a few requests on fresh connections (checking each is a success), then read memory."""
    for _ in range(5):
        for path in paths:
            status, body = get(server.port, path)
            if status >= 300:
                raise NotReadyError(f"{server.name} GET {path} -> {status}: {body[:200]!r}")
    figures.idle_rss_bytes = procfs.rss_bytes(server.pid)
    figures.idle_private_bytes = procfs.private_bytes(server.pid)


def idle_cpu_utilisation(servers: Sequence[Server], seconds: float) -> list[float]:
    """Fraction of a core each server burns while nobody calls it (timers, polling)."""
    before = [procfs.cpu_seconds(server.pid) for server in servers]
    time.sleep(seconds)
    after = [procfs.cpu_seconds(server.pid) for server in servers]
    return [(a - b) / seconds for a, b in zip(after, before, strict=True)]


def run_rounds(targets: Sequence[LoadTarget], settings: LoadSettings, rounds: int) -> None:
    """Interleave the targets round by round, so a noisy moment hurts all of them alike."""
    for round_index in range(rounds):
        for target in targets:
            if target.figures.error is not None:
                continue
            try:
                result = measure_load(
                    target.server, target.path, settings, warm_up=round_index == 0
                )
            except MECHA_FAILURES as exc:
                if target.server.name != "mecha":
                    raise
                target.figures.error = f"load on {target.path}: {exc}"
                continue
            target.figures.loads.setdefault(target.name, []).append(result)


def measure(
    nginx: ServerFigures,
    mecha: ServerFigures,
    settings: LoadSettings,
    runs: int,
    rounds: int,
    server_cpus: frozenset[int] | None,
) -> None:
    def start_baseline() -> tuple[Server, float]:
        return start_nginx(nginx.command[0], cpus=server_cpus)

    def start_runtime() -> tuple[Server, float]:
        return start_mecha(command=mecha.command, cpus=server_cpus)

    nginx.startup = measure_startup(start_baseline, runs)
    try:
        mecha.startup = measure_startup(start_runtime, runs)
    except MECHA_FAILURES as exc:
        mecha.error = str(exc)

    with ExitStack() as stack:
        baseline = stack.enter_context(start_baseline()[0])
        read_idle_memory(nginx, baseline, [NGINX_PATH])
        servers, targets = [baseline], [LoadTarget(nginx, baseline, "static", NGINX_PATH)]
        if mecha.error is None:
            try:
                runtime = stack.enter_context(start_runtime()[0])
                read_idle_memory(mecha, runtime, [HEALTHZ, METADATA])
                servers.append(runtime)
                targets += [
                    LoadTarget(mecha, runtime, "healthz", HEALTHZ),
                    LoadTarget(mecha, runtime, "metadata", METADATA),
                ]
            except MECHA_FAILURES as exc:
                mecha.error = str(exc)
        idle = idle_cpu_utilisation(servers, IDLE_SAMPLE_S)
        for figures, utilisation in zip((nginx, mecha), idle, strict=False):
            figures.idle_cpu_utilisation = utilisation
        run_rounds(targets, settings, rounds)
        for figures, server in zip((nginx, mecha), servers, strict=False):
            if server.process.poll() is not None:
                figures.error = f"exited with code {server.process.returncode} under load"
            else:
                figures.loaded_rss_bytes = procfs.rss_bytes(server.pid)


def ratios(mecha: Sequence[LoadResult], nginx: Sequence[LoadResult]) -> dict[str, float]:
    """mecha / nginx per round (the two ran back to back), then the median over rounds."""

    def median_ratio(value: Callable[[LoadResult], float]) -> float:
        pairs = zip(mecha, nginx, strict=False)
        return statistics.median(value(m) / value(n) if value(n) else math.nan for m, n in pairs)

    return {
        "requests_per_s": median_ratio(lambda r: r.wrk.requests_per_s),
        "p50": median_ratio(lambda r: r.wrk.latency_us.p50),
        "p99": median_ratio(lambda r: r.wrk.latency_us.p99),
        "cpu_us_per_request": median_ratio(lambda r: r.cpu_us_per_request),
        "requests_per_core_s": median_ratio(lambda r: r.requests_per_core_s),
    }


def figures_summary(figures: ServerFigures) -> dict[str, Any]:
    return {
        "command": figures.command,
        "startup": figures.startup.summary() if figures.startup else None,
        "idle_rss_bytes": figures.idle_rss_bytes,
        "idle_private_bytes": figures.idle_private_bytes,
        "idle_cpu_utilisation": figures.idle_cpu_utilisation,
        "loaded_rss_bytes": figures.loaded_rss_bytes,
        "loads": {name: asdict(summary) for name, summary in figures.summaries().items()},
        "error": figures.error,
    }


def targets(mecha: ServerFigures, nginx: ServerFigures) -> dict[str, dict[str, Any]]:
    startup = mecha.startup.summary()["ready_median_s"] if mecha.startup else None
    healthz = mecha.loads.get("healthz")
    versus = ratios(healthz, nginx.loads["static"]) if healthz else {}

    def check(value: float | None, ok: Callable[[float], bool]) -> dict[str, Any]:
        return {"value": value, "ok": None if value is None else ok(value)}

    def at_least(ratio: float) -> bool:
        return ratio >= HEALTHZ_THROUGHPUT_TARGET

    return {
        f"ready median < {STARTUP_TARGET_S} s": check(startup, lambda v: v < STARTUP_TARGET_S),
        f"idle RSS < {IDLE_RSS_TARGET_BYTES / 1e6:g} MB": check(
            mecha.idle_rss_bytes, lambda v: v < IDLE_RSS_TARGET_BYTES
        ),
        f"healthz req/s >= {HEALTHZ_THROUGHPUT_TARGET}x nginx, measured": check(
            versus.get("requests_per_s"), at_least
        ),
        f"healthz req/s >= {HEALTHZ_THROUGHPUT_TARGET}x nginx, per core": check(
            versus.get("requests_per_core_s"), at_least
        ),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="startup runs per server")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of wrk runs")
    parser.add_argument("--duration", type=int, default=3, help="seconds per measured wrk run")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of wrk before round 1")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="spine", help="results/<name>-<date>.json")
    parser.add_argument("--mecha", default=None, help="command that runs mecha (default: venv's)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A terminated run unwinds like an interrupted one, stopping the servers it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    programs = ensure_programs({"nginx": "nginx", "wrk": "wrk"})
    pinned = len(os.sched_getaffinity(0) & (SERVER_CPUS | CLIENT_CPUS)) == 2
    server_cpus, client_cpus = (SERVER_CPUS, CLIENT_CPUS) if pinned else (None, None)
    if client_cpus is not None:
        # This process polls and spawns wrk: keep it off the server's core.
        os.sched_setaffinity(0, client_cpus)
    settings = LoadSettings(
        threads=args.threads,
        connections=args.connections,
        duration_s=args.duration,
        warmup_s=args.warmup,
        wrk=programs["wrk"],
        client_cpus=client_cpus,
    )
    nginx = ServerFigures(command=[programs["nginx"]])
    mecha = ServerFigures(command=shlex.split(args.mecha) if args.mecha else mecha_command())
    date = report.now_utc()
    print(
        f"measuring nginx and mecha: {args.runs} startups each, "
        f"{args.rounds} rounds of {args.duration} s wrk runs ...",
        flush=True,
    )
    measure(nginx, mecha, settings, args.runs, args.rounds, server_cpus)

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
            "rounds": args.rounds,
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
        },
        "nginx": figures_summary(nginx),
        "mecha": figures_summary(mecha),
        "ratios": {name: ratios(rounds, baseline) for name, rounds in mecha.loads.items()},
        "targets": targets(mecha, nginx),
    }
    print(spine_report.render(result))
    print(f"\nwritten: {report.write_json(args.name, result, date)}")
    return 1 if mecha.error else 0


if __name__ == "__main__":
    sys.exit(main())
