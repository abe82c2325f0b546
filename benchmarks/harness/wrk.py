"""Driving wrk and reading its exact totals (a Lua `done` hook prints them as JSON)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import procfs

REPORT_SCRIPT = Path(__file__).with_name("wrk_report.lua")
_MARKER = "WRK_JSON "


@dataclass(frozen=True)
class Latency:
    """Microseconds."""

    mean: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    bytes_read: int
    errors: dict[str, int]
    latency_us: Latency

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def parse_report(output: str) -> WrkResult:
    """Read the JSON line our Lua hook printed among wrk's usual report."""
    for line in output.splitlines():
        if line.startswith(_MARKER):
            data: dict[str, Any] = json.loads(line[len(_MARKER) :])
            lat = data["latency_us"]
            return WrkResult(
                requests=int(data["requests"]),
                duration_s=data["duration_us"] / 1e6,
                bytes_read=int(data["bytes"]),
                errors={k: int(v) for k, v in data["errors"].items()},
                latency_us=Latency(
                    mean=float(lat["mean"]),
                    p50=float(lat["p50"]),
                    p90=float(lat["p90"]),
                    p99=float(lat["p99"]),
                    p999=float(lat["p999"]),
                    max=float(lat["max"]),
                ),
            )
    raise ValueError(f"wrk printed no {_MARKER.strip()} line:\n{output}")


def run_wrk(
    url: str,
    *,
    wrk: str = "wrk",
    threads: int = 1,
    connections: int = 16,
    duration_s: int = 5,
    cpus: Iterable[int] | None = None,
    script: Path = REPORT_SCRIPT,
) -> WrkResult:
    """One keep-alive GET load run of `url`, optionally pinned to `cpus`.

    wrk takes whole seconds only. Another `script` (say, one that POSTs a body) must still
    print the report line, e.g. by ending with `dofile` of REPORT_SCRIPT.
    """
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if cpus is not None:
        procfs.pin(process.pid, cpus)
    output, _ = process.communicate(timeout=duration_s + 30)
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}:\n{output}")
    return parse_report(output)
