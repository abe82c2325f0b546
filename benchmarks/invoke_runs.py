"""One measured run of the invocation benchmark: a fixed-rate run or a full-load wrk run, with the
CPU time of every process on the way read from /proc around it.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import procfs
from benchmarks.harness.openloop import OpenLoopResult, OpenLoopSettings, run_open_loop
from benchmarks.harness.wrk import WrkResult, run_wrk
from benchmarks.invoke_setups import BODY_BYTES, REQUEST_BODY, Setup


@dataclass(frozen=True)
class RateRun:
    """Requests at a fixed rate (open loop): latency as a caller sees it, and the CPU it cost."""

    setup: str
    result: OpenLoopResult
    cpu_s: dict[str, float]  # user + system, by role: "app", "nginx 1", "runtime A", ...
    system_s: dict[str, float]  # of it the kernel's (socket work)


@dataclass(frozen=True)
class FullRun:
    """As many requests as `connections` closed-loop connections get answered (wrk)."""

    setup: str
    connections: int
    wrk: WrkResult
    cpu_s: dict[str, float]
    system_s: dict[str, float]
    wall_s: float
    # wrk's own CPU seconds: near wall_s x threads, the client would be the bottleneck.
    client_cpu_s: float


_Times = dict[str, tuple[float, float]]


def _cpu_by_role(setup: Setup) -> _Times:
    """(user, system) CPU seconds of each process."""
    return {role: procfs.cpu_times(server.pid) for role, server in setup.processes.items()}


def _spent(before: _Times, after: _Times) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds (user + system) and system seconds of each process between two readings."""
    total = {role: sum(after[role]) - sum(before[role]) for role in before}
    system = {role: after[role][1] - before[role][1] for role in before}
    return total, system


def _check_alive(setup: Setup) -> None:
    for role, server in setup.processes.items():
        code = server.process.poll()
        if code is not None:
            raise RuntimeError(
                f"{setup.name}: {role} exited with code {code}:\n{server.log_tail()}"
            )


def measure_rate(setup: Setup, settings: OpenLoopSettings) -> RateRun:
    before = _cpu_by_role(setup)
    result = run_open_loop(
        setup.port, setup.path, REQUEST_BODY, settings, expected_body_bytes=BODY_BYTES
    )
    after = _cpu_by_role(setup)
    _check_alive(setup)
    return RateRun(setup.name, result, *_spent(before, after))


def _children_cpu_s() -> float:
    """CPU seconds of the child processes this process has waited for (wrk, once it exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_full(
    setup: Setup,
    connections: int,
    duration_s: int,
    *,
    wrk: str,
    script: Path,
    client_cpus: Iterable[int] | None,
) -> FullRun:
    before, client_before, wall_before = _cpu_by_role(setup), _children_cpu_s(), time.perf_counter()
    result = run_wrk(
        f"http://127.0.0.1:{setup.port}{setup.path}",
        wrk=wrk,
        threads=1,
        connections=connections,
        duration_s=duration_s,
        cpus=client_cpus,
        script=script,
    )
    after, client_after, wall_after = _cpu_by_role(setup), _children_cpu_s(), time.perf_counter()
    _check_alive(setup)
    cpu_s, system_s = _spent(before, after)
    return FullRun(
        setup=setup.name,
        connections=connections,
        wrk=result,
        cpu_s=cpu_s,
        system_s=system_s,
        wall_s=wall_after - wall_before,
        client_cpu_s=client_after - client_before,
    )
