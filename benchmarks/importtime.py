"""Where Mecha's startup goes: `python -X importtime -m mecha run` until ready, heaviest imports.

Run by hand from the repository root: `.venv/bin/python -m benchmarks.importtime [--top N]`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks import report
from benchmarks.harness import start_mecha

# "import time:  self [us] | cumulative | imported package", nesting shown by leading spaces.
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)$")


@dataclass(frozen=True)
class ImportTime:
    module: str
    self_us: int
    cumulative_us: int
    depth: int


def parse_importtime(text: str) -> list[ImportTime]:
    found = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            self_us, cumulative_us, indent, module = match.groups()
            found.append(ImportTime(module, int(self_us), int(cumulative_us), len(indent) // 2))
    return found


def self_time_by_package(imports: Sequence[ImportTime]) -> dict[str, int]:
    """Microseconds spent in each top-level package's own modules, wherever they were imported."""
    totals: dict[str, int] = {}
    for item in imports:
        package = item.module.split(".")[0]
        totals[package] = totals.get(package, 0) + item.self_us
    return totals


def _cumulative(item: ImportTime) -> int:
    return item.cumulative_us


def _self(item: ImportTime) -> int:
    return item.self_us


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)

    server, ready_s = start_mecha(command=[sys.executable, "-X", "importtime", "-m", "mecha"])
    output = server.output()
    server.stop()
    imports = parse_importtime(output)
    total_us = sum(item.cumulative_us for item in imports if item.depth == 0)

    print(f"ready after {ready_s * 1000:.0f} ms (with -X importtime overhead); ", end="")
    print(f"imports took {total_us / 1000:.0f} ms in {len(imports)} modules\n")
    packages = sorted(self_time_by_package(imports).items(), key=lambda kv: -kv[1])[: args.top]
    rows = [[name, f"{us / 1000:.1f}", f"{us / total_us * 100:.0f}%"] for name, us in packages]
    print(report.table(["package (own modules)", "ms", "share"], rows), end="\n\n")
    for key, label in ((_cumulative, "by cumulative time"), (_self, "by own time")):
        heaviest = sorted(imports, key=key, reverse=True)[: args.top]
        rows = [
            [item.module, f"{item.cumulative_us / 1000:.1f}", f"{item.self_us / 1000:.1f}"]
            for item in heaviest
        ]
        print(report.table([f"module, {label}", "cumulative ms", "self ms"], rows), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
