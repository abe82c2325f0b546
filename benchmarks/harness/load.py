"""A load run of one server: wrk's view (throughput, latency) plus the server's CPU cost."""

from __future__ import annotations

import time
from dataclasses import dataclass

from benchmarks.harness import procfs
from benchmarks.harness.servers import Server
from benchmarks.harness.wrk import WrkResult, run_wrk


@dataclass(frozen=True)
class LoadSettings:
    threads: int = 1
    connections: int = 16
    duration_s: int = 5
    warmup_s: int = 1
    wrk: str = "wrk"
    client_cpus: frozenset[int] | None = None


@dataclass(frozen=True)
class LoadResult:
    target: str
    wrk: WrkResult
    server_cpu_s: float
    wall_s: float

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s * 1e6 / self.wrk.requests if self.wrk.requests else 0.0

    @property
    def server_cpu_utilisation(self) -> float:
        """Fraction of one core the server used during the run."""
        return self.server_cpu_s / self.wall_s if self.wall_s else 0.0


def measure_load(server: Server, path: str, settings: LoadSettings) -> LoadResult:
    """Warm up, then one measured wrk run with the server's CPU time sampled around it."""

    def wrk_for(duration_s: int) -> WrkResult:
        return run_wrk(
            server.url(path),
            wrk=settings.wrk,
            threads=settings.threads,
            connections=settings.connections,
            duration_s=duration_s,
            cpus=settings.client_cpus,
        )

    if settings.warmup_s > 0:
        wrk_for(settings.warmup_s)
    cpu_before, wall_before = procfs.cpu_seconds(server.pid), time.perf_counter()
    result = wrk_for(settings.duration_s)
    cpu_after, wall_after = procfs.cpu_seconds(server.pid), time.perf_counter()
    return LoadResult(
        target=f"{server.name} GET {path}",
        wrk=result,
        server_cpu_s=cpu_after - cpu_before,
        wall_s=wall_after - wall_before,
    )
