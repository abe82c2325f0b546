"""Unary gRPC echo served by grpc.aio and by mecha.http2, side by side in one run.

Each server runs in a process of its own pinned to CPU 0 (on uvloop, as in the runtime); the
load is a grpc.aio client in this process, pinned to CPU 1, with 16 callers sharing one
channel, each sending a 1 KiB message and awaiting the echo. Every round measures both servers
for the same duration, back to back; server CPU time is utime + stime from /proc/PID/stat over
the measured window, so "CPU µs per call" is the server's whole cost, kernel included.

    .venv/bin/python -m benchmarks.grpc_server [--rounds 3] [--seconds 3] [--callers 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import grpc
import uvloop

from benchmarks.harness import procfs

HOST = "127.0.0.1"
METHOD = "/bench.Echo/Unary"
MESSAGE = b"x" * 1024
SERVER_CPU = 0
CLIENT_CPU = 1
SERVERS = ("grpc.aio", "mecha.http2")


# The servers (run in a child process)


async def _echo_mecha(call: object, request: bytes) -> bytes:
    return request


async def _serve_mecha(port: int) -> None:
    from mecha.http2 import GrpcServer, UnaryMethod

    method = UnaryMethod(_echo_mecha)
    server = GrpcServer(lambda path: method if path == METHOD else None)
    await server.listen(HOST, port)
    await _until_terminated()
    await server.close(grace=0.5)


async def _serve_grpc_aio(port: int) -> None:
    async def echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Unary": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"{HOST}:{port}")
    await server.start()
    await _until_terminated()
    await server.stop(0.5)


async def _until_terminated() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()


# The load (this process)


@dataclass(frozen=True)
class Run:
    server: str
    calls: int
    seconds: float
    server_cpu_s: float

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds

    @property
    def cpu_us_per_call(self) -> float:
        return self.server_cpu_s / self.calls * 1e6


async def _load(port: int, callers: int, seconds: float, pid: int) -> Run:
    async with grpc.aio.insecure_channel(f"{HOST}:{port}") as channel:
        call = channel.unary_unary(METHOD, None, None)
        for _ in range(200):  # warm-up: connection, HPACK tables, windows
            await call(MESSAGE)
        counts = [0] * callers
        stop_at = 0.0

        async def caller(index: int) -> None:
            while time.monotonic() < stop_at:
                reply = await call(MESSAGE)
                assert len(reply) == len(MESSAGE)
                counts[index] += 1

        cpu_before = procfs.cpu_seconds(pid)
        started = time.monotonic()
        stop_at = started + seconds
        await asyncio.gather(*(caller(index) for index in range(callers)))
        elapsed = time.monotonic() - started
        cpu_used = procfs.cpu_seconds(pid) - cpu_before
    return Run("", sum(counts), elapsed, cpu_used)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _measure(server: str, callers: int, seconds: float) -> Run:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.grpc_server", "--serve", server, "--port", str(port)],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"{server} did not start")
        procfs.pin(process.pid, [SERVER_CPU])
        run = uvloop.run(_load(port, callers, seconds, process.pid))
        return Run(server, run.calls, run.seconds, run.server_cpu_s)
    finally:
        procfs.stop(process, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve = _serve_mecha if args.serve == "mecha.http2" else _serve_grpc_aio
        uvloop.run(serve(args.port))
        return
    os.sched_setaffinity(0, {CLIENT_CPU})
    runs: dict[str, list[Run]] = {name: [] for name in SERVERS}
    for number in range(1, args.rounds + 1):
        for name in SERVERS:
            run = _measure(name, args.callers, args.seconds)
            runs[name].append(run)
            print(
                f"round {number} {name:12} {run.calls_per_s:9.0f} calls/s"
                f" {run.cpu_us_per_call:7.1f} µs CPU/call",
                flush=True,
            )
    print(f"\nmedian of {args.rounds} rounds, {args.callers} callers, 1 KiB unary echo")
    print(f"{'server':12} {'calls/s':>9} {'CPU µs/call':>12} {'calls/s per core':>17}")
    medians: dict[str, float] = {}
    for name in SERVERS:
        rate = statistics.median(run.calls_per_s for run in runs[name])
        cpu = statistics.median(run.cpu_us_per_call for run in runs[name])
        medians[name] = cpu
        print(f"{name:12} {rate:9.0f} {cpu:12.1f} {1e6 / cpu:17.0f}")
    ratios = [
        mine.cpu_us_per_call / base.cpu_us_per_call
        for mine, base in zip(runs["mecha.http2"], runs["grpc.aio"], strict=True)
    ]
    print(f"CPU per call, mecha.http2 / grpc.aio: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
