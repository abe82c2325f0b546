"""The invocation benchmark: one app reached directly, through two nginx reverse proxies, and
through two Mecha runtimes (client → runtime A → runtime B → app), 1 KiB POST bodies both ways.

Run by hand from the repository root: `.venv/bin/python -m benchmarks.invoke` (about 2 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import invoke_report, report
from benchmarks.harness import NotReadyError, ensure_programs, mecha_command, program_version
from benchmarks.harness.openloop import OpenLoopSettings
from benchmarks.harness.wrk_post import write_post_script
from benchmarks.invoke_runs import FullRun, RateRun, measure_full, measure_rate
from benchmarks.invoke_setups import (
    BODY_BYTES,
    CONTENT_TYPE,
    REQUEST_BODY,
    Setup,
    check_answer,
    direct,
    start_app,
    start_mecha_pair,
    start_nginx_pair,
)
from benchmarks.invoke_summary import (
    AGAINST,
    MECHA,
    added_latency,
    full_figures,
    rate_figures,
    ratios,
    targets,
)

SERVER_CPUS = frozenset({0})
CLIENT_CPUS = frozenset({1})
WARMUP_S = 1
# What can go wrong with the runtimes under test; the app and nginx are expected to work.
MECHA_FAILURES = (NotReadyError, OSError, RuntimeError)
RESULT_FILE = report.RESULTS_DIR / "invoke.json"


class Plan:
    """The settings of one run and the time it may take."""

    def __init__(self, args: argparse.Namespace, client_cpus: frozenset[int] | None) -> None:
        self.rate = OpenLoopSettings(
            rate_per_s=args.rate,
            duration_s=args.rate_duration,
            connections=args.rate_connections,
            content_type=CONTENT_TYPE,
        )
        self.connections: list[int] = args.connections
        self.duration_s: int = args.duration
        self.rounds: int = args.rounds
        self.budget_s: float = args.budget
        self.client_cpus = client_cpus

    def round_s(self, setups: int) -> float:
        """A generous estimate of one round's wall time."""
        rate = self.rate.duration_s + 0.5
        full = len(self.connections) * (self.duration_s + 0.5)
        return setups * (rate + full)


class Runs:
    """Every measured run so far, and which setups failed (and why)."""

    def __init__(self) -> None:
        self.rate: dict[str, list[RateRun]] = {}
        self.full: dict[tuple[str, int], list[FullRun]] = {}
        self.errors: dict[str, str] = {}


def _guarded(
    setups: list[Setup], runs: Runs, setup: Setup, action: str, step: Callable[[], None]
) -> None:
    """Run one step; a failing Mecha pair is dropped with its reason, anything else is fatal."""
    try:
        step()
    except MECHA_FAILURES as exc:
        if setup.name not in (MECHA, AGAINST):
            raise
        runs.errors[setup.name] = f"{action}: {exc}"
        setups.remove(setup)


def _one_round(setups: list[Setup], plan: Plan, wrk: str, script: Path, runs: Runs) -> None:
    """Each measurement back to back across the setups, so a noisy moment hurts all alike."""
    for setup in list(setups):

        def rate(setup: Setup = setup) -> None:
            runs.rate.setdefault(setup.name, []).append(measure_rate(setup, plan.rate))

        _guarded(setups, runs, setup, "fixed-rate run", rate)
    for connections in plan.connections:
        for setup in list(setups):

            def full(setup: Setup = setup, connections: int = connections) -> None:
                result = measure_full(
                    setup,
                    connections,
                    plan.duration_s,
                    wrk=wrk,
                    script=script,
                    client_cpus=plan.client_cpus,
                )
                runs.full.setdefault((setup.name, connections), []).append(result)

            _guarded(setups, runs, setup, f"wrk -c{connections}", full)


def _warm_up(setups: list[Setup], plan: Plan, wrk: str, script: Path, runs: Runs) -> None:
    brief = OpenLoopSettings(
        plan.rate.rate_per_s, WARMUP_S, plan.rate.connections, plan.rate.content_type
    )
    for setup in list(setups):

        def warm(setup: Setup = setup) -> None:
            measure_rate(setup, brief)
            measure_full(
                setup,
                max(plan.connections),
                WARMUP_S,
                wrk=wrk,
                script=script,
                client_cpus=plan.client_cpus,
            )

        _guarded(setups, runs, setup, "warm-up", warm)


def measure(
    plan: Plan,
    programs: dict[str, str],
    builds: dict[str, list[str]],
    server_cpus: frozenset[int] | None,
) -> Runs:
    started = time.monotonic()
    runs = Runs()
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="invoke-bench-")))
        script = write_post_script(scratch, REQUEST_BODY, CONTENT_TYPE)
        app = start_app(stack, programs["nginx"], server_cpus)
        setups = [direct(app), start_nginx_pair(stack, programs["nginx"], app, server_cpus)]
        for name, command in builds.items():
            try:
                setups.append(start_mecha_pair(stack, command, app, server_cpus, name=name))
            except MECHA_FAILURES as exc:
                runs.errors[name] = f"start: {exc}"
        for setup in list(setups):
            _guarded(setups, runs, setup, "first call", partial(check_answer, setup))
        _warm_up(setups, plan, programs["wrk"], script, runs)
        for index in range(plan.rounds):
            elapsed = time.monotonic() - started
            if index and elapsed + plan.round_s(len(setups)) > plan.budget_s:
                print(f"  time budget reached after {index} rounds ({elapsed:.0f} s)", flush=True)
                break
            print(f"  round {index + 1}/{plan.rounds} ({elapsed:.0f} s in)", flush=True)
            _one_round(setups, plan, programs["wrk"], script, runs)
    return runs


def figures(runs: Runs) -> dict[str, Any]:
    setups: dict[str, Any] = {}
    for name, rate_runs in runs.rate.items():
        setups.setdefault(name, {})["fixed_rate"] = rate_figures(rate_runs)
    for (name, connections), full_runs in runs.full.items():
        setups.setdefault(name, {}).setdefault("full_load", {})[str(connections)] = full_figures(
            full_runs
        )
    for name, error in runs.errors.items():
        setups.setdefault(name, {})["error"] = error
    added = added_latency(setups)
    for name, values in added.items():
        setups[name]["fixed_rate"]["added_us"] = values
    versus = ratios(setups, added, runs.full)
    return {"setups": setups, "ratios": versus, "targets": targets(setups, versus)}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--rate", type=int, default=1000, help="fixed rate, requests/s")
    parser.add_argument("--rate-duration", type=float, default=5.0, help="s per fixed-rate run")
    parser.add_argument("--rate-connections", type=int, default=16)
    parser.add_argument(
        "--connections",
        type=lambda text: [int(c) for c in text.split(",")],
        default=[1, 64],
        help="wrk connection counts for full load, comma-separated",
    )
    parser.add_argument("--duration", type=int, default=3, help="s per full-load wrk run")
    parser.add_argument("--budget", type=float, default=170.0, help="stop starting rounds after")
    parser.add_argument("--mecha", default=None, help="command that runs mecha (default: venv's)")
    parser.add_argument(
        "--against",
        default=None,
        help="command that runs another mecha build: a second pair, measured in the same rounds",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="let the kernel place every process on any CPU"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A terminated run unwinds like an interrupted one, stopping the servers it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    programs = ensure_programs({"nginx": "nginx", "wrk": "wrk"})
    pinned = not args.no_pin and len(os.sched_getaffinity(0) & (SERVER_CPUS | CLIENT_CPUS)) == 2
    server_cpus, client_cpus = (SERVER_CPUS, CLIENT_CPUS) if pinned else (None, None)
    if client_cpus is not None:
        # This process is the fixed-rate client and spawns wrk: keep it off the servers' core.
        os.sched_setaffinity(0, client_cpus)
    plan = Plan(args, client_cpus)
    mecha = shlex.split(args.mecha) if args.mecha else mecha_command()
    builds = {MECHA: mecha}
    if args.against:
        builds[AGAINST] = shlex.split(args.against)
    date = report.now_utc()
    print(
        f"invocation: direct, nginx pair, {', '.join(builds)}; {args.rounds} rounds of "
        f"{args.rate} req/s for {args.rate_duration:g} s and wrk "
        f"-c{{{','.join(map(str, plan.connections))}}} for {args.duration} s ...",
        flush=True,
    )
    runs = measure(plan, programs, builds, server_cpus)
    result: dict[str, Any] = {
        "benchmark": "invoke",
        "date": date,
        "machine": report.machine_info(
            nginx=program_version([programs["nginx"], "-v"]),
            wrk=program_version([programs["wrk"], "-v"]),
        ),
        "settings": {
            "placement": (
                "app, proxies and runtimes on CPU 0; load generators on CPU 1"
                if pinned
                else "not pinned"
            ),
            "body_bytes": BODY_BYTES,
            "rounds": args.rounds,
            "rate_per_s": args.rate,
            "rate_duration_s": args.rate_duration,
            "rate_connections": args.rate_connections,
            "rate_generator": "open loop, asyncio + uvloop + httptools, in the harness process",
            "full_load_generator": "wrk -t1, POST with a Lua script",
            "full_load_connections": plan.connections,
            "full_load_duration_s": args.duration,
            "mecha_command": mecha,
            "against_command": builds.get(AGAINST),
        },
        **figures(runs),
    }
    print(invoke_report.render(result))
    RESULT_FILE.parent.mkdir(exist_ok=True)
    RESULT_FILE.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {RESULT_FILE}")
    return 1 if runs.errors else 0


if __name__ == "__main__":
    sys.exit(main())
