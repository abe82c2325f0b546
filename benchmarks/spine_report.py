"""The spine benchmark's printed report, rendered from its JSON result."""

from __future__ import annotations

from typing import Any

from benchmarks import report

# Below this, nginx was not the bottleneck of its own run: something else took the CPUs.
BUSY_MACHINE_UTILISATION = 0.8


def render(result: dict[str, Any]) -> str:
    """The human-readable report of one run's JSON result."""
    settings, nginx, mecha = result["settings"], result["nginx"], result["mecha"]
    out = [
        f"Mecha spine benchmark, {result['date']} ({result['machine']['cpus']} CPUs, "
        f"{result['machine']['cpu_model']})",
        f"placement: {settings['placement']}; wrk -t{settings['threads']} "
        f"-c{settings['connections']} -d{settings['duration_s']:g}s "
        f"(after {settings['warmup_s']:g}s warm-up), keep-alive",
        "",
    ]
    rows = []
    for name, figures in (("mecha", mecha), ("nginx", nginx)):
        up = figures["startup"]
        if up:
            rows.append(
                [
                    name,
                    f"{up['ready_median_s'] * 1000:.1f}",
                    f"{up['ready_max_s'] * 1000:.1f}",
                    f"{up['ready_cpu_median_s'] * 1000:.0f}",
                    f"{up['stop_median_s'] * 1000:.1f}",
                    _mb(figures["idle_rss_bytes"]),
                    _mb(figures["idle_private_bytes"]),
                    _mb(figures["loaded_rss_bytes"]),
                    _percent(figures["idle_cpu_utilisation"]),
                ]
            )
    heads = [
        "server",
        "ready p50 ms",
        "ready max ms",
        "CPU to ready ms",
        "stop p50 ms",
        "idle RSS MB",
        "private MB",
        "RSS after load",
        "idle CPU",
    ]
    out += [
        f"Startup: spawn -> first ready answer, {settings['startup_runs']} runs",
        report.table(heads, rows),
        "",
    ]

    rows = []
    for figures in (nginx, mecha):
        for load in figures["loads"].values():
            rows.append(
                [
                    load["target"],
                    f"{load['requests_per_s']:,.0f}",
                    f"{load['p50_us']:.0f}",
                    f"{load['p99_us']:.0f}",
                    f"{load['cpu_us_per_request']:.1f}",
                    f"{load['user_us_per_request']:.1f}",
                    f"{load['requests_per_core_s']:,.0f}",
                    f"{load['server_cpu_utilisation'] * 100:.0f}%",
                    f"{load['bytes_per_response']:.0f}",
                    str(load["errors"]),
                    " ".join(f"{rps / 1000:.1f}k" for rps in load["requests_per_s_by_round"]),
                ]
            )
    heads = [
        f"HTTP (median of {settings['rounds']} rounds)",
        "req/s",
        "p50 us",
        "p99 us",
        "CPU us/req",
        "of it user",
        "req/s per core",
        "server CPU",
        "B/resp",
        "errors",
        "req/s by round",
    ]
    out += [report.table(heads, rows), ""]

    if result["ratios"]:
        rows = [
            [
                f"mecha {name} / nginx",
                *(
                    f"{r[key]:.2f}"
                    for key in (
                        "requests_per_s",
                        "p50",
                        "p99",
                        "cpu_us_per_request",
                        "requests_per_core_s",
                    )
                ),
            ]
            for name, r in result["ratios"].items()
        ]
        heads = ["ratio (median of per-round)", "req/s", "p50", "p99", "CPU us/req", "per core"]
        out += [report.table(heads, rows), ""]

    rows = [
        [name, _value(name, t["value"]), report.verdict(t["ok"])]
        for name, t in result["targets"].items()
    ]
    out += [report.table(["target", "measured", ""], rows)]
    baseline = nginx["loads"].get("static")
    if baseline and baseline["server_cpu_utilisation"] < BUSY_MACHINE_UTILISATION:
        out += [
            "",
            f"note: nginx kept its core only {baseline['server_cpu_utilisation'] * 100:.0f}% busy:"
            " other work on this machine slowed the load generator or the servers,",
            "so req/s and latency are noisy; CPU us/req and the per-core ratio hold up best.",
        ]
    if mecha["error"]:
        out += ["", f"mecha failed: {mecha['error']}"]
    return "\n".join(out)


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _value(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    if "RSS" in name:
        return f"{value / 1e6:.1f} MB"
    if "ready" in name:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f}x"
