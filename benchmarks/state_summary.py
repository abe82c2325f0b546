"""Rounds of the state benchmark summarised: medians per run, ratios per round, target checks.

Targets run back to back within a round, so each ratio is taken inside a round (the two runs
shared the machine's moment) and the median over rounds is reported.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from benchmarks.state_settings import OPERATIONS, LoadFigures

Rounds = dict[str, dict[str, list[LoadFigures]]]  # operation -> target -> one run per round
BASELINE = "redis-py"
MECHA_TARGETS = {"http": "HTTP", "grpc": "gRPC"}
THROUGHPUT_TARGET = 1.0  # Mecha's ops/s over redis-py's
ADDED_P50_TARGET_MS = 0.15
_NOT_MEDIANS = frozenset({"target", "operation", "callers", "errors", "first_error", "latency_us"})


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def summarise(runs: Sequence[LoadFigures]) -> dict[str, Any]:
    """Each figure's median over the rounds; errors are totals."""
    summaries = [run.summary() for run in runs]
    medians = {
        name: _median([summary[name] for summary in summaries])
        for name in summaries[0]
        if name not in _NOT_MEDIANS
    }
    percentiles = [asdict(run.latency_us) for run in runs]
    latency = {name: _median([p[name] for p in percentiles]) for name in percentiles[0]}
    return {
        "target": runs[0].target,
        "operation": runs[0].operation,
        "callers": runs[0].callers,
        "rounds": len(runs),
        **medians,
        "latency_us": latency,
        "errors": sum(run.errors for run in runs),
        "first_error": next((run.first_error for run in runs if run.first_error), None),
        "ops_per_s_by_round": [run.ops_per_s for run in runs],
    }


def summarise_all(rounds: Rounds) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        operation: {target: summarise(runs) for target, runs in by_target.items() if runs}
        for operation, by_target in rounds.items()
    }


def _per_round(
    rounds: Rounds,
    operation: str,
    target: str,
    compare: Callable[[LoadFigures, LoadFigures], float],
) -> float | None:
    by_target = rounds.get(operation, {})
    pairs = zip(by_target.get(target, []), by_target.get(BASELINE, []), strict=False)
    return _median([compare(run, base) for run, base in pairs])


def ops_ratio(rounds: Rounds, operation: str, target: str) -> float | None:
    """Target's ops/s over redis-py's, median over rounds."""

    def ratio(run: LoadFigures, base: LoadFigures) -> float:
        return run.ops_per_s / base.ops_per_s if base.ops_per_s else math.nan

    return _per_round(rounds, operation, target, ratio)


def per_core_ratio(rounds: Rounds, operation: str, target: str) -> float | None:
    """Ops/s one busy core would give: redis-py app's CPU per op over Mecha's, median over rounds.

    Robust to a busy machine, where the measured ops/s of both move with the neighbours' load.
    """

    def ratio(run: LoadFigures, base: LoadFigures) -> float:
        mecha_us = run.per_op_us(run.server_cpu_s)
        direct_us = base.per_op_us(base.client_cpu_s)
        return direct_us / mecha_us if mecha_us and direct_us else math.nan

    return _per_round(rounds, operation, target, ratio)


def added_p50_ms(rounds: Rounds, operation: str, target: str) -> float | None:
    """Target's p50 minus redis-py's, in ms, median over rounds."""

    def added(run: LoadFigures, base: LoadFigures) -> float:
        return (run.latency_us.p50 - base.latency_us.p50) / 1e3

    return _per_round(rounds, operation, target, added)


def comparisons(
    throughput: Rounds, latency: Rounds
) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """(ops/s ratios, added p50 in ms, target checks) for each Mecha front end and operation.

    The ratios hold the measured one ("ops_per_s") and the one per core ("per_core").
    """
    ratios: dict[str, Any] = {}
    added: dict[str, Any] = {}
    checks: dict[str, dict[str, Any]] = {}
    for target, label in MECHA_TARGETS.items():
        ratios[target] = {
            op: {
                "ops_per_s": ops_ratio(throughput, op, target),
                "per_core": per_core_ratio(throughput, op, target),
            }
            for op in OPERATIONS
        }
        added[target] = {op: added_p50_ms(latency, op, target) for op in OPERATIONS}
        for op in OPERATIONS:
            for kind, how in (("ops_per_s", "measured"), ("per_core", "per core")):
                value = ratios[target][op][kind]
                checks[f"{label} {op.upper()} ops/s >= {THROUGHPUT_TARGET}x redis-py, {how}"] = {
                    "value": value,
                    "ok": None if value is None else value >= THROUGHPUT_TARGET,
                }
        for op in OPERATIONS:
            value = added[target][op]
            checks[f"{label} {op.upper()} added p50 < {ADDED_P50_TARGET_MS} ms"] = {
                "value": value,
                "ok": None if value is None else value < ADDED_P50_TARGET_MS,
            }
    return ratios, added, checks
