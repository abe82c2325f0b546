"""The invocation benchmark's printed report: plain-text tables from its result dictionary."""

from __future__ import annotations

import math
from typing import Any

from benchmarks import report
from benchmarks.invoke_summary import ADDED, AGAINST, DIRECT, MECHA, NGINX

_ALL_SETUPS = (DIRECT, NGINX, MECHA, AGAINST)
_NOT_JUDGED = (
    "\n  (n/a: the nginx pair's added latency at that percentile is not above zero, i.e. lost"
    " in the machine's noise, so no ratio can be formed)"
)
DAPR_CONTEXT = (
    "Dapr publishes (Kubernetes, 1000 req/s, 1 KiB): +1.06 ms p50 / +2.90 ms p99 added over "
    "direct, 0.2-0.48 vCPU per sidecar at 1000 req/s (= CPU-s per 1000 requests)."
)


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return _num(value, 2)


def _setups(result: dict[str, Any]) -> list[str]:
    """The setups of this run, in order; the other build's pair only when there was one."""
    return [name for name in _ALL_SETUPS if name != AGAINST or name in result["setups"]]


def _rate_table(result: dict[str, Any]) -> str:
    setups = result["setups"]
    settings = result["settings"]
    rows = []
    for name in _setups(result):
        fixed = setups.get(name, {}).get("fixed_rate")
        if fixed is None:
            rows.append([name, *["-"] * 7])
            continue
        latency, added = fixed["latency_us"], fixed.get("added_us", {})
        rows.append(
            [
                name,
                *(_num(latency[p]) for p in ADDED),
                *(_num(added.get(p)) for p in ADDED),
                str(sum(fixed["errors"].values())),
            ]
        )
    versus = result["ratios"].get("added_latency", {})
    rows.append(["mecha / nginx, added", "", "", "", *(_ratio(versus.get(p)) for p in ADDED), ""])
    title = (
        f"At a fixed {settings['rate_per_s']} req/s (open loop, {settings['rate_connections']} "
        f"connections, {settings['rounds']} x {settings['rate_duration_s']:g} s pooled), µs"
    )
    headers = ["setup", "p50", "p90", "p99", "+p50", "+p90", "+p99", "errors"]
    return title + "\n" + report.table(headers, rows)


def _full_table(result: dict[str, Any]) -> str:
    setups = result["setups"]
    connections = [str(c) for c in result["settings"]["full_load_connections"]]
    most = connections[-1]
    rows = []
    for name in _setups(result):
        full = setups.get(name, {}).get("full_load", {})
        rows.append(
            [
                name,
                *(_num(full.get(c, {}).get("requests_per_s")) for c in connections),
                _num(full.get(most, {}).get("p50_us")),
                _num(full.get(most, {}).get("p99_us")),
                str(sum(full.get(c, {}).get("errors", 0) for c in connections)),
            ]
        )
    versus = result["ratios"].get("requests_per_s", {})
    rows.append(["mecha / nginx", *(_ratio(versus.get(c)) for c in connections), "", "", ""])
    headers = [
        "setup",
        *(f"req/s c{c}" for c in connections),
        f"c{most} p50 µs",
        f"c{most} p99 µs",
        "errors",
    ]
    title = (
        f"At full load (wrk -t1, {result['settings']['full_load_duration_s']} s runs, "
        "median of rounds)"
    )
    return title + "\n" + report.table(headers, rows)


def _cpu_table(result: dict[str, Any]) -> str:
    setups = result["setups"]
    most = str(result["settings"]["full_load_connections"][-1])
    rows = []
    for name in _setups(result):
        figures = setups.get(name, {})
        at_rate = figures.get("fixed_rate", {})
        at_full = figures.get("full_load", {}).get(most, {})
        for role in at_rate.get("cpu_s_per_1000") or at_full.get("cpu_s_per_1000", {}):
            if role == "app" and name != DIRECT:
                continue
            cells = []
            for figure in (at_rate, at_full):
                total = figure.get("cpu_s_per_1000", {}).get(role)
                system = figure.get("system_s_per_1000", {}).get(role)
                share = system / total if total and system is not None else math.nan
                cells += [_num(total, 3), "-" if math.isnan(share) else f"{share:.0%}"]
            rows.append([f"{name}: {role}", *cells])
    rate = result["settings"]["rate_per_s"]
    headers = ["process", f"at {rate} req/s", "kernel", f"at full load c{most}", "kernel"]
    versus = result["ratios"].get("cpu_s_per_1000_at_rate", {})
    against = ", ".join(f"{runtime} {_ratio(value)}" for runtime, value in versus.items())
    return (
        "CPU-seconds per 1000 requests (user + system; 'kernel': system share)\n"
        + report.table(headers, rows)
        + (f"\nat {rate} req/s against the nginx proxy in its place: {against}" if against else "")
    )


def _generator_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for name in _setups(result):
        figures = result["setups"].get(name, {})
        fixed = figures.get("fixed_rate")
        if fixed is None:
            continue
        lag = fixed["generator"]["lag_us"]
        busiest = max(
            (run["client_cpu_utilisation"] for run in figures.get("full_load", {}).values()),
            default=math.nan,
        )
        lines.append(
            f"  {name}: open-loop release lag p50 {_num(lag['p50'])} µs, "
            f"p99 {_num(lag['p99'])} µs, "
            f"client CPU {fixed['generator']['cpu_utilisation']:.0%}; "
            f"wrk CPU at most {busiest:.0%} of its core"
        )
    return lines


def _latency_not_judged(result: dict[str, Any]) -> bool:
    return any(check["ok"] is None for name, check in result["targets"].items() if "added" in name)


def _against_lines(result: dict[str, Any]) -> str:
    against = result["ratios"].get("against")
    if against is None:
        return ""
    cpu = ", ".join(
        f"{runtime} {_ratio(value)}" for runtime, value in against["cpu_s_per_1000_at_rate"].items()
    )
    added = ", ".join(
        f"{p} {_ratio(value)}" for p, value in against.get("added_latency", {}).items()
    )
    rps = ", ".join(f"c{c} {_ratio(value)}" for c, value in against["requests_per_s"].items())
    command = " ".join(result["settings"].get("against_command") or [])
    return (
        f"This build over the other ({command}), same rounds\n"
        f"  CPU per request at {result['settings']['rate_per_s']} req/s: {cpu}\n"
        f"  added latency: {added}\n"
        f"  req/s at full load: {rps}"
    )


def render(result: dict[str, Any]) -> str:
    against = _against_lines(result)
    parts = [
        _rate_table(result),
        _full_table(result),
        _cpu_table(result),
        *([against] if against else []),
        "\n".join(
            [
                "Load generators (near 100% CPU would make them the bottleneck):",
                *_generator_lines(result),
            ]
        ),
        "Targets\n"
        + "\n".join(
            f"  {report.verdict(check['ok'])}  {name}: {_num(check['value'], 3)}"
            for name, check in result["targets"].items()
        )
        + (_NOT_JUDGED if _latency_not_judged(result) else ""),
        DAPR_CONTEXT,
    ]
    errors = [
        f"  {name}: {figures['error']}"
        for name, figures in result["setups"].items()
        if figures.get("error")
    ]
    if errors:
        parts.append("Errors\n" + "\n".join(errors))
    return "\n\n".join(parts)
