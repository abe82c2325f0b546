"""Instructions a process executes, counted by valgrind's callgrind.

A count, not a time: the same work gives the same figure (within about 1 %) however busy or
slow the machine is, so two builds, or Mecha and nginx, compare exactly even on a noisy VM.
It sees user space only (the process's own code and its libraries), not the kernel's socket
work, and says nothing of cache misses: read it beside the timed benchmarks, not instead.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from benchmarks.harness.tools import ensure_programs

# Dumps land at <out>.<pid> (the run's tail at exit) and <out>.<pid>.<n> (each dump asked for).
_DUMP_WAIT_S = 10.0


class Counter:
    """The command prefix that runs a process under callgrind, and the controls to read it."""

    def __init__(self, out_dir: Path) -> None:
        programs = ensure_programs({"valgrind": "valgrind", "callgrind_control": "valgrind"})
        self._control = programs["callgrind_control"]
        self._out = out_dir / "callgrind.out"
        # No per-instruction or jump data: only the totals are read. Children are followed so
        # that a command starting with `env ...` is counted once it execs the program.
        self.wrapper = [
            programs["valgrind"],
            "--tool=callgrind",
            "--trace-children=yes",
            f"--callgrind-out-file={self._out}.%p",
            "--dump-instr=no",
            "--collect-jumps=no",
        ]

    def zero(self, pid: int) -> None:
        """Start counting afresh (startup and warm-up are left out)."""
        self._run("-z", pid)

    def count(self, pid: int) -> int:
        """Instructions executed since the last `zero`."""
        before = set(self._out.parent.glob(f"{self._out.name}.{pid}.*"))
        self._run("-d", pid)
        deadline = time.monotonic() + _DUMP_WAIT_S
        while time.monotonic() < deadline:
            for dump in set(self._out.parent.glob(f"{self._out.name}.{pid}.*")) - before:
                total = _total(dump)
                if total is not None:
                    return total
            time.sleep(0.1)
        raise RuntimeError(f"callgrind wrote no dump for pid {pid} within {_DUMP_WAIT_S:g} s")

    def _run(self, flag: str, pid: int) -> None:
        done = subprocess.run(
            [self._control, flag, str(pid)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"callgrind_control {flag} {pid}: {done.stdout}{done.stderr}")


def _total(dump: Path) -> int | None:
    """The dump's instruction total, or None while it is still being written."""
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    return None
