"""The printed report of the state benchmark, read from its JSON result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.report import table, verdict

LABELS = {
    "resp": "raw RESP (floor)",
    "redis-py": "redis-py direct",
    "http": "mecha HTTP",
    "grpc": "mecha gRPC",
}


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ms(value_us: float) -> str:
    return f"{value_us / 1e3:.3f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


Row = Callable[[str, str, dict[str, Any]], list[str]]


def _rows(section: dict[str, dict[str, dict[str, Any]]], row: Row) -> list[list[str]]:
    rows = []
    for operation, runs in section.items():
        for target, run in runs.items():
            rows.append(row(operation, target, run))
    return rows


def _throughput_table(result: dict[str, Any]) -> str:
    def row(operation: str, target: str, run: dict[str, Any]) -> list[str]:
        ratios = result["ratios"].get(target, {}).get(operation, {})
        return [
            f"{operation.upper()} {LABELS[target]}",
            _number(run["ops_per_s"]),
            _number(ratios.get("ops_per_s"), 2),
            _number(ratios.get("per_core"), 2),
            _ms(run["latency_us"]["p50"]),
            _ms(run["latency_us"]["p99"]),
            _number(run["server_cpu_us_per_op"], 1),
            _number(run["client_cpu_us_per_op"], 1),
            _number(run["redis_cpu_us_per_op"], 1),
            _percent(run["server_cpu_utilisation"]),
            _percent(run["client_cpu_utilisation"]),
            str(run["errors"]),
        ]

    headers = [
        f"{result['settings']['callers']} callers",
        "ops/s",
        "x direct",
        "per core",
        "p50 ms",
        "p99 ms",
        "mecha µs/op",
        "client µs/op",
        "redis µs/op",
        "mecha core",
        "client core",
        "errors",
    ]
    return table(headers, _rows(result["throughput"], row))


def _latency_table(result: dict[str, Any]) -> str:
    def row(operation: str, target: str, run: dict[str, Any]) -> list[str]:
        added = result["added_p50_ms"].get(target, {}).get(operation)
        return [
            f"{operation.upper()} {LABELS[target]}",
            _ms(run["latency_us"]["p50"]),
            _ms(run["latency_us"]["p90"]),
            _ms(run["latency_us"]["p99"]),
            "-" if added is None else f"{added:+.3f}",
            _number(run["ops_per_s"]),
            _number(run["server_cpu_us_per_op"], 1),
            _number(run["client_cpu_us_per_op"], 1),
            str(run["errors"]),
        ]

    headers = [
        "1 caller, sequential",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "added p50 ms",
        "ops/s",
        "mecha µs/op",
        "client µs/op",
        "errors",
    ]
    return table(headers, _rows(result["latency"], row))


def _targets_table(result: dict[str, Any]) -> str:
    rows = [
        [name, _number(check["value"], 3), verdict(check["ok"])]
        for name, check in result["targets"].items()
    ]
    return table(["target", "value", "verdict"], rows)


BUSY_CORE = 0.8  # under 16 callers the side under test should keep its core this busy


def _disturbed(result: dict[str, Any]) -> list[str]:
    """Loaded runs whose side under test left its core idle: other processes shared the core."""
    notes = []
    for operation, runs in result["throughput"].items():
        for target, run in runs.items():
            side, used = (
                ("the app", run["client_cpu_utilisation"])
                if target == "redis-py"
                else ("mecha", run["server_cpu_utilisation"])
            )
            if used is not None and used < BUSY_CORE:
                notes.append(
                    f"{operation.upper()} {LABELS[target]}: {side} used {used:.0%} of its core"
                )
    if not notes:
        return []
    return [
        "",
        "Disturbed: other processes took CPU from the side under test; "
        "trust the per-core ratios over the measured ones.",
        *(f"  {note}" for note in notes),
    ]


def render(result: dict[str, Any]) -> str:
    settings = result["settings"]
    machine = result["machine"]
    lines = [
        "",
        f"State: GET and SAVE of a {settings['value_bytes']} B value, {result['date']}",
        f"{machine['cpus']} CPUs ({machine['cpu_model']}), Redis {machine['redis']} "
        f"({settings['redis']}), "
        f"redis-py {machine['redis_py']} + hiredis {machine['hiredis']}, "
        f"grpcio {machine['grpcio']}, uvloop {machine['uvloop']}",
        f"placement: {settings['placement']}",
        f"medians of {settings['rounds']} interleaved rounds; windows of "
        f"{settings['duration_s']:g} s loaded, {settings['latency_duration_s']:g} s sequential, "
        f"each after {settings['warmup_s']:g} s of warm-up",
        "",
        _throughput_table(result),
        "",
        _latency_table(result),
        "",
        _targets_table(result),
        *_disturbed(result),
    ]
    for name, error in result["errors"].items():
        lines += ["", f"ERROR {name}: {error}"]
    return "\n".join(lines)
