"""Process facts read from /proc: the process tree, CPU time, resident memory, CPU pinning."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def process_tree(pid: int) -> list[int]:
    """The process and all its live descendants, parent first."""
    tree: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(_children(current))
    return tree


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in _tasks(pid):
        try:
            text = (PROC / str(pid) / "task" / str(task) / "children").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        children.extend(int(child) for child in text.split())
    return children


def _tasks(pid: int) -> list[int]:
    try:
        return [int(entry.name) for entry in (PROC / str(pid) / "task").iterdir()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the process tree, all threads included."""
    user = system = 0
    for member in process_tree(pid):
        try:
            stat = (PROC / str(member) / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # The command name may hold spaces or parentheses; fields are counted after its last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        user += int(fields[11])  # utime, field 14 of stat
        system += int(fields[12])  # stime, field 15
    return user / CLOCK_TICKS_PER_SECOND, system / CLOCK_TICKS_PER_SECOND


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process tree."""
    return sum(cpu_times(pid))


def rss_bytes(pid: int) -> int:
    """Summed VmRSS of the process tree (pages shared between members count once per member)."""
    total = 0
    for member in process_tree(pid):
        try:
            status = (PROC / str(member) / "status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def private_bytes(pid: int) -> int:
    """Memory the process tree alone holds (Private_Clean + Private_Dirty of smaps_rollup).

    Unlike RSS it leaves out shared library pages that other processes map too.
    """
    total = 0
    for member in process_tree(pid):
        try:
            rollup = (PROC / str(member) / "smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in rollup.splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1]) * 1024
    return total


def pin(pid: int, cpus: Iterable[int]) -> None:
    """Pin every thread of the process tree to `cpus`; threads started later inherit it."""
    cpu_set = set(cpus)
    for member in process_tree(pid):
        for task in _tasks(member):
            try:
                os.sched_setaffinity(task, cpu_set)
            except (ProcessLookupError, FileNotFoundError):
                continue


def stop(process: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout_s`; harmless once it has."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
