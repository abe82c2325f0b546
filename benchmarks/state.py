"""The state benchmark: GET and SAVE of a 1 KiB value through Mecha, against redis-py directly.

Run by hand from the repository root: `.venv/bin/python -m benchmarks.state` (about 90 s).
Needs `redis-server` (or `--redis-port` of a running Redis) and the `bench` extra (redis-py
with hiredis).

Two passes, each in interleaved rounds (every target once per round, back to back):
16 concurrent callers for throughput, then 1 sequential caller for the latency Mecha adds.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import redis

from benchmarks import report, state_report
from benchmarks.harness import NotReadyError, Server, mecha_command, start_mecha
from benchmarks.state_load import run_load
from benchmarks.state_redis import RedisNotReadyError, private_redis
from benchmarks.state_settings import HOST, OPERATIONS, LoadSpec
from benchmarks.state_summary import Rounds, comparisons, summarise_all

STORE = "statestore"
APP_ID = "bench"
SERVER_CPUS = frozenset({0})
CLIENT_CPUS = frozenset({1})
THROUGHPUT_TARGETS = ("redis-py", "http", "grpc")
LATENCY_TARGETS = ("resp", "redis-py", "http", "grpc")
DIRECT_TARGETS = frozenset({"redis-py", "resp"})
RESULTS_FILE = report.RESULTS_DIR / "state.json"

_COMPONENT = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {store}
spec:
  type: state.redis
  version: v1
  metadata:
  - name: redisHost
    value: {host}:{port}
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per pass")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per loaded run")
    parser.add_argument(
        "--latency-duration", type=float, default=1.0, help="seconds per 1-caller run"
    )
    parser.add_argument("--warmup", type=float, default=0.3, help="seconds before each window")
    parser.add_argument("--callers", type=int, default=16, help="concurrent callers")
    parser.add_argument(
        "--redis-port",
        type=int,
        default=None,
        help="use the Redis already on this port (default: a private redis-server on CPU 1)",
    )
    parser.add_argument("--mecha", default=None, help="command that runs mecha (default: venv's)")
    return parser.parse_args(argv)


def start_mecha_with_redis(
    command: list[str], redis_port: int, cpus: frozenset[int] | None, stack: ExitStack
) -> Server:
    resources = Path(tempfile.mkdtemp(prefix="mecha-state-bench-"))
    stack.callback(shutil.rmtree, resources, ignore_errors=True)
    component = _COMPONENT.format(store=STORE, host=HOST, port=redis_port)
    (resources / "statestore.yaml").write_text(component)
    server, _ = start_mecha(
        command=command, app_id=APP_ID, cpus=cpus, extra_args=[f"--resources-path={resources}"]
    )
    return stack.enter_context(server)


def run_rounds(
    base: LoadSpec,
    targets: Sequence[str],
    rounds: int,
    placement: dict[str, frozenset[int] | None],
    errors: dict[str, str],
) -> Rounds:
    """Every operation through every target, round after round; a failed target drops out."""
    results: Rounds = {op: {target: [] for target in targets} for op in OPERATIONS}
    for round_index in range(rounds):
        print(f"  {len(base.keys)} caller(s), round {round_index + 1}/{rounds}", flush=True)
        for operation in OPERATIONS:
            for target in targets:
                name = f"{target} {operation}, {len(base.keys)} caller(s)"
                if name in errors:
                    continue
                spec = replace(
                    base,
                    target=target,
                    operation=operation,
                    server_pid=0 if target in DIRECT_TARGETS else base.server_pid,
                )
                try:
                    results[operation][target].append(run_load(spec, placement[target]))
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    errors[name] = str(error)
    return results


def placement_text(pinned: bool, *, private: bool) -> str:
    if not pinned:
        return "not pinned"
    redis_cpu = "Redis on CPU 1" if private else "Redis unpinned"
    return (
        f"mecha and the direct redis-py app on CPU 0, Mecha's load generators on CPU 1, {redis_cpu}"
    )


def delete_keys(client: redis.Redis, keys: Sequence[str]) -> None:
    client.delete(*keys, *(f"{APP_ID}||{key}" for key in keys))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pinned = len(os.sched_getaffinity(0) & (SERVER_CPUS | CLIENT_CPUS)) == 2
    server_cpus, client_cpus = (SERVER_CPUS, CLIENT_CPUS) if pinned else (None, None)
    if client_cpus is not None:
        os.sched_setaffinity(0, client_cpus)  # this process only waits; keep it off Mecha's core
    command = shlex.split(args.mecha) if args.mecha else mecha_command()
    keys = [f"bench-state-{uuid.uuid4().hex[:8]}-{i}" for i in range(args.callers)]
    # The direct app gets the core Mecha has; Mecha's load generators get the other one.
    placement = {
        target: server_cpus if target in DIRECT_TARGETS else client_cpus
        for target in LATENCY_TARGETS
    }
    errors: dict[str, str] = {}
    date = report.now_utc()
    print(
        f"state benchmark: {args.rounds} rounds of {args.callers} callers x {args.duration:g} s, "
        f"then {args.rounds} rounds of 1 caller x {args.latency_duration:g} s ...",
        flush=True,
    )
    with ExitStack() as stack:
        try:
            redis_port = args.redis_port or stack.enter_context(private_redis(client_cpus))
            direct = redis.Redis(host=HOST, port=redis_port)
            redis_info = direct.info("server")
            stack.callback(delete_keys, direct, keys)
            mecha = start_mecha_with_redis(command, redis_port, server_cpus, stack)
        except (NotReadyError, RedisNotReadyError, redis.ConnectionError) as error:
            print(f"could not start: {error}", file=sys.stderr)
            return 1
        base = LoadSpec(
            target="",
            operation="",
            keys=keys,
            duration_s=args.duration,
            warmup_s=args.warmup,
            redis_port=redis_port,
            store=STORE,
            http_port=mecha.port,
            grpc_port=mecha.extra_ports["grpc"],
            server_pid=mecha.pid,
            redis_pid=int(redis_info["process_id"]),
        )
        throughput = run_rounds(base, THROUGHPUT_TARGETS, args.rounds, placement, errors)
        sequential = replace(base, keys=keys[:1], duration_s=args.latency_duration)
        latency = run_rounds(sequential, LATENCY_TARGETS, args.rounds, placement, errors)
        if mecha.process.poll() is not None:
            errors["mecha"] = f"exited with code {mecha.process.returncode}:\n{mecha.log_tail()}"

    ratios, added, checks = comparisons(throughput, latency)
    result: dict[str, Any] = {
        "benchmark": "state",
        "date": date,
        "machine": report.machine_info(
            redis=str(redis_info["redis_version"]),
            redis_py=version("redis"),
            hiredis=version("hiredis"),
            grpcio=version("grpcio"),
            uvloop=version("uvloop"),
        ),
        "settings": {
            "placement": placement_text(pinned, private=args.redis_port is None),
            "redis": "private redis-server" if args.redis_port is None else f"port {redis_port}",
            "mecha": command,
            "rounds": args.rounds,
            "callers": args.callers,
            "duration_s": args.duration,
            "latency_duration_s": args.latency_duration,
            "warmup_s": args.warmup,
            "value_bytes": len(base.value),
        },
        "throughput": summarise_all(throughput),
        "latency": summarise_all(latency),
        "ratios": ratios,
        "added_p50_ms": added,
        "targets": checks,
        "errors": errors,
    }
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(result, indent=2) + "\n")
    print(state_report.render(result))
    print(f"\nwritten: {RESULTS_FILE}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
