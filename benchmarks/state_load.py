"""One load run of the state benchmark, in its own process on uvloop.

Every caller first saves its key and reads it back (the value must round-trip intact), then
loops on one operation. After the warm-up a window opens: each operation that ends inside it
is timed and counted, and CPU time is read at both edges — this process's own (all threads),
Mecha's and Redis's (from /proc). The figures go to stdout as one JSON line.

`run_load()` spawns it pinned with taskset; `python -m benchmarks.state_load SPEC_JSON` is the
process itself.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

from benchmarks.harness import procfs
from benchmarks.state_clients import Caller, open_callers
from benchmarks.state_settings import LoadFigures, LoadSpec, Percentiles

_MARKER = "STATE_LOAD "
_REPO = Path(__file__).resolve().parents[1]


@dataclass
class _Window:
    running: bool = True
    measuring: bool = False
    latencies_ns: list[int] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_s(pid: int) -> float | None:
    return procfs.cpu_seconds(pid) if pid else None


def _percentiles(latencies_ns: list[int]) -> Percentiles:
    if not latencies_ns:
        return Percentiles(0.0, 0.0, 0.0, 0.0, 0.0)
    ordered = sorted(latencies_ns)

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e3

    mean = sum(ordered) / len(ordered) / 1e3
    return Percentiles(mean, rank(0.50), rank(0.90), rank(0.99), ordered[-1] / 1e3)


async def _check_round_trip(callers: list[Caller], value: bytes) -> None:
    for caller in callers:
        await caller.save()
        got = await caller.get()
        if got != value:
            shown = got[:80] if got else got
            raise RuntimeError(f"wrote {len(value)} bytes, read back {shown!r}")


async def _loop(caller: Caller, operation: str, window: _Window) -> None:
    call = caller.get if operation == "get" else caller.save
    clock = time.perf_counter_ns
    while window.running:
        started = clock()
        try:
            await call()
        except Exception as error:
            if window.measuring:
                window.errors += 1
                window.first_error = window.first_error or f"{type(error).__name__}: {error}"
            continue
        if window.measuring:
            window.latencies_ns.append(clock() - started)


async def measure(spec: LoadSpec) -> LoadFigures:
    async with open_callers(spec) as callers:
        await _check_round_trip(callers, spec.value.encode())
        window = _Window()
        tasks = [asyncio.create_task(_loop(caller, spec.operation, window)) for caller in callers]
        await asyncio.sleep(spec.warmup_s)
        client_0, server_0, redis_0 = _own_cpu_s(), _cpu_s(spec.server_pid), _cpu_s(spec.redis_pid)
        wall_0, window.measuring = time.perf_counter(), True
        await asyncio.sleep(spec.duration_s)
        window.measuring, wall_1 = False, time.perf_counter()
        client_1, server_1, redis_1 = _own_cpu_s(), _cpu_s(spec.server_pid), _cpu_s(spec.redis_pid)
        window.running = False
        await asyncio.gather(*tasks)

    def spent(before: float | None, after: float | None) -> float | None:
        return after - before if before is not None and after is not None else None

    return LoadFigures(
        target=spec.target,
        operation=spec.operation,
        callers=len(callers),
        ops=len(window.latencies_ns),
        errors=window.errors,
        wall_s=wall_1 - wall_0,
        latency_us=_percentiles(window.latencies_ns),
        client_cpu_s=client_1 - client_0,
        server_cpu_s=spent(server_0, server_1),
        redis_cpu_s=spent(redis_0, redis_1),
        first_error=window.first_error,
    )


def run_load(spec: LoadSpec, cpus: Collection[int] | None) -> LoadFigures:
    """Run `spec` in a fresh process, pinned to `cpus` when given; its figures."""
    pinning = ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []
    argv = [*pinning, sys.executable, "-m", "benchmarks.state_load", spec.to_json()]
    timeout_s = spec.warmup_s + spec.duration_s + 30
    done = subprocess.run(argv, cwd=_REPO, capture_output=True, text=True, timeout=timeout_s)
    for line in done.stdout.splitlines():
        if line.startswith(_MARKER):
            return LoadFigures.from_json(line[len(_MARKER) :])
    raise RuntimeError(
        f"{spec.target} {spec.operation} load exited with {done.returncode}:\n"
        f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
    )


def main(argv: list[str]) -> int:
    spec = LoadSpec.from_json(argv[0])
    figures = uvloop.run(measure(spec))
    print(_MARKER + figures.to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
