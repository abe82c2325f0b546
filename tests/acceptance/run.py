"""Acceptance runner: drives a real `mecha` process with the official Dapr SDKs.

Each scenario is a Python or JavaScript program under python/scenarios/ or js/scenarios/ whose
leading comment block declares what it needs (see README.md). For each one this runner starts
`mecha run` on free ports with its own resources and data directory, waits until it is ready,
runs the scenario with the environment `dapr run` gives an app, and stops mecha again.

Run with Mecha's own interpreter (it only needs the standard library):

    .venv/bin/python tests/acceptance/run.py [FILTER] [--list] [--keep] [-v]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

# Run as a script, the harness is found from the repository root like the scenarios' helpers.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.acceptance.harness.execution import READY_TIMEOUT_S, Outcome, run_scenario
from tests.acceptance.harness.manifest import discover

TAIL_LINES = 40


def tail(path: Path, lines: int = TAIL_LINES) -> Iterator[str]:
    if not path.exists():
        yield "(not started)"
        return
    text = path.read_bytes().decode(errors="replace").splitlines()
    yield from text[-lines:] or ["(empty)"]


def report(outcome: Outcome, verbose: bool) -> None:
    verdict = "PASS" if outcome.passed else "FAIL"
    print(f"{verdict} {outcome.name} ({outcome.seconds:.1f} s)", flush=True)
    for problem in outcome.problems:
        print(f"    {problem}")
    if outcome.passed and not verbose:
        return
    for title, path in (
        ("scenario output", outcome.scenario_log),
        ("mecha log", outcome.mecha_log),
        ("peer mecha log", outcome.peer_log),
    ):
        if path is None:
            continue
        print(f"    --- {title} (last {TAIL_LINES} lines) ---")
        for line in tail(path):
            print(f"    | {line}")
    sys.stdout.flush()


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("filter", nargs="?", default="", help="run scenarios whose name has this")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    parser.add_argument("-v", "--verbose", action="store_true", help="show output of passes too")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=READY_TIMEOUT_S,
        help="seconds mecha may take to become ready (default: %(default)s)",
    )
    parser.add_argument(
        "--mecha",
        default=shlex.join([sys.executable, "-m", "mecha"]),
        help="command that starts the runtime (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_arguments(argv)
    mecha = shlex.split(args.mecha)
    if mecha and os.sep in mecha[0]:
        mecha[0] = os.path.abspath(mecha[0])  # mecha runs in the scenario's work directory
    scenarios, broken = discover()
    scenarios = [s for s in scenarios if args.filter in s.name]
    broken = [b for b in broken if args.filter in b.name]
    if args.list:
        for scenario in scenarios:
            print(scenario.name)
        return 0
    if not scenarios and not broken:
        print(f"no scenario matches {args.filter!r}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="mecha-acceptance-"))
    started = time.monotonic()
    outcomes = [Outcome(b.name, [b.error]) for b in broken]
    for outcome in outcomes:
        report(outcome, args.verbose)
    try:
        for index, scenario in enumerate(scenarios):
            workdir = root / f"{index:02d}-{re.sub(r'[^A-Za-z0-9]+', '-', scenario.name)}"
            outcome = run_scenario(scenario, mecha, workdir, args.ready_timeout)
            report(outcome, args.verbose)
            outcomes.append(outcome)
    finally:
        if args.keep:
            print(f"work directories kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    failed = sum(not o.passed for o in outcomes)
    print(f"acceptance took {time.monotonic() - started:.1f} s")
    print(f"{len(outcomes) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
