"""A load run of one server: wrk's view (throughput, latency) plus the server's CPU cost."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Sequence
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
    server_user_s: float
    server_system_s: float
    wall_s: float

    @property
    def server_cpu_s(self) -> float:
        return self.server_user_s + self.server_system_s

    @property
    def cpu_us_per_request(self) -> float:
        return self._per_request_us(self.server_cpu_s)

    @property
    def user_us_per_request(self) -> float:
        """The server's own code; the rest of its CPU time is the kernel's socket work."""
        return self._per_request_us(self.server_user_s)

    def _per_request_us(self, seconds: float) -> float:
        return seconds * 1e6 / self.wrk.requests if self.wrk.requests else 0.0

    @property
    def requests_per_core_s(self) -> float:
        """Requests/s one fully busy core would serve at this CPU cost: robust to a busy machine."""
        return 1e6 / self.cpu_us_per_request if self.cpu_us_per_request else 0.0

    @property
    def server_cpu_utilisation(self) -> float:
        """Fraction of one core the server used during the run."""
        return self.server_cpu_s / self.wall_s if self.wall_s else 0.0


def measure_load(
    server: Server, path: str, settings: LoadSettings, *, warm_up: bool = True
) -> LoadResult:
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

    if warm_up and settings.warmup_s > 0:
        wrk_for(settings.warmup_s)
    (user_before, system_before), wall_before = procfs.cpu_times(server.pid), time.perf_counter()
    result = wrk_for(settings.duration_s)
    (user_after, system_after), wall_after = procfs.cpu_times(server.pid), time.perf_counter()
    return LoadResult(
        target=f"{server.name} GET {path}",
        wrk=result,
        server_user_s=user_after - user_before,
        server_system_s=system_after - system_before,
        wall_s=wall_after - wall_before,
    )


@dataclass(frozen=True)
class LoadSummary:
    """Medians over several rounds of the same load; errors are totals."""

    target: str
    rounds: int
    requests_per_s: float
    p50_us: float
    p90_us: float
    p99_us: float
    cpu_us_per_request: float
    user_us_per_request: float
    requests_per_core_s: float
    server_cpu_utilisation: float
    bytes_per_response: float
    errors: int
    requests_per_s_by_round: list[float]


def summarise(results: Sequence[LoadResult]) -> LoadSummary:
    def median(values: Iterable[float]) -> float:
        return statistics.median(list(values))

    latencies = [r.wrk.latency_us for r in results]
    return LoadSummary(
        target=results[0].target,
        rounds=len(results),
        requests_per_s=median(r.wrk.requests_per_s for r in results),
        p50_us=median(lat.p50 for lat in latencies),
        p90_us=median(lat.p90 for lat in latencies),
        p99_us=median(lat.p99 for lat in latencies),
        cpu_us_per_request=median(r.cpu_us_per_request for r in results),
        user_us_per_request=median(r.user_us_per_request for r in results),
        requests_per_core_s=median(r.requests_per_core_s for r in results),
        server_cpu_utilisation=median(r.server_cpu_utilisation for r in results),
        bytes_per_response=median(
            r.wrk.bytes_read / r.wrk.requests if r.wrk.requests else 0.0 for r in results
        ),
        errors=sum(r.wrk.error_count for r in results),
        requests_per_s_by_round=[r.wrk.requests_per_s for r in results],
    )
