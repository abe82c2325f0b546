"""From the invocation benchmark's runs to its figures: latency added over direct, throughput,
CPU per 1000 requests, ratios against the nginx pair, and the targets.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.invoke_runs import FullRun, RateRun

DIRECT = "direct"
NGINX = "nginx pair"
MECHA = "mecha pair"
# Another build's pair (--against), in the same rounds: the figures that compare two builds
# on a machine whose speed drifts between runs.
AGAINST = "mecha pair, against"
PERCENTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "p999": 0.999}
ADDED = ("p50", "p90", "p99")
# Targets: mecha's added latency within 1.5x of the nginx pair's, at least half its requests/s,
# and at most 0.1 CPU-seconds per 1000 requests in each runtime.
ADDED_LATENCY_TARGET = 1.5
THROUGHPUT_TARGET = 0.5
CPU_PER_1000_TARGET_S = 0.1
RUNTIMES = ("runtime A", "runtime B")
# Each runtime against the nginx proxy in the same place on the path.
COUNTERPARTS = {"runtime A": "nginx 1", "runtime B": "nginx 2"}


def percentiles_us(latencies_ns: Sequence[int]) -> dict[str, float]:
    """Nearest-rank percentiles and the mean, in microseconds."""
    if not latencies_ns:
        return {name: math.nan for name in [*PERCENTILES, "mean", "max"]}
    ordered = sorted(latencies_ns)
    figures = {
        name: ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e3
        for name, fraction in PERCENTILES.items()
    }
    figures["mean"] = sum(ordered) / len(ordered) / 1e3
    figures["max"] = ordered[-1] / 1e3
    return figures


def _cpu_per_1000(cpu_runs: Sequence[dict[str, float]], requests: int) -> dict[str, float]:
    """CPU seconds each process spent per 1000 answered requests, over all runs together."""
    if not cpu_runs or not requests:
        return {}
    return {role: sum(run[role] for run in cpu_runs) * 1000 / requests for role in cpu_runs[0]}


def rate_figures(runs: Sequence[RateRun]) -> dict[str, Any]:
    pooled = [latency for run in runs for latency in run.result.latencies_ns]
    lag = [value for run in runs for value in run.result.lag_ns]
    answered = sum(run.result.answered for run in runs)
    wall = sum(run.result.wall_s for run in runs)
    errors: dict[str, int] = {}
    for run in runs:
        for kind, count in run.result.errors.items():
            errors[kind] = errors.get(kind, 0) + count
    return {
        "rounds": len(runs),
        "sent": sum(run.result.sent for run in runs),
        "answered": answered,
        "errors": errors,
        "first_error": next((r.result.first_error for r in runs if r.result.first_error), None),
        "latency_us": percentiles_us(pooled),
        "latency_us_by_round": [percentiles_us(run.result.latencies_ns) for run in runs],
        "cpu_s_per_1000": _cpu_per_1000([run.cpu_s for run in runs], answered),
        "system_s_per_1000": _cpu_per_1000([run.system_s for run in runs], answered),
        "generator": {
            "lag_us": percentiles_us(lag),
            "cpu_utilisation": sum(r.result.client_cpu_s for r in runs) / wall if wall else 0.0,
        },
    }


def full_figures(runs: Sequence[FullRun]) -> dict[str, Any]:
    requests = sum(run.wrk.requests for run in runs)
    client_cpu = sum(run.client_cpu_s for run in runs)
    client_wall = sum(run.wrk.duration_s for run in runs)
    return {
        "rounds": len(runs),
        "requests_per_s": statistics.median(run.wrk.requests_per_s for run in runs),
        "requests_per_s_by_round": [run.wrk.requests_per_s for run in runs],
        "p50_us": statistics.median(run.wrk.latency_us.p50 for run in runs),
        "p99_us": statistics.median(run.wrk.latency_us.p99 for run in runs),
        "errors": sum(run.wrk.error_count for run in runs),
        "bytes_per_response": run_bytes_per_response(runs),
        "cpu_s_per_1000": _cpu_per_1000([run.cpu_s for run in runs], requests),
        "system_s_per_1000": _cpu_per_1000([run.system_s for run in runs], requests),
        "client_cpu_utilisation": client_cpu / client_wall if client_wall else 0.0,
    }


def run_bytes_per_response(runs: Sequence[FullRun]) -> float:
    requests = sum(run.wrk.requests for run in runs)
    return sum(run.wrk.bytes_read for run in runs) / requests if requests else 0.0


def added_latency(setups: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each setup's latency percentiles minus the direct call's, pooled over all rounds."""
    base = setups[DIRECT]["fixed_rate"]["latency_us"]
    return {
        name: {p: figures["fixed_rate"]["latency_us"][p] - base[p] for p in ADDED}
        for name, figures in setups.items()
        if name != DIRECT and "fixed_rate" in figures
    }


def _median_round_ratio(
    mecha: Sequence[FullRun], nginx: Sequence[FullRun], value: Callable[[FullRun], float]
) -> float:
    """mecha / nginx per round (they ran back to back), then the median over rounds."""
    pairs = list(zip(mecha, nginx, strict=False))
    if not pairs:
        return math.nan
    return statistics.median(value(m) / value(n) if value(n) else math.nan for m, n in pairs)


def ratios(
    setups: dict[str, Any],
    added: dict[str, dict[str, float]],
    full: dict[tuple[str, int], list[FullRun]],
) -> dict[str, Any]:
    """Mecha pair against the nginx pair; and under "against", over the other build's pair."""
    connections = sorted({c for _, c in full})
    figures = _pair_ratios(setups, added, full, connections, NGINX, COUNTERPARTS)
    if AGAINST in setups:
        same_place = {runtime: runtime for runtime in RUNTIMES}
        figures["against"] = _pair_ratios(setups, added, full, connections, AGAINST, same_place)
    return figures


def _pair_ratios(
    setups: dict[str, Any],
    added: dict[str, dict[str, float]],
    full: dict[tuple[str, int], list[FullRun]],
    connections: list[int],
    under: str,
    counterparts: dict[str, str],
) -> dict[str, Any]:
    """The mecha pair's figures over `under`'s: each runtime's CPU per request at the fixed
    rate against the process in its place there, added latency, full-load req/s."""
    mecha_cpu = setups.get(MECHA, {}).get("fixed_rate", {}).get("cpu_s_per_1000", {})
    under_cpu = setups.get(under, {}).get("fixed_rate", {}).get("cpu_s_per_1000", {})
    figures: dict[str, Any] = {
        "cpu_s_per_1000_at_rate": {
            runtime: mecha_cpu[runtime] / under_cpu[role]
            for runtime, role in counterparts.items()
            if runtime in mecha_cpu and under_cpu.get(role)
        }
    }
    if MECHA in added and under in added:
        figures["added_latency"] = {
            p: added[MECHA][p] / added[under][p] if added[under][p] > 0 else math.nan for p in ADDED
        }
    figures["requests_per_s"] = {
        str(c): _median_round_ratio(
            full.get((MECHA, c), []), full.get((under, c), []), lambda r: r.wrk.requests_per_s
        )
        for c in connections
    }
    return figures


def targets(setups: dict[str, Any], versus: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def check(value: float | None, ok: Callable[[float], bool]) -> dict[str, Any]:
        known = value is not None and not math.isnan(value)
        return {"value": value, "ok": ok(value) if known and value is not None else None}

    checks: dict[str, dict[str, Any]] = {}
    for p in ADDED:
        checks[f"added {p} <= {ADDED_LATENCY_TARGET}x nginx pair's"] = check(
            versus.get("added_latency", {}).get(p), lambda v: v <= ADDED_LATENCY_TARGET
        )
    for connections, ratio in versus.get("requests_per_s", {}).items():
        checks[f"req/s with {connections} connection(s) >= {THROUGHPUT_TARGET}x nginx pair"] = (
            check(ratio, lambda v: v >= THROUGHPUT_TARGET)
        )
    cpu = setups.get(MECHA, {}).get("fixed_rate", {}).get("cpu_s_per_1000", {})
    for runtime in RUNTIMES:
        checks[f"{runtime} CPU-s per 1000 req <= {CPU_PER_1000_TARGET_S}"] = check(
            cpu.get(runtime), lambda v: v <= CPU_PER_1000_TARGET_S
        )
    return checks
