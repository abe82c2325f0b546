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


def top_level_packages(imports: Sequence[ImportTime]) -> dict[str, int]:
    """Cumulative microseconds per top-level package, counting only outermost imports."""
    totals: dict[str, int] = {}
    for item in imports:
        if item.depth == 0:
            package = item.module.split(".")[0]
            totals[package] = totals.get(package, 0) + item.cumulative_us
    return totals


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
    packages = sorted(top_level_packages(imports).items(), key=lambda kv: -kv[1])[: args.top]
    rows = [[name, f"{us / 1000:.1f}", f"{us / total_us * 100:.0f}%"] for name, us in packages]
    print(report.table(["top-level package", "ms", "share"], rows), end="\n\n")
    heaviest = sorted(imports, key=lambda item: -item.cumulative_us)[: args.top]
    rows = [
        [item.module, f"{item.cumulative_us / 1000:.1f}", f"{item.self_us / 1000:.1f}"]
        for item in heaviest
    ]
    print(report.table(["module", "cumulative ms", "self ms"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
